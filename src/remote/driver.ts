// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * The backend interface of the remote-lock core: what a distributed backend
 * (Upstash, the Durable Object, a file directory, Deno KV, your own) supplies
 * so that {@linkcode RemoteLock} can give it the whole `Lock` contract.
 *
 * A driver is a lock's atomic server operations and their transport, and
 * nothing else. The core owns the life cycle once for every backend: request
 * deadlines and aborts, outcomes left uncertain by a lost reply (released
 * by token), waiting and wake-ups, lease reckoning from the send
 * time with a margin for clock drift, renewal and `extend` taking turns,
 * release retries, metrics and events.
 *
 * Every operation is **idempotent by token**: the core repeats a call whose
 * reply it did not get, and may send a call after another with the same
 * token was lost in flight. A server must therefore remember a token it has
 * released or cancelled (a tombstone) for at least a minute, and answer a
 * late `acquire` for it with `"gone"` rather than grant it again.
 *
 * @module
 */

import type { LockMode, LockSnapshot } from "../core/types.ts";

/** One acquisition's request, the same on every call for its token. */
export interface RemoteAcquireRequest {
  /** The acquisition's token: random, made by the core, never reused. */
  readonly token: string;
  /** How it holds the lock. */
  readonly mode: LockMode;
  /** The lease length asked for, at least the driver's `minLeaseMs`. */
  readonly leaseMs: number;
  /**
   * Whether to queue when the lock is busy (`acquire`) or answer `"busy"`
   * without queuing (`tryAcquire`, `timeoutMs: 0`).
   */
  readonly join: boolean;
  /**
   * How long the server may keep this call open waiting for the grant (a
   * long-poll): at most the driver's `maxWaitMs` and what the caller has
   * left; 0 for a driver whose server answers at once.
   */
  readonly waitMs: number;
  /** -100 to 100, higher first (see `AcquireOptions.priority`). */
  readonly priority: number;
  /** The acquisition's owner label, if any. */
  readonly owner: string | undefined;
  /**
   * A semaphore's request (`mode` is then `"shared"`): how many permits it
   * takes, 1 to `capacity`. Absent for a lock, whose requests hold all of an
   * unbounded capacity (`exclusive`) or 1 of it (`shared`): the one rule is
   * that the queue's head is admitted while the permits held plus its own
   * fit the capacity, and an exclusive request only when nothing is held.
   */
  readonly permits?: number;
  /**
   * With `permits`: the semaphore's capacity, which every request for the
   * name carries. The server refuses one that disagrees with the capacity
   * of the name's holders and waiters (`"capacity"`), and takes a new
   * capacity only while nobody holds or waits.
   */
  readonly capacity?: number;
}

/** What the server did with an acquire call. */
export type RemoteAcquireReply =
  | {
    readonly state: "granted";
    /** The lease's fencing token. */
    readonly fence: number;
    /**
     * How long the lease runs after this call reached the server, by the
     * server's clock (the core reckons it from when it sent the call).
     */
    readonly leaseMs: number;
    /** Whether it waited in the server's queue first (for metrics). */
    readonly waited?: boolean;
    /**
     * When the call the server answered left this process
     * (`performance.now()`), if the driver knows it to be later than when
     * the core made the call: one held back behind an opening connection,
     * or sent as a second call after a first that found its place. The
     * lease is then reckoned from it, so that time spent here before
     * sending is not taken from the lease. Never later than the send: a
     * lease reckoned from after it could outlast the server's.
     */
    readonly sentAt?: number;
  }
  | {
    readonly state: "queued";
    /**
     * Ask again (which also keeps the place) within this many
     * milliseconds: the holder's remaining lease, the waiter's heartbeat
     * window. `0` asks again at once (a long-poll that hit its cap).
     */
    readonly retryMs: number;
  }
  /** Busy, and not queued (`join: false`). */
  | { readonly state: "busy" }
  /**
   * The token was released or cancelled before this call arrived: it is
   * never granted (the call was late, or a cancel overtook it).
   */
  | { readonly state: "gone" }
  /**
   * Refused, not queued: the name is held or awaited with another
   * capacity, `0` meaning as a lock (see `RemoteAcquireRequest.capacity`).
   */
  | { readonly state: "capacity"; readonly capacity: number };

/** What `status` finds. */
export interface RemoteStatus {
  /** Leases held now. */
  readonly holders: number;
  /** Waiters queued now. */
  readonly waiters: number;
  /**
   * While a semaphore's requests hold or wait for the name: the permits
   * held (absent: 0, or the name is a lock's).
   */
  readonly permits?: number;
  /**
   * With `permits`: the capacity of the semaphore's holders and waiters
   * (absent while anyone holds or waits: they are a lock's).
   */
  readonly capacity?: number;
}

/** What the server did with an extend call. */
export interface RemoteExtendReply {
  /** False when the lease was no longer held (expired, released, taken). */
  readonly held: boolean;
  /**
   * With `held: false`: whether the server knows the lease was stolen (see
   * {@linkcode RemoteDriver.steal}), so that the loss can say so.
   */
  readonly stolen?: boolean;
  /**
   * How long the lease runs after this call reached the server. A call with
   * a `seq` lower than one the server already applied for the token changes
   * nothing and answers what stands.
   */
  readonly leaseMs: number;
}

