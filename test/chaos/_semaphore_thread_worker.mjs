// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A semaphore chaos client thread: `tasks` clients running the
 * semaphore workload against thread semaphores opened by name in a shared
 * table. Posts its records as they come ({ records }), so a thread that is
 * terminated mid-run still leaves what it finished, then { done, counts }.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createSemaphore } from "unilock";
import { derive } from "./_rng.mjs";
import { runSemaphoreClient } from "./_semaphore_workload.mjs";

const config = workerData;
const made = new Map();
const semaphore = (name) => {
  let sem = made.get(name);
  if (sem === undefined) {
    sem = createSemaphore("thread", {
      table: config.table,
      name,
      permits: config.capacity,
    });
    made.set(name, sem);
  }
  return sem;
};
const results = await Promise.all(
  Array.from({ length: config.tasks }, (_, t) =>
    runSemaphoreClient({
      ...config.workload,
      semaphore,
      names: config.names,
      capacity: config.capacity,
      client: config.client * 100 + t,
      seed: derive(config.seed, config.client * 100 + t),
      flush: (records) => parentPort.postMessage({ records }),
    })),
);
const counts = {};
for (const r of results) {
  for (const [k, n] of Object.entries(r.counts)) {
    counts[k] = (counts[k] ?? 0) + n;
  }
}
parentPort.postMessage({
  done: true,
  counts,
  errors: results.flatMap((r) => r.errors),
});
