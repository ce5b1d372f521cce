#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:thread` (Node, then Deno; `npx bun bench/thread.mjs` on Bun):
// the thread lock side by side with the usual ways to share a lock between
// worker threads, in one run, reported as ratios.
//
//   - a MessagePort mutex: the main thread grants in FIFO order over ports
//   - navigator.locks shared between workers (Deno; Node 20 and Bun lack it)
//
// Options: --workers 2,4 --iterations 10000 --rounds 3 --uncontended 1000000
// The default worker counts are this machine's 2 cores and twice that
// (oversubscribed: a FIFO handoff then waits for the OS to wake a thread).
const isNode = typeof globalThis.process?.versions?.node === "string" &&
  !("Deno" in globalThis) && !("Bun" in globalThis);
const lib = await import(isNode ? "unilock" : "../mod.ts");
const args = "Deno" in globalThis ? Deno.args : process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const workersArg = args.indexOf("--workers");
const COUNTS = workersArg === -1
  ? [2, 4]
  : args[workersArg + 1].split(",").map(Number);
let WORKERS = COUNTS[0];
const ITERATIONS = opt("iterations", 10_000);
const ROUNDS = opt("rounds", 3);
const UNCONTENDED = opt("uncontended", 1_000_000);
const runtime = "Deno" in globalThis
  ? `Deno ${Deno.version.deno}`
  : "Bun" in globalThis
  ? `Bun ${Bun.version}`
  : `Node ${process.version}`;

const workerUrl = new URL("./_thread_worker.mjs", import.meta.url);
async function startWorker() {
  let worker, onMessage;
  const inbox = [], waiting = [];
  const deliver = (
    data,
  ) => (waiting.length ? waiting.shift()(data) : inbox.push(data));
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
  await next(); // ready
  return {
    post: (m, transfer) => worker.postMessage(m, transfer ?? []),
    next,
    stop: () => worker.terminate(),
    onMessage,
  };
}

