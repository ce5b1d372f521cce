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

export * from "./src/types.ts";
export * from "./src/observability.ts";
export * from "./src/errors.ts";
export * from "./src/local_lock.ts";
export * from "./src/thread_lock.ts";
export * from "./src/thread_lock_table.ts";
export * from "./src/upstash_lock.ts";
export * from "./src/durable_object_lock.ts";
export * from "./src/lock_target.ts";
export * from "./src/create_lock.ts";
export * from "./src/lock_manager.ts";
export * from "./src/with_lock.ts";
export * from "./src/acquire_all.ts";
