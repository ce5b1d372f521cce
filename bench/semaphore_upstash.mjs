#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:semaphore:upstash`: the upstash semaphore with 10 clients
// on 3 permits and 10 ms holds, through the REST bridge in front of a real
// redis-server that this script starts and stops; beside it, when installed
// (`npm ci --prefix bench/peers`), redis-semaphore 5.8.0 with ioredis 5.9.3
// on the same redis-server at its default 10 ms retry interval. Requests:
// for unilock every HTTP request the bridge served (its wake-up stream
// included), for redis-semaphore every command ioredis sent.
import { createRequire } from "node:module";
import { Redis } from "@upstash/redis";
import { createSemaphore } from "unilock";
import { printTargets } from "./_contention.mjs";
import { printSemaphoreTable } from "./_semaphore_contention.mjs";
import { startBridgeProcess, startRedis } from "../test/_services.mjs";

const quick = process.argv.includes("--quick");
const CAPACITY = 3;

const redis = await startRedis();
const bridge = await startBridgeProcess(redis.url);
const client = () =>
  new Redis({ url: bridge.url, token: bridge.token, enableTelemetry: false });

let bridgeCounting = true;
let commands = 0;
const requests = {
  reset: async () => {
    commands = 0;
    await bridge.resetStats();
  },
  read: async () => {
    if (!bridgeCounting) return commands;
    await bridge.refresh();
    return bridge.stats.requests;
  },
};

const peers = {
  // The README's configuration: the URL and token (there from the
  // environment), so our own fetch-based REST client. One per URL and token
  // in a process: the 10 share one transport and one wake-up stream, as an
  // app's locks would.
  unilock: (name) => {
    const sem = createSemaphore("upstash", {
      name,
      permits: CAPACITY,
      redis: { url: bridge.url, token: bridge.token },
    });
    return async () => {
      const lease = await sem.acquire();
      return () => lease.release();
    };
  },
  // An @upstash/redis client of each contender's own (as separate
  // functions passing one would have): its own connection and stream.
  "unilock, an @upstash/redis client each": (name) => {
    const sem = createSemaphore("upstash", {
      name,
      permits: CAPACITY,
      redis: client(),
    });
    return async () => {
      const lease = await sem.acquire();
      return () => lease.release();
    };
  },
};

// redis-semaphore, from bench/peers when it is installed there.
const require = createRequire(new URL("./peers/package.json", import.meta.url));
let peer;
try {
  peer = {
    Semaphore: require("redis-semaphore").Semaphore,
    IORedis: require("ioredis"),
  };
} catch {
  console.log(
    "(redis-semaphore is not installed: npm ci --prefix bench/peers to compare)",
  );
}
const clients = [];

console.log(
  `upstash semaphore benchmark — Node ${process.version}, through the REST bridge to redis-server on loopback`,
);
const options = {
  contenders: 10,
  capacity: CAPACITY,
  holdMs: 10,
  each: quick ? 5 : 20,
  settleMs: 1_200,
  // One round is 200 acquisitions, under a second: its utilization moves by
  // several points with what else the machine runs, so the row is a median.
  rounds: quick ? 1 : 5,
};
const ours = await printSemaphoreTable(peers, requests, options);
let theirs;
if (peer !== undefined) {
  bridgeCounting = false;
  const redisPeers = {
    "redis-semaphore 5.8.0 (ioredis, 10 ms retry)": (name) => {
      const io = new peer.IORedis(redis.url, { lazyConnect: false });
      clients.push(io);
      // Every command ioredis sends, retries included.
      const send = io.sendCommand.bind(io);
      io.sendCommand = (...args) => {
        commands++;
        return send(...args);
      };
      return async () => {
        const sem = new peer.Semaphore(io, name, CAPACITY, {
          acquireTimeout: 60_000,
        });
        await sem.acquire();
        return () => sem.release();
      };
    },
  };
  theirs = await printSemaphoreTable(redisPeers, requests, {
    ...options,
    settleMs: 0,
  });
}
// The round trip every handoff pays at least once (the release reaching
// Redis, whose push comes back on the waiter's stream), through the bridge.
{
  const c = client();
  const rtts = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    await c.ping();
    rtts.push(performance.now() - t);
  }
  rtts.sort((a, b) => a - b);
  console.log(
    `\nPING through the bridge: p50 ${rtts[25].toFixed(2)} ms, p90 ${
      rtts[45].toFixed(2)
    } ms`,
  );
}
const u = ours.unilock;
const r = theirs && Object.values(theirs)[0];
printTargets("issue #13", [
  [
    "10 clients on 3 permits: ≤ 2.2 requests per acquisition",
    `${u.perAcquisition.toFixed(2)}${
      r ? ` (redis-semaphore: ${r.perAcquisition.toFixed(2)})` : ""
    }`,
    u.perAcquisition <= 2.2,
  ],
  [
    "10 clients on 3 permits: permit utilization ≥ 75%",
    `${(u.utilization * 100).toFixed(0)}%${
      r ? ` (redis-semaphore: ${(r.utilization * 100).toFixed(0)}%)` : ""
    }`,
    u.utilization >= 0.75,
  ],
  ["never more than 3 permits out", `${u.most}`, u.over === 0],
]);

for (const io of clients) io.disconnect();
await bridge.close();
await redis.stop();
