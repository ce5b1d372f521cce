// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal A guard word: the short mutual exclusion over a lock's
 * bookkeeping in shared memory, which survives a holder that dies inside it.
 *
 * A thread can be terminated at any instruction, and termination runs no
 * `finally`: a thread that dies holding the guard never frees it. So the
 * word says who holds it and which hold this is, and a holder that stays
 * past any live section is taken over:
 *
 * - 0 is free. A holder stores its token: 16 bits of its thread's id (for
 *   error messages), 15 bits of a sequence the thread advances at every take
 *   — so each hold has its own value, a liveness mark that a dead thread
 *   stops refreshing — and bit 0, which a thread sets when it sleeps on the
 *   word so that the holder wakes it.
 * - A live holder keeps the word for microseconds: every guarded section is
 *   a few dozen to a few hundred instructions, never an `await`, never a
 *   scan of all slots except in a repair. A thread that sees one and the
 *   same token for {@linkcode GUARD_STALE_MS} of its own watching — where a
 *   gap between two looks counts for at most {@linkcode MAX_GAP_MS}, so that
 *   a stopped process (SIGSTOP, a debugger, a suspended machine) does not
 *   count as time the holder had — presumes the holder dead, takes the word over
 *   with a compare-and-exchange from that very token, and calls the owner's
 *   `repair()` before it goes on: the dead holder may have stopped between
 *   any two of its stores, so every structure behind a guard is either
 *   consistent at every store or rebuilt by its repair.
 * - A holder that was only stalled that long (it cannot be told from a dead
 *   one from outside: neither runs) finds its token gone when it releases,
 *   leaves the word to its new holder, and repairs again under a fresh take.
 *
 * Waiting for the word never hangs: a synchronous take spins briefly, then
 * sleeps in `Atomics.wait` for at most 1 ms at a time (spins where a thread
 * may not block), and ends by taking the word over; an asynchronous take
 * gives the event loop back after {@linkcode SYNC_BUDGET_MS} and honours the
 * caller's deadline and signal.
 */

import { THREAD_ID } from "./_thread_id.ts";

/** How long one hold may be watched before its holder is presumed dead. */
export const GUARD_STALE_MS = 1_000;
/** A longer gap between two looks at the word restarts the watch. */
export const MAX_GAP_MS = 250;
/** How long a take spins before it sleeps. */
const SPIN_MS = 0.05;
/** How long an asynchronous take blocks before it yields to the event loop. */
const SYNC_BUDGET_MS = 2;

const GUARD_ID = (THREAD_ID & 0xffff) || 1;
let sequence = 0;

function nextToken(): number {
  sequence = (sequence + 1) & 0x7fff;
  return (GUARD_ID << 16 | sequence << 1) | 0;
}

// Whether this thread may sleep in Atomics.wait: not on a browser's main
// thread, which throws instead.
let canBlock: boolean | undefined;
function mayBlock(): boolean {
  if (canBlock === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      canBlock = true;
    } catch {
      canBlock = false;
    }
  }
  return canBlock;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One guard word, as one thread sees it. */
export class Guard {
  readonly #i32: Int32Array;
  readonly #index: number;
  readonly #repair: () => void;
  #token = 0;
  /** The hold this thread is watching, for how long, and when it last looked. */
  #seen = 0;
  #watched = 0;
  #last = 0;
  /** Takeovers this thread made of this word (a figure for tests). */
  takeovers = 0;

  /**
   * @param i32 The shared memory.
   * @param index The guard word's index in `i32`.
   * @param repair Rebuilds what a dead holder may have left half done;
   *   called with the guard held.
   */
  constructor(i32: Int32Array, index: number, repair: () => void) {
    this.#i32 = i32;
    this.#index = index;
    this.#repair = repair;
  }

