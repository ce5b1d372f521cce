// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { LockInfo, LockOptions, LockSnapshot } from "../core/types.ts";
import { checkOptions, show } from "../core/_validate.ts";
import { RemoteLock, requireName } from "../remote/remote_lock.ts";
import type { RemoteDriver, RemotePushedGrant } from "../remote/driver.ts";
import {
  ACQUIRE,
  CANCEL,
  EXTEND,
  keysFor,
  QUERY,
  RELEASE,
  STATUS,
} from "./_legacy_scripts.ts";

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
   * How long one request may take before it counts as failed. Every request
   * is bounded by the caller's `timeoutMs` and `signal` as well.
   *
   * @default {10000}
   */
  requestTimeoutMs?: number;
}

const MIN_LEASE_MS = 100;

interface Script {
  source: string;
  sha: Promise<string> | undefined;
}

function script(source: string): Script {
  return { source, sha: undefined };
}

const scripts = {
  acquire: script(ACQUIRE),
  release: script(RELEASE),
  extend: script(EXTEND),
  cancel: script(CANCEL),
  status: script(STATUS),
  query: script(QUERY),
};

async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-1",
    new TextEncoder().encode(text),
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

function isClient(value: unknown): value is UpstashRedisLike {
  return value !== null && typeof value === "object" &&
    typeof (value as UpstashRedisLike).eval === "function" &&
    typeof (value as UpstashRedisLike).evalsha === "function";
}

function checkRedis(
  action: string,
  redis: unknown,
): UpstashLockOptions["redis"] {
  if (redis === undefined || isClient(redis)) return redis;
  if (redis === null || typeof redis !== "object") {
    throw new TypeError(
      `Cannot ${action} as 'redis' must be an @upstash/redis client or { url, token }: current value is ${
        show(redis)
      }`,
    );
  }
  const { url, token } = redis as { url?: unknown; token?: unknown };
  if (url === undefined && token === undefined) {
    throw new TypeError(
      `Cannot ${action} as 'redis' has neither eval/evalsha methods nor url and token`,
    );
  }
  let parsed: URL | undefined;
  try {
    parsed = typeof url === "string" ? new URL(url) : undefined;
  } catch { /* reported below */ }
  if (
    parsed === undefined ||
    (parsed.protocol !== "https:" && parsed.protocol !== "http:")
  ) {
    throw new TypeError(
      `Cannot ${action} as 'redis.url' must be an http(s) URL: current value is ${
        show(url)
      }`,
    );
  }
  if (typeof token !== "string" || token.length === 0) {
    throw new TypeError(
      `Cannot ${action} as 'redis.token' must be a non-empty string: current value is ${
        show(token)
      }`,
    );
  }
  return { url: url as string, token };
}

function checkRange(
  action: string,
  option: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= min && value <= max)) {
    throw new RangeError(
      `Cannot ${action} as '${option}' must be a number from ${min} to ${max}: current value is ${
        show(value)
      }`,
    );
  }
  return value;
}

/** The wake-up stream of one lock, while any of this client's waiters listen. */
interface Subscription {
  ready: Promise<boolean>;
  subscriber: UpstashSubscriberLike | undefined;
  /** It has come up (and, while it is the current one, has not died). */
  up: boolean;
}

/**
 * The `upstash` backend as a driver of the remote-lock core: one Lua script,
 * one HTTP request, per operation; pushed grants through one Server-Sent
 * Events subscription per lock, kept a moment after the last waiter leaves.
 */
