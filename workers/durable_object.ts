// Copyright 2026 the unilock authors. MIT license.

/**
 * The Durable Object behind the `durable-object` lock: one object per lock
 * name. Re-export it from your Worker and bind it:
 *
 * ```toml
 * [[durable_objects.bindings]]
 * name = "LOCKS"
 * class_name = "LockDurableObject"
 *
 * [[migrations]]
 * tag = "v1"
 * new_sqlite_classes = ["LockDurableObject"]
 * ```
 *
 * Holders, their expiries and the fence counter live in the object's SQLite
 * storage, written before any reply (the output gate makes the write durable
 * before the caller hears of it). Waiters wait inside the object, in FIFO
 * order, and the event that frees the lock (a release, a cancel, an expiry)
 * grants it to them: no client polls. Expiry is checked against the object's
 * clock on every event; timers only wake. Every call is idempotent by its
 * client-made token.
 *
 * @example Exporting the class from a Worker
 * ```ts ignore
 * export { LockDurableObject } from "@unilock/unilock/durable-object";
 * ```
 *
 * @module
 */

import { DurableObject } from "cloudflare:workers";
import {
  type AcquireReply,
  type AcquireRequest,
  type CancelReply,
  checkAcquireRequest,
  checkExtendRequest,
  checkToken,
  type ExtendReply,
  leadingId,
  LOCK_OPS,
  MAX_MESSAGE_BYTES,
  MAX_SOCKET_TOKENS,
  MAX_WAIT_MS,
  overBytes,
  ProtocolError,
  type QueryEntry,
  type QueryReply,
  type ReleaseReply,
  SOCKET_PROTOCOL,
  STATUS,
  type StatusReply,
  TOMBSTONE_MS,
} from "../src/durable_object/_protocol.ts";

export { MAX_WAIT_MS, TOMBSTONE_MS };

/** The part of the object's SQLite API this class uses. */
interface SqlCursor<T> {
  one(): T;
  toArray(): T[];
  readonly rowsWritten: number;
}
interface SqlStorageLike {
  exec<T = Record<string, unknown>>(
    query: string,
    ...bindings: unknown[]
  ): SqlCursor<T>;
}
/** The part of `DurableObjectState` this class uses. */
export interface LockDurableObjectState {
  /** The object's storage, with its SQLite API. */
  readonly storage: {
    readonly sql: SqlStorageLike;
    setAlarm(scheduledTime: number): Promise<void>;
    deleteAlarm(): Promise<void>;
    deleteAll(): Promise<void>;
  };
  /** Takes the server end of a WebSocket (the hibernation API). */
  acceptWebSocket(ws: WebSocket): void;
}

/** workerd's pair of connected WebSockets. */
declare const WebSocketPair: new () => { 0: WebSocket; 1: WebSocket };

/** The request of {@linkcode LockDurableObject.acquire}. */
export type LockAcquireRequest = AcquireRequest;
/** One held or pending request in a {@linkcode LockQueryReply}. */
export type LockQueryEntry = QueryEntry;
/** The answer of {@linkcode LockDurableObject.query}. */
export type LockQueryReply = QueryReply;
/** The answer of {@linkcode LockDurableObject.acquire}. */
export type LockAcquireReply = AcquireReply;

/** How long a waiter whose call ended keeps its place for the next call. */
const REJOIN_MS = 10_000;

/**
 * How far the fence counter must be behind the clock floor (in ms) before
 * the object may delete its storage: a fresh object's first fence is the
 * clock in microseconds, so it is still higher than every fence handed out
 * so far unless the clock stepped back by more than this.
 */
const FENCE_MARGIN_MS = 60_000;

/** What the holders add up to (see #holderCounts). */
interface HolderCounts {
  all: number;
  exclusive: number;
  /** The permits shared holders hold (1 each for a lock's). */
  permits: number;
  /** A semaphore's capacity; 0 or null for a lock's holders. */
  capacity: number | null;
}

interface Waiter {
  token: string;
  shared: boolean;
  /** The permits it takes (1 for a lock's shared waiter). */
  permits: number;
  /** A semaphore's capacity; 0 for a lock's waiter (unbounded). */
  capacity: number;
  leaseMs: number;
  /** The place in the queue, lowest first: `(ticket - priority * 10) * 256 + priority + 100`. */
  key: number;
  /** The pending call, if the client is waiting on one now. */
  resolve: ((reply: AcquireReply) => void) | undefined;
  /** When the pending call reached the object. */
  arrivedAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** While no call is pending: when the waiter loses its place. */
  detachedUntil: number;
  owner: string | undefined;
  /** When it joined the queue, by the object's clock. */
  since: number;
}

