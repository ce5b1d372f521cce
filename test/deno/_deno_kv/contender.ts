// Copyright 2026 the unilock authors. MIT license.
// One contender process of ../deno_kv_test.ts: takes the lock `sections`
// times on the KV file, and in each critical section does a non-atomic
// read-modify-write of a counter in the same file (a lost update shows an
// overlap), recording when it held the lock. Prints one JSON line.
//
// Usage: deno run -A contender.ts <path> <name> <sections> <tasks> [pollMs]
import { createLock } from "../../../mod.ts";
import { openKvRetrying } from "../../_open_kv.ts";
import { now } from "../../chaos/_rng.mjs";

const [path, name, sections, tasks, pollMs] = Deno.args;
const kv = await openKvRetrying(path!);
const counter = ["counter", name!];
// Sections are timed by now(), one timeline for the four processes
// (CLOCK_MONOTONIC): each process's performance.timeOrigin is its own
// pairing of wall and monotonic clock, made at its start, and a start slowed
// by a loaded machine put them milliseconds apart (8 false overlaps in one
// CI run, with no lost update).
const records: [number, number, number][] = [];
const work = async () => {
  // Each task has its own lock object, as separate clients would.
  const lock = createLock("deno-kv", {
    name: name!,
    kv,
    ...(pollMs === undefined ? {} : { pollMs: Number(pollMs) }),
  });
  for (let i = 0; i < Number(sections); i++) {
    await lock.withLock(async (lease) => {
      const start = now();
      const value = (await kv.get<number>(counter)).value ?? 0;
      await new Promise((resolve) => setTimeout(resolve, 1));
      await kv.set(counter, value + 1);
      records.push([lease.fence, start, now()]);
    }, { timeoutMs: 60_000 });
  }
};
await Promise.all(Array.from({ length: Number(tasks) }, work));
console.log(JSON.stringify(records));
kv.close();
