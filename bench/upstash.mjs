#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:upstash`: the upstash lock side by side with @upstash/lock
// 0.2.1 (at its default 100 ms retry delay and at 10 ms), through the same
// REST bridge in front of a real redis-server that this script starts and
// stops. Every contender is its own client, as serverless functions are.
import { spawn } from "node:child_process";
import { createConnection } from "node:net";
import { Redis } from "@upstash/redis";
import { Lock as UpstashLock } from "@upstash/lock";
import { createLock } from "unilock";
import {
  contended as measureContended,
  HOLD_MS,
  uncontended as measureUncontended,
} from "./_contention.mjs";

const quick = process.argv.includes("--quick");

async function startRedis() {
  // Below the ephemeral range (32768+), where client sockets could collide.
  const port = 10_000 + Math.floor(Math.random() * 20_000);
  const child = spawn("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ], { stdio: "ignore" });
  child.on("error", () => {
    console.error(
      "redis-server is missing: install it with `sudo apt-get install -y redis-server`",
    );
    process.exit(1);
  });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((resolve) => {
      const s = createConnection({ host: "127.0.0.1", port });
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (up) {
      return {
        url: `redis://127.0.0.1:${port}`,
        stop: () => child.kill("SIGTERM"),
      };
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("redis-server did not start");
}

const redis = await startRedis();
// The bridge runs in a process of its own, as Upstash is a server of its own:
// in this process it would share the event loop with the contenders.
const bridge = await startBridgeProcess(redis.url);
const client = () =>
  new Redis({ url: bridge.url, token: bridge.token, enableTelemetry: false });

async function startBridgeProcess(redisUrl) {
  const token = `bench_${crypto.randomUUID()}`;
  const cli = new URL("../dist/_upstash_bridge_cli.js", import.meta.url);
  const child = spawn(process.execPath, [
    cli.pathname,
    "--redis",
    redisUrl,
    "--port",
    "0",
    "--token",
    token,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise((resolve, reject) => {
    child.stdout.once(
      "data",
      (line) => resolve(/listening on (\S+)/.exec(String(line))?.[1]),
    );
    child.once("exit", () => reject(new Error("the bridge did not start")));
  });
  const call = async (path) => {
    const res = await fetch(`${url}/unilock-bridge/${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    return res.json();
  };
  const bridge = {
    url,
    token,
    stats: { requests: 0 },
    async refresh() {
      bridge.stats = await call("stats");
    },
    async resetStats() {
      bridge.stats = await call("reset-stats");
    },
    close() {
      child.kill("SIGTERM");
    },
  };
  return bridge;
}

/** A peer: make(name) gives a contender with acquire() → release(). */
const peers = {
  unilock: (name) => {
    const lock = createLock("upstash", { name, redis: client() });
    return async () => {
      const lease = await lock.acquire();
      return () => lease.release();
    };
  },
  "@upstash/lock (100 ms delay)": (name) => {
    const redisClient = client();
    return async () => {
      const lock = new UpstashLock({
        id: name,
        redis: redisClient,
        lease: 10_000,
        retry: { attempts: 1e9, delay: 100 },
      });
      if (!(await lock.acquire())) throw new Error("not acquired");
      return () => lock.release();
    };
  },
  "@upstash/lock (10 ms delay)": (name) => {
    const redisClient = client();
    return async () => {
      const lock = new UpstashLock({
        id: name,
        redis: redisClient,
        lease: 10_000,
        retry: { attempts: 1e9, delay: 10 },
      });
      if (!(await lock.acquire())) throw new Error("not acquired");
      return () => lock.release();
    };
  },
};

const requests = {
  reset: () => bridge.resetStats(),
  read: async () => {
    await bridge.refresh();
    return bridge.stats.requests;
  },
};
const uncontended = (make) =>
  measureUncontended(make, requests, quick ? 20 : 100);
async function contended(make, contenders, each) {
  const result = await measureContended(make, requests, contenders, each);
  await new Promise((r) => setTimeout(r, 1_200)); // idle streams close
  return result;
}

console.log(
  `upstash lock benchmark — Node ${process.version}, through the REST bridge to redis-server on loopback; hold ${HOLD_MS} ms`,
);
console.log("\n## HTTP requests per uncontended acquire + release");
console.log("| lock | requests |\n|---|---|");
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
  "\n## Targets (issue #4)\n| target | measured | met |\n|---|---|---|",
);
console.log(
  `| uncontended: exactly 2 requests | ${unc.unilock.toFixed(2)} | ${
    unc.unilock === 2 ? "yes" : "NO"
  } |`,
);
console.log(
  `| 10 contenders: ≤ 3 requests per acquisition | ${
    u.perAcquisition.toFixed(2)
  } | ${u.perAcquisition <= 3 ? "yes" : "NO"} |`,
);
console.log(
  `| 10 contenders: utilization ≥ 85% | ${
    (u.utilization * 100).toFixed(0)
  }% | ${u.utilization >= 0.85 ? "yes" : "NO"} |`,
);
console.log(
  `| 10 contenders: wake-up p99 ≤ 15 ms | ${u.p99.toFixed(1)} ms | ${
    u.p99 <= 15 ? "yes" : "NO"
  } |`,
);

bridge.close();
redis.stop();
