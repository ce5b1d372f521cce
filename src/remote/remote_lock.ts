// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import {
  LockBackendError,
  LockError,
  LockTimeoutError,
} from "../core/errors.ts";
import type {
  AcquireOptions,
  Lease,
  Lock,
  LockListener,
  LockMetrics,
  LockMode,
  LockSnapshot,
} from "../core/types.ts";
import { type Attempt, Recorder } from "../core/_recorder.ts";
import { hold } from "../core/_hold.ts";
import {
  checkAcquireOptions,
  type CheckedAcquireOptions,
  checkName,
  checkRange,
  MAX_DELAY_MS,
} from "../core/_validate.ts";
import { unref } from "../core/_unref.ts";
import { remoteInternals } from "./_remote_internals.ts";
import { drift, leaseFor } from "./_remote_lease.ts";
import type {
  RemoteAcquireReply,
  RemoteDriver,
  RemotePushedGrant,
  RemoteWatch,
} from "./driver.ts";

/** Options of {@linkcode RemoteLock}, given by a backend's lock class. */
export interface RemoteLockOptions {
  /**
   * The lock's name, which every client of the backend shares: required,
   * since two resources that fell back to one default name would share a
   * lock while one resource named twice would not exclude at all.
   */
  name: string;
  /**
   * The lease length when `acquire` is not given `leaseMs`. 100 ms to 24
   * days, and at least the driver's `minLeaseMs` (the default too, for a
   * driver whose minimum is longer).
   *
   * @default {30000}
   */
  leaseMs?: number;
  /**
   * How long one request may take before it counts as failed, 1 ms to 30 s
   * (half the minute a server remembers a given-up token; a long-poll gets
   * its wait and 2 s of silence instead). Every request is bounded by the
   * caller's `timeoutMs` and `signal` as well.
   *
   * @default {10000}
   */
  requestTimeoutMs?: number;
}

/** The longest lease: about 24 days, the longest timer a runtime keeps. */
export const MAX_LEASE_MS = 2_073_600_000;
/**
 * How long an acquisition waits at most for the one before it on the same
 * lock object to reach the server, so that one client's waiters queue in
 * call order; past it (a hung request) it goes ahead regardless. Generous,
 * since a burst (hundreds of waiters cancelled at once) can slow every
 * reply for a second or more; each waiter's own deadline and signal still
 * bound its wait.
 */
const ORDER_GRACE_MS = 5_000;
/** How long a giving-up acquisition's rejection waits for its cleanup. */
const CLEANUP_WAIT_MS = 250;
/** The pause between two tries of a cleanup call that failed. */
const PERSIST_PAUSE_MS = 50;
/** How long isLocked() and query() wait for this instance's cleanups. */
const CLEANUP_MS = 2_000;
/**
 * How long a given-up token's place may outlast its last call on a server:
 * a waiter's call waits up to 25 s, and its place is kept 10 s after (the
 * Durable Object's REJOIN_MS; Upstash's waiterTtlMs is shorter).
 */
const PLACE_OUTLASTS_MS = 35_000;
/**
 * How long an acquire whose deadline has passed (or `timeoutMs: 0`) may take
 * to ask once whether the lock is free.
 */
const FREE_CHECK_MS = 500;
/**
 * The least time an acquisition's first call gets, however short its
 * `timeoutMs` (and so the most a hung backend can add to a short one).
 */
const FIRST_CALL_MS = 250;
/** How long a long-poll may stay silent past its wait before it is lost. */
const LONG_POLL_SILENCE_MS = 2_000;
/** How long past the deadline a long-poll may take to bring its answer. */
const LONG_POLL_GRACE_MS = 50;
/** A failed call is tried this many times more within the deadline. */
const RETRIES = 3;

/** One acquisition, as the caller asked for it. */
interface Want {
  mode: LockMode;
  /** A semaphore's permits; undefined for a lock. */
  permits: number | undefined;
  leaseMs: number;
  priority: number;
  /** 0: only if free now (tryAcquire, or acquire with timeoutMs 0). */
  timeoutMs: number | undefined;
  /** By performance.now(); Infinity without a timeout (and for tryAcquire). */
  deadline: number;
  signal: AbortSignal | undefined;
  at: Attempt;
}

