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
import { perName, reportTasks } from "./_client_kit.mjs";
import { derive } from "./_rng.mjs";
import { runSemaphoreClient } from "./_semaphore_workload.mjs";

const config = JSON.parse(process.argv[2]);

function semaphores() {
  return perName((name) =>
    config.backend === "file"
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
      })
  );
}

await reportTasks(config.tasks, (t, flush) =>
  runSemaphoreClient({
    ...config.workload,
    semaphore: semaphores(),
    names: config.names,
    capacity: config.capacity,
    client: config.client * 100 + t,
    seed: derive(config.seed, config.client * 100 + t),
    flush,
  }));
