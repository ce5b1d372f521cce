// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The wait-for graph of a `ThreadLockTable`'s locks, in shared
 * memory, so that a deadlock among worker threads is seen by the thread
 * whose acquisition would close it. Same operations as the in-isolate graph
 * (see _managed_lock.ts), each under a guard word (_guard.ts), so that of
 * two threads closing a cycle at once exactly one sees it.
 *
 * Every edge is one acquisition, bound to what it stands for in the lock's
 * own shared memory, so that it dies with it even when nobody removes it —
 * a thread terminated while it holds or waits runs no `finally`, and a lease
 * that ran out is not released:
 *
 * - a hold edge is bound to its lease (the fence; the slot and its
 *   generation for a shared lease): it is dead once that lease no longer
 *   holds the lock (released, expired, reaped), as read under the lock's
 *   own guard (taken within the graph's: the only nesting of the two);
 * - a wait edge is bound to its waiter's place in the queue (the slot and
 *   its generation, given when the acquisition takes its place): it is dead
 *   once that place is gone, or its waiter stopped refreshing it (its thread
 *   died). Before it has a place, it lives for `WAITER_STALE_MS`.
 *
 * A cycle is reported only through live edges, and when the graph is full,
 * dead edges are collected to make room. An edge judged dead too soon (a
 * thread stalled past `WAITER_STALE_MS`) can only hide a cycle, never invent
 * one.
 *
 * Layout (byte offsets):
 *
 *   0  int32  GUARD     the guard word
 *   4  int32  STRINGS   number of string entries
 *   8  int32  EDGES     number of edge entries
 *  12  int32  MAGIC     "ULKG": layout 2
 *  16  int32  SERIAL    the last edge serial handed out
 *  20  (reserved to 32)
 *  32  strings, STRING_BYTES each: int32 REFS (0: free; derived), int32
 *      LENGTH, uint16 × MAX_UNITS (an owner label or a lock name)
 *   …  edges, EDGE_BYTES each: int32 KIND (0 free, HOLD, WAIT), int32 A,
 *      int32 B (string indexes: HOLD lock → owner, WAIT owner → lock), int32
 *      SERIAL (told apart from the record's earlier lives), int32 OFFSET
 *      (the lock's region in the table's buffer), int32 SLOT, int32 GEN,
 *      (reserved), f64 FENCE (a hold's fence; an unbound wait's birth)
 *
 * A thread dying under the guard leaves at worst an edge half written
 * (its KIND is stored last, so it is still free) or strings whose counts
 * are off: the repair recounts them from the edges.
 */

import type { DeadlockEdge } from "../core/errors.ts";
import type { AcquireOptions, Lease, Lock } from "../core/types.ts";
import { localNow } from "./_clock.ts";
import { Guard } from "./_guard.ts";
import { ThreadState, WAITER_STALE_MS } from "./_thread_state.ts";
import { acquireTracked, leaseBinding } from "./_hooks.ts";
import { ThreadLock } from "./thread_lock.ts";

const GUARD = 0, STRINGS = 1, EDGES = 2, MAGIC_ = 3, SERIAL = 4;
const HEADER_BYTES = 32;
const GRAPH_MAGIC = 0x554c_4b47; // "ULKG"
const MAX_UNITS = 512;
const STRING_BYTES = 8 + MAX_UNITS * 2;
const EDGE_BYTES = 40;
const HOLD = 1, WAIT = 2;
// Within an edge: int32 offsets, and the f64's offset in int32 units.
const KIND_ = 0, A_ = 1, B_ = 2, SERIAL_ = 3, OFFSET_ = 4, SLOT_ = 5;
const GEN_ = 6, FENCE_ = 8;
/** Edge handles: serial × SPAN + index. */
const SPAN = 1024;
const MAX_SERIAL = 0x7ffff;

/** Owners and locks tracked at once, and their hold and wait edges. */
export const GRAPH_STRINGS = 64, GRAPH_EDGES = 256;

/** A new, empty graph's shared memory. */
export function createGraphBuffer(): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(
    HEADER_BYTES + GRAPH_STRINGS * STRING_BYTES + GRAPH_EDGES * EDGE_BYTES,
  );
  const i32 = new Int32Array(buffer);
  i32[STRINGS] = GRAPH_STRINGS;
  i32[EDGES] = GRAPH_EDGES;
  Atomics.store(i32, MAGIC_, GRAPH_MAGIC);
  return buffer;
}

