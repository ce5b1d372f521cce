// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A semaphore chaos client process for the deno-kv backend, run
 * by Deno: `tasks` clients, each with its own semaphore objects, on one KV
 * file that every process opens. Writes records to stdout as they come
 * ("R <json>"), so a process killed mid-run still leaves what it finished,
 * then "D <json>" with its counts (as _semaphore_child.mjs does).
 *
 * Usage: deno run -A --unstable-kv _deno_kv_semaphore_child.ts '<json config>'
 */
import { createSemaphore, type Semaphore } from "../../mod.ts";
import { derive } from "./_rng.mjs";
import { openKvRetrying } from "../_open_kv.ts";
import { runSemaphoreClient } from "./_semaphore_workload.mjs";

const config = JSON.parse(Deno.args[0]!);
const kv = await openKvRetrying(config.path);

function semaphores(): (name: string) => Semaphore {
  const made = new Map<string, Semaphore>();
  return (name) => {
    let sem = made.get(name);
    if (sem === undefined) {
      sem = createSemaphore("deno-kv", {
        name,
        permits: config.capacity,
        kv,
      });
      made.set(name, sem);
    }
    return sem;
  };
}

const encoder = new TextEncoder();
const write = async (line: string) => {
  const bytes = encoder.encode(line + "\n");
  for (let n = 0; n < bytes.length;) {
    n += await Deno.stdout.write(bytes.subarray(n));
  }
};
let pending = Promise.resolve();
const results = await Promise.all(
  Array.from({ length: config.tasks }, (_, t) =>
    runSemaphoreClient({
      ...config.workload,
      semaphore: semaphores(),
      names: config.names,
      capacity: config.capacity,
      client: config.client * 100 + t,
      seed: derive(config.seed, config.client * 100 + t),
      flush: (records: unknown[][]) => {
        const line = `R ${JSON.stringify(records)}`;
        pending = pending.then(() => write(line));
      },
    })),
);
await pending;
const counts: Record<string, number> = {};
for (const r of results) {
  for (const [k, n] of Object.entries(r.counts as Record<string, number>)) {
    counts[k] = (counts[k] ?? 0) + n;
  }
}
await write(
  `D ${JSON.stringify({ counts, errors: results.flatMap((r) => r.errors) })}`,
);
Deno.exit(0);
