// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A semaphore chaos client process for the HTTP and file backends: `tasks`
 * clients, each with its own semaphore objects (as separate serverless
 * invocations would have). Writes records to stdout as they come
 * ("R <json>"), so a process killed mid-run still leaves what it finished,
 * then "D <json>" with its counts.
 *
 * Usage: node _semaphore_child.mjs '<json config>'
 */
import { createSemaphore } from "unilock";
import { derive } from "./_rng.mjs";
import { runSemaphoreClient } from "./_semaphore_workload.mjs";

const config = JSON.parse(process.argv[2]);

function semaphores() {
  const made = new Map();
  return (name) => {
    let sem = made.get(name);
    if (sem === undefined) {
      sem = config.backend === "file"
        ? createSemaphore("file", {
          name,
          permits: config.capacity,
          dir: config.dir,
        })
        : config.backend === "upstash"
        ? createSemaphore("upstash", {
          name,
          permits: config.capacity,
          redis: { url: config.url, token: config.token },
        })
        : createSemaphore("durable-object", {
          name,
          permits: config.capacity,
          url: config.url,
          token: config.token,
        });
      made.set(name, sem);
    }
    return sem;
  };
}

const write = (line) =>
  new Promise((resolve) => process.stdout.write(line + "\n", resolve));
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
      flush: (records) => {
        const line = `R ${JSON.stringify(records)}`;
        pending = pending.then(() => write(line));
      },
    })),
);
await pending;
const counts = {};
for (const r of results) {
  for (const [k, n] of Object.entries(r.counts)) {
    counts[k] = (counts[k] ?? 0) + n;
  }
}
await write(
  `D ${JSON.stringify({ counts, errors: results.flatMap((r) => r.errors) })}`,
);
process.exit(0);
