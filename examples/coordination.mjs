#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// Coordinating many locks: priorities, all-or-nothing acquireAll, and
// deadlock detection by owner labels.
//   node examples/coordination.mjs      (after `npm run build`)
import { acquireAll, LockDeadlockError, LockManager } from "unilock";

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the three scenes; returns what happened, in order. */
export async function main() {
  const log = [];
  const manager = new LockManager();

  // 1. Priorities: an urgent job queues ahead of the batch jobs that came
  //    before it (and within a priority, first come, first served).
  const printer = manager.getOrCreateLock("printer");
  const busy = await printer.acquire();
  const jobs = [
    ["batch 1", 0],
    ["batch 2", 0],
    ["urgent", 10],
    ["cleanup", -5],
  ].map(([job, priority]) =>
    printer.withLock(() => log.push(`print ${job}`), { priority })
  );
  await busy.release();
  await Promise.all(jobs);

  // 2. acquireAll: a transfer holds both accounts or neither; two transfers
  //    listing them in opposite orders cannot deadlock.
  const accounts = {
    alice: manager.getOrCreateLock("account:alice"),
    bob: manager.getOrCreateLock("account:bob"),
  };
  const balance = { alice: 100, bob: 100 };
  const transfer = async (from, to, amount) => {
    const group = await acquireAll([accounts[from], accounts[to]], {
      timeoutMs: 5_000,
    });
    try {
      balance[from] -= amount;
      await pause(5);
      balance[to] += amount;
    } finally {
      await group.release();
    }
  };
  await Promise.all([
    transfer("alice", "bob", 30),
    transfer("bob", "alice", 10),
  ]);
  log.push(`balances ${balance.alice} + ${balance.bob}`);

  // 3. Deadlock detection: two jobs take two locks in opposite orders. The
  //    acquire that would close the cycle is rejected instead of hanging.
  const x = manager.getOrCreateLock("x");
  const y = manager.getOrCreateLock("y");
  const a = await x.acquire({ owner: "job A" });
  const b = await y.acquire({ owner: "job B" });
  const aWaits = y.acquire({ owner: "job A" });
  try {
    await x.acquire({ owner: "job B" });
  } catch (error) {
    if (!(error instanceof LockDeadlockError)) throw error;
    log.push(error.message);
    await b.release(); // job B backs off, so job A can go on
  }
  await (await aWaits).release();
  await a.release();
  log.push("job A done");
  return log;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await main()) console.log(line);
}
