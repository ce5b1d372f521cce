#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:semaphore:thread` (Node; `deno run -A` and `npx bun` run it
// too): the thread semaphore's acquire + release, uncontended in one thread
// and with workers contending for fewer permits than there are workers. No
// peer shares a counting semaphore across threads, so there is no side by
// side here: the thread lock's uncontended figure is given for scale.
//
// Options: --uncontended 200000 --workers 4 --permits 2 --iterations 20000 --rounds 3
const isNode = typeof globalThis.process?.versions?.node === "string" &&
  !("Deno" in globalThis) && !("Bun" in globalThis);
const lib = await import(isNode ? "unilock" : "../mod.ts");
const args = "Deno" in globalThis ? Deno.args : process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const UNCONTENDED = opt("uncontended", 200_000);
const WORKERS = opt("workers", 4);
const PERMITS = opt("permits", 2);
const ITERATIONS = opt("iterations", 20_000);
const ROUNDS = opt("rounds", 3);
const runtime = "Deno" in globalThis
  ? `Deno ${Deno.version.deno}`
  : "Bun" in globalThis
  ? `Bun ${Bun.version}`
  : `Node ${process.version}`;

const workerUrl = new URL("./_semaphore_thread_worker.mjs", import.meta.url);
async function startWorker() {
  let worker;
  const inbox = [], waiting = [];
  const deliver = (data) =>
    waiting.length ? waiting.shift()(data) : inbox.push(data);
  if (isNode) {
    const { Worker } = await import("node:worker_threads");
    worker = new Worker(workerUrl);
    worker.on("message", deliver);
    worker.on("error", (e) => deliver({ error: String(e) }));
  } else {
    worker = new Worker(workerUrl, { type: "module" });
    worker.onmessage = (e) => deliver(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      deliver({ error: e.message });
    };
  }
  const next = async () => {
    const m = inbox.length
      ? inbox.shift()
      : await new Promise((r) => waiting.push(r));
    if (m?.error) throw new Error(m.error);
    return m;
  };
  await next();
  return {
    send: (m) => worker.postMessage(m),
    next,
    stop: () => worker.terminate(),
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function uncontended(make) {
  const results = [];
  for (let r = 0; r < ROUNDS; r++) {
    const target = make();
    const started = performance.now();
    for (let i = 0; i < UNCONTENDED; i++) {
      const lease = await target.acquire();
      await lease.release();
    }
    results.push(UNCONTENDED / ((performance.now() - started) / 1000));
  }
  return median(results);
}

const semOps = await uncontended(() =>
  lib.createSemaphore("thread", { name: "bench", permits: 2 })
);
const lockOps = await uncontended(() => lib.createLock("thread"));

const workers = await Promise.all(
  Array.from({ length: WORKERS }, () => startWorker()),
);
const contended = [];
let most = 0;
for (let r = 0; r < ROUNDS; r++) {
  const sem = lib.createSemaphore("thread", {
    name: "bench",
    permits: PERMITS,
  });
  const counter = new SharedArrayBuffer(8);
  const ready = new SharedArrayBuffer(4);
  const started = performance.now();
  for (const w of workers) {
    w.send({
      handle: sem.handle,
      permits: PERMITS,
      counter,
      ready,
      workers: WORKERS,
      iterations: ITERATIONS,
    });
  }
  for (const w of workers) await w.next();
  const seconds = (performance.now() - started) / 1000;
  contended.push((WORKERS * ITERATIONS) / seconds);
  most = Math.max(most, new Int32Array(counter)[1]);
}
for (const w of workers) w.stop();
if (most > PERMITS) throw new Error(`${most} permits out of ${PERMITS}`);

const fmt = (n) => Math.round(n).toLocaleString("en-US");
console.log(`thread semaphore, ${runtime}, median of ${ROUNDS} rounds`);
console.log(
  `  uncontended acquire+release, one thread: ${
    fmt(semOps)
  } ops/s (thread lock: ${fmt(lockOps)} ops/s, ${
    (semOps / lockOps).toFixed(2)
  }x)`,
);
console.log(
  `  ${WORKERS} threads contending for ${PERMITS} permits: ${
    fmt(median(contended))
  } ops/s in all (most in use: ${most})`,
);
