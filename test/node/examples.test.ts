// Copyright 2026 the unilock authors. MIT license.
// The examples for Node, run as they are (their "unilock" imports resolve to
// the sources here).
import { inject, test } from "vitest";
import { main } from "../../examples/node.mjs";
import { handler } from "../../examples/upstash_function.mjs";
import { main as observe } from "../../examples/observability.mjs";
import { createLock } from "../../mod.ts";
import { assert, assertEquals } from "../_assert.ts";

test("examples/node.mjs serializes the two migrations", async () => {
  const order = await main();
  assertEquals(
    order.map((line: string) => line.replace(/ \(fence \d+\)/, "")),
    [
      "first start",
      "first end",
      "second start",
      "second end",
    ],
  );
});

test("examples/upstash_function.mjs runs its job once at a time across instances", async () => {
  const { url, token } = inject("upstash");
  const saved = [
    process.env.UPSTASH_REDIS_REST_URL,
    process.env.UPSTASH_REDIS_REST_TOKEN,
  ];
  process.env.UPSTASH_REDIS_REST_URL = url;
  process.env.UPSTASH_REDIS_REST_TOKEN = token;
  try {
    assertEquals((await handler()).statusCode, 200);
    // Another instance holds the job's lock: this one declines.
    const other = createLock("upstash", {
      name: "nightly-report",
      redis: { url, token },
    });
    const lease = await other.acquire();
    assertEquals((await handler()).statusCode, 409);
    await lease.release();
    assertEquals((await handler()).statusCode, 200);
  } finally {
    if (saved[0] === undefined) delete process.env.UPSTASH_REDIS_REST_URL;
    else process.env.UPSTASH_REDIS_REST_URL = saved[0];
    if (saved[1] === undefined) delete process.env.UPSTASH_REDIS_REST_TOKEN;
    else process.env.UPSTASH_REDIS_REST_TOKEN = saved[1];
  }
});

test("examples/coordination.mjs orders by priority, transfers all or nothing and reports the deadlock", async () => {
  const { main } = await import("../../examples/coordination.mjs");
  assertEquals(await main(), [
    "print urgent",
    "print batch 1",
    "print batch 2",
    "print cleanup",
    "balances 80 + 120",
    'Cannot acquire lock "x": deadlock: owner job B waits for "x" held by job A, job A waits for "y" held by job B',
    "job A done",
  ]);
});

test("examples/observability.mjs feeds a meter and a logger from lock events, and queries the lock", async () => {
  const { snapshot, metrics, points, warnings } = await observe();
  assertEquals(snapshot.held.map((h: { owner: string }) => h.owner), ["job-1"]);
  assertEquals(
    snapshot.pending.map((p: { owner: string }) => p.owner),
    ["job-2", "job-3"],
  );
  assertEquals(warnings, ["lock nightly-report: timeout (owner job-4)"]);
  const count = (name: string, outcome?: string) =>
    points.filter((p: { name: string; attributes: Record<string, string> }) =>
      p.name === name &&
      (outcome === undefined || p.attributes["lock.outcome"] === outcome)
    ).length;
  assertEquals(count("lock.acquisitions", "grant"), 3);
  assertEquals(count("lock.acquisitions", "timeout"), 1);
  assertEquals(count("lock.wait.duration"), 3);
  assertEquals(count("lock.hold.duration"), 3);
  assertEquals(
    [metrics.acquisitions, metrics.contended, metrics.timeouts],
    [3, 2, 1],
  );
  assert(metrics.holdMs.max >= 25, `holdMs.max ${metrics.holdMs.max}`);
});
