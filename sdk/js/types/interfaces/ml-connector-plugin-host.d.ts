declare module 'ml-connector:plugin/host@0.2.0' {
  /**
   * Goes to the host's log, tagged with plugin and event id.
   */
  export function log(level: Level, message: string): void;
  /**
   * # Variants
   * 
   * ## `"debug"`
   * 
   * ## `"info"`
   * 
   * ## `"warn"`
   * 
   * ## `"error"`
   */
  export type Level = 'debug' | 'info' | 'warn' | 'error';
}
