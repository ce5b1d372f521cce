// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal Deadlock detection for the locks a `LockManager` keeps in this
 * isolate (its `local` locks, and its `thread` locks as this thread uses
 * them). Acquisitions with an `owner` label are recorded in a wait-for graph:
 * which owners hold each lock, and which locks each owner waits for. An
 * acquisition that cannot be granted at once and would wait for an owner
 * that (through the graph) waits for it is rejected with a
 * `LockDeadlockError` instead of waiting forever.
 *
 * The graph sees only what passes through the manager in this thread, and
 * only labelled acquisitions: an unlabelled holder is invisible, and so is
 * another thread's use of a shared thread lock.
 */

import { type DeadlockEdge, LockDeadlockError } from "./errors.ts";
import type { AcquireOptions, Lease, Lock, LockMode } from "./types.ts";
import { checkFn } from "./_validate.ts";

/** Who holds and who waits for the locks of one manager. */
export class WaitForGraph {
  /** Lock → owner → how many leases that owner holds on it. */
  readonly #holders = new Map<Lock, Map<string, number>>();
  /** Owner → lock → how many of its acquisitions wait for it. */
  readonly #waits = new Map<string, Map<Lock, number>>();

  /** The cycle that `owner` waiting for `lock` would close, if any. */
  findCycle(owner: string, lock: Lock): DeadlockEdge[] | undefined {
    // Depth-first from the lock's holders, following what each one waits
    // for, looking for `owner`; `seen` keeps it linear in the graph's size.
    const seen = new Set<string>();
    const path: DeadlockEdge[] = [];
    const visit = (waiter: string, wanted: Lock): boolean => {
      for (const holder of this.#holders.get(wanted)?.keys() ?? []) {
        path.push({ owner: waiter, lockName: wanted.name, holder });
        if (holder === owner) return true;
        if (!seen.has(holder)) {
          seen.add(holder);
          for (const next of this.#waits.get(holder)?.keys() ?? []) {
            if (visit(holder, next)) return true;
          }
        }
        path.pop();
      }
      return false;
    };
    return visit(owner, lock) ? path : undefined;
  }

  wait(owner: string, lock: Lock): void {
    count(this.#waits, owner, lock, 1);
  }

  unwait(owner: string, lock: Lock): void {
    count(this.#waits, owner, lock, -1);
  }

  hold(lock: Lock, owner: string): void {
    count(this.#holders, lock, owner, 1);
  }

  unhold(lock: Lock, owner: string): void {
    count(this.#holders, lock, owner, -1);
  }
}

function count<K, V>(map: Map<K, Map<V, number>>, k: K, v: V, by: number) {
  let inner = map.get(k);
  if (inner === undefined) map.set(k, inner = new Map());
  const n = (inner.get(v) ?? 0) + by;
  if (n > 0) inner.set(v, n);
  else {
    inner.delete(v);
    if (inner.size === 0) map.delete(k);
  }
}

/**
 * A manager's lock: the lock itself for unlabelled acquisitions, and the
 * wait-for graph in between for labelled ones.
 */
export class ManagedLock implements Lock {
  readonly name: string;
  readonly type: string;
  readonly #lock: Lock;
  readonly #graph: WaitForGraph;

  constructor(lock: Lock, graph: WaitForGraph) {
    this.name = lock.name;
    this.type = lock.type;
    this.#lock = lock;
    this.#graph = graph;
  }

  acquire(options?: AcquireOptions): Promise<Lease> {
    const owner = options?.owner;
    if (owner === undefined) return this.#lock.acquire(options);
    return this.#acquireAs(owner, options!);
  }

  tryAcquire(options?: AcquireOptions): Promise<Lease | undefined> {
    const owner = options?.owner;
    if (owner === undefined) return this.#lock.tryAcquire(options);
    return this.#lock.tryAcquire(options).then((lease) =>
      lease && this.#held(lease, owner)
    );
  }

  withLock<T>(
    fn: (lease: Lease) => T | Promise<T>,
    options?: AcquireOptions,
  ): Promise<T> {
    if (options?.owner === undefined) return this.#lock.withLock(fn, options);
    return this.#withLockAs(fn, options);
  }

  isLocked(): Promise<boolean> {
    return this.#lock.isLocked();
  }

  async #withLockAs<T>(
    fn: (lease: Lease) => T | Promise<T>,
    options: AcquireOptions,
  ): Promise<T> {
    checkFn(this.name, fn);
    const lease = await this.acquire(options);
    try {
      return await fn(lease);
    } finally {
      await lease.release();
    }
  }

  async #acquireAs(owner: string, options: AcquireOptions): Promise<Lease> {
    // Only an acquisition that would wait can deadlock: a free lock (or one
    // that admits another shared holder) is granted without a look at the
    // graph. This also validates the options.
    const now = await this.#lock.tryAcquire(options);
    if (now !== undefined) return this.#held(now, owner);
    const graph = this.#graph;
    const cycle = graph.findCycle(owner, this.#lock);
    if (cycle !== undefined) throw new LockDeadlockError(cycle);
    graph.wait(owner, this.#lock);
    let lease: Lease;
    try {
      lease = await this.#lock.acquire(options);
    } finally {
      graph.unwait(owner, this.#lock);
    }
    return this.#held(lease, owner);
  }

  #held(lease: Lease, owner: string): Lease {
    this.#graph.hold(this.#lock, owner);
    return new OwnedLease(lease, () => this.#graph.unhold(this.#lock, owner));
  }
}

/** A lease whose release also takes its owner off the graph. */
class OwnedLease implements Lease {
  readonly #lease: Lease;
  #forget: (() => void) | undefined;

  constructor(lease: Lease, forget: () => void) {
    this.#lease = lease;
    this.#forget = forget;
  }

  get name(): string {
    return this.#lease.name;
  }

  get mode(): LockMode {
    return this.#lease.mode;
  }

  get fence(): number {
    return this.#lease.fence;
  }

  get signal(): AbortSignal {
    return this.#lease.signal;
  }

  get released(): boolean {
    return this.#lease.released;
  }

  release(): Promise<void> {
    const forget = this.#forget;
    this.#forget = undefined;
    forget?.();
    return this.#lease.release();
  }

  extend(leaseMs?: number): Promise<void> {
    return this.#lease.extend(leaseMs);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
