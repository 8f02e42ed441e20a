/// <reference path="./interfaces/ml-connector-plugin-handler.d.ts" />
/// <reference path="./interfaces/ml-connector-plugin-host.d.ts" />
/// <reference path="./interfaces/ml-connector-plugin-types.d.ts" />
declare module 'ml-connector:plugin/notifier@0.2.0' {
  export type * as MlConnectorPluginHost020 from 'ml-connector:plugin/host@0.2.0'; // import ml-connector:plugin/host@0.2.0
  export type * as MlConnectorPluginTypes020 from 'ml-connector:plugin/types@0.2.0'; // import ml-connector:plugin/types@0.2.0
  export * as handler from 'ml-connector:plugin/handler@0.2.0'; // export ml-connector:plugin/handler@0.2.0
}
