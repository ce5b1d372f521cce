// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The wait-for graph of a `ThreadLockTable`'s locks, in shared
 * memory, so that a deadlock among worker threads is seen by the thread
 * whose acquisition would close it. Same operations as the in-isolate graph
 * (see _managed_lock.ts), each under a guard word, so that of two threads
 * closing a cycle at once exactly one sees it.
 *
 * Layout (byte offsets):
 *
 *   0  int32  GUARD     0 free, 1 taken, 2 taken with sleepers
 *   4  int32  STRINGS   number of string entries
 *   8  int32  EDGES     number of edge entries
 *  12  int32  (reserved)
 *  16  strings, STRING_BYTES each: int32 REFS (0: free), int32 LENGTH,
 *      uint16 × MAX_UNITS (an owner label or a lock name)
 *   …  edges, 16 bytes each: int32 KIND (0 free, HOLD, WAIT), int32 A,
 *      int32 B (string indexes: HOLD lock → owner, WAIT owner → lock),
 *      int32 COUNT
 *
 * When it is full, acquisitions are not tracked: a cycle through them goes
 * unseen, but nothing is ever reported that is not a cycle.
 */

import type { DeadlockEdge } from "../core/errors.ts";
import { spinLock, spinUnlock } from "./_thread_state.ts";

const GUARD = 0, STRINGS = 1, EDGES = 2, HEADER_BYTES = 16;
const MAX_UNITS = 512;
const STRING_BYTES = 8 + MAX_UNITS * 2;
const EDGE_BYTES = 16;
const HOLD = 1, WAIT = 2;

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
  return buffer;
}

/** The operations both graphs offer to `ManagedLock`. */
export interface WaitForGraphLike {
  /**
   * Records that `owner` waits for lock `key`, unless that closes a cycle:
   * then returns the cycle and records nothing. `false`: not tracked.
   */
  waitUnlessCycle(owner: string, key: string): DeadlockEdge[] | boolean;
  unwait(owner: string, key: string): void;
  /** Records that `owner` holds lock `key`; `false`: not tracked. */
  hold(key: string, owner: string): boolean;
  unhold(key: string, owner: string): void;
}

/** The graph in shared memory. */
export class SharedWaitForGraph implements WaitForGraphLike {
  readonly #i32: Int32Array;
  readonly #u16: Uint16Array;
  readonly #strings: number;
  readonly #edges: number;
  readonly #edgeBase: number;

  constructor(buffer: SharedArrayBuffer) {
    this.#i32 = new Int32Array(buffer);
    this.#u16 = new Uint16Array(buffer);
    this.#strings = this.#i32[STRINGS]!;
    this.#edges = this.#i32[EDGES]!;
    this.#edgeBase = (HEADER_BYTES + this.#strings * STRING_BYTES) >> 2;
  }

  waitUnlessCycle(owner: string, key: string): DeadlockEdge[] | boolean {
    return this.#guarded(() => {
      const cycle = this.#findCycle(owner, key);
      return cycle ?? this.#add(WAIT, owner, key);
    });
  }

  unwait(owner: string, key: string): void {
    this.#guarded(() => this.#remove(WAIT, owner, key));
  }

  hold(key: string, owner: string): boolean {
    return this.#guarded(() => this.#add(HOLD, key, owner));
  }

  unhold(key: string, owner: string): void {
    this.#guarded(() => this.#remove(HOLD, key, owner));
  }

  #guarded<T>(fn: () => T): T {
    spinLock(this.#i32, GUARD);
    try {
      return fn();
    } finally {
      spinUnlock(this.#i32, GUARD);
    }
  }

  // Everything below runs under the guard.

  #s(i: number): number {
    return (HEADER_BYTES + i * STRING_BYTES) >> 2;
  }

  #equals(i: number, text: string): boolean {
    const s = this.#s(i);
    if (this.#i32[s]! === 0 || this.#i32[s + 1] !== text.length) return false;
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
        if (this.#i32[this.#s(i)] === 0) break;
      }
      if (i === this.#strings) return -1;
      const s = this.#s(i), u = (s + 2) << 1;
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

  #edge(kind: number, a: number, b: number): number {
    for (let e = 0; e < this.#edges; e++) {
      const x = this.#edgeBase + e * 4;
      if (
        this.#i32[x] === kind && this.#i32[x + 1] === a &&
        this.#i32[x + 2] === b
      ) return x;
    }
    return -1;
  }

  #add(kind: number, from: string, to: string): boolean {
    const a = this.#intern(from);
    if (a < 0) return false;
    const b = this.#intern(to);
    if (b < 0) {
      this.#unref(a);
      return false;
    }
    const existing = this.#edge(kind, a, b);
    if (existing >= 0) {
      this.#i32[existing + 3]!++;
      // The edge already holds its references to both strings.
      this.#unref(a);
      this.#unref(b);
      return true;
    }
    const free = this.#freeEdge();
    if (free < 0) {
      this.#unref(a);
      this.#unref(b);
      return false;
    }
    this.#i32[free] = kind;
    this.#i32[free + 1] = a;
    this.#i32[free + 2] = b;
    this.#i32[free + 3] = 1;
    return true;
  }

  #freeEdge(): number {
    for (let e = 0; e < this.#edges; e++) {
      const x = this.#edgeBase + e * 4;
      if (this.#i32[x] === 0) return x;
    }
    return -1;
  }

  #remove(kind: number, from: string, to: string): void {
    const a = this.#find(from), b = this.#find(to);
    if (a < 0 || b < 0) return;
    const x = this.#edge(kind, a, b);
    if (x < 0) return;
    if (--this.#i32[x + 3]! > 0) return;
    this.#i32[x] = this.#i32[x + 1] = this.#i32[x + 2] = 0;
    this.#unref(a);
    this.#unref(b);
  }

  #findCycle(owner: string, key: string): DeadlockEdge[] | undefined {
    const me = this.#find(owner), lock = this.#find(key);
    // An owner that holds nothing, or a lock nobody holds, closes no cycle.
    if (me < 0 || lock < 0) return undefined;
    const seen = new Set<number>();
    const path: DeadlockEdge[] = [];
    const i32 = this.#i32, base = this.#edgeBase;
    const visit = (waiter: number, wanted: number): boolean => {
      for (let e = 0; e < this.#edges; e++) {
        const x = base + e * 4;
        if (i32[x] !== HOLD || i32[x + 1] !== wanted) continue;
        const holder = i32[x + 2]!;
        path.push({
          owner: this.#read(waiter),
          lockName: this.#read(wanted),
          holder: this.#read(holder),
        });
        if (holder === me) return true;
        if (!seen.has(holder)) {
          seen.add(holder);
          for (let f = 0; f < this.#edges; f++) {
            const y = base + f * 4;
            if (i32[y] === WAIT && i32[y + 1] === holder) {
              if (visit(holder, i32[y + 2]!)) return true;
            }
          }
        }
        path.pop();
      }
      return false;
    };
    return visit(me, lock) ? path : undefined;
  }
}
