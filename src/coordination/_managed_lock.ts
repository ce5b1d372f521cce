// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal Deadlock detection for the locks a `LockManager` keeps: its
 * `local` locks (a graph per manager) and its `thread` locks (the graph in
 * the table's shared memory, _shared_wait_for.ts, seen by every thread).
 * Acquisitions with an `owner` label are recorded in a wait-for graph: which
 * owners hold each lock, and which locks each owner waits for, by lock name.
 * An acquisition that cannot be granted at once and would wait for an owner
 * that (through the graph) waits for it is rejected with a
 * `LockDeadlockError` instead of waiting forever.
 *
 * The graph sees only labelled acquisitions through a manager: an
 * unlabelled holder is invisible.
 */

import { type DeadlockEdge, LockDeadlockError } from "../core/errors.ts";
import type { AcquireOptions, Lease, Lock, LockMode } from "../core/types.ts";
import { checkFn } from "../core/_validate.ts";
import type { LockListener, LockMetrics, LockSnapshot } from "../core/types.ts";
import { attachRecorder, recorderOf } from "../core/_recorder.ts";
import type { WaitForGraphLike } from "../thread/_shared_wait_for.ts";

/** Who holds and who waits for the locks of one manager, by lock name. */
export class WaitForGraph implements WaitForGraphLike {
  /** Lock → owner → how many leases that owner holds on it. */
  readonly #holders = new Map<string, Map<string, number>>();
  /** Owner → lock → how many of its acquisitions wait for it. */
  readonly #waits = new Map<string, Map<string, number>>();

  waitUnlessCycle(owner: string, lock: string): DeadlockEdge[] | boolean {
    const cycle = this.#findCycle(owner, lock);
    if (cycle !== undefined) return cycle;
    count(this.#waits, owner, lock, 1);
    return true;
  }

  /** The cycle that `owner` waiting for `lock` would close, if any. */
  #findCycle(owner: string, lock: string): DeadlockEdge[] | undefined {
    // Depth-first from the lock's holders, following what each one waits
    // for, looking for `owner`; `seen` keeps it linear in the graph's size.
    const seen = new Set<string>();
    const path: DeadlockEdge[] = [];
    const visit = (waiter: string, wanted: string): boolean => {
      for (const holder of this.#holders.get(wanted)?.keys() ?? []) {
        path.push({ owner: waiter, lockName: wanted, holder });
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

  unwait(owner: string, lock: string): void {
    count(this.#waits, owner, lock, -1);
  }

  hold(lock: string, owner: string): boolean {
    count(this.#holders, lock, owner, 1);
    return true;
  }

  unhold(lock: string, owner: string): void {
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
  readonly #graph: WaitForGraphLike;

  constructor(lock: Lock, graph: WaitForGraphLike) {
    this.name = lock.name;
    this.type = lock.type;
    this.#lock = lock;
    this.#graph = graph;
    // The manager merges its locks' distributions through their recorders.
    const recorder = recorderOf(lock);
    if (recorder !== undefined) attachRecorder(this, recorder);
  }

  metrics(): LockMetrics {
    return this.#lock.metrics();
  }

  query(): Promise<LockSnapshot> {
    return this.#lock.query();
  }

  subscribe(listener: LockListener): () => void {
    return this.#lock.subscribe(listener);
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
    // (The probe is the manager's, not the caller's: the lock's metrics and
    // events do not count it as a busy tryAcquire.)
    const recorder = recorderOf(this.#lock);
    if (recorder !== undefined) recorder.probing = true;
    let probe: Promise<Lease | undefined>;
    try {
      probe = this.#lock.tryAcquire(options);
    } finally {
      if (recorder !== undefined) recorder.probing = false;
    }
    const now = await probe;
    if (now !== undefined) return this.#held(now, owner);
    const graph = this.#graph, name = this.name;
    // Checks and records in one step, so that of two acquisitions closing
    // a cycle at once (in two threads) exactly one sees it.
    const waiting = graph.waitUnlessCycle(owner, name);
    if (typeof waiting !== "boolean") throw new LockDeadlockError(waiting);
    let lease: Lease;
    try {
      lease = await this.#lock.acquire(options);
    } finally {
      if (waiting) graph.unwait(owner, name);
    }
    return this.#held(lease, owner);
  }

  #held(lease: Lease, owner: string): Lease {
    const graph = this.#graph, name = this.name;
    if (!graph.hold(name, owner)) return lease;
    return new OwnedLease(lease, () => graph.unhold(name, owner));
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
