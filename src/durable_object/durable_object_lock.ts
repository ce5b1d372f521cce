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
import type { LockListener, LockMetrics, LockSnapshot } from "../core/types.ts";
import { type Attempt, Recorder } from "../core/_recorder.ts";
import { leaseFor, STALE } from "../remote/_remote_lease.ts";
import { LockService, ServiceError } from "./_lock_service.ts";
import type { LockDurableObjectStub } from "./_protocol.ts";
import { hold } from "../core/_hold.ts";
import {
  checkAcquireOptions,
  checkName,
  checkOptions,
  show,
} from "../core/_validate.ts";

export type { LockDurableObjectStub } from "./_protocol.ts";

/** The part of a `DurableObjectNamespace` binding the client uses. */
export interface LockDurableObjectNamespace {
  /** The id of the object for a name. */
  idFromName(name: string): unknown;
  /** A stub for an id. */
  get(id: never): unknown;
}

/** Options for {@linkcode DurableObjectLock}. */
export interface DurableObjectLockOptions extends LockOptions {
  /** The lock's name: one Durable Object per name. 1 to 512 characters. */
  name?: string;
  /**
   * The namespace binding of `LockDurableObject` in your Worker (for
   * example `env.LOCKS`).
   */
  namespace?: LockDurableObjectNamespace;
  /**
   * The lock service's base URL (a deployed `./worker`, or `wrangler dev`),
   * for callers outside Cloudflare. Give `url` and `token`, or `namespace`.
   * While it waits or holds, the lock keeps a WebSocket to the service (if
   * the runtime has `WebSocket`), closed when it no longer needs it.
   *
   * @default {undefined}
   */
  url?: string;
  /**
   * The service's bearer secret (its `UNILOCK_TOKEN`), with `url`.
   *
   * @default {undefined}
   */
  token?: string;
  /**
   * The lease length when `acquire` is not given `leaseMs`; renewed every
   * third of it while held. 100 ms to 24 days.
   *
   * @default {30000}
   */
  leaseMs?: number;
}

const MAX_WAIT_MS = 25_000;
const MIN_LEASE_MS = 100;

/**
 * Bounds a long-poll call: the object answers by its own wait cap, so a call
 * that stays silent well past it went to an object that was reset or lost
 * (its caller may never hear). Rejecting lets the caller call again with the
 * same token, which is safe.
 */
function watched<T>(call: Promise<T>, waitMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("the lock object did not answer in time")),
      waitMs + 2_000,
    );
  });
  return Promise.race([call, silent]).finally(() => clearTimeout(timer));
}

/**
 * The lock service, shaped like a namespace binding so the client logic is
 * one: each "stub" call is one request to `./worker`, or one message on the
 * lock's WebSocket (_lock_service.ts).
 */
function httpNamespace(base: URL, token: string): LockDurableObjectNamespace {
  let last: LockService | undefined;
  return {
    idFromName: (name) => name,
    get: (id) => {
      // A failed call dropped the last stub: its socket may be broken too.
      last?.close();
      return last = new LockService(base, id as unknown as string, token);
    },
  };
}

let unnamedCount = 0;

function backend(name: string, what: string, error: unknown): LockBackendError {
  return new LockBackendError(
    name,
    `${what} failed: ${(error as Error)?.message ?? error}`,
    { cause: error },
  );
}

/**
 * A globally consistent named lock in a Cloudflare Durable Object: the
 * `durable-object` lock type, used from a Worker through the namespace
 * binding of `LockDurableObject` (one object per lock name), or from anywhere
 * else over HTTP through the lock service (`{ url, token }`). An uncontended
 * acquire and release cost one RPC each; waiters wait inside the object, which
 * grants the lock to them when it is released or its lease ends. Over HTTP,
 * a lock that waits or holds keeps a WebSocket to its object (where a
 * runtime has `WebSocket`), which carries its calls and brings its grant.
 *
 * @example Guarding a Worker handler
 * ```ts ignore
 * import { createLock } from "@unilock/unilock";
 * export { LockDurableObject } from "@unilock/unilock/durable-object";
 *
 * export default {
 *   async fetch(request: Request, env: { LOCKS: DurableObjectNamespace }) {
 *     const lock = createLock("durable-object", { name: "stock", namespace: env.LOCKS });
 *     return await lock.withLock(async (lease) => new Response(`fence ${lease.fence}`));
 *   },
 * };
 * ```
 */
export class DurableObjectLock implements Lock {
  /** The lock's name. */
  readonly name: string;
  /** Always `"durable-object"`. */
  readonly type: string = "durable-object";
  #namespace: LockDurableObjectNamespace;
  #stub: LockDurableObjectStub | undefined;
  #leaseMs: number;
  #queueChain: Promise<unknown> = Promise.resolve();
  #rec: Recorder;

