// Copyright 2026 the unilock authors. MIT license.
// Bun: `bun add unilock`. A try-lock that skips work already running.
//   bun examples/bun.ts      (after `npm run build`)
import { createLock } from "unilock";

const lock = createLock("local", { name: "cache-refresh" });

export async function refresh(): Promise<"refreshed" | "skipped"> {
  const lease = await lock.tryAcquire();
  if (lease === undefined) return "skipped"; // another refresh is running
  try {
    await new Promise((resolve) => setTimeout(resolve, 10));
    return "refreshed";
  } finally {
    await lease.release();
  }
}

if (import.meta.main) console.log(await Promise.all([refresh(), refresh()]));
