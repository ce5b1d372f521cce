// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The state of one file lock, as its state file holds it, and the
 * rules that change it: the same state machine as the other remote backends
 * (holders with fences and extend sequence numbers, a queue ordered by
 * ticket and priority), written as plain functions over a parsed copy. The
 * store (`_store.ts`) makes each change atomic; nothing here does I/O.
 *
 * No time is stored for a lease to be compared against: processes on one
 * host share no monotonic clock in every runtime (Deno's and Bun's
 * `process.hrtime` start at zero in each process), and the wall clock can
 * step. A lease entry says how long it runs after it was written; each
 * observer times it from when it first saw that entry (see `_room.ts`).
 * Wall-clock times are kept only for `query()`'s ages and as the floor of
 * the fence counter.
 */

import type { Identity } from "./_system.ts";

/** Exclusive or shared. */
export type Mode = "x" | "s";

/** A lease as the state file records it. */
export interface Holder {
  /** The token. */
  t: string;
  m: Mode;
  /** The fence. */
  f: number;
  /** The highest extend sequence number applied. */
  q: number;
  /** How long the lease runs after this entry was written, in ms. */
  l: number;
  /** 1 when it waited in the queue first. */
  w: 0 | 1;
  /** When it was granted (wall clock ms, for ages only). */
  a: number;
  /** The process that holds it. */
  i: Identity;
  /** The owner label. */
  o?: string;
  /** A semaphore's lease: the permits it holds (absent: a lock's). */
  p?: number;
  /** With `p`: the semaphore's capacity. */
  c?: number;
}

/** A queued acquisition as the state file records it. */
export interface Waiter {
  t: string;
  m: Mode;
  /** Its place in the queue (`queueKey`), lowest first. */
  k: number;
  /** The lease it asks for. */
  l: number;
  /** Its heartbeat: raised by its process every third of `e`. */
  r: number;
  /** How long it keeps its place after its heartbeat stops, in ms. */
  e: number;
  /** When it queued (wall clock ms, for ages only). */
  a: number;
  i: Identity;
  o?: string;
  /** A semaphore's request: the permits it asks for (absent: a lock's). */
  p?: number;
  /** With `p`: the semaphore's capacity. */
  c?: number;
}

/** One lock's whole state. */
export interface State {
  /** The latest fence granted. */
  fence: number;
  /** The latest queue ticket. */
  ticket: number;
  holders: Holder[];
  /** In queue order (by `k`). */
  waiters: Waiter[];
  /**
   * The tokens of the latest leases taken by `steal`, newest last (at most
   * `STOLEN_KEPT`): a stolen holder's next renewal, in whichever process,
   * learns from it why its lease ended.
   */
  stolen: string[];
}

/** How many stolen tokens the state keeps (a holder renews every third of its lease). */
export const STOLEN_KEPT = 64;

/** What marks a state file as this format. */
const FORMAT = "unilock-file/1";

/** A state with nobody in it. */
export function emptyState(): State {
  return { fence: 0, ticket: 0, holders: [], waiters: [], stolen: [] };
}

function identityKey(i: Identity): string {
  return JSON.stringify([i.host, i.boot, i.ns, i.pid, i.start]);
}

/** The state as its file's text: processes once, in a table. */
export function formatState(state: State): string {
  const procs: Identity[] = [];
  const index = new Map<string, number>();
  // The entries of one process share one identity object (as parsed, or
  // this process's own): its key is made once per object, not per entry.
  const known = new Map<Identity, number>();
  const ref = (i: Identity): number => {
    let n = known.get(i);
    if (n !== undefined) return n;
    const key = identityKey(i);
    n = index.get(key);
    if (n === undefined) {
      index.set(key, n = procs.length);
      procs.push(i);
    }
    known.set(i, n);
    return n;
  };
  const holders = state.holders.map((h) => ({ ...h, i: ref(h.i) }));
  const waiters = state.waiters.map((w) => ({ ...w, i: ref(w.i) }));
  return JSON.stringify({
    format: FORMAT,
    fence: state.fence,
    ticket: state.ticket,
    procs: procs.map((i) => [i.host, i.boot, i.ns, i.pid, i.start]),
    holders,
    waiters,
    ...(state.stolen.length > 0 ? { stolen: state.stolen } : {}),
  });
}

const isInt = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v);
const isCount = (v: unknown): v is number => isInt(v) && v >= 0;
const isMode = (v: unknown): v is Mode => v === "x" || v === "s";
const isToken = (v: unknown): v is string =>
  typeof v === "string" && v.length > 0 && v.length <= 128;
const isOwner = (v: unknown): boolean =>
  v === undefined || (typeof v === "string" && v.length <= 256);
