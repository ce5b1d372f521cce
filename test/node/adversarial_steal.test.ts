// Copyright 2026 the unilock authors. MIT license.
// Adversarial: `acquire({ steal: true })` on the distributed backends.
//
// RemoteLock#steal (src/remote/remote_lock.ts) sends its one call with the
// caller's deadline as the call's whole budget, and then, in its `finally`,
// awaits #abandon (cancel, then release, by token) for up to one full
// request timeout. Two consequences:
// - `timeoutMs: 0` (and any timeoutMs shorter than a round trip) never
//   steals: #once finds the deadline passed before it sends anything and
//   throws Deadline, so the caller gets LockTimeoutError although a steal
//   never waits (the local lock steals with timeoutMs 0, and #attempt gives
//   a first call FIRST_CALL_MS whatever the timeout).
// - when the backend hangs, the rejection waits for #abandon's cancel,
//   i.e. requestTimeoutMs (10 s by default) rather than timeoutMs or the
//   signal: #attempt bounds the same wait by CLEANUP_WAIT_MS.
import { test } from "vitest";
import { LockTimeoutError } from "../../mod.ts";
import { assert } from "../_assert.ts";
import {
  describe,
  type Named,
  type startUpstash,
  useBackends,
  within,
} from "./_adversarial_backends.ts";
import { startAdversarialProxy } from "./_adversarial_proxy.ts";

const backends = useBackends();

