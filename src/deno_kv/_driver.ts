// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The `deno-kv` backend as a driver of the remote-lock core. Each
 * operation reads what it needs (one `getMany`, and the head of the queue
 * when a grant may follow), decides with the rule of `_state.ts`, and
 * writes in one atomic commit that checks the versionstamp of every record
 * it read and acts on; a commit that finds one changed is recomputed from a
 * fresh read. So no two clients ever act on one version of the lock, and
 * nothing but atomic commits changes it.
 *
 * Whoever commits settles the queue (grants its head while modes allow), as
 * the Upstash scripts do: a release hands the lock to the next waiter in
 * the same commit, and the waiter finds its grant by reading — at once
 * through `watch()` within this process, within `pollMs` from others.
 *
 * Leases are checked against the client's clock on every operation (KV has
 * no server clock; `expireIn` only lets the database collect a record, no
 * sooner than asked, and is never relied on to end anything).
 */

import type { LockInfo, LockSnapshot } from "../core/types.ts";
import type {
  RemoteAcquireReply,
  RemoteDriver,
  RemoteExtendReply,
  RemoteStatus,
  RemoteWatch,
} from "../remote/driver.ts";
import {
  type DenoKvAtomicLike,
  type DenoKvEntryLike,
  type DenoKvKey,
  type DenoKvLike,
  DenoKvRequestError,
} from "./_kv.ts";
import { openKvAt } from "./_open.ts";
import {
  decodeIndex,
  decodeState,
  decodeTomb,
  decodeWaiter,
  encode,
  type Holder,
  type InLine,
  type Key,
  type Keys,
  keysFor,
  MalformedRecord,
  modeOf,
  nextFence,
  placeOf,
  settle,
  type State,
  type Tomb,
  usedPermits,
  type Waiter,
} from "./_state.ts";
import { watchState } from "./_watch.ts";

/** Options for {@linkcode denoKvDriver}, checked by the lock class. */
export interface DenoKvDriverOptions {
  readonly name: string;
  /** A handle, or the path (or URL) to open. */
  readonly kv: DenoKvLike | string;
  readonly prefix: string;
  readonly waiterTtlMs: number;
  readonly pollMs: number;
  /** Whether it serves a semaphore (its query entries carry permits). */
  readonly semaphore?: boolean;
}

/** The shortest lease, in ms. */
const MIN_LEASE_MS = 100;
/** How long a tombstone refuses its token: the contract's minimum. */
const TOMB_MS = 60_000;
/** How far past its use a record may linger before KV collects it. */
const GC_GRACE_MS = 60_000;
/** Queue entries read per settle: at most this many grants per commit. */
const LINE_LIMIT = 32;
/** Expired holders buried per commit (each is a tombstone write). */
const BURY_LIMIT = 200;
/** How many conflicting commits in a row an operation takes. */
const MAX_CONFLICTS = 64;
/**
 * How long an operation waits for this process's previous one on the same
 * lock before it goes anyway: turns only spare commits that would conflict,
 * and correctness never depends on them.
 */
const TURN_GRACE_MS = 1_000;

const AGAIN = Symbol("again");
type Again = typeof AGAIN;

/** A commit being assembled: checks, writes, deletes. */
class Batch {
  #checks = new Map<string, { key: Key; versionstamp: string | null }>();
  #sets = new Map<string, { key: Key; value: Uint8Array; expireIn?: number }>();
  #deletes = new Map<string, Key>();

  check(key: Key, versionstamp: string | null): this {
    this.#checks.set(JSON.stringify(key), { key, versionstamp });
    return this;
  }

