// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { LockOptions } from "../core/types.ts";
import { RemoteLock } from "../remote/remote_lock.ts";
import { denoKvDriver } from "./_driver.ts";
import type { DenoKvLike } from "./_kv.ts";
import { checkDenoKvOptions } from "./_options.ts";

export type {
  DenoKvAtomicLike,
  DenoKvEntryLike,
  DenoKvKey,
  DenoKvLike,
} from "./_kv.ts";

/** Options for {@linkcode DenoKvLock}. */
export interface DenoKvLockOptions extends LockOptions {
  /**
   * The lock's name, shared by every client of the database. Required. 1 to
   * 512 characters of well-formed Unicode.
   */
  name?: string;
  /**
   * The database: a `Deno.Kv` from `Deno.openKv()` (on Deno 2.x it needs
   * `--unstable-kv`), the `Kv` of the `@deno/kv` package on Node or Bun,
   * or a path (or KV Connect URL) that the lock opens itself — with
   * `Deno.openKv` on Deno, and elsewhere with `@deno/kv`, which it then
   * loads (an optional peer dependency). One handle per path per process.
   * The lock writes bytes only, so on Bun a handle of your own needs
   * `openKv(path, { encodeV8, decodeV8 })` stubs that are never called.
   */
  kv?: DenoKvLike | string;
  /**
   * The first part of every key the lock writes, to keep its keys apart
   * from yours: keys are `[prefix, name, …]`. 1 to 64 characters.
   *
   * @default {"unilock"}
   */
  prefix?: string;
  /**
   * The lease length when `acquire` is not given `leaseMs`; renewed every
   * third of it while held. 100 ms to 24 days.
   *
   * @default {30000}
   */
  leaseMs?: number;
  /**
   * How long a waiter keeps its place without a sign of life (a waiting
   * client renews it every third of this). A crashed waiter holds up the
   * queue at most this long. 1 s to 1 day.
   *
   * @default {10000}
   */
  waiterTtlMs?: number;
  /**
   * How often a waiter reads the lock while it waits, in milliseconds.
   * `kv.watch()` wakes waiters in this process at once, but on a local KV
   * file it does not see other processes' writes (denoland/deno #21640),
   * so a release by another process is noticed by this read: it bounds the
   * handoff latency between processes, at one KV read per waiting lock per
   * `pollMs`. 1 ms to 10 s.
   *
   * @default {25}
   */
  pollMs?: number;
  /**
   * How long one KV operation may take before it counts as failed. Every
   * operation is bounded by the caller's `timeoutMs` and `signal` as well.
   *
   * @default {10000}
   */
  requestTimeoutMs?: number;
}

/**
 * A lock in Deno KV: the `deno-kv` lock type, for Deno processes (and Node
 * ones, through `@deno/kv`) that share a KV database — a local file on one
 * host, or a globally consistent one on Deno Deploy or a self-hosted
 * `denokv`. No lock server: every operation is an atomic commit checked by
 * versionstamps, and leases live in the records, checked against the time
 * on every operation.
 *
 * Waiters queue in FIFO order (with priorities), and a release hands the
 * lock to the next waiter in the same commit. A waiter in this process
 * hears of it at once through `kv.watch()`; one in another process by
 * reading the lock every `pollMs` (on a local file `watch()` does not see
 * other processes' writes). Leases are reckoned by the clients' clocks,
 * as KV has none: see docs/deno-kv.md for what that assumes.
 *
 * @example Two clients of one database
 * ```ts
 * import { createLock } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * // `deno test` here runs with "unstable": ["kv"] (or pass --unstable-kv).
 * const kv = await Deno.openKv(":memory:");
 * const a = createLock("deno-kv", { name: "invoices", kv });
 * const b = createLock("deno-kv", { name: "invoices", kv });
 * const lease = await a.acquire();
 * assert.equal(await b.tryAcquire(), undefined);
 * await lease.release();
 * await b.withLock((next) => assert.ok(next.fence > lease.fence));
 * kv.close();
 * ```
 */
export class DenoKvLock extends RemoteLock {
  /**
   * Constructs a new instance; checks every option now.
   *
   * @param options Name, database, key prefix and timings.
   */
  constructor(options?: DenoKvLockOptions) {
    const { driver, lock } = checkDenoKvOptions(options, "lock");
    super(denoKvDriver(driver), lock);
  }
}