/** Why a request stopped: the caller's deadline (not a backend fault). */
class Deadline extends Error {}

/**
 * When a grant's lease is reckoned from: the send time of the call the
 * server answered, as the driver saw it, when that is later than the core's
 * call (and not in the future: a driver's wrong clock would lengthen it).
 */
function sentFrom(start: number, reply: { readonly sentAt?: number }): number {
  const at = reply.sentAt;
  return at !== undefined && at > start && at <= performance.now() ? at : start;
}

/** Waits for `promise`, at most `ms`, and no longer than `signal` lasts. */
function within(
  promise: Promise<void>,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const stop = new AbortController();
  return Promise.race([
    promise,
    sleep(ms, signal ? AbortSignal.any([signal, stop.signal]) : stop.signal),
  ]).finally(() => stop.abort());
}

/**
 * Waits `ms`, or until `signal` aborts; `cut`, when given, receives a
 * function that ends the wait early (cheaper than an AbortController of
 * its own: a waiter's wake-up is on the path of every handoff).
 */
function sleep(
  ms: number,
  signal?: AbortSignal,
  cut?: (end: () => void) => void,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    // A timer longer than a runtime keeps fires at once: clamp it.
    const timer = setTimeout(done, Math.min(ms, MAX_DELAY_MS));
    signal?.addEventListener("abort", done);
    cut?.(done);
  });
}

/**
 * A lock on a distributed backend: the remote-lock core. It owns the client
 * life cycle once for every remote backend — request deadlines and aborts,
 * outcomes a lost reply left uncertain (released by token, and again later
 * while the backend does not answer),
 * waiting with pushed or polled wake-ups, leases reckoned from the send time
 * with a margin for clock drift, renewal and `extend` taking turns, release
 * retries, metrics and events — and asks its {@linkcode RemoteDriver} only
 * for the backend's atomic operations.
 *
 * The `upstash` and `durable-object` lock types are remote locks; a backend
 * of your own is a driver and one `new RemoteLock(driver, { name })`.
 *
 * @example A backend of your own, in one object
 * ```ts
 * import { RemoteLock, type RemoteDriver } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * // A one-holder "server" in memory, to show the interface's shape.
 * let holder: string | undefined;
 * let fence = 0;
 * const gone = new Set<string>();
 * const driver: RemoteDriver = {
 *   type: "toy",
 *   target: "memory",
 *   minLeaseMs: 100,
 *   acquire: async (r) =>
 *     gone.has(r.token) ? { state: "gone" }
 *     : holder === undefined || holder === r.token
 *     ? (holder = r.token, { state: "granted", fence: ++fence, leaseMs: r.leaseMs })
 *     : r.join ? { state: "queued", retryMs: 10 } : { state: "busy" },
 *   release: async (token) => {
 *     gone.add(token);
 *     if (holder !== token) return false;
 *     holder = undefined;
 *     return true;
 *   },
 *   extend: async (token, leaseMs) => ({ held: holder === token, leaseMs }),
 *   status: async () => ({ holders: holder === undefined ? 0 : 1, waiters: 0 }),
 *   query: async () => ({ held: [], pending: [] }),
 * };
 * const lock = new RemoteLock(driver, { name: "report" });
 * await lock.withLock((lease) => assert.equal(lease.fence, 1));
 * assert.equal(await lock.isLocked(), false);
 * ```
 */
