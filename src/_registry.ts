// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The registry of types behind `createLock` and
 * `createSemaphore`: one implementation of looking a type up, checking its
 * option keys, checking what its factory made, and registering a new type,
 * so that locks and semaphores cannot drift apart.
 */

import { checkOptionKeys, checkOptions, show } from "./core/_validate.ts";

/** A registered type: its factory and the option keys it accepts. */
export interface Registered<T> {
  create: (options: never) => T;
  /** The option keys the type accepts; `undefined` accepts any. */
  keys: readonly string[] | undefined;
}

/** Locks or semaphores: what the registry makes, as its messages say it. */
export interface RegistryKind<T> {
  /** "lock" or "semaphore". */
  noun: "lock" | "semaphore";
  /** The interface a factory must return, as messages name it. */
  made: string;
  /** Whether a factory's result is usable as one. */
  isMade(value: unknown): value is T;
}

/** The registered types, quoted, for messages. */
function known(types: Map<string, unknown>): string {
  return [...types.keys()].map((type) => `"${type}"`).join(", ");
}

/**
 * Makes one of `type` from `options` with its factory in `types`; throws a
 * TypeError for an unknown type, an unknown option key, or a factory that
 * made something else. (Functions, not methods, so that a bundle which
 * never registers a type leaves {@linkcode registerType} out.)
 */
export function createOfType<T>(
  kind: RegistryKind<T>,
  types: Map<string, Registered<T>>,
  type: unknown,
  options: object | undefined,
): T {
  const { noun, made, isMade } = kind;
  if (typeof type !== "string") {
    throw new TypeError(
      `Cannot create ${noun} as 'type' must be a string: current value is ${
        show(type)
      }; known types are ${known(types)}`,
    );
  }
  checkOptions(`create ${noun}`, options);
  const registered = types.get(type);
  if (registered === undefined) {
    throw new TypeError(
      `Cannot create ${noun} as 'type' is unknown: current value is ${
        show(type)
      }; known types are ${known(types)}`,
    );
  }
  if (registered.keys !== undefined) {
    checkOptionKeys(
      `create ${noun}`,
      type,
      options,
      registered.keys,
      noun === "lock" ? "locks" : "semaphores",
    );
  }
  const value = (registered.create as (options: unknown) => unknown)(
    options ?? {},
  );
  if (!isMade(value)) {
    throw new TypeError(
      `Cannot create ${noun} as the factory for type "${type}" did not return a ${made}: returned ${
        show(value)
      }`,
    );
  }
  return value;
}

/**
 * Adds `type` to `types`; throws a TypeError when it is taken or an argument
 * is not usable.
 */
export function registerType<T>(
  kind: RegistryKind<T>,
  types: Map<string, Registered<T>>,
  type: unknown,
  factory: unknown,
  optionKeys: unknown,
): void {
  const { noun } = kind;
  if (typeof type !== "string" || type.length === 0 || type.length > 64) {
    throw new TypeError(
      `Cannot register ${noun} type as 'type' must be a string of 1 to 64 characters: current value is ${
        show(type)
      }`,
    );
  }
  if (typeof factory !== "function") {
    throw new TypeError(
      `Cannot register ${noun} type "${type}" as 'factory' must be a function: current value is ${
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
      `Cannot register ${noun} type "${type}" as 'optionKeys' must be an array of strings: current value is ${
        show(optionKeys)
      }`,
    );
  }
  if (types.has(type)) {
    throw new TypeError(
      `Cannot register ${noun} type "${type}" as the type is already taken; taken types are ${
        known(types)
      }`,
    );
  }
  types.set(type, {
    create: factory as (options: never) => T,
    keys: optionKeys === undefined ? undefined : [...optionKeys],
  });
}
