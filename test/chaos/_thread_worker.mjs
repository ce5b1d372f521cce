// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A chaos worker thread: `tasks` clients sharing this thread's
 * `ThreadLock`s (made from the handles the main thread sent), writing to the
 * fenced store in shared memory. Posts records in batches, then its counts.
 *
 * With `threads` (a `ThreadLockTable` handle) the locks come from a
 * `LockManager` on that table instead, and every acquisition carries its
 * task's `owner` label, so the table's deadlock graph records each one (a
 * task holds one lock at a time: any `LockDeadlockError` is false). With
 * `side`, one more task calls `query()`, `isLocked()` and `tryAcquire()`
 * in a loop, so that a termination can land inside them too.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createLock, LockManager } from "unilock";
import { derive } from "./_rng.mjs";
import { SharedFencedStore } from "./_store.mjs";
import { mergeCounts, runClient } from "./_workload.mjs";

const {
  handles,
  threads,
  side,
  storeBuffer,
  names,
  tasks,
  seed,
  worker,
  workload,
} = workerData;
const store = new SharedFencedStore(storeBuffer, names);
const manager = threads && new LockManager({ threads });
const locks = new Map(
  names.map((name, i) => [
    name,
    manager
      ? manager.getOrCreateLock(name, "thread")
      : createLock("thread", { handle: handles[i] }),
  ]),
);
/** An acquisition may outlast its timeoutMs by this much (a guard takeover). */
const LATE_MS = 2_000;
const late = [];

/** The task's view of a lock: its owner label, and lateness measured. */
function labelled(lock, owner) {
  if (owner === undefined) return lock;
  return {
    acquire(options) {
      const started = performance.now();
      const settled = () => {
        const ms = performance.now() - started;
        if (
          options.timeoutMs !== undefined && ms > options.timeoutMs + LATE_MS
        ) {
          late.push(
            `an acquire with timeoutMs ${options.timeoutMs} settled after ${
              Math.round(ms)
            } ms`,
          );
        }
      };
      const pending = lock.acquire({ ...options, owner });
      pending.then(settled, settled);
      return pending;
    },
  };
}

let running = true;
async function sideTask() {
  const list = [...locks.values()];
  for (let i = 0; running; i++) {
    const lock = list[i % list.length];
    await lock.query();
    await lock.isLocked();
    const lease = await lock.tryAcquire({ leaseMs: workload.leaseMs ?? 1_000 });
    await lease?.release();
    await new Promise((resolve) => setTimeout(resolve, i % 3));
  }
}
const sideDone = side ? sideTask() : Promise.resolve();

const results = await Promise.all(
  Array.from({ length: tasks }, (_, t) =>
    runClient({
      ...workload,
      lock: (name) =>
        labelled(
          locks.get(name),
          manager ? `task-${worker}-${t}` : undefined,
        ),
      store,
      names,
      client: worker * 100 + t,
      seed: derive(seed, worker * 100 + t),
      flush: (records) => parentPort.postMessage({ records }),
    })),
);
running = false;
await sideDone;
const counts = { late: late.length };
for (const r of results) mergeCounts(counts, r.counts);
parentPort.postMessage({
  done: { counts, errors: [...late, ...results.flatMap((r) => r.errors)] },
});
