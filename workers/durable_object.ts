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
  readonly storage: { readonly sql: SqlStorageLike };
  /** Takes the server end of a WebSocket (the hibernation API). */
  acceptWebSocket(ws: WebSocket): void;
}

/** workerd's pair of connected WebSockets. */
declare const WebSocketPair: new () => { 0: WebSocket; 1: WebSocket };

/** The subprotocol of the lock service's WebSocket. */
const SOCKET_PROTOCOL = "unilock.v1";

/** The longest message a socket reads, like an HTTP body. */
const MAX_MESSAGE_BYTES = 4096;

/** The request of {@linkcode LockDurableObject.acquire}. */
export interface LockAcquireRequest {
  /** The client-made token that names this acquisition (and its lease). */
  token: string;
  /** `"exclusive"` or `"shared"`. */
  mode: "exclusive" | "shared";
  /** The lease length, in ms. */
  leaseMs: number;
  /** How long this call may wait, in ms; capped at {@linkcode MAX_WAIT_MS}. */
  waitMs: number;
  /**
   * Where the waiter queues: an integer from -100 to 100, higher first, aged
   * so that nobody starves (the queue is ordered by `ticket - priority * 10`;
   * see `AcquireOptions.priority`). Only the first call that queues counts.
   */
  priority?: number;
  /** Who is acquiring, as a label shown by `query()`: 1 to 256 characters. */
  owner?: string;
}

/** One held or pending request in a {@linkcode LockQueryReply}. */
export interface LockQueryEntry {
  /** `"exclusive"` or `"shared"`. */
  mode: "exclusive" | "shared";
  /** The lease's fence; held entries only. */
  fence?: number;
  /** How long it has been held or pending, in ms, by the object's clock. */
  ageMs: number;
  /** The acquisition's owner label, if it gave one. */
  owner?: string;
}

/** The answer of {@linkcode LockDurableObject.query}. */
export interface LockQueryReply {
  /** The leases that hold the lock, by fence. */
  held: LockQueryEntry[];
  /** The waiters, in queue order. */
  pending: LockQueryEntry[];
}

/** The answer of {@linkcode LockDurableObject.acquire}. */
export type LockAcquireReply =
  | {
    ok: true;
    fence: number;
    /**
     * How long the lease runs, counted from when this call reached the
     * object: a client reckons its lease from when it sent the call, so a
     * late reply cannot make it believe in a lease that already ended.
     */
    leaseMs: number;
    /** True when the grant came from the queue (the caller waited). */
    waited?: boolean;
  }
  | {
    ok: false;
    /** busy: not granted and not queued; wait: still queued, call again with the same token; cancelled: taken out of the queue. */
    reason: "busy" | "wait" | "cancelled";
    /** When the first holder's lease ends, in ms from now (0 if unknown). */
    retryAfterMs: number;
  };

/** The longest one acquire call waits; clients call again with the same token. */
export const MAX_WAIT_MS = 25_000;

/** How long a waiter whose call ended keeps its place for the next call. */
const REJOIN_MS = 10_000;

interface Waiter {
  token: string;
  shared: boolean;
  leaseMs: number;
  /** The place in the queue, lowest first: `(ticket - priority * 10) * 256 + priority + 100`. */
  key: number;
  /** The pending call, if the client is waiting on one now. */
  resolve: ((reply: LockAcquireReply) => void) | undefined;
  /** When the pending call reached the object. */
  arrivedAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** While no call is pending: when the waiter loses its place. */
  detachedUntil: number;
  owner: string | undefined;
  /** When it joined the queue, by the object's clock. */
  since: number;
}

/** Checks an RPC argument the way a stranger's HTTP body must be checked. */
function fail(message: string): never {
  throw new TypeError(message);
}

function checkToken(token: unknown): string {
  if (typeof token !== "string" || token.length < 8 || token.length > 128) {
    fail(`'token' must be a string of 8 to 128 characters`);
  }
  return token;
}

function checkOwner(owner: unknown): string | undefined {
  if (
    owner !== undefined &&
    (typeof owner !== "string" || owner.length < 1 || owner.length > 256)
  ) {
    fail(`'owner' must be a string of 1 to 256 characters`);
  }
  return owner;
}

function checkMs(name: string, value: unknown, min: number, max: number) {
  if (typeof value !== "number" || !(value >= min && value <= max)) {
    fail(`'${name}' must be a number from ${min} to ${max}`);
  }
  return value;
}

/**
 * One lock name's state and waiters. Its methods are the RPC interface that
 * the `durable-object` lock client and the HTTP lock service call.
 */