/**
 * One lock name's state and waiters. Its methods are the RPC interface that
 * the `durable-object` lock client and the HTTP lock service call; their
 * arguments are checked as strictly as a stranger's HTTP body.
 *
 * Storage holds the leases, the fence counter and the tombstones of tokens
 * released or cancelled in the last {@linkcode TOMBSTONE_MS}; an object with
 * none of them left deletes its storage (an alarm wakes it for that), and
 * read-only calls create none, so names that are used once do not pile up.
 */
export class LockDurableObject extends DurableObject {
  #ctx: LockDurableObjectState;
  #sql: SqlStorageLike;
  #queue: Waiter[] = [];
  /**
   * Holders granted from the queue (they waited), so that a call that finds
   * its grant made already still says so (metrics only: lost on a reset).
   */
  #fromQueue = new Set<string>();
  #tickets = 0;
  /** The tokens each socket is waiting on now, to detach them if it closes. */
  #socketWaits = new Map<WebSocket, Set<string>>();
  /** The tokens each socket acquired and may still hold or wait for. */
  #socketTokens = new Map<WebSocket, Set<string>>();
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Whether this instance has checked (or made) the tables. */
  #schemaReady = false;
  /** The alarm this instance set (undefined: none, or set before a reset). */
  #alarmAt: number | undefined;

  /**
   * Constructs the object; it touches no storage until a call writes.
   *
   * @param ctx The object's state.
   * @param env The Worker's bindings.
   */
  constructor(ctx: LockDurableObjectState, env: unknown) {
    super(ctx as never, env as never);
    this.#ctx = ctx;
    this.#sql = ctx.storage.sql;
  }

