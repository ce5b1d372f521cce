// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The arguments of `request()` converted as WebIDL converts them
 * for the Web Locks API's IDL (https://w3c.github.io/web-locks/#api-lock-manager):
 * overload resolution by argument count, `DOMString` for the name, the
 * `LockOptions` dictionary (members read in lexicographic order: each read
 * is observable through a getter), the `LockMode` enum, and a callable
 * callback. Every failure is a `TypeError`; the caller turns it into a
 * rejected promise, as WebIDL does for an operation that returns one.
 */

import type { LockMode } from "../core/types.ts";
import { show } from "../core/_validate.ts";

/** The converted arguments of one `request()`. */
export interface RequestArguments {
  name: string;
  mode: LockMode;
  ifAvailable: boolean;
  steal: boolean;
  signal: AbortSignal | undefined;
  callback: (lock: never) => unknown;
}

/** A name for a message: quoted, and cut when long. */
export function quote(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
}

/** WebIDL's `DOMString`: ECMAScript ToString, which refuses a symbol. */
function domString(what: string, value: unknown): string {
  if (typeof value === "symbol") {
    throw new TypeError(
      `Cannot request a lock as '${what}' must be a string: current value is ${
        show(value)
      }`,
    );
  }
  return `${value}`;
}

/** WebIDL's `AbortSignal`: an object of that interface, nothing else. */
function isAbortSignal(value: unknown): value is AbortSignal {
  return typeof AbortSignal === "function"
    ? value instanceof AbortSignal
    : value !== null && typeof value === "object" &&
      Object.prototype.toString.call(value) === "[object AbortSignal]";
}

/**
 * Converts `request(name, callback)` or `request(name, options, callback)`.
 * `args` is the call's `arguments`: with two, the second is the callback
 * (the two-argument overload is the only one of that length); with more,
 * the second is the options and the third the callback.
 */
export function convertRequest(args: ArrayLike<unknown>): RequestArguments {
  if (args.length < 2) {
    throw new TypeError(
      `Cannot request a lock as request() needs a name and a callback: ${args.length} argument${
        args.length === 1 ? "" : "s"
      } given`,
    );
  }
  const name = domString("name", args[0]);
  const action = `request lock ${quote(name)}`;
  let mode: LockMode = "exclusive", ifAvailable = false, steal = false;
  let signal: AbortSignal | undefined;
  let callback: unknown;
  if (args.length === 2) callback = args[1];
  else {
    const options = args[1];
    callback = args[2];
    if (options !== undefined && options !== null) {
      if (typeof options !== "object" && typeof options !== "function") {
        throw new TypeError(
          `Cannot ${action} as 'options' must be an object: current value is ${
            show(options)
          }`,
        );
      }
      // A dictionary's members, in lexicographic order.
      const o = options as Record<string, unknown>;
      const available = o.ifAvailable;
      if (available !== undefined) ifAvailable = Boolean(available);
      const m = o.mode;
      if (m !== undefined) {
        const value = domString("mode", m);
        if (value !== "shared" && value !== "exclusive") {
          throw new TypeError(
            `Cannot ${action} as 'mode' must be "shared" or "exclusive": current value is ${
              show(m)
            }`,
          );
        }
        mode = value;
      }
      const s = o.signal;
      if (s !== undefined) {
        if (!isAbortSignal(s)) {
          throw new TypeError(
            `Cannot ${action} as 'signal' must be an AbortSignal: current value is ${
              show(s)
            }`,
          );
        }
        signal = s;
      }
      const st = o.steal;
      if (st !== undefined) steal = Boolean(st);
    }
  }
  if (typeof callback !== "function") {
    throw new TypeError(
      `Cannot ${action} as 'callback' must be a function: current value is ${
        show(callback)
      }`,
    );
  }
  return {
    name,
    mode,
    ifAvailable,
    steal,
    signal,
    callback: callback as (lock: never) => unknown,
  };
}
