// Copyright 2026 the unilock authors. MIT license.
// The deno-kv lock on Node, through the @deno/kv package (its native SQLite
// build): the contract suite against a real KV file, a process that must
// exit on its own, and a Deno and a Node process sharing one KV file; the
// semaphore contract and the Web Locks suite on the same file.
import { openKv } from "@deno/kv";
import { build } from "esbuild";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "vitest";
import { createLock } from "../../mod.ts";
import { lockContract } from "../_contract.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { denoKvBackend, denoKvWebLocks } from "../_backends.ts";
import { assert, assertEquals } from "../_assert.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dir = mkdtempSync(join(tmpdir(), "unilock-kv-"));
const kv = await openKv(join(dir, "contract.sqlite3"));
lockContract(test, denoKvBackend(kv));
semaphoreContract(test, denoKvBackend(kv));
webLocksConformance(test, denoKvWebLocks(kv));

/**
 * `code` as an .mjs file with the package bundled in from its sources,
 * under the repository (so that it finds @deno/kv in node_modules).
 */
async function asMjs(code: string): Promise<string> {
  const out = await build({
    stdin: { contents: code, loader: "ts", resolveDir: root },
    alias: { unilock: join(root, "mod.ts") },
    external: ["@deno/kv"],
    bundle: true,
    format: "esm",
    platform: "node",
    write: false,
    logLevel: "silent",
  });
  const scratch = join(root, ".test-results", "deno-kv");
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, `child_${crypto.randomUUID()}.mjs`);
  writeFileSync(file, out.outputFiles[0]!.text);
  return file;
}

test("DenoKvLock on @deno/kv lets a Node process exit once nothing is held or awaited", async () => {
  // A handoff between two lock objects of one process on the one handle
  // the lock opens for a path (a handle's watch() would see it), then
  // nothing: the process must end, and on its own.
  const file = await asMjs(`
    import { createLock } from "unilock";
    const path = process.argv[2];
    const name = "exits-" + crypto.randomUUID();
    const a = createLock("deno-kv", { name, kv: path });
    const b = createLock("deno-kv", { name, kv: path });
    const first = await a.acquire();
    const second = b.acquire();
    // Long enough for a watch() stream to be up (the waiter listens).
    setTimeout(() => first.release(), 300);
    await (await second).release();
    console.log("done");
  `);
  const child = spawnSync(
    process.execPath,
    [file, join(dir, "exits.sqlite3")],
    {
      encoding: "utf8",
      timeout: 15_000,
    },
  );
  assert(child.signal === null, `still alive after 15 s: ${child.stderr}`);
  assertEquals(child.status, 0, child.stderr);
  assert(child.stdout.includes("done"), child.stdout);
});

test(
  "DenoKvLock excludes between a Deno process and a Node process on one KV file",
  async () => {
    const path = join(dir, "both.sqlite3");
    const name = `both-${crypto.randomUUID()}`;
    const lock = createLock("deno-kv", { name, kv: path });
    const held = await lock.acquire();
    // The Deno process waits for the lock this Node process holds, then
    // holds it itself until told to go.
    const deno = spawn(join(root, "node_modules", ".bin", "deno"), [
      "eval",
      "--unstable-kv",
      `import { createLock } from ${JSON.stringify(join(root, "mod.ts"))};
     const lock = createLock("deno-kv", { name: ${JSON.stringify(name)}, kv: ${
        JSON.stringify(path)
      } });
     console.log("busy " + String((await lock.tryAcquire()) === undefined));
     const lease = await lock.acquire({ timeoutMs: 30_000 });
     console.log("granted " + String(lease.fence));
     await new Promise((resolve) => setTimeout(resolve, 300));
     await lease.release();
     console.log("released");`,
    ], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let out = "";
    let err = "";
    deno.stdout.on("data", (d) => (out += d));
    deno.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((resolve) =>
      deno.on("exit", (code) => resolve(code))
    );
    const until = async (pattern: RegExp) => {
      for (let i = 0; i < 600 && !pattern.test(out); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert(pattern.test(out), `no ${pattern} from Deno: ${out} ${err}`);
    };
    await until(/busy true/);
    await held.release();
    await until(/granted (\d+)/);
    const fence = Number(/granted (\d+)/.exec(out)![1]);
    assert(fence > held.fence, `Deno's fence ${fence} after ${held.fence}`);
    // While Deno holds it, Node cannot take it; once released, it can.
    assertEquals(await lock.tryAcquire(), undefined);
    const again = await lock.acquire({ timeoutMs: 30_000 });
    assert(/released/.test(out), "granted to Node while Deno held it");
    assert(again.fence > fence);
    await again.release();
    assertEquals(await exited, 0, err);
  },
  60_000,
);
