// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { LocalSemaphore } from "./local/local_semaphore.ts";
import { ThreadSemaphore } from "./thread/thread_semaphore.ts";
import { UpstashSemaphore } from "./upstash/upstash_semaphore.ts";
import { DurableObjectSemaphore } from "./durable_object/durable_object_semaphore.ts";
import { DenoKvSemaphore } from "./deno_kv/deno_kv_semaphore.ts";
import { FileSemaphore } from "./file/file_semaphore.ts";
import { describeLockTarget } from "./lock_target.ts";
import type {
  Semaphore,
  SemaphoreOptions,
  SemaphoreType,
  SemaphoreTypes,
} from "./core/types.ts";
import {
  createOfType,
  type Registered,
  registerType,
  type RegistryKind,
} from "./_registry.ts";
import { SEMAPHORE_OPTION_KEYS } from "./_option_keys.ts";

/**
 * Builds a semaphore of one type from the options given to
 * {@linkcode createSemaphore} (`O`, the type's options).
 */
export type SemaphoreFactory<O = SemaphoreOptions> = (options: O) => Semaphore;

type Factory = Registered<Semaphore>;

const factories: Map<string, Factory> = new Map<string, Factory>([
  ["local", {
    create: (options: SemaphoreTypes["local"]) => new LocalSemaphore(options),
    keys: SEMAPHORE_OPTION_KEYS.local,
  }],
  ["thread", {
    create: (options: SemaphoreTypes["thread"]) => new ThreadSemaphore(options),
    keys: SEMAPHORE_OPTION_KEYS.thread,
  }],
  ["upstash", {
    create: (options: SemaphoreTypes["upstash"]) =>
      new UpstashSemaphore(options),
    keys: SEMAPHORE_OPTION_KEYS.upstash,
  }],
  ["durable-object", {
    create: (options: SemaphoreTypes["durable-object"]) =>
      new DurableObjectSemaphore(options),
    keys: SEMAPHORE_OPTION_KEYS["durable-object"],
  }],
  ["deno-kv", {
    create: (options: SemaphoreTypes["deno-kv"]) =>
      new DenoKvSemaphore(options),
    keys: SEMAPHORE_OPTION_KEYS["deno-kv"],
  }],
  ["file", {
    create: (options: SemaphoreTypes["file"]) => new FileSemaphore(options),
    keys: SEMAPHORE_OPTION_KEYS.file,
  }],
  ["auto", {
    create: (options: SemaphoreTypes["auto"]): Semaphore => {
      // The same choice as createLock("auto"): only what the options and
      // the given env say; the chosen type gets its own options.
      const { permits, ...rest } = options;
      const target = describeLockTarget(rest);
      return (factories.get(target.type)!.create as SemaphoreFactory)({
        ...target.options,
        permits,
      });
    },
    keys: SEMAPHORE_OPTION_KEYS.auto,
  }],
]);

/** What `createSemaphore` makes, as the registry checks and names it. */
const kind: RegistryKind<Semaphore> = {
  noun: "semaphore",
  made: "Semaphore",
  isMade: (value): value is Semaphore =>
    value !== null && typeof value === "object" &&
    typeof (value as Semaphore).acquire === "function" &&
    typeof (value as Semaphore).withPermits === "function" &&
    typeof (value as Semaphore).name === "string",
};

/**
 * Creates a counting semaphore of the given type: at most `permits` permits
 * out at once across every client of its name. `options` are the lock
 * type's own (see {@linkcode SemaphoreTypes}) plus `permits`, the capacity,
 * which every client of a name must give the same. A key the type does not
 * know is an error that names the option it most likely meant.
 *
 * @example A concurrency limit
 * ```ts
 * import { createSemaphore } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const api = createSemaphore("local", { name: "api", permits: 2 });
 * let running = 0, most = 0;
 * await Promise.all([1, 2, 3, 4].map(() =>
 *   api.withPermits(async (lease) => {
 *     assert.equal(lease.permits, 1);
 *     most = Math.max(most, ++running);
 *     await new Promise((resolve) => setTimeout(resolve, 5));
 *     running--;
 *   })
 * ));
 * assert.equal(most, 2);
 * ```
 *
 * @typeParam T The semaphore type.
 * @param type The semaphore type.
 * @param options The capacity (`permits`), a name and the type's own options.
 * @returns A new semaphore.
 * @throws {TypeError} When `type` is unknown, an option is not one of the
 * type's, or `permits` is missing or not a number.
 * @throws {RangeError} When `permits` is not an integer from 1 to `MAX_PERMITS`, or another option is out of range.
 */
export function createSemaphore<T extends SemaphoreType>(
  type: T,
  options: SemaphoreTypes[NoInfer<T>],
): Semaphore {
  return createOfType(kind, factories, type, options);
}

/**
 * Adds a semaphore type to {@linkcode createSemaphore} and
 * `LockManager.getOrCreateSemaphore`, as `registerLockType` does for locks.
 * A type can be registered once; the built-in types cannot be replaced.
 * Declare it in {@linkcode SemaphoreTypes} so that TypeScript accepts it.
 *
 * @example Registering a type
 * ```ts
 * import { createSemaphore, LocalSemaphore, registerSemaphoreType, type SemaphoreType } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * registerSemaphoreType("in-memory", (options) => new LocalSemaphore(options), ["name", "permits"]);
 * const sem = createSemaphore("in-memory" as SemaphoreType, { name: "x", permits: 2 });
 * assert.equal(sem.permits, 2);
 * ```
 *
 * @typeParam T The new type's name.
 * @param type The new type's name: 1 to 64 characters.
 * @param factory Builds a semaphore from `createSemaphore`'s options.
 * @param optionKeys The option keys the type accepts (`createSemaphore`
 * rejects others); without it, any key is passed to `factory`.
 * @throws {TypeError} When the type is taken or an argument is not usable.
 */
export function registerSemaphoreType<T extends string>(
  type: T,
  factory: SemaphoreFactory<
    T extends SemaphoreType ? SemaphoreTypes[T] : SemaphoreOptions
  >,
  optionKeys?: readonly string[],
): void {
  registerType(kind, factories, type, factory, optionKeys);
}
