// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/** @internal Argument checks shared by every lock type. */

import type { AcquireOptions, LockMode } from "./types.ts";

/** The longest lock name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 512;

/** The longest delay `setTimeout` honours on every runtime (2^31 - 1 ms). */
export const MAX_DELAY_MS = 2_147_483_647;

/** Renders a bad value for an error message without throwing on odd inputs. */
export function show(value: unknown): string {
  if (typeof value === "string") {
    const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
    return `${JSON.stringify(shown)} (a string of length ${value.length})`;
  }
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "function") return "a function";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return String(value);
}

/** Throws unless `options` is `undefined` or an object. */
export function checkOptions<T>(action: string, options: T): T {
  if (
    options !== undefined && (options === null || typeof options !== "object")
  ) {
    throw new TypeError(
      `Cannot ${action} as 'options' must be an object: current value is ${
        show(options)
      }`,
    );
  }
  return options;
}

/** Throws unless `fn`, a critical section for lock `name`, is a function. */
export function checkFn(name: string, fn: unknown): void {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot run with lock "${name}" as 'fn' must be a function: current value is ${
        show(fn)
      }`,
    );
  }
}

/** Throws unless `name` is a usable lock name. */
export function checkName(
  action: string,
  name: unknown,
  option: string = "name",
  maxLength: number = MAX_NAME_LENGTH,
): string {
  if (typeof name !== "string") {
    throw new TypeError(
      `Cannot ${action} as '${option}' must be a string: current value is ${
        show(name)
      }`,
    );
  }
  if (name.length === 0 || name.length > maxLength) {
    throw new RangeError(
      `Cannot ${action} as '${option}' must be 1 to ${maxLength} characters long: current value is ${
        show(name)
      }`,
    );
  }
  return name;
}

/** Throws unless `value` is `undefined` or a whole-or-fractional count of ms in range. */
export function checkMs(
  action: string,
  option: string,
  value: unknown,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${action} as '${option}' must be a number of milliseconds: current value is ${
        show(value)
      }`,
    );
  }
  if (!(value >= 0 && value <= MAX_DELAY_MS)) {
    throw new RangeError(
      `Cannot ${action} as '${option}' must be a finite number from 0 to ${MAX_DELAY_MS}: current value is ${
        show(value)
      }`,
    );
  }
  return value;
}

/** Throws unless `value` is `undefined` or a lock mode. */
export function checkMode(action: string, value: unknown): LockMode {
  if (value === undefined || value === "exclusive") return "exclusive";
  if (value === "shared") return "shared";
  throw new TypeError(
    `Cannot ${action} as 'mode' must be "exclusive" or "shared": current value is ${
      show(value)
    }`,
  );
}

/** Throws unless `value` is `undefined` or an `AbortSignal`. */
export function checkSignal(
  action: string,
  value: unknown,
): AbortSignal | undefined {
  if (value === undefined) return undefined;
  // Duck-typed: signals from another realm (a vm context, a polyfill) work too.
  if (
    value === null || typeof value !== "object" ||
    typeof (value as AbortSignal).aborted !== "boolean" ||
    typeof (value as AbortSignal).addEventListener !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action} as 'signal' must be an AbortSignal: current value is ${
        show(value)
      }`,
    );
  }
  return value as AbortSignal;
}

/** The checked form of {@linkcode AcquireOptions}. */
export interface CheckedAcquireOptions {
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  leaseMs: number | undefined;
  mode: LockMode;
  priority: number;
  owner: string | undefined;
}

/** Validates a whole options object for `acquire`, `tryAcquire` or `withLock`. */
export function checkAcquireOptions(
  name: string,
  options: AcquireOptions | undefined,
): CheckedAcquireOptions {
  const action = `acquire lock "${name}"`;
  if (options === undefined) {
    return {
      timeoutMs: undefined,
      signal: undefined,
      leaseMs: undefined,
      mode: "exclusive",
      priority: 0,
      owner: undefined,
    };
  }
  checkOptions(action, options);
  const { timeoutMs, signal, leaseMs, mode, owner, priority } = options;
  return {
    timeoutMs: checkMs(action, "timeoutMs", timeoutMs),
    signal: checkSignal(action, signal),
    leaseMs: checkLeaseMs(action, leaseMs),
    mode: checkMode(action, mode),
    priority: checkPriority(action, priority),
    owner: owner === undefined ? undefined : checkOwner(action, owner),
  };
}

/** The highest `priority`; the lowest is its negation. */
export const MAX_PRIORITY = 100;

/**
 * How many later arrivals raise a waiter by one priority level: queues are
 * ordered by `ticket - priority * AGING_ARRIVALS`, so nobody starves.
 */
export const AGING_ARRIVALS = 10;

/**
 * A waiter's place in a queue, lowest first: `ticket - priority * 10`,
 * scaled so that on a tie the lower priority (the earlier arrival) wins and
 * no two waiters ever compare equal. Exact in a double up to 2^44 tickets.
 */
export function queueKey(ticket: number, priority: number): number {
  return (ticket - priority * AGING_ARRIVALS) * 256 + priority + MAX_PRIORITY;
}

/** Throws unless `value` is `undefined` or an integer priority in range. */
export function checkPriority(action: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${action} as 'priority' must be a number: current value is ${
        show(value)
      }`,
    );
  }
  if (
    !Number.isInteger(value) || value < -MAX_PRIORITY || value > MAX_PRIORITY
  ) {
    throw new RangeError(
      `Cannot ${action} as 'priority' must be an integer from -${MAX_PRIORITY} to ${MAX_PRIORITY}: current value is ${
        show(value)
      }`,
    );
  }
  // -0 would print oddly and compare equal anyway.
  return value | 0;
}

/** Throws unless `value` is an owner label: a string of 1 to 256 characters. */
export function checkOwner(action: string, value: unknown): string {
  return checkName(action, value, "owner", 256);
}

/** A lease of 0 ms would be lost before it was granted, so it starts at 1. */
export function checkLeaseMs(
  action: string,
  value: unknown,
): number | undefined {
  const leaseMs = checkMs(action, "leaseMs", value);
  if (leaseMs !== undefined && leaseMs < 1) {
    throw new RangeError(
      `Cannot ${action} as 'leaseMs' must be at least 1: current value is ${
        show(leaseMs)
      }`,
    );
  }
  return leaseMs;
}
