// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { LocalLock } from "./local/local_lock.ts";
import { ThreadLock } from "./thread/thread_lock.ts";
import { UpstashLock } from "./upstash/upstash_lock.ts";
import { DurableObjectLock } from "./durable_object/durable_object_lock.ts";
import { describeLockTarget } from "./lock_target.ts";
import type { Lock, LockOptions, LockType } from "./core/types.ts";
import { checkOptions, show } from "./core/_validate.ts";

/** Builds a lock of one type from the options given to {@linkcode createLock}. */
export type LockFactory = (options: LockOptions) => Lock;

const factories: Map<string, LockFactory> = new Map<string, LockFactory>([
  ["local", (options) => new LocalLock(options)],
  ["thread", (options) => new ThreadLock(options)],
  ["upstash", (options) => new UpstashLock(options)],
  ["durable-object", (options) => new DurableObjectLock(options)],
  ["auto", (options): Lock => {
    // Detection is opt-in: only what the options and the given env say.
    const target = describeLockTarget(options);
    return factories.get(target.type)!(target.options);
  }],
]);

function knownTypes(): string {
  return [...factories.keys()].map((type) => `"${type}"`).join(", ");
}

/**
 * Creates a lock of the given type. `"local"`, the default, is an async FIFO
 * lock within one isolate. Options are passed to the type's factory; every
 * type accepts `name`.
 *
 * @example A named local lock
 * ```ts
 * import { createLock } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const lock = createLock("local", { name: "db-migrations" });
 * assert.equal(lock.type, "local");
 * await lock.withLock(async (lease) => {
 *   assert.equal(lease.name, "db-migrations");
 * });
 * ```
 *
 * @param type The lock type.
 * @param options The lock's name and the type's own options.
 * @returns A new lock.
 * @throws {TypeError} When `type` is unknown (the message lists the known types) or an option is invalid.
 * @throws {RangeError} When an option is out of range.
 */
export function createLock(
  type: LockType = "local",
  options?: LockOptions,
): Lock {
  if (typeof type !== "string") {
    throw new TypeError(
      `Cannot create lock as 'type' must be a string: current value is ${
        show(type)
      }; known types are ${knownTypes()}`,
    );
  }
  checkOptions("create lock", options);
  const factory = factories.get(type);
  if (factory === undefined) {
    throw new TypeError(
      `Cannot create lock as 'type' is unknown: current value is ${
        show(type)
      }; known types are ${knownTypes()}`,
    );
  }
  const lock = factory(options ?? {});
  if (
    lock === null || typeof lock !== "object" ||
    typeof lock.acquire !== "function" || typeof lock.name !== "string"
  ) {
    throw new TypeError(
      `Cannot create lock as the factory for type "${type}" did not return a Lock: returned ${
        show(lock)
      }`,
    );
  }
  return lock;
}

/**
 * Adds a lock type to {@linkcode createLock} and `LockManager`: the seed's
 * extensibility protocol. A type can be registered once; the built-in types
 * cannot be replaced.
 *
 * @example Registering a type
 * ```ts
 * import { createLock, LocalLock, registerLockType } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * registerLockType("in-memory", (options) => new LocalLock(options));
 * const lock = createLock("in-memory", { name: "x" });
 * assert.equal(lock.name, "x");
 * ```
 *
 * @param type The new type's name: 1 to 64 characters.
 * @param factory Builds a lock from `createLock`'s options.
 * @throws {TypeError} When the type is taken or an argument is not usable.
 */
export function registerLockType(type: string, factory: LockFactory): void {
  if (typeof type !== "string" || type.length === 0 || type.length > 64) {
    throw new TypeError(
      `Cannot register lock type as 'type' must be a string of 1 to 64 characters: current value is ${
        show(type)
      }`,
    );
  }
  if (typeof factory !== "function") {
    throw new TypeError(
      `Cannot register lock type "${type}" as 'factory' must be a function: current value is ${
        show(factory)
      }`,
    );
  }
  if (factories.has(type)) {
    throw new TypeError(
      `Cannot register lock type "${type}" as the type is already taken; taken types are ${knownTypes()}`,
    );
  }
  factories.set(type, factory);
}
