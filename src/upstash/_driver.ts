// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The Upstash driver of the remote-lock core: the lock's atomic
 * operations as Lua scripts (`_scripts.ts`), one REST request each, over
 * our own REST client or a passed `@upstash/redis` client (`_rest.ts`),
 * with grants pushed to the waiter they were granted to through the one
 * subscription of its client (`_wakeups.ts`).
 */

import type {
  RemoteAcquireReply,
  RemoteAcquireRequest,
  RemoteDriver,
  RemoteExtendReply,
  RemotePushedGrant,
  RemoteStatus,
  RemoteWatch,
} from "../remote/driver.ts";
import type { LockInfo, LockSnapshot } from "../core/types.ts";
import { checkName, show } from "../core/_validate.ts";
import {
  clientTransport,
  envCredentials,
  type RedisClientLike,
  restTransport,
  type UpstashScript,
  type UpstashTransport,
} from "./_rest.ts";
import { clip, UpstashRequestError } from "./_request_error.ts";
import {
  ACQUIRE,
  CANCEL,
  EXTEND,
  keysFor,
  QUERY,
  RELEASE,
  STATUS,
  STEAL,
} from "./_scripts.ts";
import { hubOf, type WakeHub } from "./_wakeups.ts";

/** Options for {@linkcode upstashDriver}. */
export interface UpstashDriverOptions {
  /** The lock's name: 1 to 512 characters, encoded into the Redis keys. */
  readonly name: string;
  /** Whether it serves a semaphore (its query entries carry permits). */
  readonly semaphore?: boolean | undefined;
  /**
   * An `@upstash/redis` client, or `{ url, token }`. Without it, the URL
   * and token come from `UPSTASH_REDIS_REST_URL` and
   * `UPSTASH_REDIS_REST_TOKEN` (or `KV_REST_API_URL` and
   * `KV_REST_API_TOKEN`), read at the first request.
   */
  readonly redis?: RedisClientLike | { url: string; token: string } | undefined;
  /**
   * Prepended to every key.
   *
   * @default {"unilock:"}
   */
  readonly prefix?: string | undefined;
  /**
   * How long a waiter keeps its place without a sign of life; a waiting
   * client asks again every third of it. 1 s to 1 day.
   *
   * @default {10000}
   */
  readonly waiterTtlMs?: number | undefined;
}

/** The shortest lease the scripts accept, in ms. */
const MIN_LEASE_MS = 100;
/**
 * A grant found by asking that is this much older than its push should be
 * has been missed by a stream that claimed to be live.
 */
const MISSED_PUSH_MS = 1_000;

function script(name: string, source: string): UpstashScript {
  return { name, source };
}

const SCRIPTS = {
  acquire: script("acquire", ACQUIRE),
  release: script("release", RELEASE),
  extend: script("extend", EXTEND),
  cancel: script("cancel", CANCEL),
  status: script("status", STATUS),
  query: script("query", QUERY),
  steal: script("steal", STEAL),
};

function isClient(value: unknown): value is RedisClientLike {
  return value !== null && typeof value === "object" &&
    typeof (value as RedisClientLike).eval === "function" &&
    typeof (value as RedisClientLike).evalsha === "function";
}

