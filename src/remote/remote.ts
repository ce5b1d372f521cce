// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

/**
 * The remote-lock core alone (`unilock/remote`), for writing a distributed
 * backend of your own: implement {@linkcode RemoteDriver} (the backend's
 * atomic operations, each idempotent by token) and hand it to
 * {@linkcode RemoteLock}, which gives it the whole `Lock` contract.
 *
 * @example A lock on a driver
 * ```ts
 * import { RemoteLock, type RemoteDriver } from "@unilock/unilock/remote";
 * import assert from "node:assert/strict";
 *
 * let holder: string | undefined;
 * const driver: RemoteDriver = {
 *   type: "toy",
 *   target: "memory",
 *   minLeaseMs: 100,
 *   acquire: async (r) =>
 *     holder === undefined || holder === r.token
 *       ? (holder = r.token, { state: "granted", fence: 1, leaseMs: r.leaseMs })
 *       : { state: "busy" },
 *   release: async (token) => holder === token && !(holder = undefined),
 *   extend: async (token, leaseMs) => ({ held: holder === token, leaseMs }),
 *   status: async () => ({ holders: holder ? 1 : 0, waiters: 0 }),
 *   query: async () => ({ held: [], pending: [] }),
 * };
 * const lock = new RemoteLock(driver, { name: "report" });
 * assert.equal(await lock.withLock((lease) => lease.fence), 1);
 * ```
 *
 * @module
 */

export * from "./driver.ts";
export * from "./remote_lock.ts";
