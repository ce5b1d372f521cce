// Copyright 2026 the unilock authors. MIT license.
// The documented way to guard a Worker handler with a named lock: requests
// for the same name run one at a time, across every isolate that serves them.
import { env } from "cloudflare:workers";
import { test } from "vitest";
import { createLock, type LockDurableObjectNamespace } from "../../mod.ts";
import { assertEquals, delay } from "../_assert.ts";

interface Env {
  LOCKS: LockDurableObjectNamespace;
}

let inside = 0, maxInside = 0, stock = 0;

// The handler, as the README shows it.
const handler = {
  async fetch(request: Request, env: Env): Promise<Response> {
    const sku = new URL(request.url).searchParams.get("sku") ?? "none";
    const lock = createLock("durable-object", {
      name: `stock:${sku}`,
      namespace: env.LOCKS,
    });
    try {
      return await lock.withLock(async (lease) => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        const read = stock;
        await delay(5);
        stock = read + 1;
        inside--;
        return new Response(`fence ${lease.fence}`);
      }, { timeoutMs: 5_000 });
    } catch (error) {
      if ((error as Error).name === "TimeoutError") {
        return new Response("busy", {
          status: 503,
          headers: { "retry-after": "1" },
        });
      }
      throw error;
    }
  },
};

test("a Worker handler guarded by lock.withLock() serves requests for one name one at a time", async () => {
  const sku = crypto.randomUUID();
  const responses = await Promise.all(
    Array.from({ length: 8 }, () =>
      handler.fetch(
        new Request(`http://shop.test/buy?sku=${sku}`),
        env as unknown as Env,
      )),
  );
  const fences = await Promise.all(responses.map((r) => r.text()));
  assertEquals(responses.every((r) => r.status === 200), true);
  assertEquals(maxInside, 1, "two requests ran the critical section at once");
  assertEquals(stock, 8, "lost updates");
  assertEquals(new Set(fences).size, 8, "fences repeated");
});
