// Copyright 2026 the unilock authors. MIT license.
// examples/worker.ts, the documented way to guard a Worker handler with a
// named lock: requests for the same name run one at a time.
import { env } from "cloudflare:workers";
import { test } from "vitest";
import worker, { type Env, stock } from "../../examples/worker.ts";
import { assertEquals } from "../_assert.ts";

test("examples/worker.ts sells each item once when requests race", async () => {
  const sku = crypto.randomUUID();
  const responses = await Promise.all(
    Array.from({ length: 8 }, () =>
      worker.fetch(
        new Request(`http://shop.test/buy?sku=${sku}`),
        env as unknown as Env,
      )),
  );
  const statuses = responses.map((r) => r.status).sort();
  await Promise.all(responses.map((r) => r.body?.cancel()));
  // Three in stock: three sales, five "sold out", and never a negative stock.
  assertEquals(statuses, [200, 200, 200, 409, 409, 409, 409, 409]);
  assertEquals(stock.get(sku), 0);
});
