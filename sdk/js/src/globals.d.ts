//! The globals a plugin has inside the component (QuickJS, no Node or DOM):
//! the ECMAScript built-ins, and the `console` that `ml-connector-sdk` defines
//! on import, which writes to the host's log.

declare var console: {
  debug(...args: unknown[]): void;
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
};
