// Copyright 2026 the unilock authors. MIT license.
// A serverless function (Vercel, Netlify, Lambda, …) that must not run its
// job twice at once across instances: a lock in Upstash Redis over HTTP.
// Set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (for local work:
// `npx unilock-upstash-bridge --redis redis://127.0.0.1:6379` prints them).
import { createLock } from "unilock";
import { Redis } from "@upstash/redis";

export async function handler() {
  const lock = createLock("upstash", {
    name: "nightly-report",
    redis: Redis.fromEnv(),
    leaseMs: 30_000, // renewed while the job runs
  });
  const lease = await lock.tryAcquire();
  if (lease === undefined) {
    return { statusCode: 409, body: "already running elsewhere" };
  }
  try {
    lease.signal.throwIfAborted(); // a lost lease aborts this signal
    return {
      statusCode: 200,
      body: `report written with fence ${lease.fence}`,
    };
  } finally {
    await lease.release();
  }
}
