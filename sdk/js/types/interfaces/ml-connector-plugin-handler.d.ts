/// <reference path="./ml-connector-plugin-types.d.ts" />
declare module 'ml-connector:plugin/handler@0.2.0' {
  /**
   * What this plugin is and which event kinds it wants.
   */
  export function describe(): Manifest;
  /**
   * Decide what to send for one event. At most 20 actions; an `err` fails
   * this plugin for this event only, and the host records the message.
   */
  export function handle(event: Event, context: Context): Array<Action>;
  export type Event = import('ml-connector:plugin/types@0.2.0').Event;
  export type Context = import('ml-connector:plugin/types@0.2.0').Context;
  export type Action = import('ml-connector:plugin/types@0.2.0').Action;
  export type Manifest = import('ml-connector:plugin/types@0.2.0').Manifest;
}