/** The operations both graphs offer to `ManagedLock`. */
export interface WaitForGraphLike {
  /**
   * Records that `owner` waits for `lock`, unless that closes a cycle: then
   * returns the cycle and records nothing. Else the edge's handle (0: not
   * tracked).
   */
  waitUnlessCycle(owner: string, lock: Lock): DeadlockEdge[] | number;
  /** Acquires `lock` for the wait recorded as `edge` (binding it). */
  acquireFor(lock: Lock, options: AcquireOptions, edge: number): Promise<Lease>;
  unwait(edge: number): void;
  /** Records that `owner` holds `lock` by `lease`; 0: not tracked. */
  hold(lock: Lock, owner: string, lease: Lease): number;
  unhold(edge: number): void;
}

/** The graph in shared memory. */
export class SharedWaitForGraph implements WaitForGraphLike {
  readonly #i32: Int32Array;
  readonly #u16: Uint16Array;
  readonly #f64: Float64Array;
  readonly #strings: number;
  readonly #edges: number;
  readonly #edgeBase: number;
  readonly #table: SharedArrayBuffer | undefined;
  readonly #regions = new Map<number, ThreadState>();
  readonly #guard: Guard;

  /**
   * @param buffer The graph's shared memory.
   * @param table The buffer of the table whose locks it tracks: edges are
   *   bound to their locks' regions in it.
   */
  constructor(buffer: SharedArrayBuffer, table?: SharedArrayBuffer) {
    this.#i32 = new Int32Array(buffer);
    this.#u16 = new Uint16Array(buffer);
    this.#f64 = new Float64Array(buffer);
    this.#strings = this.#i32[STRINGS]!;
    this.#edges = this.#i32[EDGES]!;
    this.#edgeBase = (HEADER_BYTES + this.#strings * STRING_BYTES) >> 2;
    this.#table = table;
    this.#guard = new Guard(this.#i32, GUARD, () => this.#recount());
  }

