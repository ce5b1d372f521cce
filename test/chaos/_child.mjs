// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A chaos client process for the HTTP and file backends: `tasks`
 * clients,
 * each with its own lock objects (as separate serverless invocations would
 * have), against the Upstash REST API, the lock service, or a file lock
 * directory. Writes its
 * records to stdout as they come ("R <json>"), so a process killed mid-run
 * still leaves what it finished, then "D <json>" with its counts. With
 * `sharedInstance`, every task gets its locks from one `LockManager`, as a
 * server's request handlers do: concurrent acquisitions on one instance.
 *
 * Usage: node _child.mjs '<json config>'
 */
import { createLock, LockManager } from "unilock";
import { derive } from "./_rng.mjs";
import { remoteStore } from "./_store.mjs";
import { reportTasks } from "./_client_kit.mjs";
import { timeBackendCalls } from "./_client_timing.mjs";
import { runClient, watchStalls } from "./_workload.mjs";

const config = JSON.parse(process.argv[2]);
const store = remoteStore(config.storeUrl);
// Stopped from outside (SIGSTOP): the sections that spanned it count as paused.
if (config.watchStalls) watchStalls(config.watchStalls);
// The HTTP backends' calls, timed here too (the proxy cannot see its hops).
const slow = config.backend === "file"
  ? undefined
  : timeBackendCalls(config.names, config.client);

function lockOptions() {
  if (config.backend === "file") {
    return {
      dir: config.dir,
      ...(config.waiterTtlMs ? { waiterTtlMs: config.waiterTtlMs } : {}),
    };
  }
  return config.backend === "upstash"
    ? {
      redis: { url: config.url, token: config.token },
      prefix: config.prefix,
    }
    : { url: config.url, token: config.token };
}

function lockFactory() {
  const locks = new Map();
  return (name) => {
    let lock = locks.get(name);
    if (lock === undefined) {
      lock = createLock(config.backend, { name, ...lockOptions() });
      locks.set(name, lock);
    }
    return lock;
  };
}

const manager = config.sharedInstance
  ? new LockManager({ type: config.backend, lockOptions: lockOptions() })
  : undefined;
await reportTasks(config.tasks, (t, flush) =>
  runClient({
    ...config.workload,
    lock: manager === undefined
      ? lockFactory()
      : (name) => manager.getOrCreateLock(name),
    store,
    names: config.names,
    client: config.client * 100 + t,
    seed: derive(config.seed, config.client * 100 + t),
    flush,
  }), slow);
