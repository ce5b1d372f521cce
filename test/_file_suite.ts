// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The file lock's own tests, beside the contract, on Node, Deno
 * and Bun: its state store's compare-and-swap when another process changes
 * the state between the steps of a change (a process stopped mid-change is
 * one such), what it leaves on disk, and a lease read after its process was
 * blocked past it.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLock, createSemaphore, describeLockTarget } from "../mod.ts";
import { StateStore } from "../src/file/_store.ts";
import { lockDirName } from "../src/file/_names.ts";
import { Room } from "../src/file/_room.ts";
import { emptyState, formatState, parseState } from "../src/file/_state.ts";
import { getSystem, type System } from "../src/file/_system.ts";
import { assert, assertEquals } from "./_assert.ts";
import type { RegisterTest } from "./_contract.ts";

/** The system, with a hook run before each link() (a pause in a change). */
function withHook(sys: System, hook: { beforeLink?: () => void }): System {
  return {
    ...sys,
    fs: {
      ...sys.fs,
      linkSync: (a: string, b: string) => {
        const fn = hook.beforeLink;
        delete hook.beforeLink;
        fn?.();
        sys.fs.linkSync(a, b);
      },
    },
  };
}

/** A change that counts: the ticket goes up by one. */
const bump = (s: { ticket: number }) => {
  s.ticket++;
  return { result: s.ticket, changed: true };
};

