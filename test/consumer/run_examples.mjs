// Copyright 2026 the unilock authors. MIT license.
// The examples, run by package name from a scratch project that installed
// the packed tarball (the consumer check copies them beside this file), on
// whichever runtime runs this: Node, Deno or Bun. Upstash's needs
// UPSTASH_REDIS_REST_URL and _TOKEN (the packed bridge in front of a real
// redis-server). Prints one line per example.
import assert from "node:assert/strict";

const runtime = globalThis.Deno ? "deno" : globalThis.Bun ? "bun" : "node";
const version = globalThis.Deno?.version.deno ?? globalThis.Bun?.version ??
  process.versions.node;

// "unilock" must be the installed package, not a checkout.
const resolved = import.meta.resolve("unilock");
assert.match(resolved, /\/node_modules\/unilock\/dist\/mod\.js$/, resolved);
assert.ok(
  !resolved.includes("/src/") && resolved.startsWith(
    new URL("../node_modules/unilock/", import.meta.url).href,
  ),
  resolved,
);

const ran = [];

const { main: node } = await import("./node.mjs");
assert.deepEqual(
  (await node()).map((line) => line.replace(/ \(fence \d+\)/, "")),
  ["first start", "first end", "second start", "second end"],
);
ran.push("node.mjs");

const { main: coordination } = await import("./coordination.mjs");
assert.deepEqual(await coordination(), [
  "print urgent",
  "print batch 1",
  "print batch 2",
  "print cleanup",
  "balances 80 + 120",
  'Cannot acquire lock "x": deadlock: owner job B waits for "x" held by job A, job A waits for "y" held by job B',
  "job A done",
]);
ran.push("coordination.mjs");

const { main: observe } = await import("./observability.mjs");
const observed = await observe();
assert.deepEqual(observed.snapshot.held.map((h) => h.owner), ["job-1"]);
assert.deepEqual(observed.warnings, [
  "lock nightly-report: timeout (owner job-4)",
]);
ran.push("observability.mjs");

if (process.env.UPSTASH_REDIS_REST_URL) {
  const { handler } = await import("./upstash_function.mjs");
  const first = await handler();
  assert.equal(first.statusCode, 200, JSON.stringify(first));
  assert.match(first.body, /fence \d+/);
  ran.push("upstash_function.mjs");
}

if (runtime === "deno") {
  const { main } = await import("./deno.ts");
  const log = await main();
  assert.deepEqual(log.slice(-2), ["writer", "auto → local on deno"]);
  ran.push("deno.ts");
}

if (runtime === "bun") {
  const { refresh } = await import("./bun.ts");
  assert.deepEqual(await Promise.all([refresh(), refresh()]), [
    "refreshed",
    "skipped",
  ]);
  ran.push("bun.ts");
}

console.log(`examples ok on ${runtime} ${version}: ${ran.join(", ")}`);
