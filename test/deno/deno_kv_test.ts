// Copyright 2026 the unilock authors. MIT license.
// The deno-kv lock on Deno: the lock and semaphore contracts and the Web
// Locks suite against a real KV file.
import { lockContract } from "../_contract.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { denoKvBackend, denoKvWebLocks } from "../_backends.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertThrows,
  delay,
} from "../_assert.ts";
import {
  createLock,
  createSemaphore,
  type Lease,
  LockBackendError,
} from "../../mod.ts";

const dir = await Deno.makeTempDir({ prefix: "unilock-kv-" });
const kv = await Deno.openKv(`${dir}/contract.sqlite3`);
const test = (name: string, fn: () => Promise<void>) => Deno.test({ name, fn });
lockContract(test, denoKvBackend(kv));
semaphoreContract(test, denoKvBackend(kv));
// A stolen holder hears of it at its next renewal, on an unref'd timer (the
// library keeps no process alive): Deno's runner fails a test awaiting only
// that, so each test keeps the loop alive itself, as a user's work would.
webLocksConformance((name, fn) =>
  test(name, async () => {
    const alive = setInterval(() => {}, 1_000);
    try {
      await fn();
    } finally {
      clearInterval(alive);
    }
  }), denoKvWebLocks(kv));

// ------------------------------------------------------------ processes

const here = (file: string) =>
  new URL(`./_deno_kv/${file}`, import.meta.url).pathname;

/** Runs a Deno script of _deno_kv/ to its end (killed after `ms`). */
async function runDeno(
  args: string[],
  options: { ms?: number; flags?: string[] } = {},
): Promise<{ code: number; out: string; err: string; killed: boolean }> {
  const controller = new AbortController();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    controller.abort();
  }, options.ms ?? 60_000);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...(options.flags ?? ["-A"]), ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: controller.signal,
  });
  const { code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, out: text(stdout), err: text(stderr), killed };
}

Deno.test("DenoKvLock excludes across 4 Deno processes on one KV file, in fence order, with no lost update", async () => {
  const path = `${dir}/processes.sqlite3`;
  const name = `procs-${crypto.randomUUID()}`;
  const [processes, tasks, sections] = [4, 2, 20];
  const runs = await Promise.all(
    Array.from(
      { length: processes },
      () =>
        runDeno([
          here("contender.ts"),
          path,
          name,
          String(sections),
          String(tasks),
        ]),
    ),
  );
  const records: [number, number, number][] = [];
  for (const run of runs) {
    assert(run.code === 0, run.err || run.out);
    records.push(...JSON.parse(run.out.trim().split("\n").pop()!));
  }
  const total = processes * tasks * sections;
  assertEquals(records.length, total);
  const check = await Deno.openKv(path);
  const counter = (await check.get<number>(["counter", name])).value;
  check.close();
  assertEquals(counter, total, "lost updates: critical sections overlapped");
  records.sort((x, y) => x[0] - y[0]);
  let overlaps = 0;
  for (let i = 1; i < records.length; i++) {
    assert(records[i]![0] > records[i - 1]![0], "a fence was handed out twice");
    // A later fence starts after the earlier section ended (one monotonic
    // clock for every process: see _deno_kv/contender.ts; 1 ms of slack).
    if (records[i]![1] < records[i - 1]![2] - 1) overlaps++;
  }
  assertEquals(overlaps, 0, "sections overlapped in time");
});

Deno.test("DenoKvSemaphore.withPermits() never lets more than N permits out across 4 Deno processes on one KV file, and reaches N", async () => {
  const path = `${dir}/semaphore.sqlite3`;
  const name = `sem-procs-${crypto.randomUUID()}`;
  const [processes, tasks, sections, capacity] = [4, 2, 10, 3];
  const runs = await Promise.all(
    Array.from(
      { length: processes },
      () =>
        runDeno([
          here("sem_contender.ts"),
          path,
          name,
          String(capacity),
          String(sections),
          String(tasks),
        ]),
    ),
  );
  const seen: number[] = [];
  for (const run of runs) {
    assert(run.code === 0, run.err || run.out);
    seen.push(...JSON.parse(run.out.trim().split("\n").pop()!));
  }
  assertEquals(seen.length, processes * tasks * sections);
  const most = Math.max(...seen);
  assert(most <= capacity, `${most} permits out of ${capacity}`);
  assertEquals(most, capacity, "the capacity was never reached");
});

Deno.test("DenoKvSemaphore.acquire() refuses a capacity that disagrees with another process's holder, with a RangeError naming both", async () => {
  const path = `${dir}/capacity.sqlite3`;
  const name = `sem-cap-${crypto.randomUUID()}`;
  const holder = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "-A", here("sem_holder.ts"), path, name, "3"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!output.includes("held")) {
    const { value, done } = await lines.read();
    if (done) break;
    output += value;
  }
  assert(output.includes("held"), `the holder said ${output}`);
  const kv = await Deno.openKv(path);
  try {
    const five = createSemaphore("deno-kv", { name, permits: 5, kv });
    await assertRejects(() => five.acquire({ timeoutMs: 5_000 }), RangeError, [
      "'permits'",
      "5",
      "3",
    ]);
    await assertRejects(() => five.available(), RangeError, ["'permits'"]);
    const three = createSemaphore("deno-kv", { name, permits: 3, kv });
    assertEquals(await three.available(), 2);
  } finally {
    await holder.stdin.close();
    await lines.cancel();
    await holder.status;
    kv.close();
  }
});

