// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A worker of the termination trials (_thread_trials_child.mjs): loops
 * acquire/release on one thread lock as fast as it can, with a query(), an
 * isLocked() and a tryAcquire() now and then, so that a termination at a
 * random moment lands anywhere in the lock's code, its bookkeeping included.
 * Runs on Node (worker_threads), Deno and Bun (Worker).
 */
const isNode = typeof globalThis.process?.versions?.node === "string" &&
  !("Deno" in globalThis) && !("Bun" in globalThis);

async function start(data, post) {
  const { createLock } = await import(data.lib);
  const lock = createLock("thread", { handle: data.handle });
  // Counts its loops, so the trial can tell whether it still runs after
  // terminate() returned (Deno's takes effect late).
  const beat = new Int32Array(data.beat);
  let started = false;
  for (let i = 0;; i++) {
    const lease = await lock.acquire({ leaseMs: data.leaseMs });
    Atomics.add(beat, data.index, 1);
    if (!started) {
      started = true;
      post({ running: true });
    }
    if (i % 7 === 3) await lock.query();
    if (i % 5 === 1) await lock.isLocked();
    await lease.release();
    if (i % 11 === 5) {
      (await lock.tryAcquire({ leaseMs: data.leaseMs }))?.release();
    }
  }
}

if (isNode) {
  const { parentPort, workerData } = await import("node:worker_threads");
  start(workerData, (m) => parentPort.postMessage(m));
} else {
  self.onmessage = (event) => start(event.data, (m) => self.postMessage(m));
}
