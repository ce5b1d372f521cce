// Copyright 2026 the unilock authors. MIT license.
// Adversarial (found by the full chaos run, `whole-api-faults` on the
// durable object): `lease.extend(shorter)` whose request runs on the server
// and whose reply never comes. The server's lease now ends sooner; the
// holder kept believing in the old, longer one while the call hung (its
// belief shrank only once the call failed, a request timeout later), and
// another client was granted the lock meanwhile: two holders, the first
// told only when its old lease ran out.
import { test } from "vitest";
import { assert, delay } from "../_assert.ts";
import { useBackends } from "./_adversarial_backends.ts";

const backends = useBackends();

/** Whether a request is an extend (Upstash: the script has 3 args, the seq last). */
function isExtend(type: string, r: { path: string; body: string }): boolean {
  if (type === "durable-object") return r.path.endsWith("/extend");
  try {
    return (JSON.parse(r.body) as string[]).length === 16;
  } catch {
    return false;
  }
}

for (const type of ["upstash", "durable-object"] as const) {
  test(
    `RemoteLease.signal aborts by the shorter length when extend(shorter) ran on the server and its reply hangs (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const holder = named.lock({ requestTimeoutMs: 3_000 });
      const other = named.lock();
      const lease = await holder.acquire({ leaseMs: 6_000 });
      const hang = backend.proxy.add({
        match: (r) => named.matches(r) && isExtend(type, r),
        action: "hang-after",
        count: 1,
      });
      const extended = lease.extend(400).then(() => "resolved", () => "failed");
      // The server's lease ends about 400 ms from now, unless a renewal the
      // holder sends once the extend is given up (two thirds of the 400 ms
      // in) pushes it out again at the old length. Either way, no other
      // client may be granted it while the holder's signal is quiet.
      const next = await other.acquire({ timeoutMs: 3_000, leaseMs: 2_000 })
        .catch((error) => error as Error);
      const lostFirst = lease.signal.aborted;
      backend.proxy.clear(hang);
      const granted = "release" in next;
      if (granted) await next.release();
      const held = !granted && await other.isLocked();
      await lease.release();
      await Promise.race([extended, delay(4_000)]);
      if (granted) {
        assert(
          lostFirst,
          "another client holds the lock while the holder's lease.signal is still quiet",
        );
      } else {
        assert(
          !lostFirst && held,
          `nobody else was granted the lock, but the holder's signal aborted (${lostFirst}) or the server let it go (held: ${held})`,
        );
      }
    },
    30_000,
  );
}
