// Copyright 2026 the unilock authors. MIT license.
// Adversarial: the file lock against a hostile user, with real processes
// (test/_lock_agent.mjs, loading a bundle of the sources) and real files.
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
} from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, test } from "vitest";
import { createLock, createSemaphore } from "../../mod.ts";
import { lockDirName } from "../../src/file/_names.ts";
import { assert, assertEquals } from "../_assert.ts";
import { lockAgents } from "../_lock_agents.ts";

const { agent, stopAll, dispose } = lockAgents("file");
const dirs: string[] = [];
afterAll(dispose);
afterEach(() => {
  stopAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "unilock-adv-"));
  dirs.push(dir);
  return dir;
}

async function until(what: string, fn: () => Promise<boolean>, ms = 20_000) {
  const end = performance.now() + ms;
  while (!(await fn())) {
    if (performance.now() > end) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const randomName = () => `adv-${Math.random().toString(36).slice(2)}`;
const versions = (path: string) =>
  readdirSync(path).filter((f) => /^v[0-9]+$/.test(f)).map((f) =>
    Number(f.slice(1))
  );

test(
  "FileLock.acquire() grants no second holder when the lock's directory was removed and made again up to the holder's state number",
  async () => {
    // A holder's process keeps the newest state file it wrote parsed, by its
    // number. Removing the lock's directory (a tmp cleaner, a hand) while
    // it holds frees the lock: another process takes it in the new
    // directory, whose numbers start again at v1. Once they reach the
    // holder's number, the holder's next change (a renewal, an extend)
    // builds on its remembered state instead of the file now under that
    // number: it commits itself back as the holder and drops the new one.
    const dir = tempDir();
    const name = randomName();
    const path = join(dir, lockDirName(name));
    const options = { name, dir, leaseMs: 60_000 };
    const a = await agent(options);
    const held = await a.call({ op: "acquire" });
    assert(typeof held.fence === "number", JSON.stringify(held));
    assertEquals((await a.call({ op: "extend", ms: 60_000 })).ok, true);
    const top = Math.max(...versions(path));
    rmSync(path, { recursive: true });

    const lock = createLock("file", options);
    const b = await lock.acquire({ timeoutMs: 5_000 });
    try {
      assert(b.fence > (held.fence as number), "the new fence is higher");
      while (Math.max(...versions(path)) < top) await b.extend(60_000);
      assertEquals(Math.max(...versions(path)), top);

      const extended = await a.call({ op: "extend", ms: 60_000 });
      const snapshot = await lock.query();
      assertEquals(
        snapshot.held.map((h) => h.fence),
        [b.fence],
        "the new holder still holds, alone",
      );
      assert(!b.signal.aborted, "the new holder's lease stands");
      assert(
        extended.error !== undefined,
        `the old holder's extend fails (it answered ${
          JSON.stringify(extended)
        })`,
      );
    } finally {
      await b.release().catch(() => {});
    }
  },
  60_000,
);

test(
  "FileLock.tryAcquire() grants no lease that isLocked() cannot see when the highest state file's number has 15 digits",
  async () => {
    // State files are read by a pattern of up to 15 digits. A file planted
    // as v999999999999999 (by hand, or a copy of another lock's directory
    // gone wrong) makes the next change v1000000000000000, which no
    // listing reads: the grant is committed where nobody sees it
    // (isLocked() and query() say free), and other processes fail every
    // change for ever with "heavy contention" (their link finds the name
    // taken). It should fail closed, at once, saying why.
    const dir = tempDir();
    const name = randomName();
    const path = join(dir, lockDirName(name));
    const lock = createLock("file", { name, dir });
    await (await lock.acquire()).release();
    const top = Math.max(...versions(path));
    copyFileSync(join(path, `v${top}`), join(path, "v999999999999999"));

    const mine = await lock.tryAcquire().catch((e: Error) => e);
    try {
      if (mine !== undefined && !(mine instanceof Error)) {
        assertEquals(await lock.isLocked(), true, "isLocked() while held");
      } else {
        assert(
          String(mine?.message).includes("highest state number"),
          `the refusal says why: ${mine?.message}`,
        );
      }
    } finally {
      if (mine !== undefined && !(mine instanceof Error)) {
        await mine.release().catch(() => {});
      }
    }
  },
  60_000,
);

test(
  "FileSemaphore.tryAcquire() takes the permits of a killed holder when more than 8 holders were granted before it",
  async () => {
    // docs/file.md: "an acquire or tryAcquire that finds the lock held
    // looks at its holders and the first waiters before it queues". It
    // judged only the first 8 of everything in its way, holders included:
    // a dead holder granted after 8 live ones kept its permits from every
    // tryAcquire (refused, with the permits free) until a waiting process's
    // poll or an available() call judged every holder.
    const dir = tempDir();
    const name = randomName();
    const options = { name, dir, permits: 10 };
    const sem = createSemaphore("file", options);
    const mine = [];
    try {
      for (let i = 0; i < 8; i++) mine.push(await sem.acquire());
      const other = await agent(options, true);
      const held = await other.call({
        op: "acquire",
        options: { permits: 2 },
      });
      assert(typeof held.fence === "number", JSON.stringify(held));
      other.signal("SIGKILL");
      await until(
        "the killed process is gone",
        () => Promise.resolve(!existsSync(`/proc/${other.pid}`)),
      );
      // Past the 20 ms a live process's answer is believed.
      await new Promise((r) => setTimeout(r, 100));
      const lease = await sem.tryAcquire({ permits: 1 });
      assert(lease !== undefined, "the dead holder's permits were free");
      mine.push(lease);
    } finally {
      for (const l of mine) await l.release().catch(() => {});
    }
  },
  60_000,
);

/** Whether strace can trace a child here (it injects the slow link()). */
const strace = spawnSync("strace", ["-f", "-qq", "-o", "/dev/null", "true"])
  .status === 0;

test(
  "FileLock.acquire() keeps to timeoutMs, give or take one slow link(), when every link() takes 400 ms and another process keeps changing the lock",
  async () => {
    assert(
      strace,
      "this test delays link() with strace, which cannot run here: install it (apt-get install -y strace) where processes may be traced",
    );
    // A change's attempts run synchronously: each one that loses the
    // race for its state number (link() finds the name taken) tries again
    // at once, up to 64 times. With link() slow (a stalled disk; here
    // strace delays it) and another process committing meanwhile, every
    // attempt loses, and the event loop stays blocked for all 64: timeoutMs
    // (and signal, and the process's other leases' renewals) wait up to
    // 64 × 400 ms.
    const dir = tempDir();
    const name = randomName();
    const options = { name, dir };
    const lock = createLock("file", options);
    const slow = await agent(options, false, [
      "strace",
      "-f",
      "-qq",
      "-o",
      "/dev/null",
      "-e",
      "trace=link,linkat",
      "-e",
      "inject=link,linkat:delay_enter=400000",
    ]);
    let churning = true;
    const churn = (async () => {
      while (churning) {
        const lease = await lock.tryAcquire();
        await lease?.release();
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      const reply = await slow.call({
        op: "acquire",
        options: { timeoutMs: 300 },
      }, 60_000);
      assert(
        (reply.ms as number) < 3_000,
        `acquire({ timeoutMs: 300 }) settled after ${reply.ms} ms: ${
          JSON.stringify(reply)
        }`,
      );
    } finally {
      churning = false;
      await churn;
    }
  },
  90_000,
);
