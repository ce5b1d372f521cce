// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { LocalSemaphore } from "./local/local_semaphore.ts";
import { UpstashSemaphore } from "./upstash/upstash_semaphore.ts";
import { DurableObjectSemaphore } from "./durable_object/durable_object_semaphore.ts";
import { FileSemaphore } from "./file/file_semaphore.ts";
import { describeLockTarget } from "./lock_target.ts";
import type {
  Semaphore,
  SemaphoreOptions,
  SemaphoreType,
  SemaphoreTypes,
} from "./core/types.ts";
import { checkOptionKeys, checkOptions, show } from "./core/_validate.ts";
import { SEMAPHORE_OPTION_KEYS } from "./_option_keys.ts";

/**
 * Builds a semaphore of one type from the options given to
 * {@linkcode createSemaphore} (`O`, the type's options).
 */
export type SemaphoreFactory<O = SemaphoreOptions> = (options: O) => Semaphore;

interface Factory {
  create: SemaphoreFactory<never>;
  /** The option keys the type accepts; `undefined` accepts any. */
  keys: readonly string[] | undefined;
}

const factories: Map<string, Factory> = new Map<string, Factory>([
  ["local", {
    create: (options: SemaphoreTypes["local"]) => new LocalSemaphore(options),
    keys: SEMAPHORE_OPTION_KEYS.local,
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

function knownTypes(): string {
  return [...factories.keys()].map((type) => `"${type}"`).join(", ");
}

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
  if (typeof type !== "string") {
    throw new TypeError(
      `Cannot create semaphore as 'type' must be a string: current value is ${
        show(type)
      }; known types are ${knownTypes()}`,
    );
  }
  checkOptions("create semaphore", options);
  const factory = factories.get(type);
  if (factory === undefined) {
    throw new TypeError(
      `Cannot create semaphore as 'type' is unknown: current value is ${
        show(type)
      }; known types are ${knownTypes()}`,
    );
  }
  if (factory.keys !== undefined) {
    checkOptionKeys(
      "create semaphore",
      type,
      options,
      factory.keys,
      "semaphores",
    );
  }
  const semaphore = (factory.create as SemaphoreFactory)(
    options ?? ({} as SemaphoreOptions),
  );
  if (
    semaphore === null || typeof semaphore !== "object" ||
    typeof semaphore.acquire !== "function" ||
    typeof semaphore.withPermits !== "function" ||
    typeof semaphore.name !== "string"
  ) {
    throw new TypeError(
      `Cannot create semaphore as the factory for type "${type}" did not return a Semaphore: returned ${
        show(semaphore)
      }`,
    );
  }
  return semaphore;
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
  if (typeof type !== "string" || type.length === 0 || type.length > 64) {
    throw new TypeError(
      `Cannot register semaphore type as 'type' must be a string of 1 to 64 characters: current value is ${
        show(type)
      }`,
    );
  }
  if (typeof factory !== "function") {
    throw new TypeError(
      `Cannot register semaphore type "${type}" as 'factory' must be a function: current value is ${
        show(factory)
      }`,
    );
  }
  if (
    optionKeys !== undefined &&
    (!Array.isArray(optionKeys) ||
      !optionKeys.every((k) => typeof k === "string"))
  ) {
    throw new TypeError(
      `Cannot register semaphore type "${type}" as 'optionKeys' must be an array of strings: current value is ${
        show(optionKeys)
      }`,
    );
  }
  if (factories.has(type)) {
    throw new TypeError(
      `Cannot register semaphore type "${type}" as the type is already taken; taken types are ${knownTypes()}`,
    );
  }
  factories.set(type, {
    create: factory as SemaphoreFactory<never>,
    keys: optionKeys === undefined ? undefined : [...optionKeys],
  });
}
