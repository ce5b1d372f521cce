// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

/**
 * One lock API for every JavaScript runtime and every scale.
 *
 * `createLock()` builds a lock; every lock type keeps the same contract:
 * FIFO waiting, `exclusive` and `shared` modes, `timeoutMs`, cancellation by
 * `AbortSignal`, idempotent release, `await using`, and fencing tokens that
 * strictly increase.
 *
 * @example Contending tasks
 * ```ts
 * import { createLock } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const lock = createLock("local", { name: "inventory" });
 * let inside = 0;
 * const fences: number[] = [];
 * await Promise.all(
 *   [1, 2, 3].map(() =>
 *     lock.withLock(async (lease) => {
 *       assert.equal(++inside, 1);
 *       fences.push(lease.fence);
 *       await new Promise((resolve) => setTimeout(resolve, 5));
 *       inside--;
 *     })
 *   ),
 * );
 * assert.deepEqual(fences, [1, 2, 3]);
 * ```
 *
 * @module
 */

export * from "./src/core/types.ts";
export * from "./src/core/errors.ts";
export * from "./src/remote/driver.ts";
export * from "./src/remote/remote_lock.ts";
export * from "./src/remote/remote_semaphore.ts";
export * from "./src/local/local_lock.ts";
export * from "./src/local/local_semaphore.ts";
export * from "./src/thread/thread_lock.ts";
export * from "./src/thread/thread_lock_table.ts";
export * from "./src/thread/thread_semaphore.ts";
export * from "./src/upstash/upstash_lock.ts";
export * from "./src/upstash/upstash_semaphore.ts";
export * from "./src/durable_object/durable_object_lock.ts";
export * from "./src/durable_object/durable_object_semaphore.ts";
export * from "./src/deno_kv/deno_kv_lock.ts";
export * from "./src/deno_kv/deno_kv_semaphore.ts";
export * from "./src/file/file_lock.ts";
export * from "./src/file/file_semaphore.ts";
export * from "./src/lock_target.ts";
export * from "./src/create_lock.ts";
export * from "./src/create_semaphore.ts";
export * from "./src/coordination/lock_manager.ts";
export * from "./src/core/with_lock.ts";
export * from "./src/coordination/acquire_all.ts";
export * from "./src/web_locks/web_locks.ts";
