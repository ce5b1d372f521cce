// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A chaos client process for the deno-kv backend, run by Deno:
 * `tasks` clients, each with its own lock objects, on one KV file that
 * every process opens. Writes its records to stdout as they come ("R
 * <json>"), so a process killed mid-run still leaves what it finished,
 * then "D <json>" with its counts (as _child.mjs does).
 *
 * Usage: deno run -A --unstable-kv _deno_kv_child.ts '<json config>'
 */
import { createLock, type Lock } from "../../mod.ts";
import { derive, now } from "./_rng.mjs";
import { openKvRetrying } from "../_open_kv.ts";
import { remoteStore } from "./_store.mjs";
import { mergeCounts, runClient } from "./_workload.mjs";

const config = JSON.parse(Deno.args[0]!);
const store = remoteStore(config.storeUrl);
/**
 * The KV calls of this process that took 50 ms or more, by the shared clock:
 * what the fault proxy records for the HTTP backends, here the SQLite file
 * (a commit's fsync on a loaded machine). A lease lost to a slow backend is
 * not the client's fault; the calls are not told apart by lock name.
 */
const slow: { lock: string; from: number; to: number }[] = [];
const anyLock = (config.names as string[]).join(" ");
function timed<T>(promise: Promise<T>): Promise<T> {
  const from = now();
  return promise.finally(() => {
    const to = now();
    if (to - from >= 50 && slow.length < 20_000) {
      slow.push({ lock: anyLock, from, to });
    }
  });
}
/** `kv` with its reads and commits timed (see `slow`). */
function timing(raw: Deno.Kv): Deno.Kv {
  const atomic = () => {
    const op = raw.atomic();
    const wrapped: Deno.AtomicOperation = new Proxy(op, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        if (key === "commit") return () => timed(target.commit());
        return (...args: unknown[]) => {
          const out = value.apply(target, args);
          return out === target ? wrapped : out;
        };
      },
    });
    return wrapped;
  };
  return new Proxy(raw, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      if (key === "atomic") return atomic;
      if (key === "get" || key === "getMany") {
        return (...args: unknown[]) => timed(value.apply(target, args));
      }
      return value.bind(target);
    },
  });
}
const kv = timing(await openKvRetrying(config.path));

function lockFactory(): (name: string) => Lock {
  const locks = new Map<string, Lock>();
  return (name) => {
    let lock = locks.get(name);
    if (lock === undefined) {
      lock = createLock("deno-kv", { name, kv });
      locks.set(name, lock);
    }
    return lock;
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
    runClient({
      ...config.workload,
      lock: lockFactory(),
      store,
      names: config.names,
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
for (const r of results) mergeCounts(counts, r.counts);
await write(
  `D ${
    JSON.stringify({ counts, errors: results.flatMap((r) => r.errors), slow })
  }`,
);
Deno.exit(0);
