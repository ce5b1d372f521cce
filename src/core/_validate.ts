// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/** @internal Argument checks shared by every lock type. */

import type {
  AcquireOptions,
  LockMode,
  SemaphoreAcquireOptions,
} from "./types.ts";
import { MAX_PERMITS } from "./types.ts";

/** The longest lock name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 512;

/**
 * What the names the library keeps for itself start with: a thread lock
 * table's semaphores keep their state under such names, which the table
 * refuses as lock names and the Web Locks facade hashes.
 */
export const RESERVED_NAME_PREFIX = "\u0000unilock-";

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
  steal: boolean;
}

/**
 * Validates a whole options object for `acquire`, `tryAcquire` or
 * `withLock`. `steal` is refused unless the caller's lock type can steal
 * (`canSteal`): a lock that ignored it would queue instead.
 */
export function checkAcquireOptions(
  name: string,
  options: AcquireOptions | undefined,
  canSteal = false,
  kind: "lock" | "semaphore" = "lock",
): CheckedAcquireOptions {
  const action = `acquire ${kind} "${name}"`;
  if (options === undefined) {
    return {
      timeoutMs: undefined,
      signal: undefined,
      leaseMs: undefined,
      mode: kind === "lock" ? "exclusive" : "shared",
      priority: 0,
      owner: undefined,
      steal: false,
    };
  }
  checkOptions(action, options);
  const { timeoutMs, signal, leaseMs, mode, owner, priority } = options;
  const checked = {
    timeoutMs: checkMs(action, "timeoutMs", timeoutMs),
    signal: checkSignal(action, signal),
    leaseMs: checkLeaseMs(action, leaseMs),
    // A semaphore's leases share it, whatever `mode` says.
    mode: kind === "lock" ? checkMode(action, mode) : "shared",
    priority: checkPriority(action, priority),
    owner: owner === undefined ? undefined : checkOwner(action, owner),
    steal: false,
  };
  if (options.steal !== undefined) {
    checked.steal = checkSteal(action, options.steal, checked.mode, canSteal);
  }
  return checked;
}

/** Throws unless `value` is a boolean `steal` the lock can honour. */
function checkSteal(
  action: string,
  value: unknown,
  mode: LockMode,
  canSteal: boolean,
): boolean {
  if (typeof value !== "boolean") {
    throw new TypeError(
      `Cannot ${action} as 'steal' must be a boolean: current value is ${
        show(value)
      }`,
    );
  }
  if (!value) return false;
  if (mode !== "exclusive") {
    throw new TypeError(
      `Cannot ${action} as 'steal' needs mode "exclusive": current mode is "${mode}"`,
    );
  }
  if (!canSteal) {
    throw new TypeError(
      `Cannot ${action} as 'steal' is not supported by this lock type`,
    );
  }
  return true;
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

/** How many single-character edits (or swaps of neighbours) turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]!.push(j);
        continue;
      }
      const row = rows[i]!, above = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (
        i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]
      ) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      row.push(best);
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The known key a mistyped `key` most likely meant: the nearest by edit
 * distance (case aside) if it is near enough to be a typo, else one that
 * `key` begins (`lease` for `leaseMs`).
 */
export function nearest(
  key: string,
  known: readonly string[],
): string | undefined {
  let found: string | undefined, least = Infinity;
  const lower = key.toLowerCase();
  for (const candidate of known) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < least) [found, least] = [candidate, d];
  }
  // One edit in four characters, at least one, is a typo; more is a guess.
  if (found !== undefined && least <= Math.max(1, found.length >> 2)) {
    return found;
  }
  return lower.length < 3
    ? undefined
    : known.find((k) => k.toLowerCase().startsWith(lower));
}

/** The options of one acquisition, often given to `createLock` by mistake. */
const ACQUIRE_KEYS = [
  "leaseMs",
  "timeoutMs",
  "signal",
  "mode",
  "owner",
  "priority",
  "steal",
];

/** Quotes an option key for a message, hostile keys included. */
function quoteKey(key: string): string {
  return /^[\w$-]{1,64}$/.test(key) ? `'${key}'` : show(key);
}

/**
 * Throws a TypeError naming the first key of `options` that is not one of
 * `known`, the options of `label` locks, with the known key it most likely
 * meant: a misspelled option must not be ignored (a `reddis` would otherwise
 * fall back to the environment without a word).
 */
export function checkOptionKeys(
  action: string,
  label: string,
  options: object | undefined,
  known: readonly string[],
  kind: "locks" | "semaphores" = "locks",
): void {
  if (options === undefined) return;
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const meant = nearest(key, known);
    throw new TypeError(
      `Cannot ${action} as ${
        quoteKey(key)
      } is not an option of ${label} ${kind}; ${
        meant !== undefined
          ? `did you mean '${meant}'?`
          : ACQUIRE_KEYS.includes(key)
          ? "it is an option of acquire(), tryAcquire() and withLock()"
          : `their options are ${known.map((k) => `'${k}'`).join(", ")}`
      }`,
    );
  }
}

/** Throws unless `value` is an integer from `min` to `max` (a permit count). */
function checkCount(
  action: string,
  option: string,
  value: unknown,
  max: number,
  limit: string,
): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${action} as '${option}' must be an integer: current value is ${
        show(value)
      }`,
    );
  }
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(
      `Cannot ${action} as '${option}' must be an integer from 1 to ${max} (${limit}): current value is ${
        show(value)
      }`,
    );
  }
  return value;
}

/**
 * Checks a semaphore's capacity, the `permits` of `createSemaphore`: an
 * integer from 1 to `MAX_PERMITS`. Required: a semaphore without a capacity
 * has no limit to keep.
 */
export function checkCapacity(action: string, value: unknown): number {
  if (value === undefined) {
    throw new TypeError(
      `Cannot ${action} as 'permits' is required: the most permits out at once, the same on every client of the name`,
    );
  }
  return checkCount(action, "permits", value, MAX_PERMITS, "MAX_PERMITS");
}

/** The checked form of `SemaphoreAcquireOptions`. */
export interface CheckedSemaphoreOptions extends CheckedAcquireOptions {
  permits: number;
}

/**
 * Validates a semaphore acquisition's options: those of a lock's (its
 * `mode` ignored: a semaphore's leases are shared) plus `permits`, an
 * integer from 1 to the semaphore's `capacity`.
 */
export function checkSemaphoreOptions(
  name: string,
  capacity: number,
  options: SemaphoreAcquireOptions | undefined,
): CheckedSemaphoreOptions {
  const checked = checkAcquireOptions(
    name,
    options,
    false,
    "semaphore",
  ) as CheckedSemaphoreOptions;
  const permits = options?.permits;
  checked.permits = permits === undefined ? 1 : checkCount(
    `acquire semaphore "${name}"`,
    "permits",
    permits,
    capacity,
    "the semaphore's capacity",
  );
  return checked;
}

/** `value` if it is a number from `min` to `max`, `fallback` if undefined; else a RangeError naming `option`. */
export function checkRange(
  action: string,
  option: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= min && value <= max)) {
    throw new RangeError(
      `Cannot ${action} as '${option}' must be a number from ${min} to ${max}: current value is ${
        show(value)
      }`,
    );
  }
  return value;
}
