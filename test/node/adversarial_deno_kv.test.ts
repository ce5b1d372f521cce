// Copyright 2026 the unilock authors. MIT license.
// Adversarial: the deno-kv lock against a hostile user, on Node through the
// real @deno/kv (its native SQLite) on a real file, with real processes
// (test/_lock_agent.mjs).
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, test } from "vitest";
import { createLock } from "../../mod.ts";
import { assert } from "../_assert.ts";
import { lockAgents } from "../_lock_agents.ts";

const { agent, stopAll, dispose } = lockAgents("deno-kv");
const dirs: string[] = [];
afterAll(dispose);
afterEach(() => {
  stopAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempKv(): string {
  const dir = mkdtempSync(join(tmpdir(), "unilock-adv-kv-"));
  dirs.push(dir);
  return join(dir, "locks.sqlite3");
}

const randomName = () => `adv-${Math.random().toString(36).slice(2)}`;

async function until(what: string, fn: () => Promise<boolean>, ms = 20_000) {
  const end = performance.now() + ms;
  while (!(await fn())) {
    if (performance.now() > end) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test(
  "DenoKvLock.acquire() is kept out no longer than waiterTtlMs when the next waiter was killed in line before a release handed it the lock",
  async () => {
    // docs/deno-kv.md: "a killed waiter is passed over once its heartbeat
    // lapses (waiterTtlMs)". But a release hands the lock to the head of
    // the queue in its own commit, for the waiter's whole leaseMs, while
    // the waiter's heartbeat is still live: a waiter killed in line then
    // keeps the lock for leaseMs (30 s by default, three times the
    // default waiterTtlMs), and nobody can tell it is gone.
    const kv = tempKv();
    const name = randomName();
    const options = { name, kv, leaseMs: 30_000, waiterTtlMs: 2_000 };
    const lock = createLock("deno-kv", options);
    const first = await lock.acquire({ timeoutMs: 10_000 });
    const waiter = await agent(options);
    waiter.send({ op: "acquire", options: { timeoutMs: 60_000 } });
    await until(
      "the other process queues",
      async () => (await lock.query()).pending.length === 1,
    );
    waiter.signal("SIGKILL");
    await first.release();

    const started = performance.now();
    const next = await lock.acquire({ timeoutMs: 12_000 }).catch((e: Error) =>
      e
    );
    const took = performance.now() - started;
    assert(
      !(next instanceof Error),
      `the lock was free once the dead waiter's 2 s heartbeat lapsed, yet acquire() failed after ${
        Math.round(took)
      } ms: ${(next as Error).name}: ${(next as Error).message}`,
    );
    await next.release();
  },
  60_000,
);

test(
  "DenoKvLock.acquire() leaves no two holders when the KV file was deleted under its holder and another process opened the path anew",
  async () => {
    // The lock opens a KV path once per process and keeps the handle. When
    // the file is deleted (a cleanup script, a hand), the holder's handle
    // still reads and writes the deleted file, while every process that
    // opens the path now gets a new, empty database: it is granted the
    // lock, and the first holder renews in the deleted file for ever,
    // never told. (The file lock, whose directory can be removed the same
    // way, makes its holder lose the lease at its next renewal.)
    const kv = tempKv();
    const name = randomName();
    const options = { name, kv, leaseMs: 3_000 };
    const lock = createLock("deno-kv", options);
    const first = await lock.acquire({ timeoutMs: 10_000 });
    try {
      const dir = dirname(kv);
      for (const f of readdirSync(dir)) rmSync(join(dir, f));
      const other = await agent(options);
      const granted = await other.call({
        op: "acquire",
        options: { timeoutMs: 10_000 },
      });
      assert(typeof granted.fence === "number", JSON.stringify(granted));
      // The first holder renews every second: it has had a lease's length
      // (and more) to find out.
      await until(
        "the first holder learns its lease is gone",
        () => Promise.resolve(first.signal.aborted),
        8_000,
      );
    } finally {
      await first.release().catch(() => {});
    }
  },
  60_000,
);
