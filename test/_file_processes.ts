// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The file lock across real OS processes, run from Node, Deno and
 * Bun (each spawning children of its own kind, and Node a mix of all three):
 * contention counted by a marker file created with O_EXCL and a
 * read-modify-write counter, holders killed (SIGKILL) and stopped
 * (SIGSTOP), a waiter killed in the queue, and stale or half-written files
 * planted as crashed processes leave them.
 */
import { spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createLock,
  createSemaphore,
  type Lease,
  LockTimeoutError,
} from "../mod.ts";
import { lockDirName } from "../src/file/_names.ts";
import { getSystem } from "../src/file/_system.ts";
import { assert, assertEquals } from "./_assert.ts";
import type { RegisterTest } from "./_contract.ts";

/** How a test starts a child process of one runtime. */
export interface ChildRuntime {
  readonly label: string;
  /** The executable. */
  readonly command: string;
  /** Its arguments before the script. */
  readonly prefix: readonly string[];
  /** What the child imports the lock from (a path or URL). */
  readonly module: string;
}

const CHILD = new URL("./_file_child.mjs", import.meta.url).pathname;

interface Child {
  /** Resolves with the next line that starts with `prefix`. */
  line(prefix: string, ms?: number): Promise<string>;
  send(text: string): void;
  signal(name: "SIGKILL" | "SIGSTOP" | "SIGCONT"): void;
  readonly pid: number;
  /** Resolves with the exit code (or signal) once it exits. */
  readonly exited: Promise<number | string>;
}

/** A spawned process, by node:child_process or Deno.Command. */
interface Spawned {
  pid: number;
  onOut(fn: (text: string) => void): void;
  onErr(fn: (text: string) => void): void;
  exited: Promise<number | string>;
  write(text: string): void;
  kill(signal: string): void;
}

interface DenoChild {
  pid: number;
  stdin: WritableStream<Uint8Array>;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  status: Promise<{ code: number; signal: string | null }>;
  kill(signal: string): void;
}

/**
 * Deno's node:child_process stops reading a child (its output and its
 * exit) once the child is stopped with SIGSTOP (Deno 2.9.6): on Deno, use
 * Deno.Command.
 */
function spawnChild(command: string, args: string[]): Spawned {
  const deno = (globalThis as {
    Deno?: {
      Command: new (c: string, o: object) => { spawn(): DenoChild };
    };
  }).Deno;
  if (deno !== undefined) {
    const child = new deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    const pump = async (
      stream: ReadableStream<Uint8Array>,
      fns: ((text: string) => void)[],
    ) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        const text = decoder.decode(chunk);
        for (const fn of fns) fn(text);
      }
    };
    const out: ((text: string) => void)[] = [];
    const err: ((text: string) => void)[] = [];
    const reading = Promise.all([
      pump(child.stdout, out),
      pump(child.stderr, err),
    ]);
    return {
      pid: child.pid,
      onOut: (fn) => out.push(fn),
      onErr: (fn) => err.push(fn),
      exited: child.status.then(async (s) => {
        await reading;
        await writer.close().catch(() => {});
        return s.signal ?? s.code;
      }),
      write: (text) => void writer.write(new TextEncoder().encode(text)),
      kill: (signal) => {
        try {
          child.kill(signal);
        } catch { /* exited */ }
      },
    };
  }
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  return {
    pid: child.pid!,
    onOut: (fn) => child.stdout!.on("data", (c: unknown) => fn(String(c))),
    onErr: (fn) => child.stderr!.on("data", (c: unknown) => fn(String(c))),
    exited: new Promise((resolve) =>
      child.once("exit", (code, signal) => resolve(code ?? signal ?? -1))
    ),
    write: (text) => void child.stdin!.write(text),
    kill: (signal) => void child.kill(signal as "SIGKILL"),
  };
}

