// Copyright 2026 the unilock authors. MIT license.
// Adversarial: once no lock is held or awaited, nothing of the library may
// keep a process alive. An acquire that timed out against a backend that
// hangs has rejected (the caller is done), but RemoteLock#abandon
// (remote_lock.ts:311-331) goes on cancelling in the background for up to
// three request timeouts, with ref'd timers and a ref'd request: the
// process lives ~9 s past the rejection with requestTimeoutMs 3000 (~30 s
// by default). The cleanup should give up within one request timeout (or
// not hold the process at all).
import { build } from "esbuild";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, inject, test } from "vitest";
import { assert } from "../_assert.ts";
import {
  type Backend,
  startDurableObject,
  startUpstash,
} from "./_adversarial_backends.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const scratch = join(root, ".test-results", `adversarial_exit_${process.pid}`);
mkdirSync(scratch, { recursive: true });

const backends: Record<string, Backend & { bridge?: { token: string } }> = {};
beforeAll(async () => {
  backends.upstash = await startUpstash();
  backends["durable-object"] = await startDurableObject();
});
afterAll(async () => {
  for (const b of Object.values(backends)) await b.close();
});

const CHILD = `
import { createLock } from "unilock";
const options = JSON.parse(process.env.LOCK_OPTIONS);
const lock = createLock(process.env.LOCK_TYPE, options);
const started = performance.now();
await lock.acquire({ timeoutMs: 300 }).catch((e) => console.log("rejected", e.name));
console.log("settled", Math.round(performance.now() - started));
process.on("exit", () => console.log("exit", Math.round(performance.now() - started)));
`;

async function childFile(): Promise<string> {
  const out = await build({
    stdin: { contents: CHILD, loader: "ts", resolveDir: root },
    alias: { unilock: join(root, "mod.ts") },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const file = join(scratch, `child_${crypto.randomUUID()}.mjs`);
  writeFileSync(file, out.outputFiles[0]!.text);
  return file;
}

function run(file: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, ...env },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const kill = setTimeout(() => child.kill("SIGKILL"), 40_000);
    child.on("exit", () => {
      clearTimeout(kill);
      resolve(out);
    });
  });
}

for (const type of ["upstash", "durable-object"] as const) {
  test(
    `RemoteLock.acquire() lets the process exit within one request timeout after it timed out against a backend that hangs (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const hang = backend.proxy.add({ match: named.matches, action: "hang" });
      const requestTimeoutMs = 3_000;
      const options = type === "upstash"
        ? {
          name: named.name,
          prefix: named.prefix,
          redis: {
            url: backend.proxy.url,
            token: (backend as unknown as { bridge: { token: string } }).bridge
              .token,
          },
          requestTimeoutMs,
        }
        : {
          name: named.name,
          url: backend.proxy.url,
          token: inject("lockService").token,
          requestTimeoutMs,
        };
      const out = await run(await childFile(), {
        LOCK_TYPE: type,
        LOCK_OPTIONS: JSON.stringify(options),
      });
      backend.proxy.clear(hang);
      const settled = Number(/settled (\d+)/.exec(out)?.[1]);
      const exited = Number(/exit (\d+)/.exec(out)?.[1]);
      assert(/rejected TimeoutError/.test(out), `the child said: ${out}`);
      assert(
        exited - settled < requestTimeoutMs + 1_000,
        `the process lived ${
          exited - settled
        } ms after its only acquire settled (requestTimeoutMs ${requestTimeoutMs}): ${
          out.replace(/\n/g, " ")
        }`,
      );
    },
    60_000,
  );
}