/** Both absent (a lock's entry), or permits of a capacity. */
const isPermits = (p: unknown, c: unknown): boolean =>
  (p === undefined && c === undefined) ||
  (isInt(p) && isInt(c) && p >= 1 && p <= c);

/**
 * The state in a state file's text, or `undefined` when it is not one
 * (half-written, truncated by a crash of the machine, or not ours): every
 * field is checked, so a damaged file is never half believed.
 */
export function parseState(text: string): State | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== "object") return undefined;
  const r = raw as Record<string, unknown>;
  if (
    r.format !== FORMAT || !isCount(r.fence) || !isCount(r.ticket) ||
    !Array.isArray(r.procs) || !Array.isArray(r.holders) ||
    !Array.isArray(r.waiters)
  ) return undefined;
  const procs: Identity[] = [];
  for (const p of r.procs as unknown[]) {
    if (
      !Array.isArray(p) || p.length !== 5 || typeof p[0] !== "string" ||
      typeof p[1] !== "string" || typeof p[2] !== "string" ||
      !isCount(p[3]) || !isCount(p[4])
    ) return undefined;
    procs.push({ host: p[0], boot: p[1], ns: p[2], pid: p[3], start: p[4] });
  }
  const proc = (v: unknown): Identity | undefined =>
    isCount(v) ? procs[v] : undefined;
  const holders: Holder[] = [];
  for (const h of r.holders as Record<string, unknown>[]) {
    const i = proc(h?.i);
    if (
      i === undefined || !isToken(h.t) || !isMode(h.m) || !isCount(h.f) ||
      !isCount(h.q) || !isCount(h.l) || (h.w !== 0 && h.w !== 1) ||
      !isInt(h.a) || !isOwner(h.o) || !isPermits(h.p, h.c)
    ) return undefined;
    const holder: Holder = {
      t: h.t,
      m: h.m,
      f: h.f,
      q: h.q,
      l: h.l,
      w: h.w,
      a: h.a,
      i,
    };
    if (h.o !== undefined) holder.o = h.o as string;
    if (h.p !== undefined) {
      [holder.p, holder.c] = [h.p as number, h.c as number];
    }
    holders.push(holder);
  }
  const waiters: Waiter[] = [];
  for (const w of r.waiters as Record<string, unknown>[]) {
    const i = proc(w?.i);
    if (
      i === undefined || !isToken(w.t) || !isMode(w.m) || !isInt(w.k) ||
      !isCount(w.l) || !isCount(w.r) || !isCount(w.e) || !isInt(w.a) ||
      !isOwner(w.o) || !isPermits(w.p, w.c)
    ) return undefined;
    const waiter: Waiter = {
      t: w.t,
      m: w.m,
      k: w.k,
      l: w.l,
      r: w.r,
      e: w.e,
      a: w.a,
      i,
    };
    if (w.o !== undefined) waiter.o = w.o as string;
    if (w.p !== undefined) {
      [waiter.p, waiter.c] = [w.p as number, w.c as number];
    }
    waiters.push(waiter);
  }
  waiters.sort((a, b) => a.k - b.k);
  // An exclusive holder shares with nobody: a state that says otherwise was
  // not written by these rules.
  if (holders.length > 1 && holders.some((h) => h.m === "x")) return undefined;
  const stolen = r.stolen ?? [];
  if (
    !Array.isArray(stolen) || stolen.length > STOLEN_KEPT ||
    !stolen.every(isToken)
  ) return undefined;
  return {
    fence: r.fence,
    ticket: r.ticket,
    holders,
    waiters,
    stolen: stolen as string[],
  };
}

/** A copy to change (entries are replaced, never edited in place). */
export function copyState(state: State): State {
  return {
    fence: state.fence,
    ticket: state.ticket,
    holders: state.holders.map((h) => ({ ...h })),
    waiters: state.waiters.map((w) => ({ ...w })),
    stolen: [...state.stolen],
  };
}

/**
 * The capacity of the name's holders and waiters (0: they are a lock's), or
 * `undefined` while nobody holds or waits: a request of another capacity is
 * refused, and an idle name takes any.
 */
export function capacityOf(state: State): number | undefined {
  const first = state.holders[0] ?? state.waiters[0];
  return first === undefined ? undefined : first.c ?? 0;
}

/** The permits the holders hold (a lock's shared holder: 1). */
export function permitsHeld(state: State): number {
  let n = 0;
  for (const h of state.holders) n += h.p ?? 1;
  return n;
}

/**
 * Who stands in the way of an acquisition in `mode` at queue place `key`:
 * the holders it cannot share with, and the waiters before it that it may
 * not pass. An acquisition that does not queue (`tryAcquire`) passes no
 * waiter at all. Empty: it can be granted.
 */