  waitUnlessCycle(owner: string, lock: Lock): DeadlockEdge[] | number {
    return this.#guarded(() => {
      const now = localNow();
      const cycle = this.#findCycle(owner, lock.name, now);
      if (cycle !== undefined) return cycle;
      const x = this.#add(WAIT, owner, lock.name, now);
      if (x < 0) return 0;
      this.#i32[x + OFFSET_] = this.#offsetOf(lock);
      this.#f64[(x + FENCE_) >> 1] = now;
      return this.#handle(x);
    });
  }

  acquireFor(
    lock: Lock,
    options: AcquireOptions,
    edge: number,
  ): Promise<Lease> {
    if (edge === 0 || !(lock instanceof ThreadLock)) {
      return lock.acquire(options);
    }
    return acquireTracked(lock, options, (slot, gen) =>
      this.#guarded(() => {
        const x = this.#record(edge);
        if (x < 0) return;
        this.#i32[x + SLOT_] = slot;
        this.#i32[x + GEN_] = gen;
      }));
  }

  unwait(edge: number): void {
    this.#guarded(() => this.#remove(edge));
  }

  hold(lock: Lock, owner: string, lease: Lease): number {
    return this.#guarded(() => {
      const now = localNow();
      const x = this.#add(HOLD, lock.name, owner, now);
      if (x < 0) return 0;
      const binding = leaseBinding(lease);
      this.#i32[x + OFFSET_] = this.#offsetOf(lock);
      this.#i32[x + SLOT_] = binding?.slot ?? -1;
      this.#i32[x + GEN_] = binding?.gen ?? 0;
      this.#f64[(x + FENCE_) >> 1] = binding?.fence ?? 0;
      return this.#handle(x);
    });
  }

  unhold(edge: number): void {
    this.#guarded(() => this.#remove(edge));
  }

  #guarded<T>(fn: () => T): T {
    this.#guard.take();
    try {
      return fn();
    } finally {
      this.#guard.release();
    }
  }

  #offsetOf(lock: Lock): number {
    return lock instanceof ThreadLock && lock.handle.buffer === this.#table
      ? lock.handle.byteOffset
      : -1;
  }

  #handle(x: number): number {
    return this.#i32[x + SERIAL_]! * SPAN + (x - this.#edgeBase) / 10;
  }

  /** The record of a live handle, or -1. */
  #record(edge: number): number {
    const index = edge % SPAN, serial = Math.floor(edge / SPAN);
    if (index >= this.#edges) return -1;
    const x = this.#edgeBase + index * 10;
    return this.#i32[x + KIND_] !== 0 && this.#i32[x + SERIAL_] === serial
      ? x
      : -1;
  }

  // Everything below runs under the guard.

  #s(i: number): number {
    return (HEADER_BYTES + i * STRING_BYTES) >> 2;
  }

  #equals(i: number, text: string): boolean {
    const s = this.#s(i);
    if (this.#i32[s]! <= 0 || this.#i32[s + 1] !== text.length) return false;
    const u = (s + 2) << 1;
    for (let k = 0; k < text.length; k++) {
      if (this.#u16[u + k] !== text.charCodeAt(k)) return false;
    }
    return true;
  }

  #find(text: string): number {
    for (let i = 0; i < this.#strings; i++) if (this.#equals(i, text)) return i;
    return -1;
  }

  #read(i: number): string {
    const s = this.#s(i), u = (s + 2) << 1;
    let text = "";
    for (let k = 0; k < this.#i32[s + 1]!; k++) {
      text += String.fromCharCode(this.#u16[u + k]!);
    }
    return text;
  }

  /** Finds or adds `text` and takes a reference to it; -1 when full. */
  #intern(text: string): number {
    let i = this.#find(text);
    if (i < 0) {
      if (text.length > MAX_UNITS) return -1;
      for (i = 0; i < this.#strings; i++) {
        if (this.#i32[this.#s(i)]! <= 0) break;
      }
      if (i === this.#strings) return -1;
      const s = this.#s(i), u = (s + 2) << 1;
      this.#i32[s] = 0;
      this.#i32[s + 1] = text.length;
      for (let k = 0; k < text.length; k++) {
        this.#u16[u + k] = text.charCodeAt(k);
      }
    }
    this.#i32[this.#s(i)]!++;
    return i;
  }

  #unref(i: number): void {
    this.#i32[this.#s(i)]!--;
  }

  /** Adds an edge; its record's index in #i32, or -1 when full. */
  #add(kind: number, from: string, to: string, now: number): number {
    let x = this.#tryAdd(kind, from, to);
    if (x < 0 && this.#collect(now)) x = this.#tryAdd(kind, from, to);
    return x;
  }

  #tryAdd(kind: number, from: string, to: string): number {
    const a = this.#intern(from);
    if (a < 0) return -1;
    const b = this.#intern(to);
    if (b < 0) {
      this.#unref(a);
      return -1;
    }
    let x = -1;
    for (let e = 0; e < this.#edges; e++) {
      const y = this.#edgeBase + e * 10;
      if (this.#i32[y] === 0) {
        x = y;
        break;
      }
    }
    if (x < 0) {
      this.#unref(a);
      this.#unref(b);
      return -1;
    }
    const i32 = this.#i32;
    const serial = i32[SERIAL]! >= MAX_SERIAL ? 1 : i32[SERIAL]! + 1;
    i32[SERIAL] = serial;
    i32[x + A_] = a;
    i32[x + B_] = b;
    i32[x + SERIAL_] = serial;
    i32[x + OFFSET_] = -1;
    i32[x + SLOT_] = i32[x + GEN_] = 0;
    this.#f64[(x + FENCE_) >> 1] = 0;
    // Last: until then the record is free.
    Atomics.store(i32, x + KIND_, kind);
    return x;
  }

  #drop(x: number): void {
    const i32 = this.#i32;
    Atomics.store(i32, x + KIND_, 0);
    this.#unref(i32[x + A_]!);
    this.#unref(i32[x + B_]!);
  }

  #remove(edge: number): void {
    const x = this.#record(edge);
    if (x >= 0) this.#drop(x);
  }

  /** Drops every dead edge; whether it freed any. */
  #collect(now: number): boolean {
    let freed = false;
    for (let e = 0; e < this.#edges; e++) {
      const x = this.#edgeBase + e * 10;
      if (this.#i32[x] !== 0 && !this.#alive(x, now)) {
        this.#drop(x);
        freed = true;
      }
    }
    return freed;
  }

  /** Whether the lease or the waiter behind edge `x` is still there. */
  #alive(x: number, now: number): boolean {
    const i32 = this.#i32;
    const offset = i32[x + OFFSET_]!, slot = i32[x + SLOT_]!;
    const fence = this.#f64[(x + FENCE_) >> 1]!;
    if (i32[x] === WAIT && slot === 0) return now - fence < WAITER_STALE_MS;
    if (offset < 0 || this.#table === undefined) return true;
    let region = this.#regions.get(offset);
    if (region === undefined) {
      region = new ThreadState(this.#table, offset);
      this.#regions.set(offset, region);
    }
    // A region whose guard does not come at once (a dead thread holds it)
    // counts as dead here: that can hide a cycle, never invent one.
    return (i32[x] === HOLD
      ? region.leaseAlive(fence, slot, i32[x + GEN_]!, now)
      : region.waiterAlive(slot, i32[x + GEN_]!, now)) ?? false;
  }

  /** The repair after a takeover: string counts from the edges. */
  #recount(): void {
    const i32 = this.#i32;
    for (let i = 0; i < this.#strings; i++) i32[this.#s(i)] = 0;
    for (let e = 0; e < this.#edges; e++) {
      const x = this.#edgeBase + e * 10;
      const kind = i32[x]!;
      if (kind === 0) continue;
      const a = i32[x + A_]!, b = i32[x + B_]!;
      if (
        (kind !== HOLD && kind !== WAIT) || !(a >= 0 && a < this.#strings) ||
        !(b >= 0 && b < this.#strings)
      ) {
        Atomics.store(i32, x, 0);
        continue;
      }
      i32[this.#s(a)]!++;
      i32[this.#s(b)]!++;
    }
  }

  #findCycle(
    owner: string,
    key: string,
    now: number,
  ): DeadlockEdge[] | undefined {
    const me = this.#find(owner), lock = this.#find(key);
    // An owner that holds nothing, or a lock nobody holds, closes no cycle.
    if (me < 0 || lock < 0) return undefined;
    const seen = new Set<number>();
    const path: DeadlockEdge[] = [];
    const i32 = this.#i32, base = this.#edgeBase;
    const visit = (waiter: number, wanted: number): boolean => {
      for (let e = 0; e < this.#edges; e++) {
        const x = base + e * 10;
        if (i32[x] !== HOLD || i32[x + A_] !== wanted) continue;
        if (!this.#alive(x, now)) continue;
        const holder = i32[x + B_]!;
        path.push({
          owner: this.#read(waiter),
          lockName: this.#read(wanted),
          holder: this.#read(holder),
        });
        if (holder === me) return true;
        if (!seen.has(holder)) {
          seen.add(holder);
          for (let f = 0; f < this.#edges; f++) {
            const y = base + f * 10;
            if (i32[y] !== WAIT || i32[y + A_] !== holder) continue;
            if (!this.#alive(y, now)) continue;
            if (visit(holder, i32[y + B_]!)) return true;
          }
        }
        path.pop();
      }
      return false;
    };
    return visit(me, lock) ? path : undefined;
  }
}
