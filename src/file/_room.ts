// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal What one process knows of one file lock beyond its state file,
 * shared by every lock object of the process on that directory: when it
 * first saw each lease and heartbeat (leases are timed by each observer's
 * own monotonic clock, from when it first saw them), when it wrote its own
 * leases, its tombstones, and its waiters' wake-ups.
 *
 * Expiry by observation: a lease entry written at time W with length L has
 * ended by W + L. An observer that first read it at F ≥ W (any later read
 * of the same token and extend sequence number shows the same write) may
 * free it at F + L, which is no earlier; the holder believes in it until
 * S + L less a drift margin, S being when it sent the call, before W. So
 * no clock is compared between processes, and a wall clock that steps
 * cannot end a lease early or keep a dead one alive.
 *
 * Wake-ups: a watcher on the lock's directory (`fs.watch`: inotify on
 * Linux, FSEvents or kqueue on macOS, ReadDirectoryChangesW on Windows)
 * sees each new state file; the process reads it once and wakes those of
 * its waiters that can now be granted. A poll every 50 ms, while the
 * process has waiters, finds what no file event announces: holders and
 * waiters whose process died (their pid is gone), and leases and heartbeats
 * that ran out.
 */

import {
  copyState,
  grantable,
  type Holder,
  type State,
  type Waiter,
} from "./_state.ts";
import { liveness, type System } from "./_system.ts";
import type { StateStore } from "./_store.ts";
import { unref } from "../core/_unref.ts";

/** How long a tombstone refuses its token (the contract's minimum). */
const TOMBSTONE_MS = 60_000;
/** How often the process looks for dead or expired entries while it waits. */
export const POLL_MS = 50;
/** How long a liveness answer other than "dead" is believed. */
const ALIVE_CACHE_MS = 20;
/** How many blocking entries one call judges by their process. */
export const JUDGE_LIMIT = 8;
/** How long an idle watcher is kept for the next waiter (not on Deno). */
const LINGER_MS = 1_000;

type Entry = Holder | Waiter;

function isHolder(e: Entry): e is Holder {
  return "f" in e;
}

/**
 * When this process first saw one token's entry as it now reads: a holder's
 * extend sequence number or a waiter's heartbeat count (`seq`), a waiter's
 * place in the queue (`place`: a place taken again, after the first was
 * dropped, is a new write whose heartbeat count starts at 0 again), and the
 * observation that last found it (`epoch`), so that one pass forgets the
 * tokens gone from the state.
 */
interface Sighting {
  seq: number;
  place: number;
  at: number;
  epoch: number;
}

/** A registered waiter. */
interface Watched {
  onWake: () => void;
  /** The watcher's epoch when registered, if it was up then. */
  epoch: number | undefined;
}

