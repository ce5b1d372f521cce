// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { SemaphoreOptions } from "../core/types.ts";
import { RemoteSemaphore } from "../remote/remote_semaphore.ts";
import { denoKvDriver } from "./_driver.ts";
import { checkDenoKvOptions } from "./_options.ts";
import type { DenoKvLockOptions } from "./deno_kv_lock.ts";

/** Options for {@linkcode DenoKvSemaphore}: a deno-kv lock's, plus `permits`. */
export interface DenoKvSemaphoreOptions
  extends DenoKvLockOptions, SemaphoreOptions {}

/**
 * A counting semaphore in Deno KV: the `deno-kv` semaphore type. The same
 * records and atomic commits as the `deno-kv` lock, whose rule admits the
 * head of the queue while the permits held plus its own fit the capacity
 * (head-of-line: nobody behind it goes first). An acquire and a release
 * are a read and a commit each when permits are free; a release hands the
 * permits on in its own commit; waiters in this process hear of it through
 * `kv.watch()`, those in others by reading every `pollMs`. Every client
 * gives the capacity, and one that disagrees with the name's holders and
 * waiters is refused with a `RangeError`.
 *
 * @example At most two exports at once, across processes on one KV file
 * ```ts
 * import { createSemaphore } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * // `deno test` here runs with "unstable": ["kv"] (or pass --unstable-kv).
 * const kv = await Deno.openKv(":memory:");
 * const a = createSemaphore("deno-kv", { name: "exports", permits: 2, kv });
 * const b = createSemaphore("deno-kv", { name: "exports", permits: 2, kv });
 * const lease = await a.acquire({ permits: 2 });
 * assert.equal(await b.tryAcquire(), undefined);
 * await lease.release();
 * assert.equal(await b.available(), 2);
 * kv.close();
 * ```
 */
export class DenoKvSemaphore extends RemoteSemaphore {
  /**
   * Constructs a new instance; checks every option now.
   *
   * @param options Name, capacity (`permits`), database, key prefix and timings.
   */
  constructor(options: DenoKvSemaphoreOptions) {
    const { driver, lock } = checkDenoKvOptions(options, "semaphore");
    super(denoKvDriver(driver), { ...lock, permits: options.permits });
  }
}
