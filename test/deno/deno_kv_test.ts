// Copyright 2026 the unilock authors. MIT license.
// The deno-kv lock on Deno: the contract suite against a real KV file.
import { lockContract } from "../_contract.ts";
import { denoKvBackend } from "../_backends.ts";
import { assert, assertEquals, delay } from "../_assert.ts";

const dir = await Deno.makeTempDir({ prefix: "unilock-kv-" });
const kv = await Deno.openKv(`${dir}/contract.sqlite3`);
const test = (name: string, fn: () => Promise<void>) => Deno.test({ name, fn });
lockContract(test, denoKvBackend(kv));

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
    // A later fence starts after the earlier section ended (clocks of
    // processes on one host, read through performance.timeOrigin: 1 ms of
    // slack for their origins).
    if (records[i]![1] < records[i - 1]![2] - 1) overlaps++;
  }
  assertEquals(overlaps, 0, "sections overlapped in time");
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