/** A grant the server pushed to a waiter (no request of its own). */
export interface RemotePushedGrant {
  /** The lease's fencing token. */
  readonly fence: number;
  /**
   * How long the lease runs after the waiter's latest acquire call reached
   * the server (the core reckons it from when it sent that call).
   */
  readonly leaseMs: number;
}

/**
 * A waiter's wake-up registration. `watch()` only registers (no I/O, so an
 * acquisition granted at once costs nothing more); the core calls `listen()`
 * once the waiter is queued.
 */
export interface RemoteWatch {
  /**
   * Whether the push stream has been up without a break since `watch()`
   * registered the waiter: then no push for it can have been missed.
   */
  readonly listening: boolean;
  /** Opens the push stream if need be; resolves whether pushes can arrive. */
  listen(): Promise<boolean>;
  /** Stops listening; idempotent. */
  stop(): void;
}

/**
 * A distributed backend, as the core sees it. Each call gets a `signal` that
 * aborts when the caller gives up or the request's own timeout passes: pass
 * it to `fetch` (a driver that cannot abort a call is still raced, but its
 * socket stays busy).
 */
export interface RemoteDriver {
  /** The lock type, such as `"upstash"`. */
  readonly type: string;
  /** What errors name as the target, such as `Upstash at https://host:443`. */
  readonly target: string;
  /** The shortest lease the server accepts, in milliseconds. */
  readonly minLeaseMs: number;
  /**
   * Whether the server admits by permits (`RemoteAcquireRequest.permits`
   * and `capacity`), as semaphores need. A `RemoteSemaphore` refuses a
   * driver without it: a server that ignored permits would over-admit.
   *
   * @default {false}
   */
  readonly semaphores?: boolean;
  /**
   * The longest the server keeps an acquire call open waiting for the grant
   * (a long-poll); the core lets such a call take that long on top of its
   * request timeout.
   *
   * @default {0} the server answers at once
   */
  readonly maxWaitMs?: number;
  /**
   * Grants, queues or refuses (see {@linkcode RemoteAcquireReply}). One
   * client's acquisitions queue in call order: the core sends the next one's
   * first call once this call is answered, once `ordered` is called, or at
   * the latest 5 s after it sent this one (or the request timeout). A driver whose call waits (a
   * long-poll) calls `ordered` as soon as the server has the call in order:
   * written to an ordered channel behind the earlier ones (`queued` false),
   * or known to be queued (`queued` true, which counts it as waiting).
   */
  acquire(
    request: RemoteAcquireRequest,
    signal: AbortSignal,
    ordered: (queued: boolean) => void,
  ): Promise<RemoteAcquireReply>;
  /**
   * Optional: takes the lock for `request.token` at once, atomically on the
   * server (`acquire({ steal: true })`): every current holder's lease ends
   * (its tombstone marks it stolen, so that its `extend` answers `held:
   * false, stolen: true` and its `release` ends nothing), and the token is
   * granted ahead of every waiter, with a fence above every earlier grant.
   * The waiters keep their places. `request.mode` is `"exclusive"` and
   * `request.join` false. Idempotent by token like the rest: a token that
   * holds already gets its grant back (nobody is revoked again), a
   * tombstoned one `"gone"`. Without it, the lock type cannot steal.
   */
  steal?(
    request: RemoteAcquireRequest,
    signal: AbortSignal,
  ): Promise<RemoteAcquireReply>;
  /**
   * Ends the lease or waiter `token` and leaves a tombstone, also for a token
   * the server has not seen (the release may overtake its acquire); true if
   * it ended a lease. The core gives up an acquisition whose outcome it does
   * not know with this call alone: it takes effect once it arrives, whether
   * or not its reply comes back.
   */
  release(token: string, signal: AbortSignal): Promise<boolean>;
  /**
   * Sets the lease `token` to end `leaseMs` after this call arrives, unless a
   * call with a higher `seq` was applied already; never revives a lease that
   * ended.
   */
  extend(
    token: string,
    leaseMs: number,
    seq: number,
    signal: AbortSignal,
  ): Promise<RemoteExtendReply>;
  /**
   * Optional, and not called by the core (which gives tokens up by
   * `release`): takes the waiter `token` out of the queue and leaves a
   * tombstone (also for a token the server has not seen), leaving a lease it
   * holds alone: `"held"` then.
   */
  cancel?(token: string, signal: AbortSignal): Promise<"cancelled" | "held">;
  /**
   * Holders and waiters now, by the server's clock; a driver that admits by
   * permits adds, while a semaphore's requests hold or wait for the name,
   * the permits held and their capacity.
   */
  status(signal: AbortSignal): Promise<RemoteStatus>;
  /** Who holds and who waits now (ages by the server's clock). */
  query(signal: AbortSignal): Promise<LockSnapshot>;
  /**
   * Optional push: registers the waiter `token` for pushed grants (or a hint
   * to ask again, with `undefined`). Called before the waiter's first
   * acquire call, so that no handoff slips past once the stream is up. When
   * the stream was not up all along, the core asks once more after
   * `listen()`. Without `watch`, waiters poll within `retryMs`.
   */
  watch?(
    token: string,
    onWake: (grant: RemotePushedGrant | undefined) => void,
  ): RemoteWatch;
  /**
   * Whether a failed call is worth repeating (a network failure, a 5xx, a
   * timeout): every call is idempotent, so the core repeats these within the
   * caller's deadline. A bad argument or an auth failure is not.
   *
   * @default {() => true}
   */
  retryable?(error: unknown): boolean;
}
