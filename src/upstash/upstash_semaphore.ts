// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { SemaphoreOptions } from "../core/types.ts";
import { checkOptions } from "../core/_validate.ts";
import { requireName } from "../remote/remote_lock.ts";
import { RemoteSemaphore } from "../remote/remote_semaphore.ts";
import { upstashDriver } from "./_driver.ts";
import type { UpstashLockOptions } from "./upstash_lock.ts";

/** Options for {@linkcode UpstashSemaphore}: an upstash lock's, plus `permits`. */
export interface UpstashSemaphoreOptions
  extends UpstashLockOptions, SemaphoreOptions {}

/**
 * A counting semaphore in Redis over Upstash's REST API: the `upstash`
 * semaphore type. The same scripts as the `upstash` lock, which admit the
 * head of the queue while the permits held plus its own fit the capacity:
 * one HTTP request per acquire and per release when permits are free,
 * grants pushed to waiters over the client's one Server-Sent Events stream
 * (no polling), leases renewed while held and freed when lost.
 *
 * @example At most five calls to an API at once, across every function
 * ```ts ignore
 * import { createSemaphore } from "@unilock/unilock";
 * import { Redis } from "@upstash/redis";
 *
 * const sem = createSemaphore("upstash", { name: "openai", permits: 5, redis: Redis.fromEnv() });
 * const answer = await sem.withPermits(() => fetch("https://api.example.com/v1/chat"), {
 *   timeoutMs: 10_000,
 * });
 * ```
 */
export class UpstashSemaphore extends RemoteSemaphore {
  /**
   * Constructs a new instance; checks every option now.
   *
   * @param options Name, capacity (`permits`), Redis client or credentials, prefix and timings.
   */
  constructor(options: UpstashSemaphoreOptions) {
    checkOptions("create upstash semaphore", options);
    const {
      name,
      permits,
      redis,
      prefix,
      leaseMs,
      waiterTtlMs,
      requestTimeoutMs,
    } = options ?? {};
    const checked = requireName("upstash", name, "semaphore");
    super(
      upstashDriver({
        name: checked,
        redis,
        prefix,
        waiterTtlMs,
        semaphore: true,
      }),
      {
        name: checked,
        permits,
        ...(leaseMs === undefined ? {} : { leaseMs }),
        ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
      },
    );
  }
}