  /**
   * Takes the word, waiting at most `budgetMs` (blocking this thread);
   * false if that was not enough. Without a budget it waits until the word
   * is free or its holder is presumed dead.
   */
  take(budgetMs: number = Infinity): boolean {
    const i32 = this.#i32, index = this.#index;
    const token = nextToken();
    if (Atomics.compareExchange(i32, index, 0, token) === 0) {
      this.#token = token;
      return true;
    }
    const start = performance.now();
    const spinUntil = start + SPIN_MS, until = start + budgetMs;
    // Spin long enough to outlast a critical section, and then some: a
    // thread that sleeps here too soon lets the other threads take the guard
    // again and again before the OS wakes it, and that unfairness would undo
    // the queue's FIFO order one level up.
    do {
      for (let spins = 0; spins < 64; spins++) {
        if (
          Atomics.load(i32, index) === 0 &&
          Atomics.compareExchange(i32, index, 0, token) === 0
        ) {
          this.#token = token;
          return true;
        }
      }
    } while (performance.now() < spinUntil);
    const block = mayBlock();
    for (;;) {
      const held = Atomics.load(i32, index);
      if (held === 0) {
        if (Atomics.compareExchange(i32, index, 0, token) === 0) {
          this.#token = token;
          return true;
        }
        continue;
      }
      const t = performance.now();
      if (this.#stale(held, t)) {
        if (Atomics.compareExchange(i32, index, held, token) === held) {
          this.#token = token;
          this.#takenOver();
          return true;
        }
        continue;
      }
      if (t >= until) return false;
      if (block) {
        // Ask to be woken, then sleep (1 ms at most: the holder may die).
        if ((held & 1) === 0) {
          Atomics.compareExchange(i32, index, held, held | 1);
        }
        Atomics.wait(i32, index, held | 1, Math.min(1, until - t));
      } else {
        for (let spins = 0; spins < 256; spins++) {
          if (Atomics.load(i32, index) !== held) break;
        }
      }
    }
  }

  /**
   * Takes the word without holding up the event loop for more than a moment:
   * past that it waits on timers, and rejects with `signal.reason` or with
   * `timedOut()` when the caller gives up first.
   */
  async takeAsync(
    deadline: number | undefined,
    signal: AbortSignal | undefined,
    timedOut: (detail: string) => Error,
  ): Promise<void> {
    let pause = 1;
    for (;;) {
      const left = deadline === undefined
        ? Infinity
        : deadline - performance.now();
      if (this.take(Math.min(SYNC_BUDGET_MS, Math.max(0, left)))) return;
      if (signal?.aborted) throw signal.reason;
      if (left <= SYNC_BUDGET_MS) throw timedOut(this.describe());
      await sleep(Math.min(pause, left));
      pause = Math.min(pause * 2, 16);
    }
  }

  /** Frees the word; wakes a sleeper. */
  release(): void {
    const i32 = this.#i32, index = this.#index, token = this.#token;
    this.#token = 0;
    const held = Atomics.compareExchange(i32, index, token, 0);
    if (held === token) return;
    if ((held & ~1) === token) {
      Atomics.store(i32, index, 0);
      Atomics.notify(i32, index, 1);
      return;
    }
    // Taken over: this thread stalled inside its section past
    // GUARD_STALE_MS and was presumed dead, so its stores may have met the
    // repair's. Leave the word to its holder; repair again under a new take.
    this.take();
    try {
      this.#repair();
    } finally {
      this.release();
    }
  }

  /** Who holds the word now and for how long this thread has watched it. */
  describe(): string {
    const held = Atomics.load(this.#i32, this.#index);
    if (held === 0) return "the guard is free again";
    const watched = Math.round(this.#watched);
    return `held by thread ${
      (held >>> 16).toString(16)
    } for ${watched}ms (a thread terminated inside the lock's bookkeeping is taken over after ${GUARD_STALE_MS}ms)`;
  }

  #stale(held: number, t: number): boolean {
    const hold = held & ~1;
    if (hold !== this.#seen) {
      this.#seen = hold;
      this.#watched = 0;
    } else {
      // A gap between two looks counts for at most MAX_GAP_MS: a stopped
      // process (or a timer that fired late on a loaded machine) is not
      // time the holder had, but does not restart the watch either.
      this.#watched += Math.min(t - this.#last, MAX_GAP_MS);
    }
    this.#last = t;
    return this.#watched >= GUARD_STALE_MS;
  }

  #takenOver(): void {
    this.#seen = 0;
    this.takeovers++;
    try {
      this.#repair();
    } catch (error) {
      this.release();
      throw error;
    }
  }
}
