// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The option keys of each built-in lock type, which `createLock`
 * accepts and no others. Each list is checked by the compiler to be exactly
 * the keys of the type's options interface, so the two cannot drift apart.
 */

import type { LocalLockOptions } from "./local/local_lock.ts";
import type { ThreadLockOptions } from "./thread/thread_lock.ts";
import type { ThreadSemaphoreOptions } from "./thread/thread_semaphore.ts";
import type { UpstashLockOptions } from "./upstash/upstash_lock.ts";
import type { DurableObjectLockOptions } from "./durable_object/durable_object_lock.ts";
import type { DenoKvLockOptions } from "./deno_kv/deno_kv_lock.ts";
import type { FileLockOptions } from "./file/file_lock.ts";
import type { AutoLockOptions } from "./lock_target.ts";

/** Every key of `O`, no more (an object literal of this type lists them). */
type Keys<O> = { readonly [K in keyof Required<O>]: true };

const local: Keys<LocalLockOptions> = { name: true };
const thread: Keys<ThreadLockOptions> = {
  name: true,
  handle: true,
  capacity: true,
};
const threadSemaphore: Keys<ThreadSemaphoreOptions> = {
  name: true,
  permits: true,
  handle: true,
  table: true,
  capacity: true,
};
const upstash: Keys<UpstashLockOptions> = {
  name: true,
  redis: true,
  prefix: true,
  leaseMs: true,
  waiterTtlMs: true,
  requestTimeoutMs: true,
};
const durableObject: Keys<DurableObjectLockOptions> = {
  name: true,
  namespace: true,
  url: true,
  token: true,
  leaseMs: true,
  requestTimeoutMs: true,
};
const denoKv: Keys<DenoKvLockOptions> = {
  name: true,
  kv: true,
  prefix: true,
  leaseMs: true,
  waiterTtlMs: true,
  pollMs: true,
  requestTimeoutMs: true,
};
const file: Keys<FileLockOptions> = {
  name: true,
  dir: true,
  leaseMs: true,
  waiterTtlMs: true,
};
const auto: Keys<AutoLockOptions> = {
  ...upstash,
  ...durableObject,
  ...file,
  env: true,
  fallback: true,
};

/** The option keys of the built-in types, by type. */
export const OPTION_KEYS: {
  readonly local: readonly string[];
  readonly thread: readonly string[];
  readonly upstash: readonly string[];
  readonly "durable-object": readonly string[];
  readonly "deno-kv": readonly string[];
  readonly file: readonly string[];
  readonly auto: readonly string[];
} = {
  local: Object.keys(local),
  thread: Object.keys(thread),
  upstash: Object.keys(upstash),
  "durable-object": Object.keys(durableObject),
  "deno-kv": Object.keys(denoKv),
  file: Object.keys(file),
  auto: Object.keys(auto),
};

/**
 * The option keys of the built-in semaphore types: their lock type's, and
 * `permits` (the capacity).
 */
export const SEMAPHORE_OPTION_KEYS: {
  readonly local: readonly string[];
  readonly thread: readonly string[];
  readonly upstash: readonly string[];
  readonly "durable-object": readonly string[];
  readonly "deno-kv": readonly string[];
  readonly file: readonly string[];
  readonly auto: readonly string[];
} = {
  local: [...OPTION_KEYS.local, "permits"],
  thread: Object.keys(threadSemaphore),
  upstash: [...OPTION_KEYS.upstash, "permits"],
  "durable-object": [...OPTION_KEYS["durable-object"], "permits"],
  "deno-kv": [...OPTION_KEYS["deno-kv"], "permits"],
  file: [...OPTION_KEYS.file, "permits"],
  auto: [...OPTION_KEYS.auto, "permits"],
};