/** The MessagePort mutex: the main thread queues requests, grants FIFO. */
function portServer(count) {
  const ports = [];
  const queue = [];
  let holder;
  const grant = () => {
    holder = queue.shift();
    holder?.postMessage("granted");
  };
  for (let i = 0; i < count; i++) {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = (e) => {
      if (e.data === "acquire") {
        queue.push(port1);
        if (holder === undefined) grant();
      } else if (e.data === "release") {
        holder = undefined;
        grant();
      }
    };
    ports.push({ mine: port1, theirs: port2 });
  }
  return ports;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function contended(kind, workers) {
  const total = WORKERS * ITERATIONS;
  const shared = {
    counter: new SharedArrayBuffer(4),
    stamp: new SharedArrayBuffer(16),
    lat: new SharedArrayBuffer(8 * total),
    ready: new SharedArrayBuffer(4),
  };
  const lock = kind === "unilock"
    ? new lib.ThreadLock({ name: "bench" })
    : undefined;
  const ports = kind === "port" ? portServer(WORKERS) : [];
  const name = `bench-${Math.random()}`;
  const start = performance.now();
  workers.forEach((w, id) => {
    const base = {
      kind,
      shared,
      iterations: ITERATIONS,
      id,
      name,
      workers: WORKERS,
    };
    if (kind === "unilock") w.post({ ...base, handle: lock.handle });
    else if (kind === "port") {
      w.post({ ...base, port: ports[id].theirs }, [ports[id].theirs]);
    } else w.post(base);
  });
  await Promise.all(workers.map((w) => w.next()));
  const elapsed = performance.now() - start;
  for (const p of ports) p.mine.close();
  const count = new Int32Array(shared.counter)[0];
  if (count !== total) {
    throw new Error(`${kind}: ${count} of ${total} sections counted`);
  }
  const lat = Array.from(new Float64Array(shared.lat)).filter((x) =>
    !Number.isNaN(x)
  ).sort((a, b) => a - b);
  return {
    handoffs: lat.length / total,
    perSecond: total / (elapsed / 1000),
    p50: percentile(lat, 0.5) * 1000,
    p99: percentile(lat, 0.99) * 1000,
  };
}

async function uncontended(lock) {
  const start = performance.now();
  for (let i = 0; i < UNCONTENDED; i++) {
    const lease = await lock.acquire();
    await lease.release();
  }
  return ((performance.now() - start) / UNCONTENDED) * 1e6; // ns
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const cores = globalThis.navigator?.hardwareConcurrency ??
  (isNode ? (await import("node:os")).cpus().length : undefined);
console.log(
  `unilock thread lock benchmark — ${runtime}, ${cores ?? "?"} cores, ${
    ITERATIONS.toLocaleString("en")
  } acquisitions per worker, median of ${ROUNDS} rounds`,
);

const kinds = ["unilock", "port"];
const hasWebLocks = !isNode && typeof navigator?.locks?.request === "function";
if (hasWebLocks) kinds.push("weblocks");
const labels = {
  unilock: "unilock thread lock",
  port: "MessagePort mutex (main thread grants)",
  weblocks: "navigator.locks between workers",
};

const targets = [];
for (const count of COUNTS) {
  WORKERS = count;
  const workers = [];
  for (let i = 0; i < WORKERS; i++) workers.push(await startWorker());
  const results = {};
  try {
    for (const kind of kinds) await contended(kind, workers); // warm-up
    for (const kind of kinds) {
      const rounds = [];
      for (let r = 0; r < ROUNDS; r++) {
        rounds.push(await contended(kind, workers));
      }
      results[kind] = {
        perSecond: median(rounds.map((x) => x.perSecond)),
        p50: median(rounds.map((x) => x.p50)),
        p99: median(rounds.map((x) => x.p99)),
        handoffs: median(rounds.map((x) => x.handoffs)),
      };
    }
  } finally {
    for (const w of workers) w.stop();
  }
  const base = results.unilock.perSecond;
  console.log(
    `\n## Cross-thread handoff, ${WORKERS} workers (every acquisition contended)`,
  );
  console.log(
    "| lock | acquisitions/s | handoffs between threads | handoff latency p50 | p99 | unilock's throughput is |\n|---|---|---|---|---|---|",
  );
  for (const kind of kinds) {
    const r = results[kind];
    console.log(
      `| ${labels[kind]} | ${Math.round(r.perSecond).toLocaleString("en")} | ${
        (r.handoffs * 100).toFixed(0)
      }% | ${r.p50.toFixed(1)} µs | ${r.p99.toFixed(1)} µs | ${
        (base / r.perSecond).toFixed(2)
      }× |`,
    );
  }
  for (const kind of kinds.slice(1)) {
    targets.push([
      `${WORKERS} workers: handoff ≥ 3× ${labels[kind]}`,
      base / results[kind].perSecond,
    ]);
  }
}

const local = lib.createLock("local");
const thread = lib.createLock("thread");
await uncontended(local);
await uncontended(thread);
const u = { local: [], thread: [] };
for (let r = 0; r < ROUNDS; r++) {
  u.local.push(await uncontended(local));
  u.thread.push(await uncontended(thread));
}
const ul = median(u.local), ut = median(u.thread);
console.log(
  `\n## Uncontended acquire + release in one thread (${
    UNCONTENDED.toLocaleString("en")
  })`,
);
console.log(
  `| lock | per op | vs local |\n|---|---|---|\n| local | ${
    ul.toFixed(0)
  } ns | 1.00× |\n| thread | ${ut.toFixed(0)} ns | ${(ut / ul).toFixed(2)}× |`,
);

console.log(
  "\n## Targets (issue #3)\n| target | measured | met |\n|---|---|---|",
);
for (const [label, ratio] of targets) {
  console.log(
    `| ${label} | ${ratio.toFixed(2)}× | ${ratio >= 3 ? "yes" : "NO"} |`,
  );
}
if (!hasWebLocks) {
  console.log(
    "| handoff ≥ 3× navigator.locks | (not on this runtime: npx deno run -A bench/thread.mjs) | — |",
  );
}
console.log(
  `| uncontended within 2× of the local lock | ${(ut / ul).toFixed(2)}× | ${
    ut / ul <= 2 ? "yes" : "NO"
  } |`,
);
