#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:semaphore:durable-object`: the durable-object semaphore
// over HTTP, 10 clients on 3 permits with 10 ms holds, through the lock
// service on local `wrangler dev` (workerd with the real SQLite-backed
// object), started and stopped here. Requests counted: every fetch, every
// WebSocket upgrade and every message sent on a socket; polls are acquire
// calls beyond one per acquisition. Node 20 needs --experimental-websocket
// (npm run sets it); without a WebSocket the client long-polls over HTTP.
import { createSemaphore } from "unilock";
import { printTargets } from "./_contention.mjs";
import { printSemaphoreTable } from "./_semaphore_contention.mjs";
import { startLockService } from "../test/_services.mjs";

const quick = process.argv.includes("--quick");
const CAPACITY = 3;

const service = await startLockService();
let sent = 0, acquireCalls = 0;
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  sent++;
  if (String(input?.url ?? input).endsWith("/acquire")) acquireCalls++;
  return realFetch(input, init);
};
if (typeof globalThis.WebSocket === "function") {
  globalThis.WebSocket = class extends globalThis.WebSocket {
    constructor(url, ...rest) {
      sent++;
      // An upgrade carries the socket's first call in `call`.
      if (/[?&]call=[^&]*acquire/.test(decodeURIComponent(String(url)))) {
        acquireCalls++;
      }
      super(url, ...rest);
    }
    send(data) {
      sent++;
      if (String(data).includes('"op":"acquire"')) acquireCalls++;
      super.send(data);
    }
  };
}
const requests = {
  reset: () => {
    sent = acquireCalls = 0;
    return Promise.resolve();
  },
  read: () => Promise.resolve(sent),
};
const peers = {
  unilock: (name) => {
    const sem = createSemaphore("durable-object", {
      name,
      permits: CAPACITY,
      url: service.url,
      token: service.token,
    });
    return async () => {
      const lease = await sem.acquire();
      return () => lease.release();
    };
  },
};
try {
  console.log(
    `durable-object semaphore benchmark — Node ${process.version}, HTTP clients → lock service on local wrangler dev (${
      typeof WebSocket === "function" ? "WebSocket" : "HTTP long-poll"
    })`,
  );
  const each = quick ? 5 : 20;
  const { unilock: u } = await printSemaphoreTable(peers, requests, {
    contenders: 10,
    capacity: CAPACITY,
    holdMs: 10,
    each,
  });
  const polls = acquireCalls - 10 * each;
  console.log(`\nacquire calls beyond one per acquisition (polls): ${polls}`);
  printTargets("issue #13", [
    [
      "10 clients on 3 permits: 2 requests per acquisition",
      u.perAcquisition.toFixed(2),
      u.perAcquisition <= 2.05,
    ],
    ["0 polls", String(polls), polls === 0],
    ["never more than 3 permits out", `${u.most}`, u.over === 0],
  ]);
} finally {
  await service.stop();
}
