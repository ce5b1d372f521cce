// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { LocalLock } from "./local/local_lock.ts";
import { ThreadLock } from "./thread/thread_lock.ts";
import { UpstashLock } from "./upstash/upstash_lock.ts";
import { DurableObjectLock } from "./durable_object/durable_object_lock.ts";
import { DenoKvLock } from "./deno_kv/deno_kv_lock.ts";
import { FileLock } from "./file/file_lock.ts";
import { describeLockTarget } from "./lock_target.ts";
import type { Lock, LockOptions, LockType, LockTypes } from "./core/types.ts";
import {
  createOfType,
  type Registered,
  registerType,
  type RegistryKind,
} from "./_registry.ts";
import { OPTION_KEYS } from "./_option_keys.ts";

/**
 * Builds a lock of one type from the options given to {@linkcode createLock}
 * (`O`, the type's options).
 */
export type LockFactory<O = LockOptions> = (
  options: O,
) => Lock;

type Factory = Registered<Lock>;

const factories: Map<string, Factory> = new Map<string, Factory>([
  ["local", {
    create: (options: LockTypes["local"]) => new LocalLock(options),
    keys: OPTION_KEYS.local,
  }],
  ["thread", {
    create: (options: LockTypes["thread"]) => new ThreadLock(options),
    keys: OPTION_KEYS.thread,
  }],
  ["upstash", {
    create: (options: LockTypes["upstash"]) => new UpstashLock(options),
    keys: OPTION_KEYS.upstash,
  }],
  ["durable-object", {
    create: (options: LockTypes["durable-object"]) =>
      new DurableObjectLock(options),
    keys: OPTION_KEYS["durable-object"],
  }],
  ["deno-kv", {
    create: (options: LockTypes["deno-kv"]) => new DenoKvLock(options),
    keys: OPTION_KEYS["deno-kv"],
  }],
  ["file", {
    create: (options: LockTypes["file"]) => new FileLock(options),
    keys: OPTION_KEYS.file,
  }],
  ["auto", {
    create: (options: LockTypes["auto"]): Lock => {
      // Detection is opt-in: only what the options and the given env say.
      // The chosen type gets the options that are its own.
      const target = describeLockTarget(options);
      return (factories.get(target.type)!.create as LockFactory)(
        target.options,
      );
    },
    keys: OPTION_KEYS.auto,
  }],
]);

/** What `createLock` makes, as the registry checks and names it. */
const kind: RegistryKind<Lock> = {
  noun: "lock",
  made: "Lock",
  isMade: (value): value is Lock =>
    value !== null && typeof value === "object" &&
    typeof (value as Lock).acquire === "function" &&
    typeof (value as Lock).name === "string",
};

/**
 * Creates a lock of the given type. `"local"`, the default, is an async FIFO
 * lock within one isolate. `options` are the type's own (see
 * {@linkcode LockTypes}: `UpstashLockOptions` for `"upstash"`, and so on);
 * every type accepts `name`. A key the type does not know is an error that
 * names the option it most likely meant: a misspelled option is never
 * ignored.
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
 * @example A misspelled option
 * ```ts
 * import { createLock } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * // Written inline, the compiler rejects it; at run time createLock does.
 * const options = { name: "jobs", reddis: { url: "https://x", token: "t" } };
 * assert.throws(
 *   () => createLock("upstash", options),
 *   /'reddis' is not an option of upstash locks; did you mean 'redis'\?/,
 * );
 * ```
 *
 * @typeParam T The lock type.
 * @param type The lock type.
 * @param options The lock's name and the type's own options.
 * @returns A new lock.
 * @throws {TypeError} When `type` is unknown (the message lists the known
 * types), or an option is not one of the type's (the message names it and
 * the one it most likely meant) or is invalid.
 * @throws {RangeError} When an option is out of range.
 */
export function createLock<T extends LockType | undefined = "local">(
  type?: T,
  // No type is "local", so are its options; they never choose the type.
  options?: LockTypes[NoInfer<T> extends LockType ? NoInfer<T> : "local"],
): Lock {
  type ??= "local" as T;
  return createOfType(kind, factories, type, options);
}

/**
 * Adds a lock type to {@linkcode createLock} and `LockManager`: the seed's
 * extensibility protocol. A type can be registered once; the built-in types
 * cannot be replaced. Declare the type in {@linkcode LockTypes} so that
 * TypeScript accepts it and checks its options, and give its option keys so
 * that `createLock` rejects any other at run time, as it does for the
 * built-in types.
 *
 * @example Registering a type
 * ```ts
 * import { createLock, LocalLock, type LockType, registerLockType } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * registerLockType("in-memory", (options) => new LocalLock(options), ["name"]);
 * // With "in-memory" declared in LockTypes (see there), no cast is needed.
 * const lock = createLock("in-memory" as LockType, { name: "x" });
 * assert.equal(lock.name, "x");
 * assert.throws(() => createLock("in-memory" as LockType, { nmae: "x" } as never), /did you mean 'name'/);
 * ```
 *
 * @typeParam T The new type's name.
 * @param type The new type's name: 1 to 64 characters.
 * @param factory Builds a lock from `createLock`'s options.
 * @param optionKeys The option keys the type accepts (`createLock` rejects
 * others); without it, any key is passed to `factory`.
 * @throws {TypeError} When the type is taken or an argument is not usable.
 */
export function registerLockType<T extends string>(
  type: T,
  factory: LockFactory<T extends LockType ? LockTypes[T] : LockOptions>,
  optionKeys?: readonly string[],
): void {
  registerType(kind, factories, type, factory, optionKeys);
}