function upstashDriver(
  name: string,
  redisOption: UpstashLockOptions["redis"],
  keys: string[],
  channel: string,
  waiterTtlMs: number,
): RemoteDriver {
  let client: Promise<UpstashRedisLike> | undefined;
  /** Waiters of this client by token; called with a pushed grant. */
  const waiters = new Map<
    string,
    (grant: RemotePushedGrant | undefined) => void
  >();
  let subscription: Subscription | undefined;
  let linger: ReturnType<typeof setTimeout> | undefined;
  let target = "Upstash (from UPSTASH_REDIS_REST_URL)";
  if (isClient(redisOption)) target = "Upstash (the given client)";
  else if (redisOption !== undefined) {
    target = `Upstash at ${new URL(redisOption.url).host}`;
  }

  const redis = (): Promise<UpstashRedisLike> =>
    client ??= (async () => {
      const option = redisOption;
      if (isClient(option)) return option;
      try {
        // Loaded only now, and only when the lock builds the client itself.
        const { Redis } = await import("@upstash/redis");
        return (option === undefined ? Redis.fromEnv() : new Redis({
          url: option.url,
          token: option.token,
        })) as unknown as UpstashRedisLike;
      } catch (error) {
        client = undefined;
        throw new Error(
          "cannot build the @upstash/redis client (is the package installed, and are UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN set?)",
          { cause: error },
        );
      }
    })();

  const run = async (
    which: keyof typeof scripts,
    args: string[],
  ): Promise<unknown> => {
    const r = await redis();
    const s = scripts[which];
    s.sha ??= sha1(s.source);
    try {
      return await r.evalsha(await s.sha, keys, args);
    } catch (error) {
      if (
        !String((error as Error)?.message).toLowerCase().includes("noscript")
      ) throw error;
      // Redis forgot its scripts: it restarted (or failed over), and the
      // wake-up stream, which the client library ends without a word, may
      // have died with it.
      drop();
      return await r.eval(s.source, keys, args);
    }
  };
  /** A script bounded by the core's signal (the client cannot abort). */
  const bounded = (
    which: keyof typeof scripts,
    args: string[],
    signal: AbortSignal,
  ): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      run(which, args).then(resolve, reject).finally(() =>
        signal.removeEventListener("abort", onAbort)
      );
    });
  const malformed = (which: string, reply: unknown) =>
    new Error(
      `malformed reply to ${which}: ${JSON.stringify(reply)?.slice(0, 200)}`,
    );
  const flag = async (
    which: "release" | "extend" | "cancel",
    args: string[],
    signal: AbortSignal,
  ): Promise<0 | 1 | 2> => {
    const reply = await bounded(which, args, signal);
    if (reply !== 0 && reply !== 1 && reply !== 2) {
      throw malformed(which, reply);
    }
    return reply;
  };
  /** The fence floor: fences follow the clock (µs) when the counter lags it. */
  const floor = () => String(Date.now() * 1000);

  const subscribe = (): Promise<boolean> => {
    if (linger !== undefined) clearTimeout(linger);
    linger = undefined;
    if (subscription === undefined) {
      const sub: Subscription = {
        ready: Promise.resolve(false),
        subscriber: undefined,
        up: false,
      };
      subscription = sub;
      sub.ready = (async () => {
        const r = await redis();
        if (typeof r.subscribe !== "function") return false;
        const subscriber = sub.subscriber = r.subscribe([channel]);
        // Closed before it came up: close it now.
        if (subscription !== sub) {
          subscriber.unsubscribe().catch(() => {});
          return false;
        }
        const up = new Promise<boolean>((resolve) => {
          subscriber.on("subscribe", () => {
            sub.up = true;
            resolve(true);
          });
          subscriber.on("error", () => {
            resolve(false);
            if (subscription === sub) drop();
          });
        });
        subscriber.on("message", (data) => {
          // "token fence leaseMs since", from a handoff in Redis.
          const message = (data as { message?: unknown })?.message;
          if (typeof message !== "string") return;
          const [token, fence, lease, since] = message.split(" ");
          const fenceNumber = Number(fence);
          // The lease ends lease + since + heartbeat TTL after the waiter's
          // last request reached Redis (its heartbeat deadline less the TTL).
          const leaseMs = Number(lease) + Number(since) + waiterTtlMs;
          if (
            token !== undefined && Number.isSafeInteger(fenceNumber) &&
            since !== "" && Number.isFinite(leaseMs)
          ) waiters.get(token)?.({ fence: fenceNumber, leaseMs });
        });
        return await up;
      })().catch(() => false);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      subscription.ready,
      new Promise<boolean>((resolve) => {
        timer = setTimeout(resolve, 2_000, false);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  /** Ends the stream and tells every waiter to ask again (and listen anew). */
  const drop = () => {
    const old = subscription;
    if (old === undefined) return;
    subscription = undefined;
    old.subscriber?.unsubscribe().catch(() => {});
    for (const wake of waiters.values()) wake(undefined);
    if (waiters.size > 0) void subscribe();
  };
  const maybeUnsubscribe = () => {
    if (waiters.size > 0 || subscription === undefined) return;
    if (linger !== undefined) return;
    // Kept a moment, so a client that waits again soon pays no new stream.
    linger = setTimeout(() => {
      linger = undefined;
      if (waiters.size > 0) return;
      const old = subscription;
      subscription = undefined;
      old?.subscriber?.unsubscribe().catch(() => {});
    }, 1_000);
    (linger as unknown as { unref?: () => void }).unref?.();
  };

  return {
    type: "upstash",
    target,
    minLeaseMs: MIN_LEASE_MS,
    retryable(error) {
      // Refused credentials or a reply we cannot read will not change.
      const message = String((error as Error)?.message).toLowerCase();
      return !/unauthori[sz]ed|401|malformed|cannot build/.test(message);
    },
    async acquire(request, signal) {
      const reply = await bounded("acquire", [
        request.token,
        request.mode === "shared" ? "s" : "x",
        String(Math.ceil(request.leaseMs)),
        request.join ? "1" : "0",
        String(waiterTtlMs),
        // So fences keep rising even if Redis lost the counter.
        floor(),
        channel,
        String(request.priority),
        request.owner ?? "",
      ], signal);
      if (
        !Array.isArray(reply) || reply.length !== 3 ||
        !reply.every((n) => typeof n === "number")
      ) throw malformed("acquire", reply);
      const [granted, fence, ms] = reply as [number, number, number];
      if (granted === 1) return { state: "granted", fence, leaseMs: ms };
      if (!request.join) return { state: "busy" };
      // Within the holder's remaining lease (it may have died) and the
      // heartbeat that keeps this waiter's place.
      return {
        state: "queued",
        retryMs: Math.max(5, Math.min(ms, waiterTtlMs / 3)),
      };
    },
    async release(token, signal) {
      return await flag("release", [token, channel, floor()], signal) === 1;
    },
    async extend(token, leaseMs, _seq, signal) {
      const held = await flag(
        "extend",
        [token, String(Math.ceil(leaseMs))],
        signal,
      ) === 1;
      return { held, leaseMs: held ? leaseMs : 0 };
    },
    async cancel(token, signal) {
      return await flag("cancel", [token, channel, floor()], signal) === 2
        ? "held"
        : "cancelled";
    },
    async status(signal) {
      const reply = await bounded("status", [channel, floor()], signal);
      if (!Array.isArray(reply) || typeof reply[0] !== "number") {
        throw malformed("status", reply);
      }
      return { holders: reply[0], waiters: Number(reply[1]) || 0 };
    },
    async query(signal): Promise<LockSnapshot> {
      const reply = await bounded("query", [channel, floor()], signal);
      if (!Array.isArray(reply) || !Array.isArray(reply[0])) {
        throw malformed("query", reply);
      }
      const entry = (e: unknown, held: boolean): LockInfo => {
        if (!Array.isArray(e)) throw malformed("query", reply);
        const [mode, ...rest] = e as unknown[];
        const [fence, age, owner] = held ? rest : [undefined, ...rest];
        if (
          (mode !== "x" && mode !== "s") || typeof age !== "number" ||
          typeof owner !== "string" || !owner.startsWith("o:") ||
          (held && typeof fence !== "number")
        ) throw malformed("query", reply);
        return {
          name,
          mode: mode === "x" ? "exclusive" : "shared",
          owner: owner.length > 2 ? owner.slice(2) : undefined,
          fence: fence as number | undefined,
          ageMs: age,
        };
      };
      return {
        held: (reply[0] as unknown[]).map((e) => entry(e, true)).sort((a, b) =>
          a.fence! - b.fence!
        ),
        pending: ((reply[1] ?? []) as unknown[]).map((e) => entry(e, false)),
      };
    },
    watch(token, onWake) {
      waiters.set(token, onWake);
      if (linger !== undefined) clearTimeout(linger);
      linger = undefined;
      const since = subscription?.up === true ? subscription : undefined;
      return {
        get listening() {
          return since !== undefined && subscription === since;
        },
        listen: subscribe,
        stop() {
          if (waiters.get(token) !== onWake) return;
          waiters.delete(token);
          maybeUnsubscribe();
        },
      };
    },
  };
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
    const action = "create upstash lock";
    checkOptions(action, options);
    const {
      name,
      redis,
      prefix = "unilock:",
      leaseMs,
      waiterTtlMs,
      requestTimeoutMs,
    } = options ?? {};
    const checkedName = requireName("upstash", name);
    if (typeof prefix !== "string" || prefix.length > 128) {
      throw new TypeError(
        `Cannot ${action} as 'prefix' must be a string of at most 128 characters: current value is ${
          show(prefix)
        }`,
      );
    }
    const { keys, channel } = keysFor(prefix, checkedName);
    super(
      upstashDriver(
        checkedName,
        checkRedis(action, redis),
        keys,
        channel,
        checkRange(
          action,
          "waiterTtlMs",
          waiterTtlMs,
          1_000,
          86_400_000,
          10_000,
        ),
      ),
      {
        name: checkedName,
        ...(leaseMs === undefined ? {} : { leaseMs }),
        ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
      },
    );
  }
}
