//! A plugin's settings: string pairs from the host configuration, read with
//! defaults so that a plugin works with none configured.

import { PluginError } from "./errors.js";

/** Read access to `context.settings`; get one with {@link settings}. */
export class Settings {
  /** @param {Array<[string, string]>} pairs */
  constructor(pairs) {
    /** @private */
    this.pairs = pairs;
  }

  /**
   * The value of `key`, or `undefined` when it is not set (the last one wins
   * if it is set twice).
   *
   * @param {string} key
   * @returns {string | undefined}
   */
  get(key) {
    for (let i = this.pairs.length - 1; i >= 0; i--) {
      if (this.pairs[i][0] === key) {
        return this.pairs[i][1];
      }
    }
    return undefined;
  }

  /**
   * The value of `key`, or `fallback` when it is not set.
   *
   * @param {string} key
   * @param {string} fallback
   * @returns {string}
   */
  getOr(key, fallback) {
    return this.get(key) ?? fallback;
  }

  /**
   * The value of `key` as an integer (surrounding spaces ignored), or
   * `fallback` when it is not set; a value that is not an integer is a
   * {@link PluginError} naming the setting.
   *
   * @param {string} key
   * @param {number} fallback
   * @returns {number}
   */
  intOr(key, fallback) {
    const value = this.get(key);
    if (value === undefined) {
      return fallback;
    }
    if (!/^[+-]?\d+$/.test(value.trim())) {
      throw new PluginError(`setting \`${key}\` = ${JSON.stringify(value)}: not an integer`);
    }
    return Number(value.trim());
  }

  /**
   * The comma-separated items of `key` (or of `fallback` when it is not set),
   * trimmed, empty items dropped: `"a, b,"` gives `["a", "b"]`.
   *
   * @param {string} key
   * @param {string} fallback
   * @returns {string[]}
   */
  listOr(key, fallback) {
    return this.getOr(key, fallback)
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
  }
}

/**
 * This plugin's settings from the host configuration.
 *
 * @param {{settings: Array<[string, string]>}} context
 * @returns {Settings}
 */
export function settings(context) {
  return new Settings(context.settings);
}
