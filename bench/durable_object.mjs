#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:durable-object`: the durable-object lock over HTTP against a
// client-polling design (try-acquire, then retry every 50 ms, as the public
// Durable Object lock repos do), both through the same lock service on local
// `wrangler dev` (workerd with the real SQLite-backed object), started and
// stopped here. Every contender is its own client.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLock } from "unilock";
import {
  contended as measureContended,
  HOLD_MS,
  uncontended as measureUncontended,
} from "./_contention.mjs";

const quick = process.argv.includes("--quick");
const root = new URL("..", import.meta.url).pathname;

async function startService() {
  const port = 10_000 + Math.floor(Math.random() * 20_000);
  const token = `bench_${crypto.randomUUID()}`;
  const child = spawn("node", [
    join(root, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--local",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    "0",
    "--persist-to",
    mkdtempSync(join(tmpdir(), "unilock-bench-")),
    "--var",
    `UNILOCK_TOKEN:${token}`,
  ], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 240; i++) {
    try {
      const res = await fetch(`${url}/v1/health`);
      await res.body?.cancel();
      if (res.ok) return { url, token, stop: () => child.kill("SIGTERM") };
    } catch { /* starting */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill("SIGKILL");
  throw new Error("wrangler dev did not start");
}

const service = await startService();
let sent = 0;
const realFetch = globalThis.fetch;
globalThis.fetch = (...args) => {
  sent++;
  return realFetch(...args);
};

/** The polling design: one try per request, a 50 ms pause between tries. */
function pollingLock(name) {
  const base = `${service.url}/v1/locks/${encodeURIComponent(name)}`;
  const post = (op, body) =>
    fetch(`${base}/${op}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${service.token}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  return async () => {
    const token = `poll_${crypto.randomUUID()}`;
    for (;;) {
      const r = await post("acquire", { token, leaseMs: 30_000, waitMs: 0 });
      if (r.ok) return () => post("release", { token });
      await new Promise((res) => setTimeout(res, 50));
    }
  };
}

const peers = {
  unilock: (name) => {
    const lock = createLock("durable-object", {
      name,
      url: service.url,
      token: service.token,
    });
    return async () => {
      const lease = await lock.acquire();
      return () => lease.release();
    };
  },
  "client polling (50 ms retry)": pollingLock,
};

const requests = {
  reset: () => {
    sent = 0;
    return Promise.resolve();
  },
  read: () => Promise.resolve(sent),
};
const uncontended = (make) =>
  measureUncontended(make, requests, quick ? 20 : 100);
const contended = (make, contenders, each) =>
  measureContended(make, requests, contenders, each);

try {
  console.log(
    `durable-object lock benchmark — Node ${process.version}, HTTP clients → lock service on local wrangler dev; hold ${HOLD_MS} ms`,
  );
  console.log(
    "\n## Requests per uncontended acquire + release\n| lock | requests |\n|---|---|",
  );
  const unc = {};
  for (const [label, make] of Object.entries(peers)) {
    unc[label] = await uncontended(make);
    console.log(`| ${label} | ${unc[label].toFixed(2)} |`);
  }
  console.log(`\n## 10 contenders, each holding ${HOLD_MS} ms`);
  console.log(
    "| lock | requests per acquisition | utilization | wake-up p50 | wake-up p99 | overlaps |\n|---|---|---|---|---|---|",
  );
  const ten = {};
  for (const [label, make] of Object.entries(peers)) {
    const r = ten[label] = await contended(make, 10, quick ? 3 : 10);
    console.log(
      `| ${label} | ${r.perAcquisition.toFixed(2)} | ${
        (r.utilization * 100).toFixed(0)
      }% | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${r.overlaps} |`,
    );
  }
  console.log("\n## Requests per acquisition as contention grows");
  const sizes = quick ? [[2, 5], [10, 3]] : [[2, 20], [10, 10], [50, 4]];
  console.log(
    `| lock | ${sizes.map(([c]) => `${c} contenders`).join(" | ")} |\n|---|${
      sizes.map(() => "---").join("|")
    }|`,
  );
  for (const [label, make] of Object.entries(peers)) {
    const cells = [];
    for (const [c, each] of sizes) {
      cells.push((await contended(make, c, each)).perAcquisition.toFixed(2));
    }
    console.log(`| ${label} | ${cells.join(" | ")} |`);
  }
  const u = ten.unilock;
  console.log(
    "\n## Targets (issue #5)\n| target | measured | met |\n|---|---|---|",
  );
  console.log(
    `| uncontended: one request per acquire and one per release | ${
      unc.unilock.toFixed(2)
    } per pair | ${unc.unilock === 2 ? "yes" : "NO"} |`,
  );
  console.log(
    `| 10 contenders: ≤ 2.2 requests per acquisition | ${
      u.perAcquisition.toFixed(2)
    } | ${u.perAcquisition <= 2.2 ? "yes" : "NO"} |`,
  );
  console.log(
    `| 10 contenders: wake-up median ≤ 5 ms | ${u.p50.toFixed(1)} ms | ${
      u.p50 <= 5 ? "yes" : "NO"
    } |`,
  );
  console.log(
    `| 10 contenders: wake-up p99 ≤ 15 ms | ${u.p99.toFixed(1)} ms | ${
      u.p99 <= 15 ? "yes" : "NO"
    } |`,
  );
  console.log(
    `| 10 contenders: utilization ≥ 60% | ${
      (u.utilization * 100).toFixed(0)
    }% | ${u.utilization >= 0.6 ? "yes" : "NO"} |`,
  );
} finally {
  service.stop();
}
