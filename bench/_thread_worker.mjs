// Copyright 2026 the unilock authors. MIT license.
// The worker side of bench/thread.mjs, for Node (worker_threads) and Deno.
const isNode = typeof globalThis.process?.versions?.node === "string" &&
  !("Deno" in globalThis) && !("Bun" in globalThis);
const lib = await import(isNode ? "unilock" : "../mod.ts");
const port = isNode
  ? (await import("node:worker_threads")).parentPort
  : globalThis;
const now = () => performance.timeOrigin + performance.now();

/** One critical section: bump the shared counter, stamp the release time. */
function section(shared, id) {
  const counter = new Int32Array(shared.counter);
  const stamp = new Float64Array(shared.stamp);
  counter[0]++;
  stamp[0] = now();
  stamp[1] = id;
}

function latency(shared, id, lat, i) {
  const stamp = new Float64Array(shared.stamp);
  // Only a handoff from another thread counts as a handoff.
  if (stamp[1] !== id && stamp[0] > 0) lat[i] = now() - stamp[0];
}

/** Starts every worker together, so that every acquisition is contended. */
function barrier(shared, count) {
  const ready = new Int32Array(shared.ready);
  Atomics.add(ready, 0, 1);
  while (Atomics.load(ready, 0) < count) { /* a moment, once per run */ }
}

async function run(m) {
  barrier(m.shared, m.workers);
  const lat = new Float64Array(
    m.shared.lat,
    m.id * m.iterations * 8,
    m.iterations,
  );
  lat.fill(Number.NaN);
  if (m.kind === "unilock") {
    const lock = lib.createLock("thread", { handle: m.handle });
    for (let i = 0; i < m.iterations; i++) {
      const lease = await lock.acquire();
      latency(m.shared, m.id, lat, i);
      section(m.shared, m.id);
      await lease.release();
    }
  } else if (m.kind === "port") {
    const server = m.port;
    let granted;
    server.onmessage = () => granted();
    for (let i = 0; i < m.iterations; i++) {
      const grant = new Promise((resolve) => (granted = resolve));
      server.postMessage("acquire");
      await grant;
      latency(m.shared, m.id, lat, i);
      section(m.shared, m.id);
      server.postMessage("release");
    }
    server.close();
  } else if (m.kind === "weblocks") {
    for (let i = 0; i < m.iterations; i++) {
      await navigator.locks.request(m.name, () => {
        latency(m.shared, m.id, lat, i);
        section(m.shared, m.id);
      });
    }
  }
  return "done";
}

const onMessage = (event) =>
  run(event.data ?? event).then(
    (r) => port.postMessage(r),
    (e) => port.postMessage({ error: String(e?.stack ?? e) }),
  );
if (isNode) port.on("message", (data) => onMessage({ data }));
else port.onmessage = onMessage;
port.postMessage("ready");