export class LockDurableObject extends DurableObject {
  #ctx: LockDurableObjectState;
  #sql: SqlStorageLike;
  #queue: Waiter[] = [];
  #tickets = 0;
  /** The tokens each socket is waiting on now, to detach them if it closes. */
  #socketWaits = new Map<WebSocket, Set<string>>();
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Constructs the object and its tables.
   *
   * @param ctx The object's state.
   * @param env The Worker's bindings.
   */
  constructor(ctx: LockDurableObjectState, env: unknown) {
    super(ctx as never, env as never);
    this.#ctx = ctx;
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS holders (
      token TEXT PRIMARY KEY,
      shared INTEGER NOT NULL,
      fence INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    )`);
    // The fence counter: one row, never deleted, never decreased.
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), fence INTEGER NOT NULL)",
    );
    this.#sql.exec("INSERT OR IGNORE INTO counter (id, fence) VALUES (1, 0)");
    // For query(): who holds, since when. Added to tables of objects made
    // before the columns existed; an existing column makes ALTER throw.
    for (const column of ["owner TEXT", "granted_at INTEGER"]) {
      try {
        this.#sql.exec(`ALTER TABLE holders ADD COLUMN ${column}`);
      } catch { /* already there */ }
    }
  }

  #expire(now: number): void {
    this.#sql.exec("DELETE FROM holders WHERE expires_at <= ?", now);
  }

  #holderCounts(): { all: number; exclusive: number } {
    const row = this.#sql.exec<{ all: number; exclusive: number }>(
      "SELECT COUNT(*) AS [all], COALESCE(SUM(shared = 0), 0) AS exclusive FROM holders",
    ).one();
    return { all: row.all, exclusive: row.exclusive };
  }

  #free(shared: boolean): boolean {
    const { all, exclusive } = this.#holderCounts();
    return shared ? exclusive === 0 : all === 0;
  }

  #grant(
    token: string,
    shared: boolean,
    leaseMs: number,
    now: number,
    owner?: string,
  ) {
    // The clock floor (µs) keeps fences rising even if storage were reset.
    const fence = this.#sql.exec<{ fence: number }>(
      "UPDATE counter SET fence = MAX(fence + 1, ?) WHERE id = 1 RETURNING fence",
      now * 1000,
    ).one().fence;
    this.#sql.exec(
      "INSERT INTO holders (token, shared, fence, expires_at, owner, granted_at) VALUES (?, ?, ?, ?, ?, ?)",
      token,
      shared ? 1 : 0,
      fence,
      now + leaseMs,
      owner ?? null,
      now,
    );
    this.#armExpiry(now);
    return fence;
  }

  #firstExpiry(): number | undefined {
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

  /** Grants the lock to waiters at the head of the queue while modes allow. */
  #handoff(now: number): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      if (head.resolve === undefined && head.detachedUntil <= now) {
        this.#queue.shift(); // gone without coming back
        continue;
      }
      if (!this.#free(head.shared)) break;
      this.#queue.shift();
      const fence = this.#grant(
        head.token,
        head.shared,
        head.leaseMs,
        now,
        head.owner,
      );
      if (head.timer !== undefined) clearTimeout(head.timer);
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
   * the place in the queue, and returns the lease if it was granted since.
   *
   * @param request Token, mode, lease length and wait.
   * @returns The grant, or why there is none yet.
   */
  acquire(request: LockAcquireRequest): Promise<LockAcquireReply> {
    const token = checkToken(request?.token);
    if (request.mode !== "exclusive" && request.mode !== "shared") {
      fail(`'mode' must be "exclusive" or "shared"`);
    }
    const shared = request.mode === "shared";
    const leaseMs = checkMs("leaseMs", request.leaseMs, 100, 2_073_600_000);
    const waitMs = Math.min(
      checkMs("waitMs", request.waitMs, 0, 2_147_483_647),
      MAX_WAIT_MS,
    );
    const priority = request.priority ?? 0;
    if (
      !Number.isInteger(priority) || priority < -100 || priority > 100
    ) fail(`'priority' must be an integer from -100 to 100`);
    const owner = checkOwner(request.owner);
    const now = Date.now();
    this.#expire(now);
    this.#handoff(now);
    const held = this.#sql.exec<{ fence: number; expires_at: number }>(
      "SELECT fence, expires_at FROM holders WHERE token = ?",
      token,
    ).toArray()[0];
    if (held !== undefined) {
      return Promise.resolve({
        ok: true,
        fence: held.fence,
        leaseMs: held.expires_at - now,
      });
    }
    let waiter = this.#queue.find((w) => w.token === token);
    const first = this.#queue.length === 0 || this.#queue[0] === waiter;
    if (first && this.#free(shared)) {
      if (waiter !== undefined) this.#queue.shift();
      const fence = this.#grant(token, shared, leaseMs, now, owner);
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
      if (at === 0 && shared && this.#free(true)) {
        this.#queue.shift();
        const fence = this.#grant(token, shared, leaseMs, now, owner);
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

  /**
   * Ends the lease `token` holds, and hands the lock over. Idempotent.
   *
   * @param token The lease's token.
   * @returns Whether this call released a lease.
   */
  release(token: string): { released: boolean } {
    checkToken(token);
    const now = Date.now();
    this.#expire(now);
    const released = this.#sql.exec(
      "DELETE FROM holders WHERE token = ?",
      token,
    ).rowsWritten > 0;
    this.#handoff(now);
    return { released };
  }

  /**
   * Sets the lease `token` holds to end `leaseMs` from now.
   *
   * @param token The lease's token.
   * @param leaseMs The new length, from now.
   * @returns Whether the lease was still held.
   */
  extend(token: string, leaseMs: number): { ok: boolean } {
    checkToken(token);
    checkMs("leaseMs", leaseMs, 100, 2_073_600_000);
    const now = Date.now();
    this.#expire(now);
    const ok = this.#sql.exec(
      "UPDATE holders SET expires_at = ? WHERE token = ?",
      now + leaseMs,
      token,
    ).rowsWritten > 0;
    this.#armExpiry(now);
    return { ok };
  }

  /**
   * Takes `token` out of the queue (its pending call answers "cancelled").
   *
   * @param token The waiter's token.
   * @returns `held: true` if it was granted first: release it then.
   */
  cancel(token: string): { held: boolean } {
    checkToken(token);
    const now = Date.now();
    this.#expire(now);
    const held = this.#sql.exec(
      "SELECT 1 FROM holders WHERE token = ?",
      token,
    ).toArray().length > 0;
    const index = this.#queue.findIndex((w) => w.token === token);
    if (index >= 0) {
      const [w] = this.#queue.splice(index, 1);
      if (w!.timer !== undefined) clearTimeout(w!.timer);
      w!.resolve?.({ ok: false, reason: "cancelled", retryAfterMs: 0 });
    }
    this.#handoff(now);
    return { held };
  }

  /**
   * The lock's state by the object's clock.
   *
   * @returns How many leases hold it and how many waiters queue.
   */
  status(): { holders: number; waiters: number } {
    const now = Date.now();
    this.#expire(now);
    this.#handoff(now);
    return { holders: this.#holderCounts().all, waiters: this.#queue.length };
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
    const held = this.#sql.exec<{
      shared: number;
      fence: number;
      owner: string | null;
      granted_at: number | null;
    }>(
      "SELECT shared, fence, owner, granted_at FROM holders ORDER BY fence",
    ).toArray().map((h) => ({
      mode: h.shared ? "shared" as const : "exclusive" as const,
      fence: h.fence,
      ageMs: h.granted_at === null ? 0 : Math.max(0, now - h.granted_at),
      ...(h.owner === null ? {} : { owner: h.owner }),
    }));
    const pending = this.#queue
      .filter((w) => w.resolve !== undefined || w.detachedUntil > now)
      .map((w) => ({
        mode: w.shared ? "shared" as const : "exclusive" as const,
        ageMs: Math.max(0, now - w.since),
        ...(w.owner === undefined ? {} : { owner: w.owner }),
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
      return new Response("Expected a WebSocket upgrade", { status: 426 });
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
   * Answers one call on a socket.
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
      if (typeof message !== "string") fail("A message must be JSON text");
      let call: Record<string, unknown>;
      try {
        call = JSON.parse(message);
      } catch {
        fail("The message is not valid JSON");
      }
      if (call === null || typeof call !== "object") {
        fail("The message must be a JSON object");
      }
      id = call.id;
      if (message.length > MAX_MESSAGE_BYTES) {
        return answer({
          status: 413,
          error: `A message must be at most ${MAX_MESSAGE_BYTES} bytes`,
        });
      }
      const token = call.token as string;
      switch (call.op) {
        case "acquire": {
          const waits = this.#socketWaits.get(ws) ?? new Set<string>();
          this.#socketWaits.set(ws, waits);
          waits.add(token);
          try {
            return answer(
              await this.acquire({
                ...(call as unknown as LockAcquireRequest),
                mode: (call.mode ?? "exclusive") as "exclusive" | "shared",
                waitMs: (call.waitMs ?? 0) as number,
              }),
            );
          } finally {
            waits.delete(token);
          }
        }
        case "release":
          return answer(this.release(token));
        case "extend":
          return answer(this.extend(token, call.leaseMs as number));
        case "cancel":
          return answer(this.cancel(token));
        case "status":
          return answer(this.status());
        case "query":
          return answer(this.query());
        default:
          fail(
            `'op' must be acquire, release, extend, cancel, status or query: current value is ${
              JSON.stringify(call.op) ?? "missing"
            }`,
          );
      }
    } catch (error) {
      answer(
        error instanceof TypeError
          ? { status: 400, error: error.message }
          : { status: 503, error: String(error), retryable: true },
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