  /**
   * Constructs a new instance; checks the options now.
   *
   * @param options Name, namespace binding and lease length.
   */
  constructor(options?: DurableObjectLockOptions) {
    const action = "create durable-object lock";
    checkOptions(action, options);
    const { name, namespace, url, token, leaseMs } = options ?? {};
    this.name = name === undefined
      ? `durable-object-${++unnamedCount}`
      : checkName(action, name);
    // The name travels in a URL (and names the object either way): a lone
    // surrogate has no UTF-8 form, so it could not reach the same object.
    if (
      /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
        .test(this.name)
    ) {
      throw new RangeError(
        `Cannot ${action} as 'name' must be well-formed Unicode (no lone surrogate): current value is ${
          show(this.name)
        }`,
      );
    }
    if (url !== undefined || token !== undefined) {
      if (namespace !== undefined) {
        throw new TypeError(
          `Cannot ${action} with both 'namespace' and 'url': give the binding inside a Worker, url and token elsewhere`,
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
          `Cannot ${action} as 'url' must be the lock service's http(s) URL: current value is ${
            show(url)
          }`,
        );
      }
      if (typeof token !== "string" || token.length === 0) {
        throw new TypeError(
          `Cannot ${action} as 'token' must be the service's non-empty bearer secret: current value is ${
            show(token)
          }`,
        );
      }
      this.#namespace = httpNamespace(parsed, token);
    } else {
      if (
        namespace === null || typeof namespace !== "object" ||
        typeof namespace.idFromName !== "function" ||
        typeof namespace.get !== "function"
      ) {
        throw new TypeError(
          `Cannot ${action} as 'namespace' must be the Durable Object namespace binding of LockDurableObject (env.LOCKS), or give 'url' and 'token': current value is ${
            show(namespace)
          }`,
        );
      }
      this.#namespace = namespace;
    }
    if (
      leaseMs !== undefined &&
      (typeof leaseMs !== "number" ||
        !(leaseMs >= 100 && leaseMs <= 2_073_600_000))
    ) {
      throw new RangeError(
        `Cannot ${action} as 'leaseMs' must be a number from 100 to 2073600000: current value is ${
          show(leaseMs)
        }`,
      );
    }
    this.#leaseMs = leaseMs ?? 30_000;
    // A call costs a round trip: the clock costs nothing beside it.
    this.#rec = new Recorder(this, this.name, true);
  }