/** Runs `fn` with a `Room` on a fresh directory, removed after. */
function withRoom(fn: (room: Room, sys: System) => void): void {
  const sys = getSystem("test");
  const dir = mkdtempSync(join(tmpdir(), "unilock-room-"));
  try {
    fn(new Room(sys, new StateStore(sys, dir, "room")), sys);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function fileSuite(test: RegisterTest): void {
  test("StateStore.update() retries a change that another process committed first, and loses neither", () => {
    const dir = mkdtempSync(join(tmpdir(), "unilock-store-"));
    try {
      const sys = getSystem("test");
      const hook: { beforeLink?: () => void } = {};
      const mine = new StateStore(withHook(sys, hook), dir, "lock-race");
      const theirs = new StateStore(sys, dir, "lock-race");
      theirs.update(bump);
      // Between this change's second listing and its link, another
      // commits on the same state: the link finds the name taken.
      hook.beforeLink = () => void theirs.update(bump);
      mine.update(bump);
      assertEquals(theirs.read().state.ticket, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return Promise.resolve();
  });

  test("StateStore.update() keeps the state a stopped change was based on until it resumes, so its late link cannot fork the state", () => {
    const dir = mkdtempSync(join(tmpdir(), "unilock-store-"));
    try {
      const sys = getSystem("test");
      const hook: { beforeLink?: () => void } = {};
      const mine = new StateStore(withHook(sys, hook), dir, "lock-fork");
      const theirs = new StateStore(sys, dir, "lock-fork");
      theirs.update(bump);
      // Stopped just before its link, while twelve changes are committed
      // and old files collected: the one it would link must stay taken.
      hook.beforeLink = () => {
        for (let i = 0; i < 12; i++) theirs.update(bump);
      };
      mine.update(bump);
      const { state, version } = theirs.read();
      assertEquals(state.ticket, 14, "a change was lost to a fork");
      assertEquals(version, 14);
      const files = readdirSync(join(dir, "lock-fork"));
      assertEquals(readdirSync(join(dir, "lock-fork", "pending")), []);
      assert(files.filter((f) => f.startsWith("v")).length <= 7, `${files}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return Promise.resolve();
  });

  test("StateStore.read() lists again when a file of its listing is removed, rather than read an older one a change in flight keeps", () => {
    const dir = mkdtempSync(join(tmpdir(), "unilock-store-"));
    try {
      const sys = getSystem("test");
      const lockDir = join(dir, "lock-stale");
      mkdirSync(lockDir, { mode: 0o700 });
      const at = (ticket: number) => formatState({ ...emptyState(), ticket });
      // An old state kept by a (dead) change based on v2, the newest
      // readable one, and a newest one cut short.
      writeFileSync(join(lockDir, "v3"), at(3));
      writeFileSync(join(lockDir, "v7"), at(7));
      writeFileSync(join(lockDir, "v8"), '{"format":');
      let raced = false;
      const racing: System = {
        ...sys,
        fs: {
          ...sys.fs,
          readFileSync: (path: string, encoding: "utf8") => {
            // Between the listing and the read, others commit v9 and
            // collect v7.
            if (path.endsWith("/v7") && !raced) {
              raced = true;
              writeFileSync(join(lockDir, "v9"), at(9));
              unlinkSync(join(lockDir, "v7"));
            }
            return sys.fs.readFileSync(path, encoding);
          },
        },
      };
      const { state, version } = new StateStore(racing, dir, "lock-stale")
        .read();
      assert(raced);
      assertEquals([version, state.ticket], [9, 9]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return Promise.resolve();
  });

  test("FileLock keeps a few small files per lock however many changes it makes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unilock-store-"));
    try {
      const lock = createLock("file", { name: "churn", dir });
      for (let i = 0; i < 300; i++) {
        await (await lock.acquire({ mode: i % 3 ? "exclusive" : "shared" }))
          .release();
      }
      const [entry] = readdirSync(dir);
      const files = readdirSync(join(dir, entry!));
      // The newest three, and at most four older ones waiting to be removed.
      assert(files.length <= 8, `${files.length} files: ${files}`);
      assert(files.every((f) => /^v\d+$|^pending$/.test(f)), `${files}`);
      assertEquals(readdirSync(join(dir, entry!, "pending")), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('createLock("auto") makes a file lock when given dir, and never guesses one', async () => {
    const dir = mkdtempSync(join(tmpdir(), "unilock-store-"));
    try {
      const target = describeLockTarget({ name: "a", dir, leaseMs: 500 });
      assertEquals(target.type, "file");
      assertEquals(target.options, { name: "a", dir, leaseMs: 500 });
      const lock = createLock("auto", { name: "a", dir });
      assertEquals(lock.type, "file");
      await (await lock.acquire()).release();
      // Nothing in an env says the processes share a host.
      assertEquals(
        describeLockTarget({ name: "a", env: { TMPDIR: dir } }).type,
        "local",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // deno-lint-ignore require-await
  test("Room.expire() ends an entry its length after this process first saw it as written, and a rewrite starts it anew", async () => {
    withRoom((room, sys) => {
      const state = emptyState();
      const holder = (q: number) => ({
        t: "lk_h",
        m: "x" as const,
        f: 1,
        q,
        l: 1_000,
        w: 0 as const,
        a: 1,
        i: sys.self,
      });
      const waiter = (r: number) => ({
        t: "lk_w",
        m: "x" as const,
        k: 1,
        l: 1_000,
        r,
        e: 2_000,
        a: 1,
        i: sys.self,
      });
      const at = (q: number, r: number, now: number) => {
        state.holders = [holder(q)];
        state.waiters = [waiter(r)];
        room.observe(state, now);
        const probe = {
          ...state,
          holders: [...state.holders],
          waiters: [...state.waiters],
        };
        room.expire(probe, now);
        return [probe.holders.length, probe.waiters.length];
      };
      assertEquals(at(0, 0, 100), [1, 1]);
      assertEquals(at(0, 0, 1_099), [1, 1], "ended before its length");
      assertEquals(at(0, 0, 1_100), [0, 1], "the holder outlived its length");
      // An extend (q) and a heartbeat (r) are new writes: timed anew.
      assertEquals(at(1, 1, 1_100), [1, 1]);
      assertEquals(at(1, 1, 2_099), [1, 1]);
      assertEquals(at(1, 1, 3_100), [0, 0], "neither ran out once rewritten");
      // Gone from the state, then back: seen anew (no stale first sight).
      state.holders = [];
      state.waiters = [];
      room.observe(state, 3_200);
      assertEquals(at(1, 1, 3_300), [1, 1], "a token that left was remembered");
      assertEquals(at(1, 1, 4_300), [0, 1]);
    });
  });

  // A waiter dropped while its process was stopped queues again under the
  // same token, its heartbeat count back at 0, at a new place: a process
  // that saw the first place and changed nothing meanwhile must time the
  // new one from when it sees it (an adversarial review; older than the
  // sightings by token).
  // deno-lint-ignore require-await
  test("Room.expire() times a waiter's place taken again anew, though its heartbeat count is 0 again", async () => {
    withRoom((room, sys) => {
      const place = (k: number) => ({
        ...emptyState(),
        waiters: [{
          t: "lk_p",
          m: "x" as const,
          k,
          l: 1_000,
          r: 0,
          e: 1_000,
          a: 0,
          i: sys.self,
        }],
      });
      room.observe(place(1), 0);
      // Dropped at about 1,000 by another process; queued again at 1,400.
      const again = place(2);
      room.observe(again, 1_450);
      assert(!room.expire(again, 1_450), "a place written 50 ms ago ran out");
      assert(room.expire(again, 2_450), "the new place never ran out");
    });
  });

  // A state file no rule of ours writes (a token listed twice, with two
  // extend numbers), from a process nobody can judge (another pid
  // namespace): only expiry by observation can free it. An adversarial
  // review found the two entries timing each other anew for ever.
  test("FileLock frees a holder its state file lists twice, by expiry, when nobody can judge its process", async () => {
    const sys = getSystem("test");
    const dir = mkdtempSync(join(tmpdir(), "unilock-dup-"));
    try {
      const name = `dup-${crypto.randomUUID().slice(0, 8)}`;
      const path = join(dir, lockDirName(name, sys.sha256));
      mkdirSync(path, { mode: 0o700 });
      mkdirSync(join(path, "pending"), { mode: 0o700 });
      const me = sys.self;
      const h = { t: "lk_other", m: "s", f: 1, l: 200, w: 0, a: 1, i: 0 };
      writeFileSync(
        join(path, "v1"),
        JSON.stringify({
          format: "unilock-file/1",
          fence: 1,
          ticket: 0,
          procs: [[me.host, me.boot, "pid:[1]", 1, 1]],
          holders: [{ ...h, q: 0 }, { ...h, q: 1 }],
          waiters: [],
        }),
      );
      const lock = createLock("file", { name, dir, leaseMs: 1_000 });
      const started = performance.now();
      let lease;
      while (lease === undefined && performance.now() - started < 5_000) {
        lease = await lock.tryAcquire();
        if (lease === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      assert(lease !== undefined, "the twice-listed holder was never freed");
      await lease.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // deno-lint-ignore require-await
  test("parseState() keeps a semaphore's permits and stolen tokens, and refuses an entry with more permits than its capacity", async () => {
    const sys = getSystem("test");
    const state = emptyState();
    state.fence = 7;
    state.holders.push({
      t: "lk_a",
      m: "s",
      f: 7,
      q: 0,
      l: 1_000,
      w: 0,
      a: 1,
      i: sys.self,
      p: 2,
      c: 3,
    });
    state.stolen.push("lk_old");
    const text = formatState(state);
    assertEquals(parseState(text), state);
    const raw = JSON.parse(text);
    raw.holders[0].p = 4;
    assertEquals(parseState(JSON.stringify(raw)), undefined);
    raw.holders[0].p = 2;
    delete raw.holders[0].c;
    assertEquals(parseState(JSON.stringify(raw)), undefined);
    raw.holders[0].c = 3;
    raw.stolen = [42];
    assertEquals(parseState(JSON.stringify(raw)), undefined);
  });

  test('createSemaphore("auto") makes a file semaphore when given dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), "unilock-store-"));
    try {
      const sem = createSemaphore("auto", { name: "a", dir, permits: 2 });
      assertEquals([sem.type, sem.permits], ["file", 2]);
      const lease = await sem.acquire({ permits: 2 });
      assertEquals(await sem.available(), 0);
      await lease.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("Lease.signal reports a lost lease at once when read after the event loop was blocked past it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unilock-store-"));
    try {
      const lock = createLock("file", { name: "blocked", dir });
      const lease = await lock.acquire({ leaseMs: 150 });
      const until = performance.now() + 400;
      while (performance.now() < until) { /* a blocked event loop */ }
      // Before any timer could run: the holder must not go on believing.
      assertEquals(lease.signal.aborted, true);
      assertEquals(lease.signal.reason?.name, "LockLostError");
      const other = createLock("file", { name: "blocked", dir });
      const next = await other.acquire({ timeoutMs: 5_000 });
      assert(next.fence > lease.fence);
      await next.release();
      await lease.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
