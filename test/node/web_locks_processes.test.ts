// Copyright 2026 the unilock authors. MIT license.
// The Web Locks steps that involve other clients, across two processes on
// the distributed backends: query() shows every client's holders and
// waiters with their clientIds, and a steal reaches the other process's
// holder (its request rejects with AbortError) with a higher fence. deno-kv:
// two Node processes on one KV file.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, inject, test } from "vitest";
import { createWebLocks, type LockType, type WebLock } from "../../mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import { randomName } from "../_contract.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
let bundle: Promise<string> | undefined;
function childScript(): Promise<string> {
  return bundle ??= (async () => {
    const outfile = path.join(
      here,
      "..",
      "..",
      ".test-results",
      `web_locks_child_${process.pid}.mjs`,
    );
    await build({
      entryPoints: [path.join(here, "..", "web_locks", "_child.ts")],
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      outfile,
      logLevel: "error",
      // @upstash/redis is only loaded for env credentials: never here;
      // @deno/kv (a native module) loads from node_modules at run time.
      external: ["@upstash/redis", "@deno/kv"],
    });
    return outfile;
  })();
}

type Message = Record<string, unknown>;

/** A client in another process (see test/web_locks/_child.ts). */
async function otherProcess(type: LockType, options: object) {
  const child = spawn(process.execPath, [
    await childScript(),
    JSON.stringify({ type, options }),
  ], { stdio: ["pipe", "pipe", "inherit"] });
  const inbox: Message[] = [];
  const waiters: {
    match: (m: Message) => boolean;
    done: (m: Message) => void;
  }[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const message = JSON.parse(line) as Message;
    const at = waiters.findIndex((w) => w.match(message));
    if (at >= 0) waiters.splice(at, 1)[0]!.done(message);
    else inbox.push(message);
  });
  const next = (match: (m: Message) => boolean, ms = 15_000) =>
    new Promise<Message>((resolve, reject) => {
      const at = inbox.findIndex(match);
      if (at >= 0) return resolve(inbox.splice(at, 1)[0]!);
      const timer = setTimeout(() => reject(new Error("no answer")), ms);
      waiters.push({
        match,
        done: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  const ready = await next((m) => m.ready === true);
  return {
    clientId: ready.clientId as string,
    send: (command: object) =>
      child.stdin!.write(`${JSON.stringify(command)}\n`),
    next,
    stop: () => {
      child.kill();
    },
  };
}

const service = inject("lockService");
const upstash = inject("upstash");
const dir = mkdtempSync(path.join(tmpdir(), "unilock-wlp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const backends: [LockType, object][] = [
  // Processes of this host through one directory.
  ["file", { dir, leaseMs: 1_500 }],
  ["durable-object", {
    url: service.url,
    token: service.token,
    leaseMs: 1_500,
  }],
  ["upstash", {
    redis: { url: upstash.url, token: upstash.token },
    prefix: `test:wlp:${crypto.randomUUID()}:`,
    leaseMs: 1_500,
  }],
  // Both processes open one KV file by path, through @deno/kv.
  // A KV commit can take a second on a loaded machine: a longer lease, so
  // that the other process's holder is not lost to a slow renewal.
  ["deno-kv", {
    kv: path.join(mkdtempSync(path.join(tmpdir(), "unilock-wlp-")), "kv"),
    leaseMs: 6_000,
  }],
];

for (const [type, options] of backends) {
  test(
    `[web-locks ${type}] WebLocks.query() shows another process's holder and this one's waiter, each with its clientId`,
    async () => {
      const other = await otherProcess(type, options);
      try {
        const locks = createWebLocks(type, options as never);
        const name = randomName("wlp");
        other.send({ op: "hold", name });
        await other.next((m) => m.granted === true && m.name === name);
        const mine = locks.request(name, { mode: "shared" }, () => "mine");
        type Snapshot = Awaited<ReturnType<typeof locks.query>>;
        const theirs = async (): Promise<Snapshot> => {
          other.send({ op: "query" });
          return (await other.next((m) => m.snapshot !== undefined))
            .snapshot as Snapshot;
        };
        // The other process sees our waiter once its first call has reached
        // the backend (a commit to a KV file may take a while when loaded).
        let snapshotOfOther = await theirs();
        for (
          let i = 0;
          i < 50 && !snapshotOfOther.pending.some((p) => p.name === name);
          i++
        ) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          snapshotOfOther = await theirs();
        }
        for (const snapshot of [await locks.query(), snapshotOfOther]) {
          const held = snapshot.held.filter((i) => i.name === name);
          const pending = snapshot.pending.filter((i) => i.name === name);
          assertEquals(held, [{
            name,
            mode: "exclusive",
            clientId: other.clientId,
          }]);
          assertEquals(pending, [{
            name,
            mode: "shared",
            clientId: locks.clientId,
          }]);
        }
        assert(other.clientId !== locks.clientId);
        other.send({ op: "release", name });
        assertEquals(await mine, "mine");
        assertEquals(
          (await other.next((m) => m.settled === true && m.name === name)).ok,
          true,
        );
      } finally {
        other.stop();
      }
    },
    60_000,
  );

  test(
    `[web-locks ${type}] WebLocks.request() with steal takes the lock from another process's holder, whose request rejects with AbortError`,
    async () => {
      const other = await otherProcess(type, options);
      try {
        const locks = createWebLocks(type, options as never);
        const name = randomName("wlp");
        other.send({ op: "hold", name });
        const granted = await other.next((m) =>
          m.granted === true && m.name === name
        );
        const stolen = await locks.request(
          name,
          { steal: true },
          (lock: WebLock) => {
            assert(
              lock.fence > (granted.fence as number),
              "the thief's fence is not higher",
            );
            return lock.fence;
          },
        );
        // The other process hears it at its lease's next renewal.
        const settled = await other.next((m) =>
          m.settled === true && m.name === name
        );
        assertEquals([settled.ok, settled.error], [false, "AbortError"]);
        assert(
          /stolen/.test(settled.message as string),
          settled.message as string,
        );
        // Its callback ends later; that frees nothing of ours.
        other.send({ op: "release", name });
        const after = await locks.request(name, (lock) => lock.fence);
        assert(after > stolen);
      } finally {
        other.stop();
      }
    },
    60_000,
  );
}