/** Checks `redis`; returns how to get the transport. */
function transportFor(
  action: string,
  redis: unknown,
): () => UpstashTransport {
  if (isClient(redis)) {
    const transport = clientTransport(redis);
    return () => transport;
  }
  if (redis === undefined) {
    return () => {
      const { url, token } = envCredentials();
      return restTransport(url, token);
    };
  }
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
  if (parsed === undefined || !/^https?:$/.test(parsed.protocol)) {
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
  const transport = restTransport(url as string, token);
  return () => transport;
}

/** A reply the scripts do not give: the request's outcome is unknown. */
function malformed(which: string, reply: unknown): UpstashRequestError {
  return new UpstashRequestError(
    `malformed reply to ${which}: ${clip(JSON.stringify(reply) ?? "", 120)}`,
    true,
  );
}

function isInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

/** What the driver knows of one watched waiter's acquire calls. */
interface Waiter {
  /** The number of its latest call. */
  calls: number;
  /** When each call was sent, by number (performance.now()). */
  sent: Map<number, number>;
  /** Calls on their way. */
  inflight: number;
  /** The stream came back while a call was on its way: wake after it. */
  rewake: boolean;
  /** Whether a grant was pushed. */
  pushed: boolean;
  onWake: (grant: RemotePushedGrant | undefined) => void;
  need: () => void;
}

/**
 * The Upstash driver for the lock `options.name`: what
 * {@linkcode RemoteLock} needs of Redis, one request per operation.
 *
 * @param options The name, the client or credentials, prefix and waiter TTL.
 * @param transport A transport to use instead (tests).
 * @returns The driver.
 */
export function upstashDriver(
  options: UpstashDriverOptions,
  transport?: UpstashTransport,
): RemoteDriver {
  const action = "create upstash lock";
  const name = checkName(action, options?.name);
  const { prefix = "unilock:", waiterTtlMs = 10_000, semaphore = false } =
    options;
  if (typeof prefix !== "string" || prefix.length > 128) {
    throw new TypeError(
      `Cannot ${action} as 'prefix' must be a string of at most 128 characters: current value is ${
        show(prefix)
      }`,
    );
  }
  if (
    typeof waiterTtlMs !== "number" ||
    !(waiterTtlMs >= 1_000 && waiterTtlMs <= 86_400_000)
  ) {
    throw new RangeError(
      `Cannot ${action} as 'waiterTtlMs' must be a number from 1000 to 86400000: current value is ${
        show(waiterTtlMs)
      }`,
    );
  }
  const get = transport === undefined
    ? transportFor(action, options.redis)
    : () => transport;
  const keys = keysFor(prefix, name);
  const wttl = String(Math.ceil(waiterTtlMs));
  const waiters = new Map<string, Waiter>();
  let resolved: UpstashTransport | undefined;

  const connect = (): UpstashTransport => resolved ??= get();
  const run = (
    which: keyof typeof SCRIPTS,
    args: readonly string[],
    signal: AbortSignal,
  ): Promise<unknown> => {
    let t: UpstashTransport;
    try {
      t = connect();
    } catch (error) {
      return Promise.reject(error);
    }
    return t.eval(SCRIPTS[which], keys, args, signal);
  };
  const hub = (): WakeHub | undefined => {
    const t = connect();
    return t.subscribe === undefined ? undefined : hubOf(t);
  };

  const driver: RemoteDriver = {
    type: "upstash",
    get target(): string {
      if (resolved !== undefined) return resolved.target;
      if (options.redis !== undefined || transport !== undefined) {
        try {
          return connect().target;
        } catch { /* reported by the request */ }
      }
      return "Upstash at $UPSTASH_REDIS_REST_URL";
    },
    minLeaseMs: MIN_LEASE_MS,
    semaphores: true,

    async acquire(
      request: RemoteAcquireRequest,
      signal: AbortSignal,
    ): Promise<RemoteAcquireReply> {
      const { token, mode, leaseMs, join, priority, owner, permits, capacity } =
        request;
      const w = join ? waiters.get(token) : undefined;
      let call = 0;
      const channel = w === undefined ? "" : hub()?.channel ?? "";
      if (w !== undefined) {
        call = ++w.calls;
        w.sent.set(call, performance.now());
        w.inflight++;
      }
      const lease = Math.ceil(leaseMs);
      let reply: unknown;
      try {
        reply = await run("acquire", [
          token,
          mode === "shared" ? "s" : "x",
          String(lease),
          join ? "1" : "0",
          wttl,
          channel,
          String(priority),
          owner ?? "",
          String(call),
          ...(capacity === undefined
            ? []
            : [String(permits ?? 1), String(capacity)]),
        ], signal);
      } finally {
        if (w !== undefined && --w.inflight === 0 && w.rewake) {
          // The stream came back while this call was on its way: the core
          // hears the hint once it waits again.
          w.rewake = false;
          setTimeout(() => {
            if (waiters.get(token) === w) w.onWake(undefined);
          }, 0);
        }
      }
      if (!Array.isArray(reply) || !isInt(reply[0])) {
        throw malformed("acquire", reply);
      }
      const [state, a, b, c] = reply as unknown[];
      if (state === 1 && isInt(a) && isInt(b) && (c === 0 || c === 1)) {
        if (w !== undefined && !w.pushed && lease - b > MISSED_PUSH_MS) {
          // Granted a while ago and found by asking, while the stream
          // claimed to be live all along: it missed the push (it died
          // without a word), so it is replaced for the waiters after this.
          const h = hub();
          const since = h?.liveSince ?? 0;
          if (since > 0 && since < performance.now() - (lease - b)) {
            h!.suspect();
          }
        }
        // The stream stays warm while this grant is held.
        if (w !== undefined) hub()?.hold(token);
        // `waited` (whether it queued first) is for the core's metrics.
        const granted = {
          state: "granted" as const,
          fence: a,
          leaseMs: b,
          waited: c === 1,
        };
        return granted;
      }
      if (state === 0 && isInt(a) && isInt(b)) {
        w?.need();
        return { state: "queued", retryMs: Math.max(0, b) };
      }
      if (state === 2) return { state: "busy" };
      if (state === 3) return { state: "gone" };
      if (state === 5 && isInt(a)) return { state: "capacity", capacity: a };
      if (state === 4 && isInt(a) && typeof b === "string") {
        throw new UpstashRequestError(
          `Redis lost part of this lock's state (${b}; eviction? see docs/upstash.md): no grant for another ${a} ms, until every lease that may still run has ended`,
          false,
        );
      }
      throw malformed("acquire", reply);
    },

    async release(token: string, signal: AbortSignal): Promise<boolean> {
      try {
        const reply = await run("release", [token], signal);
        if (reply !== 0 && reply !== 1) throw malformed("release", reply);
        return reply === 1;
      } finally {
        if (resolved?.subscribe !== undefined) hubOf(resolved).unhold(token);
      }
    },

    async extend(
      token: string,
      leaseMs: number,
      seq: number,
      signal: AbortSignal,
    ): Promise<RemoteExtendReply> {
      const reply = await run(
        "extend",
        [token, String(Math.ceil(leaseMs)), String(seq)],
        signal,
      );
      if (
        !Array.isArray(reply) || (reply[0] !== 0 && reply[0] !== 1) ||
        !isInt(reply[1])
      ) throw malformed("extend", reply);
      if (reply[0] === 1) return { held: true, leaseMs: reply[1] };
      return reply[2] === 1
        ? { held: false, leaseMs: 0, stolen: true }
        : { held: false, leaseMs: 0 };
    },

    async steal(
      request: RemoteAcquireRequest,
      signal: AbortSignal,
    ): Promise<RemoteAcquireReply> {
      const { token, leaseMs, owner } = request;
      const reply = await run(
        "steal",
        [token, String(Math.ceil(leaseMs)), owner ?? ""],
        signal,
      );
      if (!Array.isArray(reply) || !isInt(reply[0])) {
        throw malformed("steal", reply);
      }
      const [state, a, b, c] = reply as unknown[];
      if (state === 1 && isInt(a) && isInt(b)) {
        return { state: "granted", fence: a, leaseMs: b, waited: c === 1 };
      }
      if (state === 3) return { state: "gone" };
      if (state === 4 && isInt(a) && typeof b === "string") {
        throw new UpstashRequestError(
          `Redis lost part of this lock's state (${b}; eviction? see docs/upstash.md): no steal for another ${a} ms, until every lease that may still run has ended`,
          false,
        );
      }
      throw malformed("steal", reply);
    },

    async cancel(
      token: string,
      signal: AbortSignal,
    ): Promise<"cancelled" | "held"> {
      const reply = await run("cancel", [token], signal);
      if (reply !== 1 && reply !== 2) throw malformed("cancel", reply);
      return reply === 2 ? "held" : "cancelled";
    },

    async status(
      signal: AbortSignal,
    ): Promise<RemoteStatus> {
      const reply = await run("status", [], signal);
      if (
        !Array.isArray(reply) || !isInt(reply[0]) || !isInt(reply[1]) ||
        !isInt(reply[2]) || !isInt(reply[3])
      ) throw malformed("status", reply);
      const [holders, waiters, permits, capacity] = reply as number[];
      // As the lock service answers: a semaphore's holders and waiters
      // add their permits and capacity; a lock's status stays as it was.
      return capacity! > 0
        ? {
          holders: holders!,
          waiters: waiters!,
          permits: permits!,
          capacity: capacity!,
        }
        : { holders: holders!, waiters: waiters! };
    },

    async query(signal: AbortSignal): Promise<LockSnapshot> {
      const reply = await run("query", [], signal);
      const bad = () => malformed("query", reply);
      if (
        !Array.isArray(reply) || !Array.isArray(reply[0]) ||
        !Array.isArray(reply[1])
      ) throw bad();
      const entry = (e: unknown, held: boolean): LockInfo => {
        if (!Array.isArray(e)) throw bad();
        const [mode, ...rest] = e as unknown[];
        const [fence, age, owner, permits] = held ? rest : [undefined, ...rest];
        if (
          (mode !== "x" && mode !== "s") || !isInt(age) ||
          typeof owner !== "string" || !owner.startsWith("o:") ||
          (held && !isInt(fence)) || !isInt(permits)
        ) throw bad();
        const info: LockInfo = {
          name,
          mode: mode === "x" ? "exclusive" : "shared",
          owner: owner.length > 2 ? owner.slice(2) : undefined,
          fence: fence as number | undefined,
          ageMs: age,
        };
        // A semaphore's entries say their permits; a lock's stay as they were.
        return semaphore ? { ...info, permits } : info;
      };
      return {
        held: (reply[0] as unknown[]).map((e) => entry(e, true)).sort((
          a,
          b,
        ) => a.fence! - b.fence!),
        pending: (reply[1] as unknown[]).map((e) => entry(e, false)),
      };
    },

    watch(
      token: string,
      onWake: (grant: RemotePushedGrant | undefined) => void,
    ): RemoteWatch {
      let h: WakeHub | undefined;
      try {
        h = hub();
      } catch {
        // No transport (the environment is not set): the acquire call
        // reports it; nothing to listen on meanwhile.
      }
      if (h === undefined) {
        return {
          listening: false,
          listen: () => Promise.resolve(false),
          stop() {},
        };
      }
      const w: Waiter = {
        calls: 0,
        sent: new Map(),
        inflight: 0,
        rewake: false,
        pushed: false,
        onWake,
        need: () => {},
      };
      const registration = h.watch(token, {
        onGrant(fence, runMs, call) {
          const sent = w.sent.get(call);
          const latest = w.sent.get(w.calls);
          if (sent === undefined || latest === undefined) {
            return onWake(undefined);
          }
          w.pushed = true;
          h!.hold(token); // the stream stays warm while it is held
          // The lease runs runMs after call `call` arrived, so at least
          // runMs after it was sent; the core reckons from its latest call.
          onWake({ fence, leaseMs: sent + runMs - latest });
        },
        onLive() {
          // A call that went out before the stream was live may have been
          // granted by a handoff pushed to nobody: ask again.
          if (w.inflight > 0) w.rewake = true;
          else if (w.calls > 0) onWake(undefined);
        },
      });
      w.need = registration.need;
      waiters.set(token, w);
      return {
        // The driver itself tells the waiter to ask again when the stream
        // comes up after its call went out (onLive above).
        listening: true,
        listen: () => registration.live,
        stop() {
          if (waiters.get(token) === w) waiters.delete(token);
          registration.stop();
        },
      };
    },

    retryable(error: unknown): boolean {
      return error instanceof UpstashRequestError ? error.retryable : true;
    },
  };
  // Without a subscription there is nothing to watch: waiters poll.
  if (
    transport !== undefined
      ? transport.subscribe === undefined
      : isClient(options.redis) && typeof options.redis.subscribe !== "function"
  ) delete (driver as { watch?: unknown }).watch;
  return driver;
}
