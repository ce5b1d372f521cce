// Copyright 2026 the unilock authors. MIT license.
// Adversarial: the deno-kv lock against a hostile user, on Node through the
// real @deno/kv (its native SQLite) on a real file, with real processes
// (test/_lock_agent.mjs).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
