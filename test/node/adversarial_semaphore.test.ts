// Copyright 2026 the unilock authors. MIT license.
// Adversarial: semaphores on the distributed backends, with their backend
// hung after the grant.
//
// RemoteSemaphore.withPermits() (src/remote/remote_semaphore.ts) awaits
// `lease.release()` in full, which on a hung backend takes a whole request
// timeout (10 s by default) plus its retries' backoff: the section finished
// long ago, but its caller waits. `withLock` (src/core/_hold.ts) waits
// RELEASE_WAIT_MS (1 s) at most and lets the release go on in the
// background (reported as `release-failed` if it fails), as the doc of
// withPermits itself promises ("A release that fails after it is reported
// (a `release-failed` event) and the lease ends by its expiry").
import { afterAll, beforeAll, inject, test } from "vitest";
import { createSemaphore, type Semaphore } from "../../mod.ts";
import { assert } from "../_assert.ts";
import { randomName } from "../_contract.ts";
import { describe, startUpstash, within } from "./_adversarial_backends.ts";
import {
  type AdversarialProxy,
  startAdversarialProxy,
} from "./_adversarial_proxy.ts";

let upstash: Awaited<ReturnType<typeof startUpstash>>;
let service: AdversarialProxy;
beforeAll(async () => {
  upstash = await startUpstash();
  service = await startAdversarialProxy(inject("lockService").url);
});
afterAll(async () => {
  await upstash.close();
  await service.close();
});

function semaphore(
  type: "upstash" | "durable-object",
  name: string,
): { sem: Semaphore; proxy: AdversarialProxy } {
  if (type === "upstash") {
    return {
      proxy: upstash.proxy,
      sem: createSemaphore("upstash", {
        name,
        permits: 3,
        prefix: `advsem:${crypto.randomUUID()}:`,
        redis: { url: upstash.proxy.url, token: upstash.bridge.token },
      }),
    };
  }
  return {
    proxy: service,
    sem: createSemaphore("durable-object", {
      name,
      permits: 3,
      url: service.url,
      token: inject("lockService").token,
    }),
  };
}

for (const type of ["upstash", "durable-object"] as const) {
  test(
    `RemoteSemaphore.withPermits() returns fn's result within a few seconds when the release hangs (${type})`,
    async () => {
      const name = randomName("advsem");
      const { sem, proxy } = semaphore(type, name);
      const mine = (r: { path: string; body: string }) =>
        type === "upstash"
          ? r.body.includes(encodeURIComponent(name).replace(/%/g, "%25")) ||
            r.body.includes(name)
          : r.path.includes(encodeURIComponent(name));
      let doneAt = 0;
      const result = within(
        sem.withPermits(() => {
          // From now on every request of this name hangs: the release too.
          proxy.add({ match: mine, action: "hang" });
          doneAt = performance.now();
          return "done";
        }, { permits: 2 }),
        9_000,
      );
      const outcome = await result;
      const took = performance.now() - doneAt;
      proxy.clear();
      assert(
        outcome === "done",
        `withPermits() gave ${describe(outcome)} ${
          Math.round(took)
        } ms after its section returned`,
      );
      // Generous: withLock waits 1 s for a release; the request timeout is 10 s.
      assert(
        took < 3_000,
        `withPermits() returned ${
          Math.round(took)
        } ms after its section returned`,
      );
    },
    30_000,
  );
}
