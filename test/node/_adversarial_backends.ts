// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The two distributed backends for the adversarial tests, each
 * behind its own {@linkcode startAdversarialProxy}: a real redis-server with
 * the Upstash bridge in front (started here, so its faults are ours alone),
 * and the lock service on `wrangler dev` that the global setup started.
 */
import { afterAll, beforeAll, inject } from "vitest";
import { createLock, type Lock } from "../../mod.ts";
import {
  startUpstashBridge,
  type UpstashBridge,
} from "../../src/upstash_bridge/upstash_bridge.ts";
import { randomName } from "../_contract.ts";
import { type RedisServer, startRedis } from "../_services.mjs";
import {
  type AdversarialProxy,
  startAdversarialProxy,
} from "./_adversarial_proxy.ts";

export type BackendName = "upstash" | "durable-object";

/** One backend behind its proxy, and how to make locks of one name on it. */
export interface Backend {
  readonly type: BackendName;
  readonly proxy: AdversarialProxy;
  /** A fresh lock name (and, for Upstash, key prefix). */
  fresh(): Named;
  close(): Promise<void>;
}

/** Locks of one name; `matches` tells the proxy which requests are its. */
export interface Named {
  readonly name: string;
  /** Upstash: the key prefix of this name's locks. */
  readonly prefix?: string;
  /** A new lock object (its own instance) through the proxy. */
  lock(options?: Record<string, unknown>): Lock;
  /** Whether a request belongs to this name. */
  matches(r: { path: string; body: string }): boolean;
}

export async function startUpstash(): Promise<
  Backend & { bridge: UpstashBridge; redis: RedisServer }
> {
  const redis = await startRedis();
  const bridge = await startUpstashBridge({ redisUrl: redis.url });
  const proxy = await startAdversarialProxy(bridge.url);
  return {
    type: "upstash",
    proxy,
    bridge,
    redis,
    fresh() {
      const name = randomName("adv");
      const prefix = `adv:${crypto.randomUUID()}:`;
      return {
        name,
        prefix,
        lock: (options = {}) =>
          createLock("upstash", {
            name,
            prefix,
            redis: { url: proxy.url, token: bridge.token },
            ...options,
          }),
        matches: (r) => r.body.includes(prefix),
      };
    },
    async close() {
      await proxy.close();
      await bridge.close();
      await redis.stop();
    },
  };
}

export async function startDurableObject(): Promise<Backend> {
  const service = inject("lockService");
  const proxy = await startAdversarialProxy(service.url);
  return {
    type: "durable-object",
    proxy,
    fresh() {
      const name = randomName("adv");
      const path = `/v1/locks/${encodeURIComponent(name)}`;
      return {
        name,
        lock: (options = {}) =>
          createLock("durable-object", {
            name,
            url: proxy.url,
            token: service.token,
            ...options,
          }),
        matches: (r) => r.path.startsWith(path),
      };
    },
    close: () => proxy.close(),
  };
}

/**
 * Both backends for a test file: started before its tests, stopped after
 * them (`settleMs` later, for what its last test left running). Read
 * `backends[type]` inside a test.
 */
export function useBackends(settleMs = 0): Record<BackendName, Backend> {
  const backends = {} as Record<BackendName, Backend>;
  beforeAll(async () => {
    backends.upstash = await startUpstash();
    backends["durable-object"] = await startDurableObject();
  });
  afterAll(async () => {
    if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
    for (const b of Object.values(backends)) await b.close();
  });
  return backends;
}

/** Settles `promise` to its value or error, or "pending" after `ms`. */
export function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | unknown | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.then((v) => v, (e) => e),
    new Promise<"pending">((r) => (timer = setTimeout(() => r("pending"), ms))),
  ]).finally(() => clearTimeout(timer));
}

export function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (value === "pending") return "still pending";
  return typeof value === "object" && value !== null
    ? `a lease (fence ${(value as { fence?: number }).fence})`
    : String(value);
}

/** Whether `lock` is seen free (polled every 200 ms) by `until`. */
export async function freeBy(
  lock: { isLocked(): Promise<boolean> },
  until: number,
): Promise<boolean> {
  do {
    if (!(await lock.isLocked())) return true;
    await new Promise((r) => setTimeout(r, 200));
  } while (performance.now() < until);
  return false;
}
