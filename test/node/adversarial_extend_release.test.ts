// Copyright 2026 the unilock authors. MIT license.
// Adversarial: `lease.extend()` in flight while `lease.release()` overtakes
// it (`await using` leaving scope, a `withLock` section that fired an extend
// without awaiting it, an HTTP request delayed on its way). The extend
// arrives after the release, the server answers "not held", and
// RemoteLease#exchange (_remote_lease.ts:150-152) calls #lose — which does
// nothing for a released lease — then throws `this.#controller!.signal
// .reason`: a TypeError ("Cannot read properties of undefined") when nobody
// read `lease.signal`, or `undefined` itself when somebody did. Neither
// names the lock or what was tried; it should be LockReleasedError.
import { test } from "vitest";
import { LockReleasedError } from "../../mod.ts";
import { assert, delay } from "../_assert.ts";
import { describe, useBackends } from "./_adversarial_backends.ts";

const backends = useBackends();

/** Whether a request is an extend (Upstash: the script has 3 args, the seq last). */
function isExtend(type: string, r: { path: string; body: string }): boolean {
  if (type === "durable-object") return r.path.endsWith("/extend");
  // ["EVALSHA", sha, "10", ...10 keys, token, leaseMs, seq]
  try {
    const command = JSON.parse(r.body) as string[];
    return command.length === 16;
  } catch {
    return false;
  }
}

for (const type of ["upstash", "durable-object"] as const) {
  for (const readSignal of [false, true]) {
    test(
      `RemoteLease.extend() rejects with LockReleasedError when release() overtook it on the way (${type}${
        readSignal ? ", lease.signal read" : ""
      })`,
      async () => {
        const backend = backends[type]!;
        const named = backend.fresh();
        const lock = named.lock();
        const lease = await lock.acquire();
        if (readSignal) assert(!lease.signal.aborted);
        const slow = backend.proxy.add({
          match: (r) => named.matches(r) && isExtend(type, r),
          action: "delay-request",
          ms: 300,
          count: 1,
        });
        const extended = lease.extend(60_000).then(() => "resolved", (e) => e);
        await delay(20);
        await lease.release();
        const outcome = await extended;
        backend.proxy.clear(slow);
        assert(
          outcome === "resolved" || outcome instanceof LockReleasedError,
          `extend() gave ${
            outcome === undefined ? "undefined" : describe(outcome)
          }`,
        );
        assert(!(await lock.isLocked()), "the lock is still held");
      },
      20_000,
    );
  }
}
