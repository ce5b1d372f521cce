#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// Node: a named lock shared by every part of a program, with a timeout.
//   node examples/node.mjs      (after `npm run build`)
import { getDefaultLockManager, lockContext } from "unilock";

/** Two "migrations" race for the same schema lock; the second waits. */
export async function main() {
  const manager = getDefaultLockManager();
  const order = [];
  const migrate = async (who) => {
    const lock = manager.getOrCreateLock("schema_users"); // same id → same lock
    // Node 20 has no `await using` yet (TypeScript, Deno, Bun and Node 24 do).
    const lease = await lockContext(lock, { timeoutMs: 5_000 });
    try {
      order.push(`${who} start (fence ${lease.fence})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push(`${who} end`);
    } finally {
      await lease.release();
    }
  };
  await Promise.all([migrate("first"), migrate("second")]);
  return order;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await main()) console.log(line);
}