function start(runtime: ChildRuntime, config: object): Child {
  const child = spawnChild(runtime.command, [
    ...runtime.prefix,
    CHILD,
    JSON.stringify({ module: runtime.module, ...config }),
  ]);
  const lines: string[] = [];
  let waiting: (() => void) | undefined;
  let buffer = "", stderr = "";
  child.onOut((chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) !== -1) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
    waiting?.();
  });
  child.onErr((chunk) => (stderr += chunk));
  const exited = child.exited.then((code) => {
    waiting?.();
    return code;
  });
  let gone = false;
  void exited.then(() => (gone = true));
  return {
    pid: child.pid,
    exited,
    async line(prefix, ms = 30_000) {
      const until = performance.now() + ms;
      while (true) {
        const at = lines.findIndex((l) => l.startsWith(prefix));
        if (at !== -1) return lines.splice(at, 1)[0]!;
        if (gone) {
          throw new Error(
            `${runtime.label} child exited before "${prefix}": ${
              stderr.slice(-800)
            }`,
          );
        }
        const left = until - performance.now();
        if (left <= 0) {
          throw new Error(
            `${runtime.label} child said no "${prefix}" within ${ms} ms (said ${
              JSON.stringify(lines)
            }): ${stderr.slice(-800)}`,
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 200));
          waiting = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        waiting = undefined;
      }
    },
    send(text) {
      child.write(text);
    },
    signal(name) {
      if (!gone) child.kill(name);
    },
  };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "unilock-file-proc-"));
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Registers the process tests, with children of the given runtimes. */
export function fileProcessSuite(
  test: RegisterTest,
  runtimes: readonly ChildRuntime[],
): void {
  const first = runtimes[0]!;
  const labels = runtimes.map((r) => r.label).join(" + ");

  test(`FileLock excludes across 4 processes (${labels}) on one name: no overlap, no lost update, fences rise in grant order`, async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, "counter"), "0");
      writeFileSync(join(dir, "log"), "");
      const lockDir = join(dir, "locks");
      mkdirSync(lockDir, { mode: 0o700 });
      const children = Array.from(
        { length: 4 },
        (_, i) =>
          start(runtimes[i % runtimes.length]!, {
            mode: "contend",
            name: "shared-counter",
            dir: lockDir,
            work: dir,
            rounds: 25,
            holdMs: 3,
            shared: 0.2,
            seed: i + 1,
          }),
      );
      // Counting lives in the directory the children share, not the lock's.
      for (const c of children) await c.line("ready");
      let exclusive = 0, shared = 0;
      for (const c of children) {
        const done = JSON.parse((await c.line("done", 120_000)).slice(5));
        assertEquals(done.overlaps, 0, "overlapping sections");
        exclusive += done.sections;
        shared += done.sharedSections;
        assertEquals(await c.exited, 0);
      }
      assertEquals(exclusive + shared, 100);
      // Every exclusive section incremented once: none was lost to another.
      assertEquals(
        Number(readFileSync(join(dir, "counter"), "utf8")),
        exclusive,
      );
      const fences = readFileSync(join(dir, "log"), "utf8").trim().split("\n")
        .map((l) => Number(l.split(" ")[0]));
      assertEquals(fences.length, exclusive);
      for (let i = 1; i < fences.length; i++) {
        assert(fences[i]! > fences[i - 1]!, `fences not rising: ${fences}`);
      }
      const pids = new Set(
        readFileSync(join(dir, "log"), "utf8").trim().split("\n").map((l) =>
          l.split(" ")[1]
        ),
      );
      assertEquals(pids.size, 4, "every process held the lock");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`FileLock grants waiters of different processes in the order they queued, by priority first (${labels})`, async () => {
    const dir = tempDir();
    const children: Child[] = [];
    try {
      const lock = createLock("file", { name: "order", dir });
      const held = await lock.acquire();
      // Queued one after another: a, b, c at priority 0, then d at 5.
      const specs = [{ priority: 0 }, { priority: 0 }, { priority: 0 }, {
        priority: 5,
      }];
      for (const [i, spec] of specs.entries()) {
        const child = start(runtimes[i % runtimes.length]!, {
          mode: "wait",
          name: "order",
          dir,
          queuedAfterMs: 300,
          ...spec,
        });
        children.push(child);
        await child.line("queued");
      }
      assertEquals((await lock.query()).pending.length, 4);
      await held.release();
      const fences = [];
      for (const child of children) {
        fences.push(
          Number((await child.line("granted", 30_000)).split(" ")[1]),
        );
        assertEquals(await child.exited, 0);
      }
      // d first (its priority), then a, b, c in arrival order.
      const order = fences.map((f, i) => [f, "abcd"[i]!] as const)
        .sort((x, y) => x[0] - y[0]).map(([, who]) => who).join("");
      assertEquals(order, "dabc");
    } finally {
      for (const child of children) child.signal("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`FileLock frees the lease of a holder process killed with SIGKILL at once, not after its lease (${first.label})`, async () => {
    const dir = tempDir();
    try {
      const holder = start(first, {
        mode: "hold",
        name: "killed",
        dir,
        leaseMs: 120_000,
      });
      await holder.line("held");
      const lock = createLock("file", { name: "killed", dir });
      const waiting = lock.acquire({ timeoutMs: 30_000 });
      await delay(200);
      const killed = performance.now();
      holder.signal("SIGKILL");
      const lease = await waiting;
      const ms = performance.now() - killed;
      // Freed by the pid check (a poll every 50 ms), not the 120 s lease.
      assert(ms < 10_000, `granted ${Math.round(ms)} ms after the kill`);
      await lease.release();
      await holder.exited;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`FileLock takes the lease of a holder process stopped with SIGSTOP after leaseMs; its lease.signal aborts when it resumes and it lives on (${first.label})`, async () => {
    const dir = tempDir();
    let holder: Child | undefined;
    try {
      holder = start(first, {
        mode: "hold",
        name: "stopped",
        dir,
        leaseMs: 800,
      });
      const fence = Number((await holder.line("held")).slice(5));
      holder.signal("SIGSTOP");
      const lock = createLock("file", { name: "stopped", dir });
      const asked = performance.now();
      const lease = await lock.acquire({ timeoutMs: 30_000 });
      const ms = performance.now() - asked;
      // Never before the lease could have ended (this process first saw it
      // when it asked), and not long after.
      assert(ms >= 750, `granted after ${Math.round(ms)} ms: too soon`);
      assert(ms < 15_000, `granted after ${Math.round(ms)} ms`);
      assert(lease.fence > fence);
      holder.signal("SIGCONT");
      assertEquals(await holder.line("lost", 15_000), "lost LockLostError");
      await lease.release();
      // The stopped process was told, not crashed: it releases and exits.
      holder.send("release\n");
      await holder.line("released");
      assertEquals(await holder.exited, 0);
    } finally {
      holder?.signal("SIGCONT");
      holder?.signal("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`FileLock drops a waiter process killed in the queue, so the waiters behind it go on (${first.label})`, async () => {
    const dir = tempDir();
    try {
      const lock = createLock("file", { name: "queue", dir });
      const held = await lock.acquire();
      const waiter = start(first, {
        mode: "wait",
        name: "queue",
        dir,
        // Without the pid check, its place would last a minute.
        waiterTtlMs: 60_000,
        queuedAfterMs: 300,
      });
      await waiter.line("queued");
      const behind = lock.acquire({ timeoutMs: 30_000 });
      await delay(100);
      waiter.signal("SIGKILL");
      await waiter.exited;
      const released = performance.now();
      await held.release();
      const lease = await behind;
      const ms = performance.now() - released;
      assert(ms < 10_000, `granted ${Math.round(ms)} ms after the release`);
      await lease.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`FileSemaphore.withPermits() never lets more than N permits out across 4 processes (${labels}), and lets several in at once`, async () => {
    const dir = tempDir();
    try {
      mkdirSync(join(dir, "in"));
      const lockDir = join(dir, "locks");
      mkdirSync(lockDir, { mode: 0o700 });
      const children = Array.from(
        { length: 4 },
        (_, i) =>
          start(runtimes[i % runtimes.length]!, {
            mode: "permits",
            name: "builds",
            dir: lockDir,
            work: dir,
            permits: 3,
            weight: 2,
            rounds: 15,
            holdMs: 20,
            seed: i + 1,
          }),
      );
      for (const c of children) await c.line("ready");
      let most = 0;
      for (const c of children) {
        const done = JSON.parse((await c.line("done", 120_000)).slice(5));
        assertEquals(done.overflows, 0, "more permits out than the capacity");
        assertEquals(done.lost, 0, "a lease was lost");
        most = Math.max(most, done.most);
        assertEquals(await c.exited, 0);
      }
      // Sections of 20 ms at most, 60 of them: some surely overlapped.
      assert(most >= 2, `at most ${most} permits were ever out at once`);
      const sem = createSemaphore("file", {
        name: "builds",
        dir: lockDir,
        permits: 3,
      });
      assertEquals(await sem.available(), 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`FileSemaphore.acquire() rejects with a RangeError naming 'permits' when another process holds the name with another capacity, and takes the new one once that process is killed (${first.label})`, async () => {
    const dir = tempDir();
    let holder: Child | undefined;
    try {
      holder = start(first, {
        mode: "hold-permits",
        name: "exports",
        dir,
        permits: 3,
        take: 2,
      });
      await holder.line("held");
      const five = createSemaphore("file", {
        name: "exports",
        dir,
        permits: 5,
      });
      const error = await five.acquire({ timeoutMs: 5_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert(error instanceof RangeError, `rejected with ${String(error)}`);
      assert(
        /'permits'/.test(error.message) && /\b5\b/.test(error.message) &&
          /\b3\b/.test(error.message),
        error.message,
      );
      // A lock cannot share the name with a semaphore.
      const lock = createLock("file", { name: "exports", dir });
      const lockError = await lock.acquire({ timeoutMs: 5_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert(
        lockError instanceof TypeError &&
          /semaphore of 3 permits/.test(lockError.message),
        `lock: ${String(lockError)}`,
      );
      const three = createSemaphore("file", {
        name: "exports",
        dir,
        permits: 3,
      });
      assertEquals(await three.available(), 1);
      holder.signal("SIGKILL");
      await holder.exited;
      // The dead process's permits bind nobody: the name is idle, and takes 5.
      const lease = await five.acquire({ permits: 4, timeoutMs: 10_000 });
      assertEquals(await five.available(), 1);
      await lease.release();
    } finally {
      holder?.signal("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`FileLock.acquire() with steal takes the lock from another process's holder, whose lease.signal aborts saying it was stolen (${first.label})`, async () => {
    const dir = tempDir();
    let holder: Child | undefined;
    try {
      holder = start(first, {
        mode: "hold",
        name: "stolen",
        dir,
        leaseMs: 900,
        why: true,
      });
      const fence = Number((await holder.line("held")).slice(5));
      const lock = createLock("file", { name: "stolen", dir });
      const waiter = lock.acquire({ timeoutMs: 30_000 });
      await delay(100);
      const thief = await lock.acquire({ steal: true, timeoutMs: 5_000 });
      assert(thief.fence > fence, `fence ${thief.fence} after ${fence}`);
      // It hears of it at its next renewal (a third of its lease).
      const lost = await holder.line("lost", 15_000);
      assert(/^lost LockLostError .*stolen/.test(lost), lost);
      // Its late release ends nothing of the thief's.
      holder.send("release\n");
      await holder.line("released");
      assertEquals(await lock.isLocked(), true);
      await thief.release();
      // The waiter kept its place behind the thief.
      const next = await waiter;
      assert(next.fence > thief.fence);
      await next.release();
      assertEquals(await holder.exited, 0);
    } finally {
      holder?.signal("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("FileLock grants past stale and half-written files left by crashed processes, and keeps its fences rising", async () => {
    const dir = tempDir();
    try {
      const sys = getSystem("test");
      const name = "planted";
      const lockDir = join(dir, lockDirName(name, sys.sha256));
      mkdirSync(lockDir, { mode: 0o700 });
      // A pid that is not running (above the kernel's pid_max).
      const dead = { ...sys.self, pid: 4_194_304 + 17, start: 1 };
      const proc = (i: typeof dead) => [i.host, i.boot, i.ns, i.pid, i.start];
      const plantedFence = Date.now() * 1000 + 5e9;
      const state = (fence: number, holder: typeof dead) =>
        JSON.stringify({
          format: "unilock-file/1",
          fence,
          ticket: 3,
          procs: [proc(holder)],
          holders: [{
            t: "lk_crashed",
            m: "x",
            f: fence,
            q: 4,
            l: 120_000,
            w: 0,
            a: Date.now(),
            i: 0,
          }],
          waiters: [{
            t: "lk_crashed_waiter",
            m: "x",
            k: 256 * 3 + 100,
            l: 1_000,
            r: 0,
            e: 120_000,
            a: Date.now(),
            i: 0,
          }],
        });
      // The state as a crashed holder left it: its lease would run 2 min.
      writeFileSync(join(lockDir, "v5"), state(plantedFence, dead));
      // A newer state file cut short by a machine crash.
      writeFileSync(
        join(lockDir, "v6"),
        state(plantedFence + 1, dead).slice(0, 40),
      );
      // An older one, below the highest: never read.
      writeFileSync(join(lockDir, "v2"), state(1, sys.self));
      // The pending file of a change the dead process never made.
      const h = (s: string) =>
        s === "" ? "00000000" : sys.sha256(s).slice(0, 8);
      const temp = `t6.${h(dead.host)}.${h(dead.boot)}.${
        h(dead.ns)
      }.${dead.pid}.${dead.start}.abc`;
      mkdirSync(join(lockDir, "pending"), { mode: 0o700 });
      writeFileSync(join(lockDir, "pending", temp), '{"format":');
      // Files that are not the lock's.
      writeFileSync(join(lockDir, "notes.txt"), "x");
      writeFileSync(join(lockDir, "v0007"), "x");
      const lock = createLock("file", { name, dir });
      const asked = performance.now();
      const lease = await lock.acquire({ timeoutMs: 20_000 });
      assert(performance.now() - asked < 10_000, "waited for the dead lease");
      assert(lease.fence > plantedFence + 1, `fence ${lease.fence} fell back`);
      await lease.release();
      const q = await lock.query();
      assertEquals(q, { held: [], pending: [] });
      // The dead process's pending file is swept (at most once a second),
      // and the old state files collected.
      const done = () => {
        const files = readdirSync(lockDir);
        return !readdirSync(join(lockDir, "pending")).includes(temp) &&
          !files.includes("v2") && !files.includes("v5");
      };
      for (let i = 0; i < 40 && !done(); i++) {
        await delay(100);
        await (await lock.acquire()).release();
      }
      const left = readdirSync(lockDir);
      assert(
        done(),
        `left behind: ${left}; pending ${
          readdirSync(join(lockDir, "pending"))
        }`,
      );
      assert(left.includes("notes.txt") && left.includes("v0007"));
      assertEquals(readdirSync(dir).sort(), [lockDirName(name, sys.sha256)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("FileLock never judges a holder of another host by its pid: it waits out the lease", async () => {
    const dir = tempDir();
    try {
      const sys = getSystem("test");
      const name = "foreign";
      const lockDir = join(dir, lockDirName(name, sys.sha256));
      mkdirSync(lockDir, { mode: 0o700 });
      writeFileSync(
        join(lockDir, "v1"),
        JSON.stringify({
          format: "unilock-file/1",
          fence: 10,
          ticket: 0,
          procs: [[`not-${sys.self.host}`, "b", "n", 4_194_321, 1]],
          holders: [{
            t: "lk_remote",
            m: "x",
            f: 10,
            q: 0,
            l: 600,
            w: 0,
            a: Date.now(),
            i: 0,
          }],
          waiters: [],
        }),
      );
      const lock = createLock("file", { name, dir });
      const asked = performance.now();
      assertEquals(await lock.tryAcquire(), undefined);
      let lease: Lease | undefined;
      try {
        lease = await lock.acquire({ timeoutMs: 20_000 });
      } catch (error) {
        if (error instanceof LockTimeoutError) throw new Error("never freed");
        throw error;
      }
      const ms = performance.now() - asked;
      assert(ms >= 550, `granted after ${Math.round(ms)} ms: judged by pid`);
      assert(lease.fence > 10);
      await lease.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
