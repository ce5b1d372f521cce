// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { LockOptions } from "../core/types.ts";
import { checkOptions } from "../core/_validate.ts";
import { RemoteLock, requireName } from "../remote/remote_lock.ts";
import { upstashDriver } from "./_driver.ts";

/**
 * The part of an `@upstash/redis` client the lock uses. Any client with
 * these methods works; `subscribe` is optional (without it, waiters poll).
 */
export interface UpstashRedisLike {
  /** Runs a cached script by its SHA-1. */
  evalsha(sha: string, keys: string[], args: string[]): Promise<unknown>;
  /** Runs a script by its source. */
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
  /** Opens a Server-Sent Events subscription. */
  subscribe?(channels: string[]): UpstashSubscriberLike;
}

/** The part of `@upstash/redis`'s `Subscriber` the lock uses. */
export interface UpstashSubscriberLike {
  /** Listens for `"subscribe"`, `"message"` and `"error"` events. */
  on(type: string, listener: (data: unknown) => void): void;
  /** Closes the subscription. */
  unsubscribe(channels?: string[]): Promise<void>;
}

/** Options for {@linkcode UpstashLock}. */
export interface UpstashLockOptions extends LockOptions {
  /** The lock's name: 1 to 512 characters, encoded into the Redis keys. */
  name?: string;
  /**
   * The Redis to use: an `@upstash/redis` client (on Workers, from
   * `@upstash/redis/cloudflare`), or `{ url, token }` to build one. Without
   * it, the client comes from `Redis.fromEnv()` (`UPSTASH_REDIS_REST_URL` and
   * `UPSTASH_REDIS_REST_TOKEN`): the only time the lock reads the environment.
   * `@upstash/redis` is loaded only when the lock builds the client itself.
   *
   * @default {undefined} `Redis.fromEnv()`
   */
  redis?: UpstashRedisLike | { url: string; token: string };
  /**
   * Prepended to every key, to keep the lock's keys apart from others.
   *
   * @default {"unilock:"}
   */
  prefix?: string;
  /**
   * The lease length when `acquire` is not given `leaseMs`. A lease is
   * renewed every third of its length while held. 100 ms to 24 days.
   *
   * @default {30000}
   */
  leaseMs?: number;
  /**
   * How long a waiter stays queued without a sign of life; a waiting client
   * renews its place every third of it. A crashed waiter holds up the queue
   * at most this long. 1 s to 1 day.
   *
   * @default {10000}
   */
  waiterTtlMs?: number;
  /**
   * How long one request may take before it counts as failed: 1 ms to 30 s.
   * Every request is bounded by the caller's `timeoutMs` and `signal` too.
   *
   * @default {10000}
   */
  requestTimeoutMs?: number;
}

/**
 * A lock in Redis over Upstash's REST API: the `upstash` lock type, for
 * serverless functions and processes on any runtime. One Lua script, one HTTP
 * request, per operation: an uncontended acquire and release cost two.
 *
 * Waiters queue in Redis in FIFO order; a release publishes the token of the
 * waiter that can go next, and waiters listen through a Server-Sent Events
 * subscription, so nobody polls. Polling with jittered backoff, bounded by
 * the holder's remaining lease, is only the fallback for lost messages or
 * clients without `subscribe`.
 *
 * @example A lock shared by serverless functions
 * ```ts ignore
 * import { createLock } from "@unilock/unilock";
 * import { Redis } from "@upstash/redis";
 *
 * const lock = createLock("upstash", { name: "invoices", redis: Redis.fromEnv() });
 * await lock.withLock(async (lease) => {
 *   // write with lease.fence, so storage can refuse a stale holder
 * }, { timeoutMs: 10_000 });
 * ```
 */
export class UpstashLock extends RemoteLock {
  /**
   * Constructs a new instance. Checks every option now, so that a bad one
   * fails here rather than at the first acquire.
   *
   * @param options Name, Redis client or credentials, prefix and timings.
   */
  constructor(options?: UpstashLockOptions) {
    checkOptions("create upstash lock", options);
    const { name, redis, prefix, leaseMs, waiterTtlMs, requestTimeoutMs } =
      options ?? {};
    const checked = requireName("upstash", name);
    super(upstashDriver({ name: checked, redis, prefix, waiterTtlMs }), {
      name: checked,
      ...(leaseMs === undefined ? {} : { leaseMs }),
      ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    });
  }
}
