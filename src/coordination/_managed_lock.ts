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
  /** Each recorded edge by its handle: [hold?, owner, lock]. */
  readonly #edges = new Map<number, [boolean, string, string]>();
  #next = 0;

  waitUnlessCycle(owner: string, lock: Lock): DeadlockEdge[] | number {
    const cycle = this.#findCycle(owner, lock.name);
    if (cycle !== undefined) return cycle;
    count(this.#waits, owner, lock.name, 1);
    this.#edges.set(++this.#next, [false, owner, lock.name]);
    return this.#next;
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

  acquireFor(lock: Lock, options: AcquireOptions): Promise<Lease> {
    return lock.acquire(options);
  }

  unwait(edge: number): void {
    this.#forget(edge);
  }

  hold(lock: Lock, owner: string): number {
    count(this.#holders, lock.name, owner, 1);
    this.#edges.set(++this.#next, [true, owner, lock.name]);
    return this.#next;
  }

  unhold(edge: number): void {
    this.#forget(edge);
  }

  #forget(edge: number): void {
    const recorded = this.#edges.get(edge);
    if (recorded === undefined) return;
    this.#edges.delete(edge);
    const [held, owner, lock] = recorded;
    if (held) count(this.#holders, lock, owner, -1);
    else count(this.#waits, owner, lock, -1);
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
    const graph = this.#graph;
    // Checks and records in one step, so that of two acquisitions closing
    // a cycle at once (in two threads) exactly one sees it.
    const waiting = graph.waitUnlessCycle(owner, this.#lock);
    if (typeof waiting !== "number") throw new LockDeadlockError(waiting);
    let lease: Lease;
    try {
      lease = await graph.acquireFor(this.#lock, options, waiting);
    } finally {
      if (waiting !== 0) graph.unwait(waiting);
    }
    return this.#held(lease, owner);
  }

  #held(lease: Lease, owner: string): Lease {
    const graph = this.#graph;
    const edge = graph.hold(this.#lock, owner, lease);
    if (edge === 0) return lease;
    return new OwnedLease(lease, () => graph.unhold(edge));
  }
}

/**
 * A lease whose release takes its owner off the graph, as does its loss:
 * a lease that ran out holds nothing, released or not.
 */
class OwnedLease implements Lease {
  readonly #lease: Lease;
  #forget: (() => void) | undefined;

  constructor(lease: Lease, forget: () => void) {
    this.#lease = lease;
    this.#forget = forget;
    const signal = lease.signal;
    if (signal.aborted) this.#unhold();
    else signal.addEventListener("abort", () => this.#unhold(), { once: true });
  }

  #unhold(): void {
    const forget = this.#forget;
    this.#forget = undefined;
    forget?.();
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
    this.#unhold();
    return this.#lease.release();
  }

  extend(leaseMs?: number): Promise<void> {
    return this.#lease.extend(leaseMs);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
