// Copyright 2026 the unilock authors. MIT license.
// The lock service Worker, called through the runtime's own module exports.
import { exports } from "cloudflare:workers";
import { test } from "vitest";
import { assertEquals, assertThrows } from "../_assert.ts";
import { createLock } from "../../mod.ts";

test("worker.fetch() answers GET /v1/health inside workerd", async () => {
  const response = await exports.default.fetch("http://lock.test/v1/health");
  assertEquals(response.status, 200);
  assertEquals(await response.json(), { ok: true, service: "unilock" });
});

test("worker.fetch() answers 404 for an unknown route and 405 for a wrong method", async () => {
  const missing = await exports.default.fetch("http://lock.test/v1/nope");
  assertEquals(missing.status, 404);
  await missing.body?.cancel();
  const wrong = await exports.default.fetch("http://lock.test/v1/health", {
    method: "POST",
  });
  assertEquals(wrong.status, 405);
  await wrong.body?.cancel();
});

test("the suite runs inside workerd, not on Node", () => {
  assertEquals(navigator.userAgent, "Cloudflare-Workers");
  // WebSocketPair exists only in workerd.
  assertEquals(
    typeof (globalThis as { WebSocketPair?: unknown }).WebSocketPair,
    "function",
  );
});

test('createLock("thread") throws a TypeError naming workerd inside workerd', () => {
  assertThrows(() => createLock("thread"), TypeError, [
    "Cloudflare Workers (workerd)",
    "no threads",
  ]);
});
