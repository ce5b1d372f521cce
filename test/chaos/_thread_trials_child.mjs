#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Random-termination trials of the `thread` lock, the measurement
 * of issue 18: in each trial one or two workers loop acquire/release with
 * `leaseMs`; one is terminated at a random moment; then this thread acquires
 * the lock with a deadline. A trial is "ok" when that acquire is granted,
 * "timeout" when it rejects, and "wedged" when this thread stops answering
 * at all (a dead worker's guard word blocking it): the driver, which runs
 * this script as a child process, notices the silence, kills it and starts
 * it again at the next trial.
 *
 * Usage (a child of _thread_trials.mjs):
 *   node|deno run -A|bun _thread_trials_child.mjs <lib url> <from> <to> <seed> <contenders>
 * prints "S <index>" once the workers run, then "T <index> ok|timeout <ms to
 * acquire>".
 */
import { derive, seeded } from "./_rng.mjs";

const argv = "Deno" in globalThis ? Deno.args : process.argv.slice(2);
const [libUrl, fromArg, toArg, seedArg, contendersArg] = argv;
const { createLock } = await import(libUrl);
const isNode = typeof globalThis.process?.versions?.node === "string" &&
  !("Deno" in globalThis) && !("Bun" in globalThis);
const workerUrl = new URL("./_thread_trials_worker.mjs", import.meta.url);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const print = (line) =>
  "Deno" in globalThis
    ? Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"))
    : process.stdout.write(line + "\n");

async function startWorker(data) {
  let running;
  const ready = new Promise((resolve) => (running = resolve));
  if (isNode) {
    const { Worker } = await import("node:worker_threads");
    const worker = new Worker(workerUrl, { workerData: data });
    worker.on("message", (m) => m.running && running());
    worker.on("error", () => {});
    return { ready, terminate: () => worker.terminate() };
  }
  const worker = new Worker(workerUrl.href, { type: "module" });
  worker.onmessage = (event) => event.data.running && running();
  worker.onerror = (event) => event.preventDefault();
  worker.postMessage(data);
  return { ready, terminate: () => Promise.resolve(worker.terminate()) };
}

const leaseMs = 200;
for (let t = Number(fromArg); t < Number(toArg); t++) {
  const rng = seeded(derive(Number(seedArg), t));
  const lock = createLock("thread", { name: `trial-${t}`, capacity: 16 });
  const workers = [];
  const beat = new Int32Array(new SharedArrayBuffer(4 * 8));
  for (let w = 0; w < Number(contendersArg); w++) {
    workers.push(
      await startWorker({
        lib: libUrl,
        handle: lock.handle,
        leaseMs,
        beat: beat.buffer,
        index: w,
      }),
    );
  }
  await Promise.all(workers.map((w) => w.ready));
  // From here on, silence means this thread is wedged (before it, a slow
  // worker start).
  print(`S ${t}`);
  await sleep(1 + rng() * 40);
  await workers[0].terminate();
  // The guard word and the writer flag as the terminated worker left them,
  // printed for a slow trial (a layout detail: for diagnosis only).
  const words = new Int32Array(lock.handle.buffer, 0, 4);
  const beats = Atomics.load(beat, 0);
  const left = `guard=${words[2].toString(16)} writer=${words[3]}`;
  const after = () =>
    `${left}, loops of the terminated worker after terminate(): ${
      Atomics.load(beat, 0) - beats
    }`;
  const started = performance.now();
  let outcome = "ok";
  try {
    const lease = await lock.acquire({ timeoutMs: 10_000, leaseMs });
    await lease.release();
  } catch {
    outcome = "timeout";
  }
  const ms = Math.round(performance.now() - started);
  await Promise.all(workers.slice(1).map((w) => w.terminate()));
  print(`T ${t} ${outcome} ${ms}${ms > 1_500 ? ` ${after()}` : ""}`);
}
// Out at once, whatever the runtime keeps alive after its workers.
if ("Deno" in globalThis) Deno.exit(0);
else process.exit(0);
