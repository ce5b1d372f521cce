// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

/**
 * The `thread` lock type alone (`unilock/thread`), for a bundle that needs
 * no other backend: a lock, or a table of named locks, shared by worker
 * threads through a `SharedArrayBuffer`.
 *
 * @example One lock, handed to a worker by postMessage
 * ```ts
 * import { ThreadLock } from "@unilock/unilock/thread";
 * import assert from "node:assert/strict";
 *
 * const lock = new ThreadLock({ name: "ledger" });
 * const twin = new ThreadLock({ handle: lock.handle }); // as a worker would
 * const lease = await lock.acquire();
 * assert.equal(await twin.tryAcquire(), undefined);
 * await lease.release();
 * ```
 *
 * @module
 */

export * from "./thread_lock.ts";
export * from "./thread_lock_table.ts";
export * from "./thread_semaphore.ts";
