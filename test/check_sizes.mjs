#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// What a Worker that uses one backend through its subpath bundles to
// (esbuild, minified, gzip -9), against the budgets of the house issue, so
// that the sizes cannot creep back: printed on every run, failing past a
// budget. The Worker imports the package by name, as users do.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const deno = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
const KiB = 1024;

/** A Worker that guards its handler with the DurableObjectLock of `client`. */
function durableObjectWorker(client) {
  return `import { DurableObjectLock } from "${client}";
export { LockDurableObject } from "unilock/durable-object";
export default { fetch: async (_r, env) => {
  const lock = new DurableObjectLock({ name: "stock", namespace: env.LOCKS });
  return new Response(String(await lock.withLock((l) => l.fence)));
} };`;
}

/** Each Worker, what it imports, and its budget in gzip bytes. */
const workers = [
  {
    name: "local lock (unilock/local)",
    budget: 6 * KiB,
    source: `import { LocalLock } from "unilock/local";
const lock = new LocalLock({ name: "stock" });
export default { fetch: async () => new Response(String(await lock.withLock((l) => l.fence))) };`,
  },
  {
    name:
      "durable-object client with its object (unilock/durable-object/binding + unilock/durable-object)",
    // The issue's target: a Worker that reaches its objects through the
    // binding bundles no lock service client.
    budget: 12 * KiB,
    source: durableObjectWorker("unilock/durable-object/binding"),
  },
  {
    name:
      "durable-object client with the lock service's client, and its object (unilock/durable-object/client + unilock/durable-object)",
    // The client that also reaches the lock service by url (its HTTP and
    // WebSocket client, about 1.8 KiB gzip): held where it is, but for a
    // quarter KiB given on 2 December to reckon a grant from its call's send
    // and to close a socket whose first call was given up while it opened
    // (14,304 bytes before, 14,372 after; the binding's 12 KiB, the issue's
    // target, still holds).
    budget: 14.25 * KiB,
    source: durableObjectWorker("unilock/durable-object/client"),
  },
  {
    name: "everything (unilock)",
    budget: Infinity,
    source: `import { createLock } from "unilock";
const lock = createLock("local", { name: "stock" });
export default { fetch: async () => new Response(String(await lock.withLock((l) => l.fence))) };`,
  },
];

/** Resolves "unilock" and its subpaths to the sources the package builds. */
const packageByName = {
  name: "unilock",
  setup(b) {
    b.onResolve({ filter: /^unilock(\/.*)?$/ }, (args) => {
      const key = args.path === "unilock" ? "." : `.${args.path.slice(7)}`;
      const file = deno.exports[key];
      if (file === undefined) return { errors: [{ text: `no export ${key}` }] };
      return { path: join(root, file) };
    });
  },
};

let failed = 0;
for (const worker of workers) {
  const result = await build({
    stdin: { contents: worker.source, resolveDir: root, loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    external: ["cloudflare:workers", "node:*"],
    plugins: [packageByName],
    write: false,
    logLevel: "silent",
  });
  const code = result.outputFiles[0].contents;
  const gzip = gzipSync(code, { level: 9 }).length;
  const over = gzip > worker.budget;
  if (over) failed++;
  console.log(
    `${over ? "FAIL" : "ok  "} ${worker.name}: ${
      (code.length / KiB).toFixed(1)
    } KiB minified, ${(gzip / KiB).toFixed(1)} KiB gzip (${gzip} bytes)${
      Number.isFinite(worker.budget)
        ? ` (budget ${worker.budget / KiB} KiB gzip)`
        : ""
    }`,
  );
}
process.exit(failed === 0 ? 0 : 1);