export function blockers(
  state: State,
  mode: Mode,
  key: number,
  join: boolean,
  token?: string,
  permits?: number,
): (Holder | Waiter)[] {
  const out: (Holder | Waiter)[] = [];
  if (permits !== undefined) {
    // A semaphore's request: it fits beside the holders while their
    // permits and its own fit the capacity, and it passes no waiter before
    // it (head-of-line, so a weighted request is never starved by lighter
    // ones). Only a name of its capacity gets here (`capacityOf`).
    const capacity = state.holders[0]?.c ?? Infinity;
    if (permitsHeld(state) + permits > capacity) out.push(...state.holders);
    for (const w of state.waiters) {
      if (w.t !== token && (!join || w.k < key)) out.push(w);
    }
    return out;
  }
  for (const h of state.holders) {
    if (mode === "x" || h.m === "x") out.push(h);
  }
  for (const w of state.waiters) {
    if (w.t === token) continue;
    if (!join) out.push(w);
    else if (w.k < key && (mode === "x" || w.m === "x")) out.push(w);
  }
  return out;
}

/**
 * The queued tokens that nothing blocks now (those a release lets go): one
 * pass in queue order, so that waking many waiters costs no more than
 * reading them.
 */
export function grantable(state: State): Set<string> {
  const out = new Set<string>();
  const capacity = state.holders[0]?.c ?? state.waiters[0]?.c;
  if (capacity !== undefined) {
    // A semaphore's queue: its head, while the permits fit.
    let used = permitsHeld(state);
    for (const w of state.waiters) {
      used += w.p ?? capacity;
      if (used > capacity) break;
      out.add(w.t);
    }
    return out;
  }
  let exclusiveHeld = false;
  for (const h of state.holders) if (h.m === "x") exclusiveHeld = true;
  const held = state.holders.length > 0;
  let exclusiveAhead = false;
  for (const [i, w] of state.waiters.entries()) {
    if (w.m === "x") {
      if (i === 0 && !held) out.add(w.t);
      exclusiveAhead = true;
    } else if (!exclusiveHeld && !exclusiveAhead) out.add(w.t);
    if (exclusiveAhead && exclusiveHeld) break;
  }
  return out;
}

/** The state's waiter `token`, if queued. */
export function waiterOf(state: State, token: string): Waiter | undefined {
  return state.waiters.find((w) => w.t === token);
}

/** The state's holder `token`, if it holds. */
export function holderOf(state: State, token: string): Holder | undefined {
  return state.holders.find((h) => h.t === token);
}

/** Takes `token` out of the queue; whether it was there. */
export function dropWaiter(state: State, token: string): boolean {
  const at = state.waiters.findIndex((w) => w.t === token);
  if (at === -1) return false;
  state.waiters.splice(at, 1);
  return true;
}

/** Ends the lease `token`; whether it held. */
export function dropHolder(state: State, token: string): boolean {
  const at = state.holders.findIndex((h) => h.t === token);
  if (at === -1) return false;
  state.holders.splice(at, 1);
  return true;
}

/**
 * Grants `token` a lease (taking it out of the queue if it was there). The
 * fence is the counter plus one, raised to the wall clock in µs when it
 * lags, so that fences keep rising even if the state file is lost (about
 * 1.8 × 10^15, below 2^53).
 */
export function grant(
  state: State,
  entry: {
    t: string;
    m: Mode;
    l: number;
    i: Identity;
    o: string | undefined;
    waited: boolean;
    /** A semaphore's lease: its permits and capacity. */
    p?: number | undefined;
    c?: number | undefined;
  },
  wallMs: number,
): Holder {
  const fence = Math.max(state.fence + 1, Math.floor(wallMs) * 1000);
  state.fence = fence;
  dropWaiter(state, entry.t);
  const holder: Holder = {
    t: entry.t,
    m: entry.m,
    f: fence,
    q: 0,
    l: entry.l,
    w: entry.waited ? 1 : 0,
    a: Math.floor(wallMs),
    i: entry.i,
  };
  if (entry.o !== undefined) holder.o = entry.o;
  if (entry.p !== undefined && entry.c !== undefined) {
    [holder.p, holder.c] = [entry.p, entry.c];
  }
  state.holders.push(holder);
  return holder;
}

/** Queues `token` at `key`, in order. */
export function enqueue(state: State, waiter: Waiter): void {
  let at = state.waiters.length;
  while (at > 0 && state.waiters[at - 1]!.k > waiter.k) at--;
  state.waiters.splice(at, 0, waiter);
}
