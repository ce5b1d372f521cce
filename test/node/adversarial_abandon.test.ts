// Copyright 2026 the unilock authors. MIT license.
// Adversarial: an acquisition that gives up after the server granted it
// (the reply was lost), whose first cleanup call's reply is lost too.
//
// RemoteLock#abandon (src/remote/remote_lock.ts) once gave its cancel and
// release one deadline, one request timeout from now, and #once gave a
// call the whole of what was left: so the first cancel that got no answer
// used all of it, ended as a Deadline (not a LockBackendError), and was
// never repeated. The cancel ran: it found the token held and (as the
// driver contract says) left the release to the client, which never sent
// it. The lease, which nobody renews or releases, stayed on the server for
// all its `leaseMs` (here a minute; up to 24 days), long after the client
// gave up. The cleanup is now one release by token, tried in slices of the
// request timeout, and again later while the backend does not answer.
import { test } from "vitest";
import { LockTimeoutError } from "../../mod.ts";
import { assert, delay } from "../_assert.ts";
import {
  describe,
  freeBy,
  useBackends,
  within,
} from "./_adversarial_backends.ts";

const backends = useBackends();

/**
 * A fresh name on `type`: a lock with a 1 s request timeout and an observer,
 * every script run once (so that no request below is a NOSCRIPT).
 */
async function fresh(type: "upstash" | "durable-object") {
  const backend = backends[type]!;
  const named = backend.fresh();
  const lock = named.lock({ requestTimeoutMs: 1_000 });
  const observer = named.lock();
  const warm = await observer.acquire();
  await warm.release();
  return { backend, named, lock, observer };
}

/** Upstash: a script's call by its number of arguments (after 10 keys). */
function args(r: { body: string }): number {
  try {
    return (JSON.parse(r.body) as string[]).length - 13;
  } catch {
    return -1;
  }
}

const REQUEST_TIMEOUT_MS = 2_000;

