// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The `deno-kv` lock's records in Deno KV, and the one rule that
 * decides grants (`settle`), written as pure functions so that every
 * operation of the driver applies it the same way.
 *
 * Keys of lock K = [prefix, name] (each a whole key part, so no name can
 * reach into another's keys):
 * - [...K, "s"] the state: the holders, the fence counter, the ticket
 *   counter and how many waiters may be queued. Every grant, release,
 *   extend and queue change rewrites it in an atomic commit that checks its
 *   versionstamp, so two clients can never both act on one version. It
 *   never expires (the fence counter must never be reset).
 * - [...K, "q", place] a waiter, ordered by its place in line
 *   (`queueKey(ticket, priority)`), with its heartbeat deadline.
 * - [...K, "w", token] where a queued token's entry is.
 * - [...K, "t", token] a tombstone: the token was released, cancelled or its
 *   lease ran out, and is never granted again.
 *
 * Values are JSON in UTF-8 bytes rather than structured-clone values: Deno
 * and Node write different V8 serialization versions (Node 20 cannot read
 * what Deno 2 writes), while bytes read the same on both, so a Deno server
 * and a Node worker can share one KV file.
 *
 * Times are wall-clock milliseconds (`Date.now()`) of the client that
 * writes them: Deno KV has no server clock. See docs/deno-kv.md.
 */

import type { LockMode } from "../core/types.ts";
import { queueKey } from "../core/_validate.ts";

/** A key, as far as this lock uses one. */
export type Key = readonly (string | number)[];

/** A lease in the state: who holds, how, until when. */
export interface Holder {
  /** The token. */
  readonly t: string;
  /** "x" exclusive, "s" shared. */
  readonly m: "x" | "s";
  /** The fence. */
  readonly f: number;
  /** When the lease ends (ms, wall clock of the writer). */
  u: number;
  /** The highest extend seq applied. */
  q: number;
  /** 1 if it waited in the queue first. */
  readonly w: 0 | 1;
  /** When it was granted. */
  readonly a: number;
  /** The owner label, if any. */
  readonly o?: string;
  /** A semaphore's shared holder: the permits it holds (absent: 1). */
  readonly k?: number;
}

/** The lock's state record. */
export interface State {
  /** The last fence handed out: never reset. */
  f: number;
  /** The last ticket handed out (queue arrival order). */
  n: number;
  /**
   * How many waiter entries there may be: never fewer than there are (an
   * entry that garbage collection removed leaves it too high, and the next
   * full read of the queue corrects it). 0 means the queue is empty.
   */
  c: number;
  /** The holders (their leases may have run out: compare `u` with now). */
  h: Holder[];
  /**
   * The capacity of the holders and waiters: a semaphore's permits, absent
   * (or 0) for a lock's, whose capacity is unbounded. It stands while
   * anyone holds or waits; an idle name takes the next request's.
   */
  z?: number;
}

/** A waiter's queue entry. */
export interface Waiter {
  /** The token. */
  readonly t: string;
  readonly m: "x" | "s";
  /** The lease length it asked for. */
  readonly l: number;
  /** Its priority. */
  readonly p: number;
  /** Its ticket. */
  readonly n: number;
  /** When it queued. */
  readonly a: number;
  /** Its heartbeat deadline: past it, the waiter counts as gone. */
  h: number;
  readonly o?: string;
  /** A semaphore's request: the permits it needs (absent: 1). */
  readonly k?: number;
}

/**
 * A tombstone: `x` 1 when a lease ran out before its waiter heard of it,
 * `s` 1 when a steal ended the lease (so that its renewal can say so).
 */
export interface Tomb {
  readonly x?: 1;
  readonly f?: number;
  readonly w?: 0 | 1;
  readonly s?: 1;
}

/** The keys of one lock. */
export interface Keys {
  readonly state: Key;
  readonly queue: Key;
  entry(place: number): Key;
  index(token: string): Key;
  tomb(token: string): Key;
}

export function keysFor(prefix: string, name: string): Keys {
  return {
    state: [prefix, name, "s"],
    queue: [prefix, name, "q"],
    entry: (place) => [prefix, name, "q", place],
    index: (token) => [prefix, name, "w", token],
    tomb: (token) => [prefix, name, "t", token],
  };
}

/** The place in line of a waiter (lowest first). */
export function placeOf(ticket: number, priority: number): number {
  return queueKey(ticket, priority);
}

export function modeOf(m: "x" | "s"): LockMode {
  return m === "x" ? "exclusive" : "shared";
}

// ------------------------------------------------------------ encoding

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/**
 * A record that is not what this lock writes: someone else wrote the key,
 * or a different version of the library did. The lock refuses to act on it
 * (fails closed) rather than guess.
 */
export class MalformedRecord extends Error {
  constructor(what: string, detail: string) {
    super(
      `the ${what} record of this lock in Deno KV is not one unilock writes (${detail}): was the key written by something else?`,
    );
    this.name = "MalformedRecord";
  }
}

function parse(what: string, raw: unknown): Record<string, unknown> {
  if (!(raw instanceof Uint8Array)) {
    throw new MalformedRecord(what, `a ${typeof raw}, not bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(raw));
  } catch {
    throw new MalformedRecord(what, "not JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new MalformedRecord(what, "not an object");
  }
  return value as Record<string, unknown>;
}

const isCount = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isTime = (v: unknown): v is number =>
  typeof v === "number" && Number.isFinite(v);
const isMode = (v: unknown): v is "x" | "s" => v === "x" || v === "s";
const isOwner = (v: unknown): boolean =>
  v === undefined || (typeof v === "string" && v.length <= 256);
const isPermits = (v: unknown): boolean =>
  v === undefined || (isCount(v) && v > 0);

export function decodeState(raw: unknown): State {
  const v = parse("state", raw);
  if (!isCount(v.f) || !isCount(v.n) || !isCount(v.c) || !Array.isArray(v.h)) {
    throw new MalformedRecord("state", "counters or holders missing");
  }
  if (v.z !== undefined && !isCount(v.z)) {
    throw new MalformedRecord("state", "the capacity is malformed");
  }
  for (const h of v.h as unknown[]) {
    const e = h as Partial<Holder> | null;
    if (
      e === null || typeof e !== "object" || typeof e.t !== "string" ||
      !isMode(e.m) || !isCount(e.f) || !isTime(e.u) || !isCount(e.q) ||
      (e.w !== 0 && e.w !== 1) || !isTime(e.a) || !isOwner(e.o) ||
      !isPermits(e.k)
    ) throw new MalformedRecord("state", "a holder is malformed");
  }
  const holders = v.h as Holder[];
  const exclusive = holders.filter((h) => h.m === "x").length;
  // One exclusive holder alone, or shared ones only: anything else is not
  // a state this lock leaves, and acting on it could widen an overlap.
  if (exclusive > 1 || (exclusive === 1 && holders.length > 1)) {
    throw new MalformedRecord("state", "an exclusive holder shares the lock");
  }
  return {
    f: v.f,
    n: v.n,
    c: v.c,
    h: holders,
    ...(v.z === undefined ? {} : { z: v.z as number }),
  };
}

export function decodeWaiter(raw: unknown): Waiter {
  const e = parse("waiter", raw) as Partial<Waiter>;
  if (
    typeof e.t !== "string" || !isMode(e.m) || !isCount(e.l) ||
    typeof e.p !== "number" || !Number.isInteger(e.p) || !isCount(e.n) ||
    !isTime(e.a) || !isTime(e.h) || !isOwner(e.o) || !isPermits(e.k)
  ) throw new MalformedRecord("waiter", "fields missing");
  return e as Waiter;
}

export function decodeIndex(raw: unknown): number {
  const e = parse("waiter index", raw);
  if (!isTime(e.r)) throw new MalformedRecord("waiter index", "no place");
  return e.r;
}

export function decodeTomb(raw: unknown): Tomb {
  const e = parse("tombstone", raw) as Tomb;
  if (
    (e.x !== undefined && (e.x !== 1 || !isCount(e.f))) ||
    (e.s !== undefined && e.s !== 1)
  ) {
    throw new MalformedRecord("tombstone", "fields malformed");
  }
  return e;
}

/**
 * The largest state record written, in bytes (Deno KV takes 64 KiB): a
 * shared waiter that would grow it past this waits for a holder to leave.
 */
export const MAX_STATE_BYTES = 60_000;

/** The state's encoded size, as `encode` would write it. */
export function stateBytes(state: State): number {
  return encode(state).byteLength;
}

// ------------------------------------------------------------ the rule

/** One waiter as `settle` sees it: queued, or the caller not yet queued. */
export interface InLine {
  readonly waiter: Waiter;
  /** Its place in line. */
  readonly place: number;
  /** Its entry's versionstamp, or undefined for the caller's new request. */
  readonly versionstamp: string | undefined;
}

/** What `settle` decided. */
export interface Settled {
  /** The waiters granted, in line order. */
  readonly granted: InLine[];
  /** Waiters whose heartbeat ran out (to delete). */
  readonly lapsed: InLine[];
}

/** The permits the shared holders hold (each lock reader holds 1). */
export function usedPermits(state: State): number {
  let used = 0;
  for (const h of state.h) if (h.m === "s") used += h.k ?? 1;
  return used;
}

/**
 * Whether a request of `mode` for `permits` fits beside the holders: an
 * exclusive one only when nobody holds, a shared one while no exclusive
 * lease is held and, for a semaphore, while the permits held plus its own
 * fit the capacity.
 */
export function fits(state: State, mode: "x" | "s", permits: number): boolean {
  if (mode === "x") return state.h.length === 0;
  if (state.h.some((h) => h.m === "x")) return false;
  const capacity = state.z ?? 0;
  return capacity === 0 || usedPermits(state) + permits <= capacity;
}

/**
 * Grants from the head of the line while it fits (see `fits`), as a FIFO
 * readers-writer lock or a head-of-line semaphore does: nobody behind the
 * head goes first, so a heavy request is never passed by lighter ones of
 * its priority. Waiters whose heartbeat ran out are
 * passed over and returned as lapsed, except `alive` (the caller's own
 * token: it is calling, so it is there). `complete` says whether `line` is
 * the whole queue: a partial line is granted no further than it goes.
 *
 * Mutates `state` (holders, fence); returns what it did.
 */
export function settle(
  state: State,
  line: readonly InLine[],
  now: number,
  alive: string | undefined,
): Settled {
  const granted: InLine[] = [];
  const lapsed: InLine[] = [];
  for (const entry of line) {
    const w = entry.waiter;
    if (w.h <= now && w.t !== alive) {
      lapsed.push(entry);
      continue;
    }
    if (!fits(state, w.m, w.k ?? 1)) break;
    const holder: Holder = {
      t: w.t,
      m: w.m,
      f: nextFence(state, now),
      // Handed to a waiter that is not calling: it holds until it would
      // have had to beat again, and takes its whole lease when it comes for
      // it. So a waiter killed in line keeps the lock no longer than its
      // heartbeat would have kept its place, not for its whole lease.
      u: w.t === alive ? now + w.l : Math.min(now + w.l, w.h),
      q: 0,
      w: entry.versionstamp === undefined ? 0 : 1,
      a: now,
      ...(w.o === undefined ? {} : { o: w.o }),
      ...(w.k === undefined ? {} : { k: w.k }),
    };
    state.h.push(holder);
    if (w.m === "s" && stateBytes(state) > MAX_STATE_BYTES) {
      // Too many shared holders for one record: this one waits its turn.
      state.h.pop();
      break;
    }
    state.f = holder.f;
    granted.push(entry);
    if (w.m === "x") break;
  }
  return { granted, lapsed };
}

/**
 * The next fence: the counter plus one, raised to the clock in µs when it
 * lags, so that fences keep rising even if the state record were lost
 * (about 1.8 × 10^15, below 2^53).
 */
export function nextFence(state: State, now: number): number {
  return Math.max(state.f + 1, Math.floor(now) * 1000);
}