export class RemoteLock implements Lock {
  /** The lock's name. */
  readonly name: string;
  /** The driver's lock type. */
  readonly type: string;
  #driver: RemoteDriver;
  #leaseMs: number;
  #requestTimeoutMs: number;
  #limits: { minLeaseMs: number; maxLeaseMs: number };
  /** Opens when the previous acquisition's first call reached the server. */
  #order: { promise: Promise<void>; open: boolean } = {
    promise: Promise.resolve(),
    open: true,
  };
  #rec: Recorder;
  /** Cleanups by token (#abandon) still under way. */
  #cleanups = new Set<Promise<void>>();

  /**
   * A semaphore's capacity (see remote_semaphore.ts), which every request
   * carries; undefined for a lock.
   */
  #capacity: number | undefined;
  /** A semaphore's error for a name held with another capacity. */
  #refusal: ((theirs: number) => Error) | undefined;

  static {
    remoteInternals.create = (driver, options, capacity, refusal) => {
      const lock = new RemoteLock(driver, options);
      lock.#capacity = capacity;
      lock.#refusal = refusal;
      return lock;
    };
    remoteInternals.acquire = (lock, checked) => lock.#begin(checked);
    remoteInternals.tryAcquire = (lock, checked) => lock.#try(checked);
    remoteInternals.status = async (lock) => {
      await lock.#settled(); // what it reports counts given-up waiters gone
      const driver = lock.#driver;
      return await lock.#bounded("status", (s) => driver.status(s));
    };
    remoteInternals.recorder = (lock) => lock.#rec;
  }

  /**
   * Builds a lock on `driver`; checks the options now.
   *
   * @param driver The backend's atomic operations.
   * @param options The name, the default lease and the request timeout.
   */
  constructor(driver: RemoteDriver, options: RemoteLockOptions) {
    this.type = driver.type;
    const action = `create ${driver.type} lock`;
    this.name = requireName(driver.type, options?.name);
    this.#driver = driver;
    const min = Math.max(1, driver.minLeaseMs);
    this.#limits = { minLeaseMs: min, maxLeaseMs: MAX_LEASE_MS };
    this.#leaseMs = checkRange(
      action,
      "leaseMs",
      options.leaseMs,
      min,
      MAX_LEASE_MS,
      Math.max(min, 30_000),
    );
    // At most half the minute a server remembers a given-up token, so that
    // no call of ours can arrive after its tombstone is gone.
    this.#requestTimeoutMs = checkRange(
      action,
      "requestTimeoutMs",
      options.requestTimeoutMs,
      1,
      30_000,
      10_000,
    );
    // A request costs a round trip: the clock costs nothing beside it.
    this.#rec = new Recorder(this, this.name, true);
  }

  /**
   * One call to the server, bounded by the request timeout, the caller's
   * deadline and signal, whatever the driver does with its own signal.
   * Throws the signal's reason, a `Deadline`, or a `LockBackendError` that
   * names what was tried.
   */
  async #once<T>(
    what: string,
    fn: (signal: AbortSignal) => Promise<T>,
    deadline: number,
    signal: AbortSignal | undefined,
    extraMs = 0,
  ): Promise<T> {
    if (signal?.aborted) throw signal.reason;
    const left = deadline - performance.now();
    if (left <= 0) throw new Deadline();
    // A long-poll is answered by the server's own cap: silence well past it
    // means the call was lost (a restarted server, a proxy that kept the
    // connection), so it gets a short timeout on top of its wait.
    const base = extraMs > 0
      ? Math.min(this.#requestTimeoutMs, LONG_POLL_SILENCE_MS)
      : this.#requestTimeoutMs;
    const budget = Math.min(base + extraMs, left, MAX_DELAY_MS);
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const why = budget === left
          ? new Deadline()
          : this.#silent(what, Math.round(budget));
        controller.abort(why);
        reject(why);
      }, budget);
      if (signal !== undefined) {
        onAbort = () => {
          controller.abort(signal.reason);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort);
      }
    });
    try {
      return await Promise.race([fn(controller.signal), stop]);
    } catch (error) {
      if (
        error instanceof Deadline || error instanceof LockError ||
        (signal?.aborted && error === signal.reason)
      ) throw error;
      throw this.#fault(what, error);
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal!.removeEventListener("abort", onAbort);
    }
  }

  /** The error for a call that got no answer within `ms`. */
  #silent(what: string, ms: number): LockBackendError {
    return this.#fault(what, new Error(`no answer within ${ms} ms`));
  }

  #fault(what: string, error: unknown): LockBackendError {
    const message = error instanceof Error ? error.message : String(error);
    return new LockBackendError(
      this.name,
      `${what} at ${this.#driver.target} failed: ${message}`,
      { cause: error },
    );
  }

  /**
   * A call repeated (it is idempotent by token) while it fails in a way
   * worth repeating, within the deadline; the last failure is thrown.
   */
  async #call<T>(
    what: string,
    fn: (signal: AbortSignal) => Promise<T>,
    deadline: number,
    signal?: AbortSignal,
    extraMs = 0,
  ): Promise<T> {
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#once(what, fn, deadline, signal, extraMs);
      } catch (error) {
        if (
          attempt >= RETRIES || !(error instanceof LockBackendError) ||
          !(this.#driver.retryable?.(error.cause) ?? true)
        ) throw error;
        const backoff = 25 * 2 ** attempt * (0.5 + Math.random() / 2);
        if (performance.now() + backoff >= deadline) throw error;
        await sleep(backoff, signal);
      }
    }
  }

  /**
   * A call and its retries, all within one request timeout: what a lease's
   * release and extend get, so that neither can hang its caller.
   */
  async #bounded<T>(
    what: string,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const ms = this.#requestTimeoutMs;
    try {
      return await this.#call(what, fn, performance.now() + ms);
    } catch (error) {
      if (!(error instanceof Deadline)) throw error;
      throw this.#silent(what, ms);
    }
  }

  /**
   * Gives up an acquisition whose outcome may be unknown by releasing its
   * token, which ends a grant or a place alike, leaves a tombstone that
   * refuses its late calls, and takes effect once it arrives, answered or
   * not (a cancel first, which found the token held and was cut off before
   * its answer, left the release unsent on a slow backend). It is tried
   * within one request timeout in all, so that a backend that hangs keeps
   * the process alive no longer than that after its caller gave up; then
   * {@linkcode #releaseLater}.
   */
  #abandon(token: string, leaseMs: number): Promise<void> {
    return this.#persist(
      "release",
      (s) => this.#driver.release(token, s),
      performance.now() + this.#requestTimeoutMs,
    ).then(() => {}, () => this.#releaseLater(token, leaseMs));
  }

  /**
   * A release whose outcome is still unknown (an overloaded or unreachable
   * backend): the server may hold a lease for this token that nobody will
   * use, and keep everyone waiting for all of it (30 s by default). Tried
   * again in the background, one request at a time, for as long as the
   * token could be held (a waiter's place outlasts its call); the pauses
   * are unreferenced, so an idle process exits meanwhile.
   */
  #releaseLater(token: string, leaseMs: number): void {
    const until = performance.now() + PLACE_OUTLASTS_MS + leaseMs;
    void (async () => {
      for (let pause = 1_000;; pause = Math.min(pause * 2, 5_000)) {
        if (performance.now() + pause >= until) return;
        await new Promise((resolve) => unref(setTimeout(resolve, pause)));
        try {
          return void await this.#bounded(
            "release",
            (s) => this.#driver.release(token, s),
          );
        } catch { /* still unreachable: again, later */ }
      }
    })();
  }

  /**
   * A cleanup call (idempotent by token) tried until `deadline`, each try
   * within a quarter of the request timeout: a release whose reply was lost
   * after it ran must not use the whole budget, so that the next try can
   * still be answered within it.
   */
  async #persist<T>(
    what: string,
    fn: (signal: AbortSignal) => Promise<T>,
    deadline: number,
  ): Promise<T> {
    const slice = this.#requestTimeoutMs / 4;
    for (;;) {
      try {
        return await this.#call(
          what,
          fn,
          Math.min(deadline, performance.now() + slice),
        );
      } catch (error) {
        const again = error instanceof Deadline ||
          (error instanceof LockBackendError &&
            (this.#driver.retryable?.(error.cause) ?? true));
        if (!again || performance.now() + PERSIST_PAUSE_MS >= deadline) {
          throw error;
        }
        await sleep(PERSIST_PAUSE_MS);
      }
    }
  }

  #cleanup(done: Promise<void>): void {
    this.#cleanups.add(done);
    void done.finally(() => this.#cleanups.delete(done));
  }

  /** This instance's cleanups, done (or given CLEANUP_MS). */
  #settled(): Promise<void> {
    if (this.#cleanups.size === 0) return Promise.resolve();
    return within(
      Promise.all(this.#cleanups).then(() => {}),
      CLEANUP_MS,
      undefined,
    );
  }

  #checkLeaseMs(leaseMs: number | undefined): number {
    return leaseMs === undefined ? this.#leaseMs : checkRange(
      `acquire lock "${this.name}"`,
      "leaseMs",
      leaseMs,
      this.#limits.minLeaseMs,
      MAX_LEASE_MS,
      0,
    );
  }

  /**
   * Waits, in FIFO order (or by `priority`) across all clients, until the
   * lock is granted.
   *
   * @param options Timeout, signal, lease length, mode, priority and owner.
   * @returns The lease; it renews itself until released.
   * @throws {LockTimeoutError} When `timeoutMs` passes first.
   * @throws {LockBackendError} When the backend cannot be reached or answers oddly.
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    let checked;
    try {
      checked = checkAcquireOptions(
        this.name,
        options,
        this.#driver.steal !== undefined,
      );
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#begin(checked);
  }

  /** An acquisition of a lock, or of a semaphore's `checked.permits`. */
  #begin(
    checked: CheckedAcquireOptions & { permits?: number },
  ): Promise<Lease> {
    let leaseMs: number;
    try {
      leaseMs = this.#checkLeaseMs(checked.leaseMs);
    } catch (error) {
      return Promise.reject(error);
    }
    const { mode, signal, timeoutMs, priority, owner, permits } = checked;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const deadline = timeoutMs === undefined
      ? Infinity
      : performance.now() + timeoutMs;
    const rec = this.#rec;
    const at = rec.begin(mode, owner, true);
    return (
      checked.steal
        ? this.#steal(leaseMs, priority, timeoutMs, deadline, signal, at)
        : this.#acquire(
          { mode, permits, leaseMs, priority, timeoutMs, deadline, signal, at },
        )
    ).catch((error) => {
      rec.rejected(error, signal, mode, at);
      throw error;
    });
  }

  async #acquire(want: Want): Promise<Lease> {
    const { mode, timeoutMs, deadline, signal, at } = want;
    const timedOut = () => new LockTimeoutError(this.name, timeoutMs ?? 0);
    // One client's acquisitions queue in call order: each waits for the
    // previous one's first call to reach the server (at most ORDER_GRACE_MS
    // after it was sent).
    const before = this.#order;
    const previous = before.promise;
    let opened!: () => void;
    const gate = {
      promise: new Promise<void>((resolve) => (opened = resolve)),
      open: false,
    };
    this.#order = gate;
    let turnTimer: ReturnType<typeof setTimeout> | undefined;
    const open = () => {
      clearTimeout(turnTimer);
      gate.open = true;
      opened();
    };
    let inLine = false;
    try {
      const waited = !before.open;
      // (An open turn needs no bounded wait: its timer and controller cost
      // every acquisition.)
      if (waited) await within(previous, deadline - performance.now(), signal);
      // (The wait ends early when the caller gives up, but that is no turn.)
      if (signal?.aborted) throw signal.reason;
      // A deadline that passed while waiting in line is a timeout; one too
      // short to wait at all still gets a free lock (below).
      if (waited && timeoutMs !== 0 && performance.now() >= deadline) {
        throw timedOut();
      }
      inLine = true;
      for (let again = false;; again = true) {
        if (signal?.aborted) throw signal.reason;
        if (again && performance.now() >= deadline) throw timedOut();
        const lease = await this.#attempt(
          want,
          () => {
            turnTimer ??= setTimeout(
              open,
              Math.min(ORDER_GRACE_MS, this.#requestTimeoutMs),
            );
          },
          (queued) => {
            open();
            if (queued) this.#rec.waiting(mode, at);
          },
        );
        // A grant that ran out on its way here (the event loop stalled, say)
        // was given back: queue again rather than hand out a lost lease.
        if (lease !== undefined) return lease;
      }
    } catch (error) {
      throw error instanceof Deadline ? timedOut() : error;
    } finally {
      // One that gave up before its turn keeps the line: the next one still
      // waits for the one before it.
      if (inLine) open();
      else void previous.then(open);
    }
  }

  /**
   * Takes the lock at once from whoever holds it (`steal`): one call, which
   * the server carries out atomically, repeated by token within the
   * deadline. It does not wait for this client's earlier acquisitions: a
   * steal goes ahead of every waiter anyway.
   */
  async #steal(
    leaseMs: number,
    priority: number,
    timeoutMs: number | undefined,
    deadline: number,
    signal: AbortSignal | undefined,
    at: Attempt,
  ): Promise<Lease> {
    const driver = this.#driver;
    for (let attempt = 0;; attempt++) {
      const token = `lk_${crypto.randomUUID()}`;
      let lease: Lease | undefined;
      let sent = false;
      try {
        if (signal?.aborted) throw signal.reason;
        const start = performance.now();
        sent = true;
        const reply = await this.#call(
          "steal",
          (s) =>
            driver.steal!({
              token,
              mode: "exclusive",
              leaseMs,
              join: false,
              waitMs: 0,
              priority,
              owner: at.owner,
            }, s),
          // As for any acquisition, the first call gets time to be
          // answered, however short the timeoutMs (0 included).
          attempt === 0 ? Math.max(deadline, start + FIRST_CALL_MS) : deadline,
          signal,
        );
        if (reply.state !== "granted") {
          throw this.#fault(
            "steal",
            // "gone": the server no longer knows this token (cancelled).
            new Error(`the server answered "${reply.state}" to a steal`),
          );
        }
        lease = this.#lease(
          token,
          "exclusive",
          undefined,
          reply.fence,
          leaseMs,
          sentFrom(start, reply) + reply.leaseMs - drift(reply.leaseMs),
          at,
        );
        // A grant that ran out on its way here was given back: again.
        if (lease !== undefined) return lease;
      } catch (error) {
        throw error instanceof Deadline
          ? new LockTimeoutError(this.name, timeoutMs ?? 0)
          : error;
      } finally {
        if (lease === undefined && sent) {
          // Given up by token, as an acquisition is: its rejection waits
          // CLEANUP_WAIT_MS at most, isLocked() and query() for the rest.
          const done = this.#abandon(token, leaseMs);
          this.#cleanup(done);
          await within(done, CLEANUP_WAIT_MS, undefined);
        }
      }
      if (performance.now() >= deadline) {
        throw new LockTimeoutError(this.name, timeoutMs ?? 0);
      }
    }
  }

  /** One token's acquisition: a lease, undefined (stale: again), or a throw. */
  async #attempt(
    want: Want,
    sending: () => void,
    answered: (queued: boolean) => void,
  ): Promise<Lease | undefined> {
    const {
      mode,
      permits,
      leaseMs,
      priority,
      timeoutMs,
      deadline,
      signal,
      at,
    } = want;
    const driver = this.#driver;
    const capacity = this.#capacity;
    const token = `lk_${crypto.randomUUID()}`;
    const join = timeoutMs !== 0;
    let pushed: RemotePushedGrant | undefined;
    /** Ends the current sleep (a push or a hint came). */
    let wake: (() => void) | undefined;
    /** A hint to ask again that came while no sleep was there to cut. */
    let nudged = false;
    // Registered before its first call, so that no handoff slips past.
    let watch: RemoteWatch | undefined;
    try {
      watch = join
        ? driver.watch?.(token, (grant) => {
          if (grant !== undefined) pushed ??= grant;
          if (wake === undefined) nudged = true;
          else wake();
        })
        : undefined;
    } catch {
      // A driver that cannot listen now: the waiter polls.
    }
    /** Undefined until queued; then whether pushes can arrive. */
    let live: boolean | undefined;
    let sent = false;
    /** A call that queues in the server is in flight (unanswered). */
    let polling = false;
    let lease: Lease | undefined;
    /** When the latest answered acquire call was sent. */
    let contact = 0;
    try {
      for (let attempt = 0;; attempt++) {
        const left = deadline - performance.now();
        if (attempt > 0 && left <= 0) throw new Deadline();
        if (signal?.aborted) throw signal.reason;
        // A deadline that passed before the first call still gets the lock
        // if it is free now: `timeoutMs` bounds the wait, not the grant.
        const queue = join && left > 0;
        const waitMs = queue
          ? Math.max(0, Math.min(driver.maxWaitMs ?? 0, left))
          : 0;
        const start = performance.now();
        nudged = false; // this call is the asking again
        sending();
        sent = true;
        polling = queue;
        const reply: RemoteAcquireReply = await this.#call(
          "acquire",
          (s) =>
            driver.acquire(
              capacity === undefined
                ? {
                  token,
                  mode,
                  leaseMs,
                  join,
                  waitMs,
                  priority,
                  owner: at.owner,
                }
                : {
                  token,
                  mode,
                  leaseMs,
                  join,
                  waitMs,
                  priority,
                  owner: at.owner,
                  permits: permits ?? 1,
                  capacity,
                },
              s,
              answered,
            ),
          // "Only if free now" still lets its one request take its time; a
          // long-poll gets a moment past the deadline for the server's own
          // answer (which says it queued), rather than an uncertain cut.
          queue
            ? Math.max(
              deadline + (waitMs > 0 ? LONG_POLL_GRACE_MS : 0),
              // A first call always gets time to learn whether the lock is
              // free: a timeoutMs shorter than a round trip bounds the
              // wait, not the grant.
              attempt === 0 ? start + FIRST_CALL_MS : 0,
            )
            // An acquire past its deadline (or with timeoutMs 0) still asks
            // once if the lock is free, briefly; tryAcquire has no deadline
            // but a request timeout for the call and its retries together.
            : Number.isFinite(deadline)
            ? Math.max(deadline, performance.now()) + FREE_CHECK_MS
            : performance.now() + this.#requestTimeoutMs,
          signal,
          waitMs,
        );
        answered(false);
        polling = false;
        contact = start;
        if (reply.state === "granted") {
          if (reply.waited === true) this.#rec.waiting(mode, at);
          return lease = this.#lease(
            token,
            mode,
            permits,
            reply.fence,
            leaseMs,
            sentFrom(start, reply) + reply.leaseMs - drift(reply.leaseMs),
            at,
          );
        }
        if (reply.state === "busy") {
          sent = false; // not queued, not granted: nothing to give up
          throw new LockTimeoutError(this.name, timeoutMs ?? 0);
        }
        if (reply.state === "capacity") throw this.#mismatch(reply.capacity);
        // The server no longer knows this token: its grant ran out before
        // the waiter asked again (a stall, a push that never came), and the
        // token was buried. Queue again with a new one, as for a stale grant.
        if (reply.state === "gone") {
          sent = false; // the server holds nothing for this token
          return undefined;
        }
        this.#rec.waiting(mode, at);
        if (watch !== undefined && live === undefined) {
          const listening = watch.listening;
          live = await this.#once(
            "listen",
            () => watch.listen(),
            deadline,
            signal,
          ).catch((error) => {
            if (!(error instanceof LockBackendError)) throw error;
            return false; // no push then: poll
          });
          // A push made before the stream came up was missed: ask again.
          if (live && !listening && pushed === undefined) continue;
        }
        if (pushed === undefined) {
          // Ask again within what the server said; sooner when no push can
          // come, later when one will (the poll is only for lost messages).
          const backoff = live
            ? 2_000
            : Math.min(1_000, 25 * 2 ** Math.min(attempt, 6));
          const ms = Math.min(
            reply.retryMs,
            backoff * (0.5 + Math.random() / 2),
            deadline - performance.now(),
          );
          if (nudged) nudged = false;
          else if (ms > 0) {
            await sleep(ms, signal, (end) => (wake = end));
            wake = undefined;
          }
        }
        if (pushed !== undefined) {
          if (signal?.aborted) throw signal.reason;
          return lease = this.#lease(
            token,
            mode,
            permits,
            pushed.fence,
            leaseMs,
            contact + pushed.leaseMs - drift(pushed.leaseMs),
            at,
          );
        }
      }
    } finally {
      watch?.stop();
      if (lease === undefined) {
        // A queueing call cut short (by the deadline or an abort) had joined
        // the server's queue as far as anyone can tell: it counts as waiting.
        if (polling) this.#rec.waiting(mode, at);
        // Anything but a lease handed to the caller: the server may hold a
        // grant or a place for this token (a reply lost after it acted, an
        // abort mid-call, a stale grant); give it up by token. The caller's
        // rejection waits for that (one round trip, normally), so that a
        // waiter that gave up is gone from the queue when its promise
        // settles, but CLEANUP_WAIT_MS at most, so that a backend that hangs
        // delays it no more; this instance's isLocked() and query() wait
        // for the rest.
        if (sent) {
          const done = this.#abandon(token, leaseMs);
          this.#cleanup(done);
          await within(done, CLEANUP_WAIT_MS, undefined);
        }
      }
    }
  }

  /**
   * Takes the lock only if it can be granted at once (one request); busy
   * resolves `undefined`. Never passes a queued waiter.
   *
   * @param options Mode, lease length, owner and signal; `timeoutMs` does not apply.
   * @returns The lease, or `undefined` when the lock is busy.
   * @throws {LockBackendError} When the backend cannot be reached or answers oddly.
   */
  tryAcquire(options?: AcquireOptions): Promise<Lease | undefined> {
    let checked;
    try {
      checked = checkAcquireOptions(
        this.name,
        options,
        this.#driver.steal !== undefined,
      );
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#try(checked);
  }

  async #try(
    checked: CheckedAcquireOptions & { permits?: number },
  ): Promise<Lease | undefined> {
    const leaseMs = this.#checkLeaseMs(checked.leaseMs);
    const { mode, owner, signal, permits } = checked;
    if (signal?.aborted) throw signal.reason;
    // A steal never waits anyway.
    if (checked.steal) return await this.#begin(checked);
    const at = this.#rec.begin(mode, owner, true);
    try {
      return await this.#attempt(
        {
          mode,
          permits,
          leaseMs,
          priority: 0,
          timeoutMs: 0,
          deadline: Infinity,
          signal,
          at,
        },
        () => {},
        () => {},
      );
    } catch (error) {
      if (error instanceof LockTimeoutError) {
        this.#rec.refused(mode, at);
        return undefined;
      }
      const thrown = error instanceof Deadline
        ? this.#silent("acquire", this.#requestTimeoutMs)
        : error;
      this.#rec.rejected(thrown, signal, mode, at);
      throw thrown;
    }
  }

  /**
   * Runs `fn` while holding the lock, then releases it, also when `fn`
   * throws. The section's outcome stands: a release that fails after it is
   * reported (a `release-failed` event) and the lease ends by its expiry.
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
   * Whether anyone holds the lock now, by the server's clock.
   *
   * @returns `true` while an unexpired lease is held.
   * @throws {LockBackendError} When the backend cannot be reached or answers oddly.
   */
  async isLocked(): Promise<boolean> {
    await this.#settled();
    const driver = this.#driver;
    const { holders } = await this.#bounded(
      "status",
      (s) => driver.status(s),
    );
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
   * Who holds the lock and who waits for it, across all clients: one request
   * that reads the server's state (ages by the server's clock).
   *
   * @returns Held leases (by fence) and pending acquisitions (in queue order).
   * @throws {LockBackendError} When the backend cannot be reached or answers oddly.
   */
  async query(): Promise<LockSnapshot> {
    await this.#settled();
    const driver = this.#driver;
    return await this.#bounded("query", (s) => driver.query(s));
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
   * The error for a request the server refused because the name's holders
   * and waiters have another capacity (`0`: they hold it as a lock).
   */
  #mismatch(theirs: number): Error {
    // A semaphore's own messages live with it (remote_semaphore.ts), out of
    // a bundle that uses only locks.
    return this.#refusal?.(theirs) ?? new TypeError(
      `Cannot acquire lock "${this.name}" as the name is in use at ${this.#driver.target} as a semaphore of ${theirs} permits: a lock and a semaphore cannot share a name`,
    );
  }

  /** The lease, or undefined when it ran out before it got here. */
  #lease(
    token: string,
    mode: LockMode,
    permits: number | undefined,
    fence: number,
    leaseMs: number,
    validUntil: number,
    at: Attempt,
  ): Lease | undefined {
    const driver = this.#driver;
    return leaseFor({
      name: this.name,
      mode,
      permits,
      fence,
      leaseMs,
      limits: this.#limits,
      validUntil,
      rec: this.#rec,
      at,
    }, {
      release: async () => {
        try {
          await this.#bounded("release", (s) => driver.release(token, s));
        } catch (error) {
          this.#rec.releaseFailed(mode, at.owner, fence);
          this.#releaseLater(token, leaseMs);
          throw error;
        }
      },
      extend: (ms, seq) =>
        this.#bounded("extend", (s) => driver.extend(token, ms, seq, s)),
    });
  }
}

/**
 * The name of a distributed lock, which is required: two resources that
 * fell back to one default name would share a lock, while one resource
 * named twice would not exclude at all.
 */
export function requireName(
  type: string,
  name: unknown,
  kind: "lock" | "semaphore" = "lock",
): string {
  const action = `create ${type} ${kind}`;
  if (name === undefined) {
    throw new TypeError(
      `Cannot ${action} as 'name' is required: every client of a ${type} ${kind} must name the resource it guards (a default name would let unrelated resources share one ${kind})`,
    );
  }
  return checkName(action, name);
}