Deno.test("kv.watch() does not see another process's writes to a local KV file (denoland/deno #21640), which is why waiters poll", async () => {
  const path = `${dir}/watch.sqlite3`;
  const kv = await Deno.openKv(path);
  const mine = kv.watch([["probe"]]).getReader();
  const probe = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "-A", here("watch_probe.ts"), path, "1500"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = probe.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!output.includes("watching")) {
    const { value, done } = await lines.read();
    if (done) break;
    output += value;
  }
  await delay(200);
  for (const value of ["a", "b", "c"]) {
    await kv.set(["probe"], value);
    await delay(100);
  }
  // This process's own watch sees its writes.
  const seenHere: unknown[] = [];
  while (seenHere.at(-1) !== "c") {
    seenHere.push((await mine.read()).value![0]!.value);
  }
  await mine.cancel();
  while (true) {
    const { value, done } = await lines.read();
    if (done) break;
    output += value;
  }
  await probe.status;
  await probe.stderr.cancel();
  kv.close();
  const seenThere = JSON.parse(output.trim().split("\n").pop()!);
  assert(
    seenHere.includes("c"),
    `this process saw ${JSON.stringify(seenHere)}`,
  );
  // Only the value when the watch began: none of the three writes. If this
  // fails, Deno fixed #21640 and pollMs could default far higher.
  assertEquals(seenThere, [null]);
});

Deno.test("DenoKvLock lets the process exit once nothing is held or awaited, the KV handle still open", async () => {
  const run = await runDeno([here("exits.ts"), `${dir}/exits.sqlite3`], {
    ms: 15_000,
  });
  assert(!run.killed, `the process was still alive after 15 s: ${run.err}`);
  assertEquals(run.code, 0, run.err);
  assert(run.out.includes("done"), run.out);
});

Deno.test("createLock('deno-kv') with a path says to run with --unstable-kv when Deno.openKv is missing", async () => {
  // --no-config: the project's deno.json turns "unstable": ["kv"] on.
  const run = await runDeno([here("no_flag.ts")], {
    flags: ["--no-config", "--allow-read"],
  });
  assertEquals(run.code, 0, run.err);
  assert(
    run.out.includes(
      "TypeError: Cannot create deno-kv lock as Deno.openKv is not available: run Deno with --unstable-kv",
    ),
    run.out,
  );
});

// ------------------------------------------------------------ hostile input

Deno.test("createLock('deno-kv') rejects bad options with an error naming the option and the value", () => {
  const name = "hostile";
  const cases: [Record<string, unknown>, new () => Error, string[]][] = [
    [{ name }, TypeError, ["'kv'", "undefined"]],
    [{ name, kv: null }, TypeError, ["'kv'", "null"]],
    [{ name, kv: {} }, TypeError, ["'kv'", "an object"]],
    [
      { name, kv: Deno.openKv(":memory:").then((k) => (k.close(), k)) },
      TypeError,
      [
        "'kv'",
        "await Deno.openKv()",
      ],
    ],
    [{ name, kv: "" }, RangeError, ["'kv'", '""']],
    [{ name, kv: 42 }, TypeError, ["'kv'", "42"]],
    [{ name, kv, prefix: "" }, TypeError, ["'prefix'", '""']],
    [{ name, kv, prefix: "p".repeat(65) }, TypeError, ["'prefix'", "65"]],
    [{ name, kv, prefix: ["a"] }, TypeError, ["'prefix'", "an array"]],
    [{ name, kv, pollMs: 0 }, RangeError, ["'pollMs'", "0"]],
    [{ name, kv, pollMs: NaN }, RangeError, ["'pollMs'", "NaN"]],
    [{ name, kv, pollMs: "5" }, RangeError, ["'pollMs'", '"5"']],
    [{ name, kv, waiterTtlMs: 999 }, RangeError, ["'waiterTtlMs'", "999"]],
    [{ name, kv, leaseMs: 99 }, RangeError, ["'leaseMs'", "99"]],
    [{ name, kv, requestTimeoutMs: 0 }, RangeError, ["'requestTimeoutMs'"]],
    [{ kv }, TypeError, ["'name'", "required"]],
    [{ name: "\uD800", kv }, RangeError, ["'name'", "surrogate"]],
    [{ name: "a\uDC00b", kv }, RangeError, ["'name'", "surrogate"]],
    [{ name: "x".repeat(513), kv }, RangeError, ["'name'", "513"]],
    [{ name, kv, kvv: kv }, TypeError, ["'kvv'", "'kv'"]],
  ];
  for (const [options, ErrorClass, includes] of cases) {
    assertThrows(
      () => createLock("deno-kv", options as never),
      ErrorClass,
      includes,
    );
  }
});

