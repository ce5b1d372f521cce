// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { LockOptions } from "../core/types.ts";
import { checkOptions, show } from "../core/_validate.ts";
import { RemoteLock, requireName } from "../remote/remote_lock.ts";
import { denoKvDriver } from "./_driver.ts";
import type { DenoKvLike } from "./_kv.ts";
import { denoGlobal, UNSTABLE_KV_HINT } from "./_open.ts";

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

const ACTION = "create deno-kv lock";

function isKv(value: unknown): value is DenoKvLike {
  const kv = value as DenoKvLike | null;
  return kv !== null && typeof kv === "object" &&
    typeof kv.getMany === "function" && typeof kv.list === "function" &&
    typeof kv.atomic === "function";
}

function range(
  option: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= min && value <= max)) {
    throw new RangeError(
      `Cannot ${ACTION} as '${option}' must be a number from ${min} to ${max}: current value is ${
        show(value)
      }`,
    );
  }
  return value;
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
    checkOptions(ACTION, options);
    const { name, kv, prefix = "unilock", leaseMs, requestTimeoutMs } =
      options ?? {};
    const checked = requireName("deno-kv", name);
    // A lone surrogate has no UTF-8 form: KV would store it as U+FFFD, so
    // two different names would share one lock.
    if (
      /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
        .test(checked)
    ) {
      throw new RangeError(
        `Cannot ${ACTION} as 'name' must be well-formed Unicode (no lone surrogate): current value is ${
          show(checked)
        }`,
      );
    }
    if (typeof kv === "string") {
      if (kv.length === 0 || kv.length > 4096) {
        throw new RangeError(
          `Cannot ${ACTION} as 'kv' must be a path of 1 to 4096 characters: current value is ${
            show(kv)
          }`,
        );
      }
      const deno = denoGlobal();
      if (deno !== undefined && typeof deno.openKv !== "function") {
        throw new TypeError(`Cannot ${ACTION} as ${UNSTABLE_KV_HINT}`);
      }
    } else if (!isKv(kv)) {
      const pending =
        typeof (kv as unknown as { then?: unknown } | null)?.then ===
          "function";
      throw new TypeError(
        `Cannot ${ACTION} as 'kv' must be a Deno.Kv (from Deno.openKv(), with --unstable-kv), an @deno/kv Kv, or a path to open${
          pending ? " (a promise was given: await Deno.openKv() first)" : ""
        }: current value is ${show(kv)}`,
      );
    }
    if (
      typeof prefix !== "string" || prefix.length === 0 || prefix.length > 64
    ) {
      throw new TypeError(
        `Cannot ${ACTION} as 'prefix' must be a string of 1 to 64 characters: current value is ${
          show(prefix)
        }`,
      );
    }
    const waiterTtlMs = range(
      "waiterTtlMs",
      options?.waiterTtlMs,
      1_000,
      86_400_000,
      10_000,
    );
    const pollMs = range("pollMs", options?.pollMs, 1, 10_000, 25);
    super(
      denoKvDriver({ name: checked, kv, prefix, waiterTtlMs, pollMs }),
      {
        name: checked,
        ...(leaseMs === undefined ? {} : { leaseMs }),
        ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
      },
    );
  }
}
