// Copyright 2026 the unilock authors. MIT license.
// The examples for Node, run as they are (their "unilock" imports resolve to
// the sources here).
import { inject, test } from "vitest";
import { main } from "../../examples/node.mjs";
import { handler } from "../../examples/upstash_function.mjs";
import { createLock } from "../../mod.ts";
import { assertEquals } from "../_assert.ts";

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
