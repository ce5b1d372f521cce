#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:upstash`: the upstash lock side by side with @upstash/lock
// 0.2.1 (at its default 100 ms retry delay and at 10 ms), through the same
// REST bridge in front of a real redis-server that this script starts and
// stops. Every contender is its own client, as serverless functions are.
import { Redis } from "@upstash/redis";
import { Lock as UpstashLock } from "@upstash/lock";
import { createLock, createWebLocks } from "unilock";
import {
  HOLD_MS,
  printTargets,
  runScenarios,
  WEB_LOCKS,
  webLocksPeer,
  webLocksTarget,
} from "./_contention.mjs";
import { startBridgeProcess, startRedis } from "../test/_services.mjs";

const quick = process.argv.includes("--quick");

const redis = await startRedis();
// The bridge runs in a process of its own, as Upstash is a server of its own:
// in this process it would share the event loop with the contenders.
const bridge = await startBridgeProcess(redis.url);
const client = () =>
  new Redis({ url: bridge.url, token: bridge.token, enableTelemetry: false });

/** A peer: make(name) gives a contender with acquire() → release(). */
/** @upstash/lock retrying every `delayMs` until it gets the lock. */
function upstashLockPeer(delayMs) {
  return (name) => {
    const redisClient = client();
    return async () => {
      const lock = new UpstashLock({
        id: name,
        redis: redisClient,
        lease: 10_000,
        retry: { attempts: 1e9, delay: delayMs },
      });
      if (!(await lock.acquire())) throw new Error("not acquired");
      return () => lock.release();
    };
  };
}

const peers = {
  unilock: (name) => {
    const lock = createLock("upstash", { name, redis: client() });
    return async () => {
      const lease = await lock.acquire();
      return () => lease.release();
    };
  },
  [WEB_LOCKS]: webLocksPeer(() =>
    createWebLocks("upstash", { redis: client() })
  ),
  "@upstash/lock (100 ms delay)": upstashLockPeer(100),
  "@upstash/lock (10 ms delay)": upstashLockPeer(10),
};

const requests = {
  reset: () => bridge.resetStats(),
  read: async () => {
    await bridge.refresh();
    return bridge.stats.requests;
  },
};
console.log(
  `upstash lock benchmark — Node ${process.version}, through the REST bridge to redis-server on loopback; hold ${HOLD_MS} ms`,
);
const { unc, ten } = await runScenarios(peers, requests, {
  quick,
  settleMs: 1_200,
});
const u = ten.unilock;
printTargets("issue #4", [
  webLocksTarget(unc, ten),
  [
    "uncontended: exactly 2 requests",
    unc.unilock.toFixed(2),
    unc.unilock === 2,
  ],
  [
    "10 contenders: ≤ 3 requests per acquisition",
    u.perAcquisition.toFixed(2),
    u.perAcquisition <= 3,
  ],
  [
    "10 contenders: utilization ≥ 85%",
    `${(u.utilization * 100).toFixed(0)}%`,
    u.utilization >= 0.85,
  ],
  [
    "10 contenders: wake-up p99 ≤ 15 ms",
    `${u.p99.toFixed(1)} ms`,
    u.p99 <= 15,
  ],
]);

bridge.close();
await redis.stop();
