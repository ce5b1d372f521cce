// Copyright 2026 the unilock authors. MIT license.
// One worker thread of `npm start`: takes the shared lock `rounds` times and
// does a read-modify-write on shared memory that only the lock keeps exact.
import { parentPort, workerData } from "node:worker_threads";
import { createLock } from "unilock";

const { handle, counter, log, rounds, id } = workerData;
const lock = createLock("thread", { handle });
const count = new Int32Array(counter);
const fences = new Float64Array(log);
const waits = [];
for (let i = 0; i < rounds; i++) {
  const asked = performance.now();
  await lock.withLock(async (lease) => {
    waits.push(performance.now() - asked);
    const read = count[0];
    await new Promise((resolve) => setTimeout(resolve, 1)); // a slow write
    count[0] = read + 1;
    fences[read] = lease.fence;
  });
}
parentPort.postMessage({ id, waits });