export class Room {
  readonly store: StateStore;
  readonly #sys: System;
  /**
   * Token → when this process first saw its entry as it is now
   * (performance.now()): holders and waiters apart, since a token is one or
   * the other. Kept by token, not by a key made per entry, since each change
   * observes every entry (400 waiters of one name: a tenth of a change's CPU).
   */
  #seenHolders = new Map<string, Sighting>();
  #seenWaiters = new Map<string, Sighting>();
  #observed = 0;
  /** Token → when the call that last wrote its lease was sent. */
  #wrote = new Map<string, number>();
  /** Token → when its heartbeat was last written. */
  #beats = new Map<string, number>();
  /** Token → when it was released or cancelled here. */
  #gone = new Map<string, number>();
  #alive = new Map<string, { alive: boolean | undefined; at: number }>();
  #watched = new Map<string, Watched>();
  #watcher: { close(): void } | undefined;
  /** Raised each time a watcher is started. */
  #epoch = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(sys: System, store: StateStore) {
    this.#sys = sys;
    this.store = store;
  }

  // ------------------------------------------------------------ observation

  /** Notes when each entry of `state` was first seen; forgets the rest. */
  observe(state: State, now: number): void {
    const epoch = ++this.#observed;
    const holders = this.#seenHolders, waiters = this.#seenWaiters;
    for (const h of state.holders) sight(holders, h.t, h.q, 0, now, epoch);
    for (const w of state.waiters) sight(waiters, w.t, w.r, w.k, now, epoch);
    forget(holders, epoch);
    forget(waiters, epoch);
  }

  /** When this process first saw `e` as it is now, if it did. */
  #first(e: Entry): number | undefined {
    const seen = isHolder(e)
      ? sighted(this.#seenHolders, e.t, e.q, 0)
      : sighted(this.#seenWaiters, e.t, e.r, e.k);
    return seen?.at;
  }

  /** Takes out the entries that ran out by observation; whether any did. */
  expire(state: State, now: number): boolean {
    const ran = (e: Entry) => {
      const first = this.#first(e);
      return first !== undefined &&
        now - first >= (isHolder(e) ? e.l : e.e);
    };
    const holders = state.holders.filter((h) => !ran(h));
    const waiters = state.waiters.filter((w) => !ran(w));
    const changed = holders.length !== state.holders.length ||
      waiters.length !== state.waiters.length;
    state.holders = holders;
    state.waiters = waiters;
    return changed;
  }

  /**
   * Takes out those of `entries` whose process is dead; whether any was.
   * `fresh` asks every process anew (no answer of the last few ms), for a
   * judgement that refuses rather than waits.
   */
  reapDead(state: State, entries: readonly Entry[], fresh = false): boolean {
    const dead = new Set<string>();
    const now = performance.now();
    for (const e of entries) {
      const key = `${e.i.host} ${e.i.boot} ${e.i.ns} ${e.i.pid} ${e.i.start}`;
      let known = this.#alive.get(key);
      if (
        known === undefined ||
        (known.alive !== false && (fresh || now - known.at > ALIVE_CACHE_MS))
      ) {
        known = { alive: liveness(this.#sys, e.i), at: now };
        if (this.#alive.size > 1_000) this.#alive.clear();
        this.#alive.set(key, known);
      }
      if (known.alive === false) dead.add(e.t);
    }
    if (dead.size === 0) return false;
    state.holders = state.holders.filter((h) => !dead.has(h.t));
    state.waiters = state.waiters.filter((w) => !dead.has(w.t));
    return true;
  }

  // ------------------------------------------------------------ own tokens

  /** Records that the lease `token` was written by a call sent at `at`. */
  wrote(token: string, at: number): void {
    this.#wrote.set(token, at);
    this.#beats.delete(token);
  }

  /**
   * How much of lease `token` (of length `ms` as last written) is surely
   * left: 0 when this process did not write it.
   */
  left(token: string, ms: number): number {
    const at = this.#wrote.get(token);
    return at === undefined ? 0 : Math.max(0, at + ms - performance.now());
  }

  /** Whether waiter `token` should raise its heartbeat now (every third of `ttl`). */
  beatDue(token: string, ttl: number, now: number): boolean {
    const at = this.#beats.get(token);
    return at === undefined || now - at >= ttl / 3;
  }

  /** Records a written heartbeat (or queuing) of `token`. */
  beat(token: string, at: number): void {
    this.#beats.set(token, at);
  }

  /** Leaves a tombstone for `token`: its late calls are answered "gone". */
  bury(token: string): void {
    const now = performance.now();
    this.#wrote.delete(token);
    this.#beats.delete(token);
    this.#gone.set(token, now);
    // Oldest first (insertion order): drop those past their minute.
    for (const [t, at] of this.#gone) {
      if (now - at < TOMBSTONE_MS) break;
      this.#gone.delete(t);
    }
  }

  /** Whether `token` was released or cancelled here. */
  buried(token: string): boolean {
    return this.#gone.has(token);
  }

  // ------------------------------------------------------------ wake-ups

  /** Registers waiter `token` (no I/O). */
  register(token: string, onWake: () => void): {
    listening(): boolean;
    listen(): boolean;
    stop(): void;
  } {
    const watched: Watched = {
      onWake,
      epoch: this.#watcher === undefined ? undefined : this.#epoch,
    };
    this.#watched.set(token, watched);
    if (this.#linger !== undefined) {
      clearTimeout(this.#linger);
      this.#linger = undefined;
    }
    this.#schedule();
    return {
      listening: () =>
        this.#watcher !== undefined && watched.epoch === this.#epoch,
      listen: () => this.#watch(),
      stop: () => {
        if (this.#watched.get(token) === watched) this.#watched.delete(token);
        if (this.#watched.size === 0) this.#idle();
      },
    };
  }

  /** Starts the watcher if need be; whether file events can arrive. */
  #watch(): boolean {
    if (this.#watcher !== undefined) return true;
    if (this.#watched.size === 0) return false;
    let watcher;
    try {
      watcher = this.#sys.fs.watch(this.store.path, (_event, file) => {
        // Only a new state file matters (not temporary files, not
        // removals); an event without a name may be one.
        if (typeof file !== "string") return this.#refresh(false);
        if (file.charCodeAt(0) !== 0x76) return;
        const n = Number(file.slice(1));
        if (!Number.isSafeInteger(n) || n <= this.store.latest) return;
        // Known before it is read: the next change here starts from it.
        if (this.#watched.size === 0) this.store.hint(n);
        else this.#refresh(false, n);
      });
    } catch {
      return false; // no watcher (no inotify instances left, say): the poll
    }
    const epoch = ++this.#epoch;
    watcher.on("error", () => {
      // Broken: the waiters registered under it are told (listening is false).
      if (this.#epoch === epoch) this.#stopWatcher();
    });
    // A waiting acquisition keeps the process alive with its own timers.
    watcher.unref?.();
    this.#watcher = watcher;
    return true;
  }

  #stopWatcher(): void {
    const watcher = this.#watcher;
    this.#watcher = undefined;
    this.#epoch++;
    try {
      watcher?.close();
    } catch { /* closed already */ }
  }

  #idle(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#watcher === undefined) return;
    // Deno cannot unref a watcher: a lingering one would keep it alive.
    if (this.#sys.deno) return this.#stopWatcher();
    this.#linger = setTimeout(() => {
      this.#linger = undefined;
      if (this.#watched.size === 0) this.#stopWatcher();
    }, LINGER_MS);
    unref(this.#linger);
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#watched.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refresh(true);
      this.#schedule();
    }, POLL_MS * (0.75 + Math.random() / 2));
    unref(this.#timer);
  }

  /**
   * Reads the state and wakes the waiters of this process that can now be
   * granted. A poll (`judge`) also frees what dead processes left and what
   * ran out, which no file event announces.
   */
  #refresh(judge: boolean, announced?: number): void {
    if (this.#watched.size === 0) return;
    try {
      let { state } = this.store.read(announced);
      const now = performance.now();
      this.observe(state, now);
      const probe = copyState(state);
      let stale = this.expire(probe, now);
      if (judge) {
        const suspects = [
          ...probe.holders,
          ...probe.waiters.slice(0, JUDGE_LIMIT),
        ];
        stale = this.reapDead(probe, suspects) || stale;
      }
      if (stale) {
        // Free them for everyone (the commit's file event wakes the rest).
        ({ state } = this.store.update((s) => {
          const at = performance.now();
          this.observe(s, at);
          let changed = this.expire(s, at);
          if (judge) {
            changed = this.reapDead(s, [
              ...s.holders,
              ...s.waiters.slice(0, JUDGE_LIMIT),
            ]) || changed;
          }
          return { result: undefined, changed };
        }));
      }
      this.wake(state);
    } catch {
      // A failing directory: the waiters' own calls report it.
    }
  }

  /** Wakes this process's waiters in `state` that nothing blocks now. */
  wake(state: State): void {
    if (this.#watched.size === 0) return;
    for (const token of grantable(state)) this.#watched.get(token)?.onWake();
  }
}

function sight(
  seen: Map<string, Sighting>,
  token: string,
  seq: number,
  place: number,
  now: number,
  epoch: number,
): void {
  const known = seen.get(token);
  if (known === undefined) seen.set(token, { seq, place, at: now, epoch });
  else if (known.epoch !== epoch) {
    // A new write of the entry (an extend, a heartbeat, a place taken
    // again) is a new sighting.
    if (known.seq !== seq || known.place !== place) {
      known.seq = seq;
      known.place = place;
      known.at = now;
    }
    known.epoch = epoch;
  }
  // A token listed twice in one state (never written so, but a file may say
  // so) keeps its first entry's sighting: that entry runs out, then the
  // other is timed, rather than each timing the other anew for ever.
}

function sighted(
  seen: Map<string, Sighting>,
  token: string,
  seq: number,
  place: number,
): Sighting | undefined {
  const known = seen.get(token);
  return known?.seq === seq && known.place === place ? known : undefined;
}

/** Drops the tokens that the observation `epoch` did not find. */
function forget(seen: Map<string, Sighting>, epoch: number): void {
  if (seen.size === 0) return;
  for (const [token, known] of seen) {
    if (known.epoch !== epoch) seen.delete(token);
  }
}

const rooms = new Map<string, Room>();

/** The room of a lock directory, shared by the process's lock objects. */
export function roomOf(
  sys: System,
  path: string,
  make: () => StateStore,
): Room {
  let room = rooms.get(path);
  if (room === undefined) rooms.set(path, room = new Room(sys, make()));
  return room;
}