Deno.test("DenoKvLock keeps hostile names apart and inside its own keys", async () => {
  const names = [
    "../",
    "../../etc/passwd",
    "a/b",
    "a%2Fb",
    "*",
    "a\u0000b",
    "a",
    "",
    "CON",
    "nul",
    "s",
    "q",
    "🔒".repeat(256), // 512 UTF-16 units, 1024 bytes
    "€".repeat(512), // 1536 bytes: the longest key still fits in 2 KiB
    "x".repeat(512),
    "x".repeat(511),
  ].filter((n) => n.length > 0);
  const prefix = `hostile-${crypto.randomUUID()}`;
  const locks = names.map((name) =>
    createLock("deno-kv", { name, kv, prefix })
  );
  // Every name is its own lock: all held at once, none blocks another.
  const leases = await Promise.all(locks.map((l) => l.tryAcquire()));
  assert(leases.every((l) => l !== undefined), "two names shared a lock");
  // A waiter of each, with a long owner label: its index key is the
  // longest key the lock writes.
  const waiters = locks.map((l) => l.acquire({ owner: "o".repeat(256) }));
  await delay(100);
  for (const lease of leases) await lease!.release();
  for (const lease of await Promise.all(waiters)) await lease.release();
  // Nothing was written outside [prefix, name, …].
  for await (const e of kv.list({ prefix: [] })) {
    if (e.key[0] !== prefix) continue;
    assert(names.includes(e.key[1] as string), `stray key ${String(e.key)}`);
    assert(["s", "q", "w", "t"].includes(e.key[2] as string), String(e.key));
  }
});

Deno.test("DenoKvLock refuses to grant from a state record it did not write (fails closed)", async () => {
  const prefix = `bad-${crypto.randomUUID()}`;
  const lock = createLock("deno-kv", { name: "n", kv, prefix });
  for (
    const value of [
      "a string",
      new TextEncoder().encode("not json"),
      new TextEncoder().encode('{"f":1,"n":0,"c":0}'),
      new TextEncoder().encode(
        '{"f":1,"n":0,"c":0,"h":[{"t":"a","m":"x","f":1,"u":1e20,"q":0,"w":0,"a":0},{"t":"b","m":"x","f":2,"u":1e20,"q":0,"w":0,"a":0}]}',
      ),
    ]
  ) {
    await kv.set([prefix, "n", "s"], value);
    const error = await assertRejects(lock.tryAcquire(), LockBackendError, [
      "Deno KV",
      "not one unilock writes",
    ]);
    assert(!/granted/.test(String(error)));
    await assertRejects(lock.acquire({ timeoutMs: 500 }), LockBackendError);
  }
  await kv.delete([prefix, "n", "s"]);
  await (await lock.acquire()).release();
});

Deno.test("DenoKvLock makes shared holders wait rather than outgrow a KV value (64 KiB)", async () => {
  const lock = createLock("deno-kv", {
    name: "many",
    kv,
    prefix: `big-${crypto.randomUUID()}`,
  });
  const count = 300;
  const leases: Lease[] = [];
  let granted = 0;
  const all = Array.from(
    { length: count },
    (_, i) =>
      lock.acquire({ mode: "shared", owner: `${i}`.padEnd(256, "o") }).then(
        (lease) => void (granted++, leases.push(lease)),
      ),
  );
  for (let i = 0; i < 100 && granted < 100; i++) await delay(50);
  await delay(500);
  const held = leases.length;
  // 300 such holders are some 100 KB: they cannot all be in the record.
  assert(held >= 100 && held < count, `${held} shared holders at once`);
  // Each release makes room for a waiter.
  for (let i = 0; i < 2_000 && granted < count; i++) {
    const lease = leases.shift();
    if (lease === undefined) await delay(20);
    else await lease.release();
  }
  await Promise.all(all);
  for (const lease of leases) await lease.release();
  assertEquals(await lock.isLocked(), false);
});

Deno.test("createLock('deno-kv', { kv: path }) opens the file itself and excludes with a handle of its own", async () => {
  const path = `${dir}/by-path.sqlite3`;
  const name = `path-${crypto.randomUUID()}`;
  const byPath = createLock("deno-kv", { name, kv: path });
  const other = await Deno.openKv(path);
  const byHandle = createLock("deno-kv", { name, kv: other });
  const lease = await byPath.acquire();
  assertEquals(await byHandle.tryAcquire(), undefined);
  const waiting = byHandle.acquire({ timeoutMs: 10_000 });
  await lease.release();
  const next = await waiting;
  assert(next.fence > lease.fence);
  await next.release();
  other.close();
  const missing = createLock("deno-kv", {
    name,
    kv: `${dir}/no/such/dir/x.sqlite3`,
  });
  await assertRejects(missing.tryAcquire(), LockBackendError, ["Deno KV at"]);
});