for (const type of ["upstash", "durable-object"] as const) {
  test(
    `RemoteLock.acquire() leaves no lease on the server when it gave up after a lost grant and a lost cleanup reply (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const lock = named.lock({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
      const observer = named.lock();
      // Every script run once, so that no request below is a NOSCRIPT.
      const warm = await observer.acquire();
      await named.lock().acquire({ timeoutMs: 100 }).catch(() => {});
      await warm.release();
      const isAcquire = (r: { path: string; body: string }) =>
        type === "upstash" ? args(r) === 9 : r.path.endsWith("/acquire");
      // The cleanup's call: a release (one argument on Upstash).
      const isCleanup = (r: { path: string; body: string }) =>
        backend.proxy.log.some((e) => e.action === "hang-after") &&
        (type === "upstash" ? args(r) === 1 : r.path.endsWith("/release"));
      backend.proxy.add({
        match: (r) => named.matches(r) && isAcquire(r),
        action: "hang-after",
        count: 1,
      });
      backend.proxy.add({
        match: (r) => named.matches(r) && isCleanup(r),
        action: "hang-after",
        count: 1,
      });
      const outcome = await within(
        lock.acquire({ timeoutMs: 500, leaseMs: 60_000 }),
        10_000,
      );
      const gaveUp = performance.now();
      try {
        assert(
          outcome instanceof LockTimeoutError,
          `acquire() gave ${describe(outcome)}`,
        );
        // Generous: two request timeouts and a second after the client gave up.
        assert(
          await freeBy(observer, gaveUp + 2 * REQUEST_TIMEOUT_MS + 1_000),
          `the lock is still held ${
            Math.round(performance.now() - gaveUp)
          } ms after acquire() gave up (its lease runs 60 s, and nobody can release it)`,
        );
      } finally {
        backend.proxy.clear();
      }
    },
    30_000,
  );
}

// Found by the quick chaos run (`durable-object/mass-cancel`, 400 waiters
// opening their sockets at once on a loaded machine): the first grant went
// to a waiter that had just been aborted, and its cancel and release found
// no answer within the one request timeout #abandon gives them. The lease,
// 30 s by default, then kept every other waiter out for all of it (0
// sections in the scenario, 126 acquisitions past the liveness bound).
for (const type of ["upstash", "durable-object"] as const) {
  test(
    `RemoteLock.acquire() frees a grant it gave up on once the backend answers again, not a lease later (${type})`,
    async () => {
      const { backend, named, lock, observer } = await fresh(type);
      const isAcquire = (r: { path: string; body: string }) =>
        type === "upstash" ? args(r) === 9 : r.path.endsWith("/acquire");
      // The grant is made and its reply held back; the caller gives up.
      backend.proxy.add({
        match: (r) => named.matches(r) && isAcquire(r),
        action: "delay-response",
        ms: 1_000,
        count: 1,
      });
      // Then nothing of this name is answered for 3 s: longer than the
      // request timeout the cleanup had.
      const down = backend.proxy.add({
        match: (r) => named.matches(r) && !isAcquire(r),
        action: "502",
      });
      const outcome = await within(
        lock.acquire({ leaseMs: 60_000, signal: AbortSignal.timeout(300) }),
        5_000,
      );
      const gaveUp = performance.now();
      try {
        assert(
          (outcome as Error)?.name === "TimeoutError",
          `acquire() gave ${describe(outcome)}`,
        );
        await new Promise((r) => setTimeout(r, 3_000));
        backend.proxy.clear(down);
        // The late cleanup tries again at most 5 s apart.
        assert(
          await freeBy(observer, gaveUp + 12_000),
          `the lock is still held ${
            Math.round(performance.now() - gaveUp)
          } ms after acquire() gave up, the backend answering again since 3 s (its lease runs 60 s)`,
        );
      } finally {
        backend.proxy.clear();
      }
    },
    40_000,
  );
}

// Adversarial (a reviewer given the code of the late cleanup, the day it
// was written): two ways a lease nobody held still kept every other client
// out for its whole `leaseMs`.
//
// 1. A backend that answers every call, only slower than a quarter of the
//    request timeout: a given-up acquisition's cancel ran on the server,
//    found the token held, and was cut short before its answer each time,
//    so the release was never sent. It is now one release, which takes
//    effect once it arrives, answered or not.
// 2. `release()` during a short outage: tried within one request timeout,
//    then never again. It is now retried in the background as a given-up
//    acquisition's is.
//
// (The reviewer's third finding, a healthy lease lost to one hung renewal
// when the lease is shorter than about 1.5 request timeouts, is not fixed:
// cutting the renewal short lost short leases on a slow backend instead;
// see RELIABILITY.md.)
for (const type of ["upstash", "durable-object"] as const) {
  test(
    `RemoteLock.acquire() aborted mid-grant frees the grant on a backend answering every call in 300 ms (${type})`,
    async () => {
      const { backend, named, lock, observer } = await fresh(type);
      // Every request of this name runs at once and is answered 300 ms late.
      backend.proxy.add({
        match: (r) => named.matches(r),
        action: "delay-response",
        ms: 300,
      });
      try {
        const outcome = await within(
          lock.acquire({ leaseMs: 60_000, signal: AbortSignal.timeout(150) }),
          5_000,
        );
        const gaveUp = performance.now();
        assert(
          (outcome as Error)?.name === "TimeoutError",
          `acquire() gave ${describe(outcome)}`,
        );
        assert(
          await freeBy(observer, gaveUp + 12_000),
          `the lock is still held ${
            Math.round(performance.now() - gaveUp)
          } ms after acquire() gave up on a backend answering every call in 300 ms (requestTimeoutMs 1000; its lease runs 60 s)`,
        );
      } finally {
        backend.proxy.clear();
      }
    },
    40_000,
  );

  test(
    `Lease.release() during a 3 s outage frees the lock once the backend answers again (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const lock = named.lock({ requestTimeoutMs: 1_000 });
      const observer = named.lock();
      const lease = await lock.acquire({ leaseMs: 60_000 });
      const down = backend.proxy.add({
        match: (r) =>
          named.matches(r) &&
          (type === "upstash" ? args(r) === 1 : r.path.endsWith("/release")),
        action: "502",
      });
      try {
        const outcome = await lease.release().then(
          () => "resolved",
          (e) => String(e),
        );
        const at = performance.now();
        await delay(3_000);
        backend.proxy.clear(down);
        assert(
          await freeBy(observer, at + 12_000),
          `the lock is still held ${
            Math.round(performance.now() - at)
          } ms after release() (${outcome}), the backend answering again since 3 s (its lease runs 60 s)`,
        );
      } finally {
        backend.proxy.clear();
      }
    },
    40_000,
  );
}
