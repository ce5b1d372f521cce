// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { LockBackendError, LockTimeoutError } from "../core/errors.ts";
import type {
  AcquireOptions,
  Lease,
  Lock,
  LockMode,
  LockOptions,
} from "../core/types.ts";
import type {
  LockInfo,
  LockListener,
  LockMetrics,
  LockSnapshot,
} from "../core/types.ts";
import { type Attempt, Recorder } from "../core/_recorder.ts";
import { leaseFor, STALE } from "../remote/_remote_lease.ts";
import { hold } from "../core/_hold.ts";
import {
  checkAcquireOptions,
  checkName,
  checkOptions,
  show,
} from "../core/_validate.ts";
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
}

const MIN_LEASE_MS = 100;
const RESOLVED: Promise<void> = Promise.resolve();
let unnamedCount = 0;

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

/** The acquire script's reply, and when (performance.now()) it was asked. */
type Reply = [number, number, number, number];

function sleep(ms: number, wake: { fn: (() => void) | undefined }) {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      wake.fn = undefined;
      resolve();
    }
    wake.fn = done;
  });
}

/**
 * A lock in Redis over Upstash's REST API: the `upstash` lock type, for
 * serverless functions and processes on any runtime. One Lua script, one HTTP
 * request, per operation: an uncontended acquire and release cost two.
 *
 * Waiters queue in Redis in FIFO order; a release publishes the token of the
 * waiter that can go next on the lock's channel, and waiters listen through
 * one Server-Sent Events subscription per lock, so nobody polls. Polling with
 * jittered backoff, bounded by the holder's remaining lease, is only the
 * fallback for lost messages or clients without `subscribe`.
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
export class UpstashLock implements Lock {
  /** The lock's name. */
  readonly name: string;
  /** Always `"upstash"`. */
  readonly type: string = "upstash";
  #keys: string[];
  #channel: string;
  #leaseMs: number;
  #waiterTtlMs: number;
  #redisOption: UpstashLockOptions["redis"];
  #client: Promise<UpstashRedisLike> | undefined;
  /** Waiters of this client by token; called with a handed-off grant. */
  #waiters = new Map<string, (fence: number, validMs: number) => void>();
  /** Wakes each waiting acquisition (when the wake-up stream is replaced). */
  #wakers = new Set<() => void>();
  #subscription:
    | {
      ready: Promise<boolean>;
      live: boolean;
      subscriber: UpstashSubscriberLike;
    }
    | undefined;
  #linger: ReturnType<typeof setTimeout> | undefined;
  #queueChain: Promise<unknown> = RESOLVED;
  #rec: Recorder;

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
    } = options ?? {};
    this.name = name === undefined
      ? `upstash-${++unnamedCount}`
      : checkName(action, name);
    if (typeof prefix !== "string" || prefix.length > 128) {
      throw new TypeError(
        `Cannot ${action} as 'prefix' must be a string of at most 128 characters: current value is ${
          show(prefix)
        }`,
      );
    }
    this.#redisOption = checkRedis(action, redis);
    this.#leaseMs = checkRange(
      action,
      "leaseMs",
      leaseMs,
      MIN_LEASE_MS,
      2_073_600_000,
      30_000,
    );
    this.#waiterTtlMs = checkRange(
      action,
      "waiterTtlMs",
      waiterTtlMs,
      1_000,
      86_400_000,
      10_000,
    );
    const { keys, channel } = keysFor(prefix, this.name);
    this.#keys = keys;
    this.#channel = channel;
    // A request costs a round trip: the clock costs nothing beside it.
    this.#rec = new Recorder(this, this.name, true);
  }

  #redis(): Promise<UpstashRedisLike> {
    return this.#client ??= (async () => {
      const option = this.#redisOption;
      if (isClient(option)) return option;
      try {
        // Loaded only now, and only when the lock builds the client itself.
        const { Redis } = await import("@upstash/redis");
        return (option === undefined ? Redis.fromEnv() : new Redis({
          url: option.url,
          token: option.token,
        })) as unknown as UpstashRedisLike;
      } catch (error) {
        this.#client = undefined;
        throw new LockBackendError(
          this.name,
          "cannot build the @upstash/redis client (is the package installed, and are UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN set?)",
          { cause: error },
        );
      }
    })();
  }

  async #run(which: keyof typeof scripts, args: string[]): Promise<unknown> {
    const redis = await this.#redis();
    const s = scripts[which];
    s.sha ??= sha1(s.source);
    try {
      try {
        return await redis.evalsha(await s.sha, this.#keys, args);
      } catch (error) {
        if (
          !String((error as Error)?.message).toLowerCase().includes("noscript")
        ) {
          throw error;
        }
        // Redis forgot its scripts: it restarted (or failed over), and the
        // wake-up stream, which the client library ends without a word, may
        // have died with it.
        this.#dropSubscription();
        return await redis.eval(s.source, this.#keys, args);
      }
    } catch (error) {
      throw new LockBackendError(
        this.name,
        `the ${which} script failed: ${(error as Error)?.message ?? error}`,
        { cause: error },
      );
    }
  }

  async #reply(which: "acquire", args: string[]): Promise<Reply> {
    const reply = await this.#run(which, args);
    if (
      !Array.isArray(reply) || reply.length !== 3 ||
      !reply.every((n) => typeof n === "number")
    ) {
      throw new LockBackendError(
        this.name,
        `malformed reply to ${which}: ${JSON.stringify(reply)?.slice(0, 200)}`,
      );
    }
    return reply as Reply;
  }

  async #flag(which: "release" | "extend" | "cancel", args: string[]) {
    const reply = await this.#run(which, args);
    if (reply !== 0 && reply !== 1 && reply !== 2) {
      throw new LockBackendError(
        this.name,
        `malformed reply to ${which}: ${JSON.stringify(reply)?.slice(0, 200)}`,
      );
    }
    return reply as 0 | 1 | 2;
  }

  /**
   * A release, repeated (it is idempotent by token) while Redis cannot be
   * reached or answers oddly: a release lost to a brief outage would leave the
   * lock held by nobody until the lease ran out.
   */
  async #release(token: string): Promise<boolean> {
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#flag("release", [
          token,
          this.#channel,
          this.#floor(),
        ]) === 1;
      } catch (error) {
        if (attempt >= 3 || !(error instanceof LockBackendError)) throw error;
        await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
      }
    }
  }

  /** The fence floor: fences follow the clock (µs) when the counter lags it. */
  #floor(): string {
    return String(Date.now() * 1000);
  }

  async #attempt(
    token: string,
    mode: LockMode,
    leaseMs: number,
    join: boolean,
    priority: number,
    owner: string | undefined,
  ): Promise<Reply> {
    const sent = performance.now();
    const reply = await this.#reply("acquire", [
      token,
      mode === "shared" ? "s" : "x",
      String(Math.ceil(leaseMs)),
      join ? "1" : "0",
      String(this.#waiterTtlMs),
      // So fences keep rising even if Redis lost the counter.
      this.#floor(),
      this.#channel,
      String(priority),
      owner ?? "",
    ]);
    reply[3] = sent;
    return reply;
  }

  /**
   * Waits, in FIFO order across all clients, until the lock is granted.
   *
   * @param options Timeout, signal, lease length and mode.
   * @returns The lease; it renews itself until released.
   * @throws {LockTimeoutError} When `timeoutMs` passes first.
   * @throws {LockBackendError} When Redis cannot be reached or answers oddly.
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    let checked;
    try {
      checked = checkAcquireOptions(this.name, options);
      if (checked.leaseMs !== undefined) {
        checkRange(
          `acquire lock "${this.name}"`,
          "leaseMs",
          checked.leaseMs,
          MIN_LEASE_MS,
          2_073_600_000,
          0,
        );
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const { mode, signal, timeoutMs, priority, owner } = checked;
    const leaseMs = checked.leaseMs ?? this.#leaseMs;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const deadline = timeoutMs === undefined
      ? Infinity
      : performance.now() + timeoutMs;
    const rec = this.#rec;
    const at = rec.begin(mode, owner, true);
    return this.#acquireFresh(
      mode,
      leaseMs,
      signal,
      timeoutMs,
      deadline,
      priority,
      at,
    )
      .catch((error) => {
        rec.rejected(error, signal, mode, at);
        throw error;
      });
  }

  async #acquireFresh(
    mode: LockMode,
    leaseMs: number,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    deadline: number,
    priority: number,
    at: Attempt,
  ): Promise<Lease> {
    for (;;) {
      const lease = await this.#acquire(
        mode,
        leaseMs,
        signal,
        timeoutMs,
        deadline,
        priority,
        at,
      );
      // A grant that ran out on its way here (the event loop stalled, say)
      // was given back: queue again rather than hand out a lost lease.
      if (lease !== STALE) return lease;
    }
  }

  async #acquire(
    mode: LockMode,
    leaseMs: number,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    deadline: number,
    priority: number,
    at: Attempt,
  ): Promise<Lease | typeof STALE> {
    const token = `lk_${crypto.randomUUID()}`;
    const join = timeoutMs !== 0;
    const wake = { fn: undefined as (() => void) | undefined };
    // A release hands the lock over in Redis and says so on the channel:
    // the grant arrives here, with its fence, and costs no request. The
    // waiter listens before its first request, so no handoff slips past.
    let handed: number | undefined;
    // Until when the grant is surely valid, by this client's clock: counted
    // from the send time of this waiter's latest answered request (or its
    // first), as Redis last heard from the waiter after that.
    let handedUntil = -Infinity;
    let contact = performance.now();
    if (join) {
      this.#waiters.set(token, (fence, validMs) => {
        handed = fence;
        handedUntil = contact + validMs;
        wake.fn?.();
      });
    }
    this.#keepSubscription();
    const wasSubscribed = this.#subscription?.live === true;
    let reply: Reply;
    try {
      // Within one client, queue in call order: each first request waits for
      // the previous one, so concurrent acquires cannot overtake each other.
      const first = this.#queueChain.then(() => {
        // Its turn may come after the caller gave up: then it never asks.
        if (signal?.aborted) throw signal.reason;
        return this.#attempt(token, mode, leaseMs, join, priority, at.owner);
      });
      this.#queueChain = first.catch(() => {});
      reply = await first;
      contact = reply[3];
    } catch (error) {
      this.#waiters.delete(token);
      this.#maybeUnsubscribe();
      throw error;
    }
    if (reply[0] === 1) {
      this.#waiters.delete(token);
      this.#maybeUnsubscribe();
      if (signal?.aborted) {
        // Granted as the caller gave up: one outcome, so give it back.
        await this.#flag("release", [token, this.#channel, this.#floor()]);
        throw signal.reason;
      }
      return this.#lease(
        token,
        mode,
        reply[1],
        leaseMs,
        reply[3] + reply[2],
        at,
      );
    }
    if (!join) throw new LockTimeoutError(this.name, 0);
    this.#rec.waiting(mode, at);
    const onAbort = () => wake.fn?.();
    signal?.addEventListener("abort", onAbort);
    this.#wakers.add(onAbort);
    let attempt = 0;
    // Asks again (a heartbeat that keeps the place), noting a grant.
    const ask = async (): Promise<void> => {
      reply = await this.#attempt(
        token,
        mode,
        leaseMs,
        true,
        priority,
        at.owner,
      );
      contact = reply[3];
      if (reply[0] === 1) {
        handed = reply[1];
        handedUntil = reply[3] + reply[2];
      }
    };
    try {
      let subscribed = await this.#subscribe();
      // A stream that came up only now may have missed a handoff: look once.
      if (subscribed && !wasSubscribed && handed === undefined) await ask();
      for (;;) {
        if (handed !== undefined) {
          if (signal?.aborted || performance.now() >= deadline) {
            // Granted as the caller gave up: one outcome, so give it back.
            await this.#flag("release", [token, this.#channel, this.#floor()]);
            throw signal?.aborted
              ? signal.reason
              : new LockTimeoutError(this.name, timeoutMs!);
          }
          return this.#lease(token, mode, handed, leaseMs, handedUntil, at);
        }
        if (signal?.aborted || performance.now() >= deadline) {
          const outcome = await this.#flag("cancel", [
            token,
            this.#channel,
            this.#floor(),
          ]);
          // 2: handed over before the cancel landed; give it back.
          if (outcome === 2) {
            await this.#flag("release", [token, this.#channel, this.#floor()]);
          }
          throw signal?.aborted
            ? signal.reason
            : new LockTimeoutError(this.name, timeoutMs!);
        }
        // A sleep that a handoff cuts short. The timer is the fallback for a
        // lost message: bounded by the holder's remaining lease (it may have
        // died), by the heartbeat that keeps this waiter's place, and by a
        // backoff that is short only when no message can come.
        const backoff = subscribed
          ? 2_000
          : Math.min(1_000, 25 * 2 ** Math.min(attempt, 6));
        const bound = Math.min(
          backoff * (0.5 + Math.random() / 2),
          Math.max(reply[2], 5),
          this.#waiterTtlMs / 3,
          deadline - performance.now(),
        );
        await sleep(Math.max(0, bound), wake);
        if (handed !== undefined || signal?.aborted) continue;
        if (performance.now() >= deadline) continue;
        // A replaced stream: listen again before asking, so that no handoff
        // slips between the two.
        if (this.#subscription === undefined) {
          subscribed = await this.#subscribe();
        }
        attempt++;
        await ask();
        // Granted a while ago, yet found by asking while listening: the
        // stream missed its message (it died unannounced), so it is replaced
        // for the next waiter.
        if (reply[0] === 1 && subscribed && leaseMs - reply[2] > 250) {
          this.#dropSubscription();
        }
      }
    } catch (error) {
      if (!(error instanceof LockTimeoutError) && error !== signal?.reason) {
        // A backend failure while queued: leave the queue if Redis lets us.
        await this.#flag("cancel", [token, this.#channel, this.#floor()])
          .then((outcome) =>
            outcome === 2
              ? this.#flag("release", [token, this.#channel, this.#floor()])
              : outcome
          )
          .catch(() => {});
      }
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#wakers.delete(onAbort);
      this.#waiters.delete(token);
      this.#maybeUnsubscribe();
    }
  }

  /** Opens (or reuses) the wake-up subscription; resolves whether it works. */
  /** Keeps a lingering subscription open for a new acquisition. */
  #keepSubscription(): void {
    if (this.#linger !== undefined) {
      clearTimeout(this.#linger);
      this.#linger = undefined;
    }
  }

  async #subscribe(): Promise<boolean> {
    this.#keepSubscription();
    if (this.#subscription === undefined) {
      const redis = await this.#redis();
      if (typeof redis.subscribe !== "function") return false;
      const subscriber = redis.subscribe([this.#channel]);
      const ready = new Promise<boolean>((resolve) => {
        subscriber.on("subscribe", () => {
          if (this.#subscription?.subscriber === subscriber) {
            this.#subscription.live = true;
          }
          resolve(true);
        });
        subscriber.on("error", () => {
          resolve(false);
          if (this.#subscription?.subscriber === subscriber) {
            this.#dropSubscription();
          }
        });
      });
      subscriber.on("message", (data) => {
        // "token fence leaseMs since", from a handoff in Redis.
        const message = (data as { message?: unknown })?.message;
        if (typeof message !== "string") return;
        const [token, fence, lease, since] = message.split(" ");
        const fenceNumber = Number(fence);
        // The lease ends lease + since + heartbeat TTL after the waiter's
        // last request reached Redis (its heartbeat deadline minus the TTL).
        const validMs = Number(lease) + Number(since) + this.#waiterTtlMs;
        if (
          token !== undefined && Number.isSafeInteger(fenceNumber) &&
          since !== "" && Number.isFinite(validMs)
        ) {
          this.#waiters.get(token)?.(fenceNumber, validMs);
        }
      });
      this.#subscription = { ready, live: false, subscriber };
    }
    const ready = await Promise.race([
      this.#subscription.ready,
      new Promise<boolean>((resolve) => setTimeout(resolve, 2_000, false)),
    ]);
    return ready;
  }

  /**
   * Ends the wake-up stream and wakes every waiter, which opens a new one
   * and asks once (so a handoff the old stream missed is found at once, not
   * by the fallback poll).
   */
  #dropSubscription(): void {
    const subscription = this.#subscription;
    if (subscription === undefined) return;
    this.#subscription = undefined;
    subscription.subscriber.unsubscribe().catch(() => {});
    for (const wake of this.#wakers) wake();
  }

  #maybeUnsubscribe(): void {
    if (this.#waiters.size > 0 || this.#subscription === undefined) return;
    if (this.#linger !== undefined) return;
    // Kept a moment, so a client that waits again soon pays no new stream.
    this.#linger = setTimeout(() => {
      this.#linger = undefined;
      if (this.#waiters.size > 0) return;
      const subscription = this.#subscription;
      this.#subscription = undefined;
      subscription?.subscriber.unsubscribe().catch(() => {});
    }, 1_000);
    const t = this.#linger as unknown as { unref?: () => void };
    t.unref?.();
  }

  /**
   * Takes the lock only if it can be granted at once (one request); busy
   * resolves `undefined`. Never passes a queued waiter.
   *
   * @param options Mode, lease length and signal; `timeoutMs` does not apply.
   * @returns The lease, or `undefined` when the lock is busy.
   */
  async tryAcquire(options?: AcquireOptions): Promise<Lease | undefined> {
    const checked = checkAcquireOptions(this.name, options);
    if (checked.signal?.aborted) throw checked.signal.reason;
    const leaseMs = checked.leaseMs ?? this.#leaseMs;
    if (checked.leaseMs !== undefined) {
      checkRange(
        `acquire lock "${this.name}"`,
        "leaseMs",
        leaseMs,
        MIN_LEASE_MS,
        2_073_600_000,
        0,
      );
    }
    const token = `lk_${crypto.randomUUID()}`;
    const { mode, owner } = checked;
    const at = this.#rec.begin(mode, owner, true);
    const reply = await this.#attempt(token, mode, leaseMs, false, 0, owner)
      .catch((error) => {
        this.#rec.failed(undefined, mode, at);
        throw error;
      });
    const lease = reply[0] === 1
      ? this.#lease(token, mode, reply[1], leaseMs, reply[3] + reply[2], at)
      : STALE;
    if (lease !== STALE) return lease;
    this.#rec.refused(mode, at);
    return undefined;
  }

  /**
   * Runs `fn` while holding the lock, then releases it, also when `fn`
   * throws or rejects.
   *
   * @typeParam T The result of `fn`.
   * @param fn The critical section; it receives the lease (watch `lease.signal`).
   * @param options Timeout, signal, lease length and mode.
   * @returns What `fn` returned.
   */
  withLock<T>(
    fn: (lease: Lease) => T | Promise<T>,
    options?: AcquireOptions,
  ): Promise<T> {
    return hold(this, fn, options);
  }

  /**
   * Whether any client holds the lock now, by the server's clock.
   *
   * @returns `true` while an unexpired lease is held.
   */
  async isLocked(): Promise<boolean> {
    const reply = await this.#run("status", [this.#channel, this.#floor()]);
    if (!Array.isArray(reply) || typeof reply[0] !== "number") {
      throw new LockBackendError(
        this.name,
        `malformed reply to status: ${JSON.stringify(reply)?.slice(0, 200)}`,
      );
    }
    return reply[0] > 0;
  }

  /**
   * What this client's acquisitions of the lock counted and timed (its own
   * holders and waiters; `query()` shows every client's).
   *
   * @returns A new snapshot.
   */
  metrics(): LockMetrics {
    return this.#rec.metrics();
  }

  /**
   * Who holds the lock and who waits for it, across all clients: one request
   * that reads Redis's state (ages by Redis's clock).
   *
   * @returns Held leases (by fence) and pending acquisitions (in queue order).
   * @throws {LockBackendError} When Redis cannot be reached or answers oddly.
   */
  async query(): Promise<LockSnapshot> {
    const reply = await this.#run("query", [this.#channel, this.#floor()]);
    const bad = () =>
      new LockBackendError(
        this.name,
        `malformed reply to query: ${JSON.stringify(reply)?.slice(0, 200)}`,
      );
    if (!Array.isArray(reply) || !Array.isArray(reply[0])) throw bad();
    const entry = (e: unknown, held: boolean): LockInfo => {
      if (!Array.isArray(e)) throw bad();
      const [mode, ...rest] = e as unknown[];
      const [fence, age, owner] = held ? rest : [undefined, ...rest];
      if (
        (mode !== "x" && mode !== "s") || typeof age !== "number" ||
        typeof owner !== "string" || !owner.startsWith("o:") ||
        (held && typeof fence !== "number")
      ) throw bad();
      return {
        name: this.name,
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
  }

  /**
   * Calls `listener` with each event of this client's acquisitions.
   *
   * @param listener Called synchronously with each event.
   * @returns A function that unsubscribes `listener`.
   */
  subscribe(listener: LockListener): () => void {
    return this.#rec.subscribe(listener);
  }

  /**
   * The lease, or STALE (given back) when it ran out before it got here; a
   * lease is counted as granted, a STALE grant is not.
   */
  #lease(
    token: string,
    mode: LockMode,
    fence: number,
    leaseMs: number,
    validUntil: number,
    at: Attempt,
  ): Lease | typeof STALE {
    return leaseFor({
      name: this.name,
      mode,
      fence,
      leaseMs,
      minLeaseMs: MIN_LEASE_MS,
      validUntil,
      rec: this.#rec,
      at,
    }, {
      release: () => this.#release(token),
      extend: async (ms) =>
        (await this.#flag("extend", [token, String(Math.ceil(ms))])) === 1,
    });
  }
}