  set(key: Key, value: unknown, expireIn?: number): this {
    const id = JSON.stringify(key);
    this.#deletes.delete(id);
    this.#sets.set(id, {
      key,
      value: encode(value),
      ...(expireIn === undefined ? {} : { expireIn: Math.ceil(expireIn) }),
    });
    return this;
  }

  delete(key: Key): this {
    const id = JSON.stringify(key);
    this.#sets.delete(id);
    this.#deletes.set(id, key);
    return this;
  }

  get empty(): boolean {
    return this.#sets.size === 0 && this.#deletes.size === 0;
  }

  /** Commits; false when a check failed (someone else changed a record). */
  async commit(kv: DenoKvLike): Promise<boolean> {
    let op: DenoKvAtomicLike = kv.atomic();
    for (const c of this.#checks.values()) op = op.check(c);
    for (const s of this.#sets.values()) {
      op = op.set(
        s.key,
        s.value,
        s.expireIn === undefined ? undefined : { expireIn: s.expireIn },
      );
    }
    for (const key of this.#deletes.values()) op = op.delete(key);
    const result = await op.commit();
    return result?.ok === true;
  }
}

/** Turns of this process's operations on one lock, per KV handle. */
const turns = new WeakMap<DenoKvLike, Map<string, Promise<void>>>();

async function inTurn<T>(
  kv: DenoKvLike,
  id: string,
  signal: AbortSignal,
  fn: () => Promise<T>,
): Promise<T> {
  let byLock = turns.get(kv);
  if (byLock === undefined) turns.set(kv, byLock = new Map());
  const previous = byLock.get(id) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  byLock.set(id, tail);
  try {
    await waitFor(previous, TURN_GRACE_MS, signal);
    if (signal.aborted) throw signal.reason;
    return await fn();
  } finally {
    done();
    void tail.then(() => {
      if (byLock!.get(id) === tail) byLock!.delete(id);
    });
  }
}

/** Waits for `promise`, at most `ms`, and no longer than `signal` lasts. */
function waitFor(
  promise: Promise<void>,
  ms: number,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    const end = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", end);
      resolve();
    };
    const timer = setTimeout(end, ms);
    signal.addEventListener("abort", end);
    promise.then(end, end);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function emptyState(): State {
  return { f: 0, n: 0, c: 0, h: [] };
}

/**
 * Whether the lock listens on `kv.watch()`: only on a `Deno.Kv`. The
 * `@deno/kv` package's watch (0.14.0, measured) keeps a Node process alive
 * after its stream is cancelled and the handle closed, and at times
 * crashes it instead with an uncaught "watch not found" from its own
 * stream: a lock must do neither, so its waiters poll there.
 */
function watchable(kv: DenoKvLike): boolean {
  const Kv = (globalThis as { Deno?: { Kv?: abstract new () => unknown } })
    .Deno?.Kv;
  return typeof kv.watch === "function" && typeof Kv === "function" &&
    kv instanceof Kv;
}

/** SQLite's "database is locked" (or busy): another process is writing. */
function isBusy(error: unknown): boolean {
  return error instanceof Error &&
    /database is (locked|busy)|SQLITE_BUSY/i.test(error.message);
}

/**
 * Each state a watch brings is decoded once for all of this process's
 * waiters (every listener is handed the same value).
 */
const decoded = new WeakMap<object, State | undefined>();

function decodedOnce(raw: unknown): State | undefined {
  if (raw === null || typeof raw !== "object") return undefined;
  if (decoded.has(raw)) return decoded.get(raw);
  let state: State | undefined;
  try {
    state = decodeState(raw);
  } catch {
    state = undefined;
  }
  decoded.set(raw, state);
  return state;
}

/** What one operation read of the lock. */
interface Read {
  now: number;
  state: State;
  /** The state's versionstamp (`null`: no state yet). */
  stamp: string | null;
  batch: Batch;
  /** Whether the state changed (it is written, with its check). */
  dirty: boolean;
  /** Tokens whose leases ran out, buried by this operation. */
  expired: Map<string, Holder>;
}

/**
 * The Deno KV driver for the lock `options.name`: what
 * {@linkcode RemoteLock} needs of Deno KV.
 *
 * @param options The checked options.
 * @returns The driver.
 */
export function denoKvDriver(options: DenoKvDriverOptions): RemoteDriver {
  const { name, prefix, waiterTtlMs, pollMs, semaphore = false } = options;
  const keys: Keys = keysFor(prefix, name);
  const turnId = JSON.stringify([prefix, name]);
  const handle: DenoKvLike | undefined = typeof options.kv === "string"
    ? undefined
    : options.kv;
  const path = typeof options.kv === "string" ? options.kv : undefined;
  // A path is looked up on every operation: its file may have been
  // deleted and made anew, and then this lock must use the new one.
  const connect = async (): Promise<DenoKvLike> =>
    handle ?? await openKvAt(path!);
  /** Where this process queued its tokens (saves a read per poll). */
  const places = new Map<string, number>();
  /** Watched tokens: when their latest acquire call started (wall clock). */
  const calls = new Map<string, number>();

  /** Runs `body` in turn, again from a fresh read while commits conflict. */
  const transact = async <T>(
    what: string,
    signal: AbortSignal,
    body: (kv: DenoKvLike) => Promise<T | Again>,
  ): Promise<T> => {
    const kv = await connect();
    return await inTurn(kv, turnId, signal, async () => {
      for (let attempt = 1;; attempt++) {
        if (signal.aborted) throw signal.reason;
        let result: T | Again;
        try {
          result = await body(kv);
        } catch (error) {
          // Another process holds SQLite's write lock past its busy
          // timeout: like a conflict, it passes.
          if (!isBusy(error) || attempt >= MAX_CONFLICTS) throw error;
          result = AGAIN;
        }
        if (result !== AGAIN) return result;
        if (attempt >= MAX_CONFLICTS) {
          throw new DenoKvRequestError(
            `${what}: ${attempt} commits in a row found the lock changed by another client, or the database busy`,
            true,
          );
        }
        // Other processes are committing: step aside a moment (jittered).
        await sleep(Math.random() * Math.min(16, attempt));
      }
    });
  };

  /** Reads the state (and `more` keys in the same request). */
  const read = async (
    kv: DenoKvLike,
    more: readonly DenoKvKey[],
  ): Promise<[Read, readonly DenoKvEntryLike[]]> => {
    const entries = await kv.getMany([keys.state, ...more]);
    if (!Array.isArray(entries) || entries.length !== more.length + 1) {
      throw new DenoKvRequestError("getMany() answered oddly", true);
    }
    const now = Date.now();
    const s = entries[0]!;
    const state = s.versionstamp === null ? emptyState() : decodeState(s.value);
    const r: Read = {
      now,
      state,
      stamp: s.versionstamp,
      batch: new Batch(),
      dirty: false,
      expired: new Map(),
    };
    bury(r);
    return [r, entries.slice(1)];
  };

  /**
   * Ends the leases that ran out: their tokens get tombstones (never
   * granted again), saying when a waiter never heard of its grant.
   */
  const bury = (r: Read): void => {
    const live: Holder[] = [];
    for (const h of r.state.h) {
      if (h.u > r.now || r.expired.size >= BURY_LIMIT) live.push(h);
      else {
        r.expired.set(h.t, h);
        const tomb: Tomb = { x: 1, f: h.f, w: h.w };
        r.batch.set(keys.tomb(h.t), tomb, TOMB_MS);
      }
    }
    if (r.expired.size > 0) {
      // (Holders past BURY_LIMIT stay in the record, and count as ended.)
      r.state.h = live;
      r.dirty = true;
    }
  };

  /** The live holders (a record past BURY_LIMIT may hold ended ones). */
  const liveHolders = (r: Read): Holder[] =>
    r.state.h.filter((h) => h.u > r.now);

  /** Reads the head of the queue: up to LINE_LIMIT entries, in order. */
  const readLine = async (
    kv: DenoKvLike,
  ): Promise<{ line: InLine[]; complete: boolean }> => {
    const line: InLine[] = [];
    let complete = true;
    for await (
      const e of kv.list({ prefix: keys.queue }, { limit: LINE_LIMIT + 1 })
    ) {
      if (line.length === LINE_LIMIT) {
        complete = false;
        break;
      }
      const place = e.key[e.key.length - 1];
      if (typeof place !== "number" || e.versionstamp === null) {
        throw new MalformedRecord("queue", "a key has no place");
      }
      line.push({
        waiter: decodeWaiter(e.value),
        place,
        versionstamp: e.versionstamp,
      });
    }
    return { line, complete };
  };

  /**
   * Settles the queue into `r`: grants its head while modes allow and
   * deletes lapsed waiters, all checked. `newcomer`, the caller's request
   * not yet queued, takes its place in line (`join`) or the end of it.
   * Returns the tokens granted.
   */
  const settleInto = async (
    kv: DenoKvLike,
    r: Read,
    opts: {
      newcomer?: InLine;
      join?: boolean;
      alive?: string;
      known?: InLine;
    } = {},
  ): Promise<Set<string>> => {
    const { newcomer, join = true, alive } = opts;
    let line: InLine[] = [];
    // Nothing can be granted while an exclusive lease is held: no need to
    // read the queue then.
    const blocked = liveHolders(r).some((h) => h.m === "x");
    let complete = r.state.c === 0;
    if (!blocked && (r.state.c > 0 || opts.known !== undefined)) {
      ({ line, complete } = await readLine(kv));
      if (complete && r.state.c !== line.length) {
        // Entries collected by KV (their waiters were gone): count again.
        r.state.c = line.length;
        r.dirty = true;
      }
    }
    const full = [...line];
    if (newcomer !== undefined) {
      // A request that may not wait never passes a queued waiter; one that
      // may takes its place in line, as far as the line read goes.
      const at = join ? full.findIndex((e) => e.place > newcomer.place) : -1;
      if (at >= 0) full.splice(at, 0, newcomer);
      else if (complete) full.push(newcomer);
    }
    if (blocked) return new Set();
    const { granted, lapsed } = settle(r.state, full, r.now, alive);
    for (const e of [...granted, ...lapsed]) {
      if (e.versionstamp === undefined) continue; // the newcomer
      r.batch.check(keys.entry(e.place), e.versionstamp)
        .delete(keys.entry(e.place))
        .delete(keys.index(e.waiter.t));
      r.state.c = Math.max(0, r.state.c - 1);
      places.delete(e.waiter.t);
    }
    if (granted.length > 0 || lapsed.length > 0) r.dirty = true;
    return new Set(granted.map((e) => e.waiter.t));
  };

  /**
   * The capacity of the name's holders and waiters (0: a lock's) when it
   * is not `wanted`; `undefined` when nobody holds or waits, so that the
   * request sets it (`"more"`: commit and look again). Waiters whose
   * heartbeat ran out do not count: they are deleted in this commit
   * (checked), so that none comes back to a name whose capacity changed.
   */
  const capacityOf = async (
    kv: DenoKvLike,
    r: Read,
    wanted: number,
  ): Promise<number | undefined | "more"> => {
    const theirs = r.state.z ?? 0;
    if (theirs === wanted || liveHolders(r).length > 0) return theirs;
    if (r.state.c === 0) return undefined;
    const { line, complete } = await readLine(kv);
    if (line.some((e) => e.waiter.h > r.now)) return theirs;
    for (const e of line) {
      r.batch.check(keys.entry(e.place), e.versionstamp!)
        .delete(keys.entry(e.place))
        .delete(keys.index(e.waiter.t));
      places.delete(e.waiter.t);
    }
    r.state.c = complete ? 0 : Math.max(0, r.state.c - line.length);
    r.dirty = true;
    return complete ? undefined : "more";
  };

  /** Commits `r` (the state with its check if it changed); false: conflict. */
  const commit = (kv: DenoKvLike, r: Read): Promise<boolean> => {
    if (r.dirty) r.batch.check(keys.state, r.stamp).set(keys.state, r.state);
    if (r.batch.empty) return Promise.resolve(true);
    return r.batch.commit(kv);
  };

  /** Reads a queued token's own entry (its index says where). */
  const ownEntry = async (
    kv: DenoKvLike,
    token: string,
    index: DenoKvEntryLike,
    cached: DenoKvEntryLike | undefined,
    cachedPlace: number | undefined,
  ): Promise<InLine | undefined> => {
    if (index.versionstamp === null) return undefined;
    const place = decodeIndex(index.value);
    const e = cachedPlace === place && cached !== undefined
      ? cached
      : (await kv.getMany([keys.entry(place)]))[0];
    if (e === undefined || e.versionstamp === null) return undefined;
    const waiter = decodeWaiter(e.value);
    if (waiter.t !== token) {
      throw new MalformedRecord("waiter", "its index points elsewhere");
    }
    return { waiter, place, versionstamp: e.versionstamp };
  };

  /**
   * Takes `token` out as a release or cancel does: its lease (`release`
   * only) or its place, and buries it; settles the queue behind it.
   */
  const remove = async (
    kv: DenoKvLike,
    token: string,
    endLease: boolean,
  ): Promise<"ended" | "held" | "removed" | Again> => {
    const [r, [index, tomb]] = await read(kv, [
      keys.index(token),
      keys.tomb(token),
    ]);
    const held = liveHolders(r).find((h) => h.t === token);
    if (held !== undefined && !endLease) return "held";
    r.batch.check(keys.index(token), index!.versionstamp);
    if (held !== undefined) {
      r.state.h = r.state.h.filter((h) => h !== held);
      r.dirty = true;
    } else if (index!.versionstamp !== null) {
      const place = decodeIndex(index!.value);
      r.batch.delete(keys.entry(place)).delete(keys.index(token));
      r.state.c = Math.max(0, r.state.c - 1);
      r.dirty = true;
    }
    places.delete(token);
    if (tomb!.versionstamp === null && !r.expired.has(token)) {
      r.batch.set(keys.tomb(token), {}, TOMB_MS);
      // Checked with the state: a grant to this token in between (another
      // client settling the queue) makes this commit fail and look again.
      r.dirty = true;
    }
    if (r.dirty) await settleInto(kv, r);
    if (!(await commit(kv, r))) return AGAIN;
    return held !== undefined ? "ended" : "removed";
  };

  /** The live holders (by fence) and waiters (in line), as one read saw them. */
  const snapshot = async (): Promise<
    { r: Read; held: LockInfo[]; pending: LockInfo[] }
  > => {
    const kv = await connect();
    const [r] = await read(kv, []);
    const info = (
      e: { m: "x" | "s"; a: number; o?: string; k?: number },
      fence: number | undefined,
    ): LockInfo => {
      const entry: LockInfo = {
        name,
        mode: modeOf(e.m),
        owner: e.o,
        fence,
        ageMs: Math.max(0, r.now - e.a),
      };
      // A semaphore's entries say their permits; a lock's stay as they were.
      return semaphore && e.m === "s" ? { ...entry, permits: e.k ?? 1 } : entry;
    };
    const held = liveHolders(r).sort((a, b) => a.f - b.f).map((h) =>
      info(h, h.f)
    );
    const pending: LockInfo[] = [];
    if (r.state.c > 0) {
      for await (const e of kv.list({ prefix: keys.queue })) {
        const w = decodeWaiter(e.value);
        if (w.h > r.now) pending.push(info(w, undefined));
      }
    }
    return { r, held, pending };
  };

  const driver: RemoteDriver = {
    type: "deno-kv",
    get target(): string {
      return path === undefined
        ? "Deno KV (the given handle)"
        : `Deno KV at ${JSON.stringify(path)}`;
    },
    minLeaseMs: MIN_LEASE_MS,
    // Every request holds permits of the name's capacity (a lock's is
    // unbounded): one rule for locks and semaphores (see _state.ts).
    semaphores: true,

    acquire(request, signal): Promise<RemoteAcquireReply> {
      const { token, mode, join, priority, owner } = request;
      const leaseMs = Math.ceil(request.leaseMs);
      const permits = request.permits ?? 1;
      const wanted = request.capacity ?? 0;
      if (calls.has(token)) calls.set(token, Date.now());
      return transact("acquire", signal, async (kv) => {
        const cachedPlace = places.get(token);
        const [r, [index, tomb, cached]] = await read(kv, [
          keys.index(token),
          keys.tomb(token),
          ...(cachedPlace === undefined ? [] : [keys.entry(cachedPlace)]),
        ]);
        const { now, state } = r;
        const granted = (h: Holder): RemoteAcquireReply => ({
          state: "granted",
          fence: h.f,
          leaseMs: h.u - now,
          waited: h.w === 1,
        });
        const mine = liveHolders(r).find((h) => h.t === token);
        if (mine !== undefined) {
          // Granted already (a handoff, or a reply that was lost). A lease
          // handed over runs only to its waiter's heartbeat deadline: the
          // waiter's own call, from which the core reckons it, gives it its
          // length (unless an extend has set it since).
          if (mine.q === 0 && mine.u < now + leaseMs) {
            mine.u = now + leaseMs;
            r.dirty = true;
          }
          if (!(await commit(kv, r))) return AGAIN;
          places.delete(token);
          return granted(mine);
        }
        const expired = r.expired.get(token);
        if (expired !== undefined || tomb!.versionstamp !== null) {
          if (!(await commit(kv, r))) return AGAIN;
          places.delete(token);
          const t: Tomb = expired !== undefined
            ? { x: 1, f: expired.f, w: expired.w }
            : decodeTomb(tomb!.value);
          // A grant whose lease ran out before its waiter heard of it: no
          // time left, so the core queues again with a new token.
          return t.x === 1
            ? { state: "granted", fence: t.f!, leaseMs: 0, waited: t.w === 1 }
            : { state: "gone" };
        }
        // Capacity travels with each request: one that disagrees with the
        // name's holders and waiters is refused; an idle name takes it.
        const theirs = await capacityOf(kv, r, wanted);
        if (theirs === "more") {
          await commit(kv, r);
          return AGAIN;
        }
        if (theirs === undefined) {
          if (wanted === 0) delete state.z;
          else state.z = wanted;
          r.dirty = true;
        } else if (theirs !== wanted) {
          return { state: "capacity", capacity: theirs };
        }
        const known = await ownEntry(kv, token, index!, cached, cachedPlace);
        r.batch.check(keys.index(token), index!.versionstamp)
          .check(keys.tomb(token), null);
        const ticket = state.n + 1;
        const m = mode === "shared" ? "s" : "x";
        const newcomer: InLine | undefined = known !== undefined ? undefined : {
          waiter: {
            t: token,
            m,
            l: leaseMs,
            p: priority,
            n: ticket,
            a: now,
            h: now + waiterTtlMs,
            ...(owner === undefined ? {} : { o: owner }),
            ...(permits === 1 ? {} : { k: permits }),
          },
          place: placeOf(ticket, join ? priority : 0),
          versionstamp: undefined,
        };
        const won = await settleInto(kv, r, {
          ...(newcomer === undefined ? {} : { newcomer }),
          ...(known === undefined ? {} : { known }),
          join,
          alive: token,
        });
        if (won.has(token)) {
          if (!(await commit(kv, r))) return AGAIN;
          places.delete(token);
          const h = state.h.find((h) => h.t === token)!;
          return granted(h);
        }
        if (!join) {
          if (!(await commit(kv, r))) return AGAIN;
          return { state: "busy" };
        }
        const gc = waiterTtlMs + GC_GRACE_MS;
        let place: number;
        if (newcomer !== undefined) {
          // Queue: a ticket, an entry in line, and the index to find it.
          place = newcomer.place;
          state.n = ticket;
          state.c++;
          r.dirty = true;
          r.batch.set(keys.entry(place), newcomer.waiter, gc)
            .set(keys.index(token), { r: place }, gc);
        } else {
          place = known!.place;
          r.batch.check(keys.entry(place), known!.versionstamp!);
          if (known!.waiter.h - now < (waiterTtlMs * 2) / 3) {
            // The heartbeat, every third of the TTL (not every poll).
            const beat: Waiter = { ...known!.waiter, h: now + waiterTtlMs };
            r.batch.set(keys.entry(place), beat, gc)
              .set(keys.index(token), { r: place }, gc);
          }
        }
        if (!(await commit(kv, r))) return AGAIN;
        places.set(token, place);
        const first = Math.min(
          ...liveHolders(r).map((h) => h.u - now),
          Infinity,
        );
        return {
          state: "queued",
          retryMs: Math.max(1, Math.min(pollMs, first)),
        };
      });
    },

    steal(request, signal): Promise<RemoteAcquireReply> {
      const { token, owner } = request;
      const leaseMs = Math.ceil(request.leaseMs);
      return transact("steal", signal, async (kv) => {
        const [r, [tomb]] = await read(kv, [keys.tomb(token)]);
        const mine = liveHolders(r).find((h) => h.t === token);
        if (mine !== undefined) {
          // Stolen already (a reply that was lost): nobody is revoked again.
          if (!(await commit(kv, r))) return AGAIN;
          return {
            state: "granted",
            fence: mine.f,
            leaseMs: mine.u - r.now,
            waited: false,
          };
        }
        if (tomb!.versionstamp !== null || r.expired.has(token)) {
          if (!(await commit(kv, r))) return AGAIN;
          return { state: "gone" };
        }
        if (r.state.h.length > liveHolders(r).length) {
          // Ended holders past BURY_LIMIT are still in the record: bury
          // them first (this commit), then steal from a fresh read.
          await commit(kv, r);
          return AGAIN;
        }
        // Every lease ends now, its tombstone saying it was stolen (so its
        // renewal can say so, and its release ends nothing); the waiters
        // keep their places behind the thief.
        const stolen: Tomb = { s: 1 };
        for (const h of r.state.h) r.batch.set(keys.tomb(h.t), stolen, TOMB_MS);
        const { now, state } = r;
        const thief: Holder = {
          t: token,
          m: "x",
          f: nextFence(state, now),
          u: now + leaseMs,
          q: 0,
          w: 0,
          a: now,
          ...(owner === undefined ? {} : { o: owner }),
        };
        state.h = [thief];
        state.f = thief.f;
        r.dirty = true;
        r.batch.check(keys.tomb(token), null);
        if (!(await commit(kv, r))) return AGAIN;
        return { state: "granted", fence: thief.f, leaseMs, waited: false };
      });
    },

    async release(token, signal): Promise<boolean> {
      return await transact(
        "release",
        signal,
        (kv) => remove(kv, token, true),
      ) === "ended";
    },

    extend(token, leaseMs, seq, signal): Promise<RemoteExtendReply> {
      return transact("extend", signal, async (kv) => {
        const [r, [tomb]] = await read(kv, [keys.tomb(token)]);
        const mine = liveHolders(r).find((h) => h.t === token);
        if (mine === undefined) {
          if (!(await commit(kv, r))) return AGAIN;
          const stolen = tomb!.versionstamp !== null &&
            decodeTomb(tomb!.value).s === 1;
          return { held: false, leaseMs: 0, ...(stolen ? { stolen } : {}) };
        }
        if (seq > mine.q) {
          mine.u = r.now + Math.ceil(leaseMs);
          mine.q = seq;
          r.dirty = true;
        }
        if (!(await commit(kv, r))) return AGAIN;
        return { held: true, leaseMs: mine.u - r.now };
      });
    },

    async cancel(token, signal): Promise<"cancelled" | "held"> {
      const outcome = await transact(
        "cancel",
        signal,
        (kv) => remove(kv, token, false),
      );
      return outcome === "held" ? "held" : "cancelled";
    },

    async status(): Promise<RemoteStatus> {
      const { r, held, pending } = await snapshot();
      const holders = held.length, waiters = pending.length;
      const capacity = r.state.z ?? 0;
      // A semaphore's holders and waiters add their permits and capacity;
      // a lock's status stays as it was.
      return capacity > 0 && holders + waiters > 0
        ? {
          holders,
          waiters,
          permits: usedPermits({ ...r.state, h: liveHolders(r) }),
          capacity,
        }
        : { holders, waiters };
    },

    async query(): Promise<LockSnapshot> {
      const { held, pending } = await snapshot();
      return { held, pending };
    },

    watch(token, onWake): RemoteWatch {
      calls.set(token, Date.now());
      let registration:
        | ReturnType<typeof watchState>
        | undefined;
      let stopped = false;
      let pushed = false;
      const listener = (raw: unknown) => {
        if (pushed || raw === null) return;
        const state = decodedOnce(raw);
        if (state === undefined) return; // the next acquire call reports it
        const now = Date.now();
        const h = state.h.find((h) => h.t === token && h.u > now);
        if (h === undefined) return;
        pushed = true;
        // The lease runs until h.u: so long after the latest acquire call
        // started, from which the core reckons it.
        onWake({ fence: h.f, leaseMs: h.u - (calls.get(token) ?? now) });
      };
      const stop = () => {
        stopped = true;
        calls.delete(token);
        registration?.stop();
      };
      return {
        get listening(): boolean {
          return registration?.listening ?? false;
        },
        async listen(): Promise<boolean> {
          const kv = await connect();
          if (stopped || !watchable(kv)) return false;
          registration ??= watchState(kv, keys.state, listener);
          return registration.listen();
        },
        stop,
      };
    },

    retryable(error: unknown): boolean {
      if (error instanceof DenoKvRequestError) return error.retryable;
      if (isBusy(error)) return true;
      if (error instanceof MalformedRecord) return false;
      // KV refuses a key or value it cannot take with a TypeError or
      // RangeError: asking again cannot help. Anything else (a busy
      // database, a network error of KV Connect) may pass.
      return !(error instanceof TypeError || error instanceof RangeError);
    },
  };
  return driver;
}