  /**
   * Whether the tables exist, making them first when `create` is true; an
   * object that was only read has none, and one that went idle deleted them.
   */
  #schema(create: boolean): boolean {
    if (this.#schemaReady) return true;
    const exists = this.#sql.exec(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'counter'",
    ).toArray().length > 0;
    if (!exists && !create) return false;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS holders (
      token TEXT PRIMARY KEY,
      shared INTEGER NOT NULL,
      fence INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    )`);
    // The fence counter: one row, never decreased; deleted only with the
    // rest, once the clock floor is far past it (FENCE_MARGIN_MS).
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), fence INTEGER NOT NULL)",
    );
    this.#sql.exec("INSERT OR IGNORE INTO counter (id, fence) VALUES (1, 0)");
    // Tokens released or cancelled, until when an acquire for them is late
    // (no rowid: one row written per tombstone, not one plus its index).
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS tombstones (token TEXT PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID",
    );
    // Columns added since the first release, for tables of objects made
    // before them; an existing column makes ALTER throw.
    // permits and capacity: a semaphore's holder (NULL for a lock's).
    for (
      const column of [
        "owner TEXT",
        "granted_at INTEGER",
        "seq INTEGER",
        "permits INTEGER",
        "capacity INTEGER",
      ]
    ) {
      try {
        this.#sql.exec(`ALTER TABLE holders ADD COLUMN ${column}`);
      } catch { /* already there */ }
    }
    // 1 marks the tombstone of a lease that a steal ended.
    try {
      this.#sql.exec("ALTER TABLE tombstones ADD COLUMN stolen INTEGER");
    } catch { /* already there */ }
    this.#schemaReady = true;
    return true;
  }

  #expire(now: number): void {
    if (!this.#schema(false)) return;
    this.#sql.exec("DELETE FROM holders WHERE expires_at <= ?", now);
    // Forget expired holders' "waited" marks once they are many.
    if (this.#fromQueue.size > 1024) {
      for (const token of this.#fromQueue) {
        if (this.#held(token) === undefined) this.#fromQueue.delete(token);
      }
    }
  }

  /** One pass over the holders: what admission and status need of them. */
  #holderCounts(): HolderCounts {
    if (!this.#schema(false)) {
      return { all: 0, exclusive: 0, permits: 0, capacity: null };
    }
    return this.#sql.exec<HolderCounts>(
      `SELECT COUNT(*) AS [all], COALESCE(SUM(shared = 0), 0) AS exclusive,
        COALESCE(SUM(CASE WHEN shared = 1 THEN COALESCE(permits, 1) END), 0) AS permits,
        MAX(COALESCE(capacity, 0)) AS capacity
      FROM holders`,
    ).one();
  }

  /**
   * Whether a request fits beside the holders: the one admission rule of
   * locks and semaphores. Every request holds permits of the name's
   * capacity; a lock's is unbounded (`capacity` 0), its exclusive request
   * holds it all, its shared one 1.
   */
  #fits(
    shared: boolean,
    permits: number,
    capacity: number,
    held: HolderCounts = this.#holderCounts(),
  ): boolean {
    if (!shared) return held.all === 0;
    return held.exclusive === 0 &&
      (capacity === 0 || held.permits + permits <= capacity);
  }

  /**
   * The capacity of the name's holders and waiters (0: a lock's), which a
   * request must share; undefined while nobody holds or waits.
   */
  #capacity(
    now: number,
    held: HolderCounts = this.#holderCounts(),
  ): number | undefined {
    if (held.all > 0) return held.capacity ?? 0;
    const waiter = this.#queue.find((w) =>
      w.resolve !== undefined || w.detachedUntil > now
    );
    return waiter?.capacity;
  }

  #held(
    token: string,
  ): { fence: number; expires_at: number; seq: number | null } | undefined {
    if (!this.#schema(false)) return undefined;
    return this.#sql.exec<
      { fence: number; expires_at: number; seq: number | null }
    >(
      "SELECT fence, expires_at, seq FROM holders WHERE token = ?",
      token,
    ).toArray()[0];
  }

  /** Whether `token` was released or cancelled less than TOMBSTONE_MS ago. */
  #gone(token: string, now: number): boolean {
    return this.#schema(false) && this.#sql.exec(
          "SELECT 1 FROM tombstones WHERE token = ? AND until > ?",
          token,
          now,
        ).toArray().length > 0;
  }

  /** Remembers that `token` ended, so that a late acquire is refused. */
  #bury(token: string, now: number): void {
    this.#schema(true);
    this.#sql.exec(
      "INSERT OR REPLACE INTO tombstones (token, until) VALUES (?, ?)",
      token,
      now + TOMBSTONE_MS,
    );
    this.#armAlarm(now, now + TOMBSTONE_MS);
  }

  #grant(
    token: string,
    shared: boolean,
    leaseMs: number,
    now: number,
    owner: string | undefined,
    permits: number,
    capacity: number,
  ) {
    this.#schema(true);
    // The clock floor (µs) keeps fences rising across a storage reset and
    // after an idle object deleted its storage.
    const fence = this.#sql.exec<{ fence: number }>(
      "UPDATE counter SET fence = MAX(fence + 1, ?) WHERE id = 1 RETURNING fence",
      now * 1000,
    ).one().fence;
    this.#sql.exec(
      "INSERT INTO holders (token, shared, fence, expires_at, owner, granted_at, permits, capacity) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      token,
      shared ? 1 : 0,
      fence,
      now + leaseMs,
      owner ?? null,
      now,
      capacity === 0 ? null : permits,
      capacity === 0 ? null : capacity,
    );
    this.#armExpiry(now);
    // By when its release's tombstone, if released in time, is past too.
    this.#armAlarm(now, now + leaseMs + TOMBSTONE_MS);
    return fence;
  }

  /**
   * Makes sure an alarm comes by about `until`, when what was just written
   * may be deletable. One alarm serves many writes (setting one is a row
   * written): an early one re-arms itself, and one that would come much
   * later (a long lease released early) is moved forward.
   */
  #armAlarm(now: number, until: number): void {
    const at = this.#alarmAt;
    if (at !== undefined && at > now && at <= until + TOMBSTONE_MS) return;
    this.#setAlarm(until);
  }

  #setAlarm(at: number): void {
    this.#alarmAt = at;
    this.#ctx.storage.setAlarm(at).catch(() => {
      if (this.#alarmAt === at) this.#alarmAt = undefined;
    });
  }

  /**
   * When the stored state may all be gone: the leases (and the tombstones
   * their releases would leave), the tombstones, the fence margin. Past
   * it with no holder, the object is idle.
   */
  #storageEnd(): number {
    return this.#sql.exec<{ at: number }>(
      `SELECT MAX(
        COALESCE((SELECT MAX(expires_at) FROM holders) + ?, 0),
        COALESCE((SELECT MAX(until) FROM tombstones), 0),
        COALESCE((SELECT fence FROM counter WHERE id = 1), 0) / 1000 + ?
      ) AS at`,
      TOMBSTONE_MS,
      FENCE_MARGIN_MS,
    ).one().at;
  }

  /**
   * Wakes the idle object: drops tombstones past their time and, once
   * nothing is held, queued or remembered, deletes all its storage (an
   * empty SQLite database still costs storage until `deleteAll()`).
   */
  async alarm(): Promise<void> {
    this.#alarmAt = undefined;
    const now = Date.now();
    if (!this.#schema(false)) return;
    this.#expire(now);
    this.#handoff(now);
    this.#sql.exec("DELETE FROM tombstones WHERE until <= ?", now);
    const end = this.#storageEnd();
    if (end <= now && this.#queue.length === 0) {
      // Nothing can interleave: storage calls keep the input gate shut.
      this.#schemaReady = false;
      await this.#ctx.storage.deleteAlarm();
      await this.#ctx.storage.deleteAll();
      return;
    }
    this.#setAlarm(
      Math.max(end, now + (this.#queue.length > 0 ? MAX_WAIT_MS : 1_000)),
    );
  }

  #firstExpiry(): number | undefined {
    if (!this.#schema(false)) return undefined;
    const row = this.#sql.exec<{ at: number | null }>(
      "SELECT MIN(expires_at) AS at FROM holders",
    ).one();
    return row.at ?? undefined;
  }

  /** Wakes the object when the first lease ends, so its waiters move on. */
  #armExpiry(now: number): void {
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (this.#queue.length === 0) return;
    const at = this.#firstExpiry();
    if (at === undefined) return;
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined;
      const t = Date.now();
      this.#expire(t);
      this.#handoff(t);
    }, Math.max(0, at - now) + 1);
  }

  /**
   * Grants the lock to waiters at the head of the queue while their permits
   * fit; nobody behind the head goes first.
   */
  #handoff(now: number): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      if (head.resolve === undefined && head.detachedUntil <= now) {
        this.#queue.shift(); // gone without coming back
        continue;
      }
      if (!this.#fits(head.shared, head.permits, head.capacity)) break;
      this.#queue.shift();
      const fence = this.#grant(
        head.token,
        head.shared,
        head.leaseMs,
        now,
        head.owner,
        head.permits,
        head.capacity,
      );
      if (head.timer !== undefined) clearTimeout(head.timer);
      this.#fromQueue.add(head.token);
      // A detached waiter finds its lease when it calls again.
      head.resolve?.({
        ok: true,
        fence,
        leaseMs: head.leaseMs + (now - head.arrivedAt),
        waited: true,
      });
      if (!head.shared) break;
    }
    this.#armExpiry(now);
  }

  #retryAfter(now: number): number {
    const at = this.#firstExpiry();
    return at === undefined ? 0 : Math.max(0, at - now);
  }

  /**
   * Grants the lock, or queues the caller and waits up to `waitMs` (at most
   * {@linkcode MAX_WAIT_MS}) for it. Calling again with the same token keeps
   * the place in the queue, and returns the lease if it was granted since;
   * a token released or cancelled in the last {@linkcode TOMBSTONE_MS}
   * answers `"gone"` and is never granted.
   *
   * @param request Token, mode, lease length and wait.
   * @returns The grant, or why there is none yet.
   */
  acquire(request: LockAcquireRequest): Promise<LockAcquireReply> {
    const checked = checkAcquireRequest(request);
    const { token, leaseMs, owner } = checked;
    const shared = checked.mode === "shared";
    const permits = checked.permits ?? 1;
    const capacity = checked.capacity ?? 0;
    const waitMs = Math.min(checked.waitMs, MAX_WAIT_MS);
    const priority = checked.priority ?? 0;
    const now = Date.now();
    this.#expire(now);
    this.#handoff(now);
    if (this.#gone(token, now)) {
      return Promise.resolve({ ok: false, reason: "gone" });
    }
    const held = this.#held(token);
    if (held !== undefined) {
      return Promise.resolve({
        ok: true,
        fence: held.fence,
        leaseMs: held.expires_at - now,
        ...(this.#fromQueue.has(token) ? { waited: true } : {}),
      });
    }
    // Capacity travels with each request: one that disagrees with the
    // name's holders and waiters is refused; an idle name takes a new one.
    const counts = this.#holderCounts();
    const current = this.#capacity(now, counts);
    if (current !== undefined && current !== capacity) {
      return Promise.resolve({
        ok: false,
        reason: "capacity",
        capacity: current,
      });
    }
    let waiter = this.#queue.find((w) => w.token === token);
    const first = this.#queue.length === 0 || this.#queue[0] === waiter;
    if (first && this.#fits(shared, permits, capacity, counts)) {
      if (waiter !== undefined) this.#queue.shift();
      const fence = this.#grant(
        token,
        shared,
        leaseMs,
        now,
        owner,
        permits,
        capacity,
      );
      if (shared) this.#handoff(now);
      return Promise.resolve({ ok: true, fence, leaseMs });
    }
    if (waitMs <= 0 && waiter === undefined) {
      return Promise.resolve({
        ok: false,
        reason: "busy",
        retryAfterMs: this.#retryAfter(now),
      });
    }
    if (waiter === undefined) {
      const key = (++this.#tickets - priority * 10) * 256 + priority + 100;
      waiter = {
        token,
        shared,
        permits,
        capacity,
        leaseMs,
        key,
        resolve: undefined,
        arrivedAt: now,
        timer: undefined,
        detachedUntil: 0,
        owner,
        since: now,
      };
      // Scans back from the tail, where every waiter without a priority goes.
      let at = this.#queue.length;
      while (at > 0 && this.#queue[at - 1]!.key > key) at--;
      this.#queue.splice(at, 0, waiter);
      // A shared waiter that went first may join the shared holders at once.
      if (at === 0 && shared && this.#fits(true, permits, capacity)) {
        this.#queue.shift();
        const fence = this.#grant(
          token,
          shared,
          leaseMs,
          now,
          owner,
          permits,
          capacity,
        );
        this.#handoff(now);
        return Promise.resolve({ ok: true, fence, leaseMs });
      }
      this.#armExpiry(now);
    }
    // A call that replaces an earlier one still pending ends the earlier one.
    waiter.resolve?.({ ok: false, reason: "wait", retryAfterMs: 0 });
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    const w = waiter;
    w.arrivedAt = now;
    return new Promise<LockAcquireReply>((resolve) => {
      w.resolve = resolve;
      w.timer = setTimeout(() => this.#detach(w), waitMs);
    });
  }

  /** Ends a waiter's pending call with "wait"; it keeps its place a while. */
  #detach(w: Waiter): void {
    const resolve = w.resolve;
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.resolve = undefined;
    w.timer = undefined;
    w.detachedUntil = Date.now() + REJOIN_MS;
    resolve?.({
      ok: false,
      reason: "wait",
      retryAfterMs: this.#retryAfter(Date.now()),
    });
  }

  /** Takes `token` out of the queue; its pending call answers "cancelled". */
  #dequeue(token: string): void {
    const index = this.#queue.findIndex((w) => w.token === token);
    if (index < 0) return;
    const [w] = this.#queue.splice(index, 1);
    if (w!.timer !== undefined) clearTimeout(w!.timer);
    w!.resolve?.({ ok: false, reason: "cancelled", retryAfterMs: 0 });
  }

  /**
   * Ends the lease (or the waiter) `token`, remembers the token for
   * {@linkcode TOMBSTONE_MS} so that a late acquire for it is refused, and
   * hands the lock over. Idempotent.
   *
   * @param token The lease's token.
   * @returns Whether this call released a lease.
   */
  release(token: string): ReleaseReply {
    checkToken(token);
    const now = Date.now();
    this.#expire(now);
    const released = this.#schema(false) && this.#sql.exec(
          "DELETE FROM holders WHERE token = ?",
          token,
        ).rowsWritten > 0;
    this.#dequeue(token);
    this.#fromQueue.delete(token);
    this.#bury(token, now);
    this.#handoff(now);
    return { released };
  }

  /**
   * Sets the lease `token` holds to end `leaseMs` after this call arrives,
   * unless a call with the same or a higher `seq` was applied first (a
   * renewal and an extend that crossed on the way): then it changes nothing.
   * A lease that ended is never revived.
   *
   * @param token The lease's token.
   * @param leaseMs The new length, from now.
   * @param seq This call's place among the lease's extends (optional).
   * @returns Whether the lease is held, and how long it now runs.
   */
  extend(
    token: string,
    leaseMs: number,
    seq?: number,
  ): ExtendReply & { leaseMs: number } {
    checkExtendRequest({ token, leaseMs, seq });
    const now = Date.now();
    this.#expire(now);
    const held = this.#held(token);
    if (held === undefined) {
      return this.#wasStolen(token, now)
        ? { ok: false, leaseMs: 0, stolen: true }
        : { ok: false, leaseMs: 0 };
    }
    if (seq !== undefined && held.seq !== null && seq <= held.seq) {
      return { ok: true, leaseMs: held.expires_at - now };
    }
    this.#sql.exec(
      "UPDATE holders SET expires_at = ?, seq = COALESCE(?, seq) WHERE token = ?",
      now + leaseMs,
      seq ?? null,
      token,
    );
    this.#armExpiry(now);
    this.#armAlarm(now, now + leaseMs + TOMBSTONE_MS);
    return { ok: true, leaseMs };
  }

  /**
   * Takes the lock for `request.token` at once (`acquire({ steal: true })`
   * of the client): every holder's lease ends now, its tombstone marked
   * stolen (its renewal then answers `stolen: true`, its release ends
   * nothing), and the token is granted ahead of the queue, with a fence
   * above every earlier one; the waiters keep their places. Idempotent: a
   * token that holds already gets its lease back, revoking nobody again,
   * and a tombstoned one `"gone"`.
   *
   * @param request Token, lease length and owner; `mode` must be exclusive.
   * @returns The grant, or `"gone"`.
   */
  steal(request: LockAcquireRequest): LockAcquireReply {
    const checked = checkAcquireRequest(request);
    if (checked.mode !== "exclusive") {
      throw new ProtocolError(
        STATUS.badRequest,
        `'mode' must be "exclusive" to steal: current value is "${checked.mode}"`,
      );
    }
    const { token, leaseMs, owner } = checked;
    const now = Date.now();
    // No handoff first: a waiter let in by an expired lease would be
    // granted (and told) only to be revoked by this steal at once.
    this.#expire(now);
    if (this.#gone(token, now)) return { ok: false, reason: "gone" };
    const held = this.#held(token);
    if (held !== undefined) {
      return { ok: true, fence: held.fence, leaseMs: held.expires_at - now };
    }
    this.#revokeHolders(now);
    this.#dequeue(token);
    const fence = this.#grant(token, false, leaseMs, now, owner, 1, 0);
    return { ok: true, fence, leaseMs };
  }

  /** Ends every lease now, each remembered as stolen. */
  #revokeHolders(now: number): void {
    if (!this.#schema(false)) return;
    const tokens = this.#sql.exec<{ token: string }>(
      "DELETE FROM holders RETURNING token",
    ).toArray();
    for (const { token } of tokens) {
      this.#sql.exec(
        "INSERT OR REPLACE INTO tombstones (token, until, stolen) VALUES (?, ?, 1)",
        token,
        now + TOMBSTONE_MS,
      );
    }
    if (tokens.length > 0) this.#armAlarm(now, now + TOMBSTONE_MS);
  }

  /** Whether `token`'s lease was ended by a steal (in the last TOMBSTONE_MS). */
  #wasStolen(token: string, now: number): boolean {
    return this.#schema(false) && this.#sql.exec(
          "SELECT 1 FROM tombstones WHERE token = ? AND until > ? AND stolen = 1",
          token,
          now,
        ).toArray().length > 0;
  }

  /**
   * Takes `token` out of the queue (its pending call answers "cancelled")
   * and remembers it for {@linkcode TOMBSTONE_MS}, also when the object has
   * not seen it yet: a cancel may overtake its acquire, which then answers
   * `"gone"`.
   *
   * @param token The waiter's token.
   * @returns `held: true` if it was granted first: release it then.
   */
  cancel(token: string): CancelReply {
    checkToken(token);
    const now = Date.now();
    this.#expire(now);
    const held = this.#held(token) !== undefined;
    this.#dequeue(token);
    this.#bury(token, now);
    this.#handoff(now);
    return { held };
  }

  /**
   * The lock's state by the object's clock.
   *
   * @returns How many leases hold it and how many waiters queue.
   */
  status(): StatusReply {
    const now = Date.now();
    this.#expire(now);
    this.#handoff(now);
    const held = this.#holderCounts();
    const capacity = this.#capacity(now);
    // A lock's status stays as it was: a semaphore's adds its permits.
    return {
      holders: held.all,
      waiters: this.#queue.length,
      ...(capacity === undefined || capacity === 0
        ? {}
        : { permits: held.permits, capacity }),
    };
  }

  /**
   * Who holds the lock and who waits for it, by the object's clock.
   *
   * @returns The held leases (by fence) and the waiters (in queue order).
   */
  query(): LockQueryReply {
    const now = Date.now();
    this.#expire(now);
    this.#handoff(now);
    const held = !this.#schema(false) ? [] : this.#sql.exec<{
      shared: number;
      fence: number;
      owner: string | null;
      granted_at: number | null;
      permits: number | null;
    }>(
      "SELECT shared, fence, owner, granted_at, permits FROM holders ORDER BY fence",
    ).toArray().map((h) => ({
      mode: h.shared ? "shared" as const : "exclusive" as const,
      fence: h.fence,
      ageMs: h.granted_at === null ? 0 : Math.max(0, now - h.granted_at),
      ...(h.owner === null ? {} : { owner: h.owner }),
      // A semaphore's entries say their permits; a lock's stay as they were.
      ...(h.permits === null ? {} : { permits: h.permits }),
    }));
    const pending = this.#queue
      .filter((w) => w.resolve !== undefined || w.detachedUntil > now)
      .map((w) => ({
        mode: w.shared ? "shared" as const : "exclusive" as const,
        ageMs: Math.max(0, now - w.since),
        ...(w.owner === undefined ? {} : { owner: w.owner }),
        ...(w.capacity === 0 ? {} : { permits: w.permits }),
      }));
    return { held, pending };
  }

  /**
   * Opens a WebSocket to this object (the lock service forwards an
   * authorized `GET /v1/locks/{name}/socket` here). Each message is one call
   * as JSON, `{ id, op, ...fields }` with the fields of the HTTP body; each
   * answer is `{ id, ...answer }`, or `{ id, status, error }`. The upgrade's
   * `call` query parameter, if any, is the first call, so that an acquire
   * which opens the socket is still one request. A waiter's grant travels
   * over its socket: no new request on either side of the service.
   *
   * @param request The upgrade request.
   * @returns The switching-protocols response.
   */
  fetch(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Expected a WebSocket upgrade", {
        status: STATUS.upgradeRequired,
      });
    }
    const pair = new WebSocketPair();
    this.#ctx.acceptWebSocket(pair[1]);
    const offered = request.headers.get("sec-websocket-protocol") ?? "";
    const first = new URL(request.url).searchParams.get("call");
    if (first !== null) void this.webSocketMessage(pair[1], first);
    return new Response(null, {
      status: 101,
      webSocket: pair[0],
      headers: offered.split(",").some((p) => p.trim() === SOCKET_PROTOCOL)
        ? { "sec-websocket-protocol": SOCKET_PROTOCOL }
        : {},
    } as ResponseInit);
  }

  /**
   * The tokens socket `ws` holds or waits for, with room for `token`: past
   * {@linkcode MAX_SOCKET_TOKENS} (once the lapsed ones are forgotten) a new
   * token is refused.
   */
  #owned(ws: WebSocket, token: string): Set<string> {
    const owned = this.#socketTokens.get(ws) ?? new Set<string>();
    this.#socketTokens.set(ws, owned);
    if (!owned.has(token) && owned.size >= MAX_SOCKET_TOKENS) {
      this.#expire(Date.now());
      this.#prune(owned);
      if (owned.size >= MAX_SOCKET_TOKENS) {
        throw new ProtocolError(
          STATUS.tooManyCalls,
          `One socket may hold or wait for at most ${MAX_SOCKET_TOKENS} tokens at once: release or cancel some first, or call over another socket or HTTP`,
        );
      }
    }
    return owned;
  }

  /** Forgets the tokens of `owned` that no longer hold or wait. */
  #prune(owned: Set<string>): void {
    for (const token of owned) {
      if (
        this.#queue.every((w) => w.token !== token) &&
        this.#held(token) === undefined
      ) owned.delete(token);
    }
  }

  /**
   * Answers one call on a socket. A message longer than
   * {@linkcode MAX_MESSAGE_BYTES} in UTF-8 is refused before it is parsed;
   * one socket may hold or wait for at most {@linkcode MAX_SOCKET_TOKENS}
   * tokens at once.
   *
   * @param ws The socket.
   * @param message `{ id, op, ...fields }` as JSON.
   */
  async webSocketMessage(
    ws: WebSocket,
    message: string | ArrayBuffer,
  ): Promise<void> {
    let id: unknown;
    const answer = (body: object) => {
      try {
        ws.send(JSON.stringify({ id, ...body }));
      } catch { /* closed: the client calls again with its token */ }
    };
    try {
      const size = typeof message === "string"
        ? overBytes(message, MAX_MESSAGE_BYTES)
        : message.byteLength > MAX_MESSAGE_BYTES;
      if (size) {
        if (typeof message === "string") id = leadingId(message);
        throw new ProtocolError(
          STATUS.tooLarge,
          `A message must be at most ${MAX_MESSAGE_BYTES} bytes of UTF-8`,
        );
      }
      if (typeof message !== "string") {
        throw new ProtocolError(
          STATUS.badRequest,
          "A message must be JSON text",
        );
      }
      let call: Record<string, unknown>;
      try {
        call = JSON.parse(message);
      } catch {
        throw new ProtocolError(
          STATUS.badRequest,
          "The message is not valid JSON",
        );
      }
      if (call === null || typeof call !== "object" || Array.isArray(call)) {
        throw new ProtocolError(
          STATUS.badRequest,
          "The message must be a JSON object",
        );
      }
      id = call.id;
      const token = call.token as string;
      switch (call.op) {
        case "acquire": {
          const request = checkAcquireRequest(call);
          const owned = this.#owned(ws, token);
          owned.add(token);
          const waits = this.#socketWaits.get(ws) ?? new Set<string>();
          this.#socketWaits.set(ws, waits);
          waits.add(token);
          try {
            const reply = await this.acquire(request);
            if (!reply.ok && reply.reason !== "wait") owned.delete(token);
            return answer(reply);
          } finally {
            waits.delete(token);
          }
        }
        case "steal": {
          const request = checkAcquireRequest(call);
          const owned = this.#owned(ws, token);
          const reply = this.steal(request);
          if (reply.ok) owned.add(token);
          return answer(reply);
        }
        case "release":
          this.#socketTokens.get(ws)?.delete(token);
          return answer(this.release(token));
        case "extend":
          return answer(
            this.extend(
              token,
              call.leaseMs as number,
              call.seq as number | undefined,
            ),
          );
        case "cancel":
          this.#socketTokens.get(ws)?.delete(token);
          return answer(this.cancel(token));
        case "status":
          return answer(this.status());
        case "query":
          return answer(this.query());
        default:
          throw new ProtocolError(
            STATUS.badRequest,
            `'op' must be ${LOCK_OPS.join(", ")}: current value is ${
              JSON.stringify(call.op) ?? "missing"
            }`,
          );
      }
    } catch (error) {
      answer(
        error instanceof ProtocolError
          ? { status: error.status, error: error.message }
          : error instanceof TypeError
          ? { status: STATUS.badRequest, error: error.message }
          : {
            status: STATUS.unavailable,
            error: String(error),
            retryable: true,
          },
      );
    }
  }

  /**
   * A closed socket's waiters keep their places a while, like a long-poll
   * that ended: their client calls again with the same tokens.
   *
   * @param ws The socket.
   * @param code The close code.
   */
  webSocketClose(ws: WebSocket, code: number): void {
    const waits = this.#socketWaits.get(ws);
    this.#socketWaits.delete(ws);
    this.#socketTokens.delete(ws);
    for (const w of this.#queue) {
      if (waits?.has(w.token)) this.#detach(w);
    }
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code);
    } catch { /* already closed */ }
  }

  /**
   * Like a close.
   *
   * @param ws The socket.
   */
  webSocketError(ws: WebSocket): void {
    this.webSocketClose(ws, 1011);
  }
}
