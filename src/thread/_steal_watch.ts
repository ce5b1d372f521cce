// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal How a thread hears that another thread stole a lock from it.
 *
 * A steal bumps its region's steal count and notifies that word (see
 * `ThreadState.steal`). Each thread keeps one watch per region for the
 * leases whose `signal` was asked for — most leases are never watched, and
 * cost nothing here — and sleeps on the word with `Atomics.waitAsync`,
 * which neither polls nor keeps the event loop alive (an idle program still
 * ends). Where `Atomics.waitAsync` is missing, an unreferenced timer looks
 * every {@linkcode POLL_MS} instead.
 */

import { unref } from "../core/_unref.ts";

interface WaitAsyncResult {
  async: boolean;
  value: Promise<unknown> | string;
}
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => WaitAsyncResult;

const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/** How often a runtime without `Atomics.waitAsync` looks for a steal. */
export const POLL_MS = 10;

/** A lease that a watch looks after: it checks itself, and may leave. */
export interface Watched {
  /** Loses the lease if it was stolen (and leaves the watch). */
  checkStolen(): void;
}

export class StealWatch {
  readonly #i32: Int32Array;
  readonly #index: number;
  readonly #leases: Set<Watched> = new Set();
  #armed = false;

  constructor(i32: Int32Array, index: number) {
    this.#i32 = i32;
    this.#index = index;
  }

  add(lease: Watched): void {
    this.#leases.add(lease);
    if (!this.#armed) this.#arm();
  }

  delete(lease: Watched): void {
    this.#leases.delete(lease);
  }

  #arm(): void {
    this.#armed = true;
    if (waitAsync === undefined) {
      const timer = setTimeout(() => this.#woken(), POLL_MS);
      unref(timer);
      return;
    }
    for (;;) {
      const seen = Atomics.load(this.#i32, this.#index);
      const result = waitAsync(this.#i32, this.#index, seen);
      if (result.async) {
        (result.value as Promise<unknown>).then(() => this.#woken());
        return;
      }
      // A steal came between the load and the wait: look now, then again.
      this.#check();
      if (this.#leases.size === 0) {
        this.#armed = false;
        return;
      }
    }
  }

  #woken(): void {
    this.#armed = false;
    this.#check();
    // Left unarmed once nobody watches: the next watched lease arms it.
    if (this.#leases.size > 0) this.#arm();
  }

  #check(): void {
    for (const lease of [...this.#leases]) lease.checkStolen();
  }
}
