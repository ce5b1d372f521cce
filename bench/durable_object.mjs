#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:durable-object`: the durable-object lock over HTTP against a
// client-polling design (try-acquire, then retry every 50 ms, as the public
// Durable Object lock repos do), both through the same lock service on local
// `wrangler dev` (workerd with the real SQLite-backed object), started and
// stopped here. Every contender is its own client. Requests counted: every
// fetch, every WebSocket upgrade and every message sent on a socket. Node 20
// needs --experimental-websocket for its WebSocket (npm run sets it);
// without one the client long-polls over HTTP.
import { createLock, createWebLocks } from "unilock";
import {
  HOLD_MS,
  printTargets,
  runScenarios,
  WEB_LOCKS,
  webLocksPeer,
  webLocksTarget,
} from "./_contention.mjs";
import { startLockService } from "../test/_services.mjs";

const quick = process.argv.includes("--quick");

const service = await startLockService();
let sent = 0;
const realFetch = globalThis.fetch;
globalThis.fetch = (...args) => {
  sent++;
  return realFetch(...args);
};
// A WebSocket's upgrade is a request, and so is each message sent on it.
if (typeof globalThis.WebSocket === "function") {
  globalThis.WebSocket = class extends globalThis.WebSocket {
    constructor(...args) {
      sent++;
      super(...args);
    }
    send(data) {
      sent++;
      super.send(data);
    }
  };
}

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
  [WEB_LOCKS]: webLocksPeer(() =>
    createWebLocks("durable-object", {
      url: service.url,
      token: service.token,
    })
  ),
  "client polling (50 ms retry)": pollingLock,
};

const requests = {
  reset: () => {
    sent = 0;
    return Promise.resolve();
  },
  read: () => Promise.resolve(sent),
};
try {
  console.log(
    `durable-object lock benchmark — Node ${process.version}, HTTP clients → lock service on local wrangler dev; hold ${HOLD_MS} ms`,
  );
  const { unc, ten } = await runScenarios(peers, requests, { quick });
  const u = ten.unilock;
  printTargets("issue #5", [
    webLocksTarget(unc, ten),
    [
      "uncontended: one request per acquire and one per release",
      `${unc.unilock.toFixed(2)} per pair`,
      unc.unilock === 2,
    ],
    [
      "10 contenders: ≤ 2.2 requests per acquisition",
      u.perAcquisition.toFixed(2),
      u.perAcquisition <= 2.2,
    ],
    [
      "10 contenders: wake-up median ≤ 5 ms",
      `${u.p50.toFixed(1)} ms`,
      u.p50 <= 5,
    ],
    [
      "10 contenders: wake-up p99 ≤ 15 ms",
      `${u.p99.toFixed(1)} ms`,
      u.p99 <= 15,
    ],
    [
      "10 contenders: utilization ≥ 60%",
      `${(u.utilization * 100).toFixed(0)}%`,
      u.utilization >= 0.6,
    ],
  ]);
} finally {
  await service.stop();
}
