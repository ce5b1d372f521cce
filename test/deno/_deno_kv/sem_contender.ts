// Copyright 2026 the unilock authors. MIT license.
// One contender process of ../deno_kv_test.ts's semaphore test: takes 1 to
// `permits` permits `sections` times on the KV file, and in each section
// adds its permits to an in-use counter in the same file by a checked
// commit (exact across processes), recording the total it saw, then takes
// them off again before it releases. Prints one JSON line: the totals.
//
// Usage: deno run -A sem_contender.ts <path> <name> <permits> <sections> <tasks>
import { createSemaphore } from "../../../mod.ts";

const [path, name, capacity, sections, tasks] = Deno.args;
const kv = await Deno.openKv(path!);
const inUse = ["in-use", name!];
/** Adds `n` to the counter atomically; returns the new total. */
async function add(n: number): Promise<number> {
  for (;;) {
    try {
      const entry = await kv.get<number>(inUse);
      const total = (entry.value ?? 0) + n;
      if ((await kv.atomic().check(entry).set(inUse, total).commit()).ok) {
        return total;
      }
    } catch (error) {
      // Another process holds SQLite's write lock: try again.
      if (!/database is locked/.test(String(error))) throw error;
    }
  }
}
const seen: number[] = [];
const work = async (task: number) => {
  // Each task has its own semaphore object, as separate clients would.
  const sem = createSemaphore("deno-kv", {
    name: name!,
    permits: Number(capacity),
    kv,
  });
  for (let i = 0; i < Number(sections); i++) {
    const permits = 1 + ((task + i) % Number(capacity));
    await sem.withPermits(async () => {
      seen.push(await add(permits));
      await new Promise((resolve) => setTimeout(resolve, 2));
      await add(-permits);
    }, { permits, timeoutMs: 60_000 });
  }
};
await Promise.all(Array.from({ length: Number(tasks) }, (_, t) => work(t)));
console.log(JSON.stringify(seen));
kv.close();
