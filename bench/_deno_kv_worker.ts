// Copyright 2026 the unilock authors. MIT license.
// One contender process of bench/deno_kv.mjs: `tasks` lock objects take the
// lock `each` times and hold it `holdMs`, on a KV handle that counts every
// KV operation (getMany, list, commit) it is asked for. Prints one JSON line.
//
// Usage: deno run -A --unstable-kv _deno_kv_worker.ts '<json config>'
import { createLock, type DenoKvLike } from "../mod.ts";

const { path, name, each, tasks, holdMs, pollMs, startAt, id } = JSON.parse(
  Deno.args[0]!,
);
const now = () => performance.timeOrigin + performance.now();
let ops = 0;
const real = await Deno.openKv(path);
/** The handle, counting each request the lock makes of it. */
const kv: DenoKvLike = {
  getMany: (keys) => (ops++, real.getMany(keys as Deno.KvKey[])),
  list: (
    selector,
    options,
  ) => (ops++, real.list(selector as Deno.KvListSelector, options)),
  atomic: () => {
    const op = real.atomic();
    const wrapped = {
      check: (...c: Parameters<typeof op.check>) => (op.check(...c), wrapped),
      set: (
        k: Deno.KvKey,
        v: unknown,
        o?: { expireIn?: number },
      ) => (op.set(k, v, o), wrapped),
      delete: (k: Deno.KvKey) => (op.delete(k), wrapped),
      commit: () => (ops++, op.commit()),
    };
    return wrapped as unknown as ReturnType<DenoKvLike["atomic"]>;
  },
  watch: (keys) => real.watch(keys as Deno.KvKey[]),
};
// Watch only makes sense on the real Deno.Kv (the lock checks instanceof):
// pass the real handle's prototype so that in-process wake-ups are measured.
Object.setPrototypeOf(kv, Object.getPrototypeOf(real));

const records: number[][] = [];
await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
await Promise.all(Array.from({ length: tasks }, async (_, t) => {
  const lock = createLock("deno-kv", { name, kv, pollMs });
  for (let i = 0; i < each; i++) {
    const asked = now();
    const lease = await lock.acquire();
    const granted = now();
    await new Promise((r) => setTimeout(r, holdMs));
    const releasing = now();
    await lease.release();
    records.push([lease.fence, asked, granted, releasing, id * 100 + t]);
  }
}));
console.log(JSON.stringify({ ops, records }));
real.close();
