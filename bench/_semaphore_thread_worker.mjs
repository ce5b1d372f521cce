// Copyright 2026 the unilock authors. MIT license.
// The worker side of bench/semaphore_thread.mjs, for Node, Deno and Bun.
const isNode = typeof globalThis.process?.versions?.node === "string" &&
  !("Deno" in globalThis) && !("Bun" in globalThis);
const lib = await import(isNode ? "unilock" : "../mod.ts");
const port = isNode
  ? (await import("node:worker_threads")).parentPort
  : globalThis;

/** Starts every worker together, so that the acquisitions contend. */
function barrier(ready, count) {
  const word = new Int32Array(ready);
  Atomics.add(word, 0, 1);
  while (Atomics.load(word, 0) < count) { /* a moment, once per run */ }
}

async function run(m) {
  const sem = lib.createSemaphore("thread", {
    handle: m.handle,
    permits: m.permits,
  });
  const counter = new Int32Array(m.counter);
  barrier(m.ready, m.workers);
  const started = performance.now();
  for (let i = 0; i < m.iterations; i++) {
    const lease = await sem.acquire();
    // In use now, and the most seen: the bench checks the limit too.
    const now = Atomics.add(counter, 0, 1) + 1;
    if (now > Atomics.load(counter, 1)) Atomics.store(counter, 1, now);
    Atomics.sub(counter, 0, 1);
    await lease.release();
  }
  return { ms: performance.now() - started };
}

const onMessage = (data) =>
  run(data).then(
    (result) => port.postMessage(result),
    (error) => port.postMessage({ error: String(error?.stack ?? error) }),
  );
if (isNode) port.on("message", onMessage);
else globalThis.onmessage = (event) => onMessage(event.data);
port.postMessage({ ready: true });