  #object(): LockDurableObjectStub {
    return this.#stub ??= this.#namespace.get(
      this.#namespace.idFromName(this.name) as never,
    ) as LockDurableObjectStub;
  }

  /** One RPC; a failed stub is replaced for the next call (it may be broken). */
  async #call<T>(
    what: string,
    fn: (stub: LockDurableObjectStub) => Promise<T>,
  ) {
    try {
      return await fn(this.#object());
    } catch (error) {
      this.#stub = undefined;
      throw backend(this.name, what, error);
    }
  }

  /**
   * Waits, in FIFO order inside the object, until the lock is granted.
   *
   * @param options Timeout, signal, lease length and mode.
   * @returns The lease; it renews itself until released.
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    let checked;
    try {
      checked = checkAcquireOptions(this.name, options);
      if (checked.leaseMs !== undefined && checked.leaseMs < 100) {
        throw new RangeError(
          `Cannot acquire lock "${this.name}" as 'leaseMs' must be at least 100: current value is ${checked.leaseMs}`,
        );
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const { mode, signal, owner, timeoutMs } = checked;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const rec = this.#rec;
    const at = rec.begin(mode, owner, true);
    return this.#acquire(
      mode,
      checked.leaseMs ?? this.#leaseMs,
      signal,
      timeoutMs,
      timeoutMs === undefined ? Infinity : performance.now() + timeoutMs,
      checked.priority,
      at,
    ).catch((error) => {
      rec.rejected(error, signal, mode, at);
      throw error;
    });
  }

  async #acquire(
    mode: LockMode,
    leaseMs: number,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    deadline: number,
    priority: number,
    at: Attempt,
  ): Promise<Lease> {
    const owner = at.owner === undefined ? {} : { owner: at.owner };
    const token = `lk_${crypto.randomUUID()}`;
    const waitFor = () =>
      Math.max(0, Math.min(MAX_WAIT_MS, deadline - performance.now()));
    let gaveUp = false;
    // When the call that brought the reply was sent: the reply's leaseMs
    // counts from the call's arrival, which came after.
    let sent = 0;
    const ask = (s: LockDurableObjectStub) => {
      const waitMs = waitFor();
      sent = performance.now();
      return watched(
        s.acquire({ token, mode, leaseMs, waitMs, priority, ...owner }),
        waitMs,
      );
    };
    const onAbort = () => {
      gaveUp = true;
      // The pending call answers "cancelled" once the object hears this.
      void this.#cancel(token).catch(() => {});
    };
    signal?.addEventListener("abort", onAbort);
    try {
      // Within one client, queue in call order.
      const first = this.#queueChain.then(() => {
        // Its turn may come after the caller gave up: then it never asks.
        if (gaveUp || signal?.aborted) throw signal?.reason;
        return this.#retrying("acquire", ask);
      });
      this.#queueChain = first.catch(() => {});
      let reply = await first;
      for (;;) {
        if (reply.ok) {
          // The object granted it from its queue: it waited there.
          if (reply.waited) this.#rec.waiting(mode, at);
          if (gaveUp || signal?.aborted) {
            await this.#call("release", (s) => s.release(token));
            throw signal?.reason;
          }
          const lease = this.#lease(
            token,
            mode,
            reply.fence,
            leaseMs,
            sent + reply.leaseMs,
            at,
          );
          // A grant that ran out on its way here is given back: queue again
          // rather than hand out a lost lease.
          if (lease !== STALE) return lease;
          return await this.#acquire(
            mode,
            leaseMs,
            signal,
            timeoutMs,
            deadline,
            priority,
            at,
          );
        }
        // Either answer means the object had queued it: it waited there.
        if (reply.reason !== "busy") this.#rec.waiting(mode, at);
        if (reply.reason === "cancelled" || signal?.aborted) {
          throw signal?.aborted ? signal.reason : backend(
            this.name,
            "acquire",
            new Error("the waiter was cancelled"),
          );
        }
        if (reply.reason === "busy" || performance.now() >= deadline) {
          await this.#cancel(token);
          throw new LockTimeoutError(this.name, timeoutMs ?? 0);
        }
        // "wait": the call hit its cap; call again, keeping the place.
        reply = await this.#retrying("acquire", ask);
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * A call that is safe to repeat (every call carries its token), repeated
   * on a fresh stub when the object was reset or evicted under it, or the
   * network dropped it: a waiter keeps waiting, or finds the lease it was
   * granted. A rejected argument (TypeError) or an overloaded object is not
   * retried.
   */
  async #retrying<T>(
    what: string,
    fn: (stub: LockDurableObjectStub) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#call(what, fn);
      } catch (error) {
        const cause = (error as LockBackendError).cause as
          | (Error & { overloaded?: boolean })
          | undefined;
        if (
          attempt >= 3 || cause instanceof TypeError || cause?.overloaded ||
          (cause instanceof ServiceError && cause.status < 500)
        ) throw error;
        await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
      }
    }
  }

  /** Leaves the queue; releases the lease if the grant won the race. */
  async #cancel(token: string): Promise<void> {
    const { held } = await this.#retrying("cancel", (s) => s.cancel(token));
    if (held) await this.#retrying("release", (s) => s.release(token));
  }

  /**
   * Takes the lock only if it can be granted at once (one RPC).
   *
   * @param options Mode, lease length and signal.
   * @returns The lease, or `undefined` when the lock is busy.
   */
  async tryAcquire(options?: AcquireOptions): Promise<Lease | undefined> {
    const checked = checkAcquireOptions(this.name, options);
    if (checked.signal?.aborted) throw checked.signal.reason;
    const leaseMs = checked.leaseMs ?? this.#leaseMs;
    const token = `lk_${crypto.randomUUID()}`;
    const { mode, owner } = checked;
    const at = this.#rec.begin(mode, owner, true);
    const sent = performance.now();
    const reply = await this.#call(
      "acquire",
      (s) =>
        s.acquire({
          token,
          mode,
          leaseMs,
          waitMs: 0,
          ...(owner === undefined ? {} : { owner }),
        }),
    ).catch((error) => {
      this.#rec.failed(undefined, mode, at);
      throw error;
    });
    const lease = reply.ok
      ? this.#lease(token, mode, reply.fence, leaseMs, sent + reply.leaseMs, at)
      : STALE;
    if (lease !== STALE) return lease;
    this.#rec.refused(mode, at);
    return undefined;
  }

  /**
   * Runs `fn` while holding the lock, then releases it.
   *
   * @typeParam T The result of `fn`.
   * @param fn The critical section.
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
   * Whether a lease holds the lock now, by the object's clock.
   *
   * @returns `true` while a lease is held.
   */
  async isLocked(): Promise<boolean> {
    const { holders } = await this.#retrying("status", (s) => s.status());
    return holders > 0;
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
   * Who holds the lock and who waits for it, across all clients: one call
   * that reads the object's state (ages by the object's clock).
   *
   * @returns Held leases (by fence) and pending acquisitions (in queue order).
   * @throws {LockBackendError} When the object or service cannot be reached.
   */
  async query(): Promise<LockSnapshot> {
    const reply = await this.#retrying("query", (s) => s.query());
    if (
      reply === null || typeof reply !== "object" ||
      !Array.isArray(reply.held) || !Array.isArray(reply.pending)
    ) {
      throw backend(this.name, "query", new Error("malformed reply"));
    }
    const entry = (
      e: { mode: LockMode; fence?: number; ageMs: number; owner?: string },
    ) => ({
      name: this.name,
      mode: e.mode,
      owner: e.owner,
      fence: e.fence,
      ageMs: e.ageMs,
    });
    return { held: reply.held.map(entry), pending: reply.pending.map(entry) };
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
      release: () => this.#retrying("release", (s) => s.release(token)),
      extend: async (ms) =>
        (await this.#retrying("extend", (s) => s.extend(token, ms))).ok,
    });
  }
}