for (const type of ["upstash", "durable-object"] as const) {
  test(
    `RemoteLock.acquire() steals the lock when timeoutMs is 0 and steal is true (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const holderLock = named.lock();
      const thiefLock = named.lock();
      const held = await holderLock.acquire({ leaseMs: 5_000 });
      const outcome = await within(
        thiefLock.acquire({ steal: true, timeoutMs: 0, leaseMs: 5_000 }),
        5_000,
      );
      try {
        assert(
          typeof outcome === "object" && outcome !== null &&
            "fence" in outcome,
          `acquire({ steal: true, timeoutMs: 0 }) gave ${
            describe(outcome)
          } (a steal never waits: timeoutMs bounds a wait, not the grant)`,
        );
        assert(
          (outcome as { fence: number }).fence > held.fence,
          "the thief's fence is not above the holder's",
        );
      } finally {
        if (
          typeof outcome === "object" && outcome !== null &&
          "release" in outcome
        ) {
          await (outcome as { release(): Promise<void> }).release();
        }
        await held.release().catch(() => {});
      }
    },
    20_000,
  );

  test(
    `RemoteLock.acquire() with steal rejects within its timeoutMs when the backend hangs (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const lock = named.lock(); // requestTimeoutMs: the default 10 s
      const hang = backend.proxy.add({
        match: (r) => named.matches(r),
        action: "hang",
      });
      try {
        const began = performance.now();
        const outcome = await within(
          lock.acquire({ steal: true, timeoutMs: 300 }),
          8_000,
        );
        const took = performance.now() - began;
        assert(
          outcome instanceof LockTimeoutError,
          `acquire({ steal: true, timeoutMs: 300 }) gave ${describe(outcome)}`,
        );
        // Generous: the core lets a giving-up acquisition's cleanup delay
        // its rejection 250 ms (CLEANUP_WAIT_MS); 10 s is the request timeout.
        assert(
          took < 3_000,
          `acquire({ steal: true, timeoutMs: 300 }) took ${
            Math.round(took)
          } ms to reject on a hung backend`,
        );
      } finally {
        backend.proxy.clear(hang);
      }
    },
    30_000,
  );

  test(
    `RemoteLock.acquire() with steal rejects soon after its signal aborts when the backend hangs (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const lock = named.lock();
      const hang = backend.proxy.add({
        match: (r) => named.matches(r),
        action: "hang",
      });
      try {
        const controller = new AbortController();
        const why = new Error("caller gave up");
        const pending = within(
          lock.acquire({ steal: true, signal: controller.signal }),
          8_000,
        );
        setTimeout(() => controller.abort(why), 200);
        const began = performance.now();
        const outcome = await pending;
        const took = performance.now() - began;
        assert(
          outcome === why,
          `acquire({ steal: true, signal }) gave ${describe(outcome)}`,
        );
        assert(
          took < 3_000,
          `acquire({ steal: true, signal }) took ${
            Math.round(took)
          } ms to reject after its start (aborted at 200 ms) on a hung backend`,
        );
      } finally {
        backend.proxy.clear(hang);
      }
    },
    30_000,
  );
}

// A steal that finds an expired holder and a queued waiter: STEAL's prelude
// (src/upstash/_scripts.ts, `check(purge()) handoff()` before the body)
// first purges the expired lease and hands the lock to the waiter — which
// PUBLISHes the grant to the waiter's client — and then the body revokes
// that very grant and takes the lock. The waiter's client, asleep between
// polls, hears the push and resolves its acquire with a lease that was
// stolen before anyone could hear of it: it believes it holds (until its
// first renewal, a third of its lease later) while the thief holds.
test(
  "RemoteLock.acquire() stays pending while a thief holds the lock when the steal found the holder expired (upstash)",
  async () => {
    const backend = backends.upstash as Awaited<
      ReturnType<typeof startUpstash>
    >;
    /**
     * One try: "inconclusive" when the waiter polled between the holder's
     * expiry and the steal (a loaded machine's late timers), as its poll
     * then takes the lock fairly before the steal takes it away.
     */
    const attempt = async (named: Named): Promise<"inconclusive" | "held"> => {
      // The holder talks through a proxy of its own, so that it can be cut off.
      const holderProxy = await startAdversarialProxy(backend.bridge.url);
      const holderLock = named.lock({
        redis: { url: holderProxy.url, token: backend.bridge.token },
      });
      const waiterLock = named.lock();
      const thiefLock = named.lock();
      const isAcquire = (r: { path: string; body: string }) => {
        if (!named.matches(r)) return false;
        try {
          return (JSON.parse(r.body) as string[]).length === 22; // 10 keys, 9 args
        } catch {
          return false;
        }
      };
      const polls = () => backend.proxy.log.filter(isAcquire).length;
      const held = await holderLock.acquire({ leaseMs: 30_000 });
      const waiter = waiterLock.acquire({ timeoutMs: 20_000, leaseMs: 30_000 });
      let thief: Awaited<ReturnType<typeof thiefLock.acquire>> | undefined;
      try {
        // Let the waiter queue and its push stream come up (it then polls
        // every 1 to 2 s), and catch it just after one of its polls.
        await new Promise((r) => setTimeout(r, 2_500));
        const seen = polls();
        const caught = performance.now();
        while (polls() === seen && performance.now() - caught < 5_000) {
          await new Promise((r) => setTimeout(r, 5));
        }
        assert(polls() > seen, "the waiter never polled");
        const before = polls();
        // The holder's lease now ends 100 ms from now; its renewals hang.
        // (Its reply may come after those 100 ms on a loaded machine: the
        // holder then rightly gives the lease up as lost.)
        await held.extend(100).catch(() => {});
        holderProxy.add({ match: () => true, action: "hang" });
        await new Promise((r) => setTimeout(r, 300));
        thief = await thiefLock.acquire({ steal: true, leaseMs: 30_000 });
        if (polls() !== before) return "inconclusive";
        const outcome = await within(waiter, 1_000);
        assert(
          outcome === "pending",
          `the waiter's acquire gave ${
            describe(outcome)
          } while the thief (fence ${thief.fence}) holds the lock`,
        );
        return "held";
      } finally {
        await thief?.release();
        const w = await within(waiter, 15_000);
        if (typeof w === "object" && w !== null && "release" in w) {
          await (w as { release(): Promise<void> }).release().catch(() => {});
        }
        await holderProxy.close();
      }
    };
    let outcome = "inconclusive";
    for (let i = 0; i < 3 && outcome === "inconclusive"; i++) {
      outcome = await attempt(backend.fresh());
    }
    assert(
      outcome === "held",
      "the waiter polled during the steal's window in every try (an overloaded machine)",
    );
  },
  120_000,
);

// What the full run's one `upstash/steal` overlap points to: a steal whose
// grant came back after its lease ran out is given back and stolen again,
// in the same acquisition. The first steal already took the lock from its
// holder (who hears at its next renewal); between the two, the lock was
// free, and another waiter could be granted it. The chaos checker counts a
// steal from when it was asked for (test/node/chaos_checker.test.ts).
test(
  "RemoteLock.acquire() with steal takes the lock again when its first grant ran out on the way (durable-object)",
  async () => {
    const backend = backends["durable-object"]!;
    const named = backend.fresh();
    const holder = await named.lock().acquire({ leaseMs: 5_000 });
    const isSteal = (r: { path: string }) => r.path.endsWith("/steal");
    backend.proxy.add({
      match: (r) => named.matches(r) && isSteal(r),
      action: "delay-response",
      ms: 600,
      count: 1,
    });
    const from = backend.proxy.log.length;
    const outcome = await within(
      named.lock().acquire({ steal: true, leaseMs: 300 }),
      10_000,
    );
    try {
      const steals = backend.proxy.log.slice(from)
        .filter((r) => named.matches(r) && isSteal(r)).length;
      assert(
        typeof outcome === "object" && outcome !== null && "fence" in outcome,
        `the steal gave ${describe(outcome)}`,
      );
      assert(steals === 2, `expected two steal calls, the proxy saw ${steals}`);
      await (outcome as { release(): Promise<void> }).release();
    } finally {
      backend.proxy.clear();
      await holder.release().catch(() => {});
    }
  },
  20_000,
);
