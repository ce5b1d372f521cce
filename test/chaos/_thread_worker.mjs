// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A chaos worker thread: `tasks` clients sharing this thread's
 * `ThreadLock`s (made from the handles the main thread sent), writing to the
 * fenced store in shared memory. Posts records in batches, then its counts.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createLock } from "unilock";
import { derive } from "./_rng.mjs";
import { SharedFencedStore } from "./_store.mjs";
import { mergeCounts, runClient } from "./_workload.mjs";

const { handles, storeBuffer, names, tasks, seed, worker, workload } =
  workerData;
const store = new SharedFencedStore(storeBuffer, names);
const locks = new Map(
  names.map((name, i) => [name, createLock("thread", { handle: handles[i] })]),
);
const results = await Promise.all(
  Array.from({ length: tasks }, (_, t) =>
    runClient({
      ...workload,
      lock: (name) => locks.get(name),
      store,
      names,
      client: worker * 100 + t,
      seed: derive(seed, worker * 100 + t),
      flush: (records) => parentPort.postMessage({ records }),
    })),
);
const counts = {};
for (const r of results) mergeCounts(counts, r.counts);
parentPort.postMessage({
  done: { counts, errors: results.flatMap((r) => r.errors) },
});
