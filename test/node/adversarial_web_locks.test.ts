// Copyright 2026 the unilock authors. MIT license.
// Adversarial: the Web Locks facade on the shared backends, after another
// client stole a lock this manager holds.
//
// WebLocks.query() (src/web_locks/web_locks.ts, "Granted after the backend
// took its snapshot") adds every request of this manager that it holds and
// that the backend's snapshot left out, on the theory that its grant
// overtook the snapshot's reply. A lease that another client stole is also
// left out by the backend — and this manager does not know of the steal
// until the lease's next renewal (a third of the lease later). So query()
// lists two exclusive holders of one name: the thief, from the backend, and
// the stolen request, added back by the correction.
import { afterAll, beforeAll, inject, test } from "vitest";
import { createWebLocks, type WebLocks } from "../../mod.ts";
import { assert } from "../_assert.ts";
import { randomName } from "../_contract.ts";
import { startUpstash } from "./_adversarial_backends.ts";
import { startAdversarialProxy } from "./_adversarial_proxy.ts";

type Backend = Awaited<ReturnType<typeof startUpstash>>;
let upstash: Backend;
beforeAll(async () => {
  upstash = await startUpstash();
});
afterAll(async () => {
  await upstash.close();
});

/** Two managers of one backend (for Upstash: one key prefix). */
function managers(type: "upstash" | "durable-object"): [WebLocks, WebLocks] {
  const prefix = `advwl:${crypto.randomUUID()}:`;
  const make = (clientId: string): WebLocks => {
    if (type === "upstash") {
      return createWebLocks("upstash", {
        clientId,
        redis: { url: upstash.proxy.url, token: upstash.bridge.token },
        prefix,
      });
    }
    const service = inject("lockService");
    return createWebLocks("durable-object", {
      clientId,
      url: service.url,
      token: service.token,
    });
  };
  return [make("victim"), make("thief")];
}

for (const type of ["upstash", "durable-object"] as const) {
  test(
    `WebLocks.query() lists only the thief as holder when another client stole the lock (${type})`,
    async () => {
      const [v, t] = managers(type);
      const name = randomName("advwl");
      let releaseVictim = () => {};
      let victimGranted = () => {};
      const victimHas = new Promise<void>((r) => (victimGranted = r));
      const victimDone = v.request(name, async () => {
        victimGranted();
        await new Promise<void>((r) => (releaseVictim = r));
      }).then(() => "resolved", (e: unknown) => e);
      await victimHas;
      let releaseThief = () => {};
      let thiefGranted = () => {};
      const thiefHas = new Promise<void>((r) => (thiefGranted = r));
      const thiefDone = t.request(name, { steal: true }, async () => {
        thiefGranted();
        await new Promise<void>((r) => (releaseThief = r));
      });
      await thiefHas;
      try {
        const snapshot = await v.query();
        const held = snapshot.held.filter((i) => i.name === name);
        assert(
          held.length === 1 && held[0]!.clientId === "thief",
          `the victim's query() lists ${held.length} holders of an exclusive lock: ${
            JSON.stringify(held)
          } (the thief stole it)`,
        );
      } finally {
        releaseVictim();
        releaseThief();
        await Promise.all([victimDone, thiefDone]);
      }
    },
    30_000,
  );
}

// WebLocks' Request.granted() (src/web_locks/web_locks.ts) marks a grant
// whose fence is below the name's `stolenBelow` as lost (its promise
// rejects with AbortError) — and then still queues runGranted, which calls
// the callback with the lock: a callback that starts after this manager's
// own thief took the lock, with a `lock.signal` that is not aborted (its
// lease learns of the steal only at its next renewal).
for (const type of ["upstash", "durable-object"] as const) {
  test(
    `WebLocks.request() does not call back a request whose lock a steal of the same manager took before its grant arrived (${type})`,
    async () => {
      const [locks] = managers(type);
      const name = randomName("advwl");
      const proxy = type === "upstash" ? upstash.proxy : undefined;
      if (type === "upstash") {
        // Every script run once (no NOSCRIPT round below).
        await locks.request(name, () => {});
      }
      const isAcquire = (r: { path: string; body: string }) => {
        if (type === "durable-object") return r.path.endsWith("/acquire");
        try {
          return (JSON.parse(r.body) as string[]).length === 22 &&
            r.body.includes(JSON.stringify(name).slice(1, -1));
        } catch {
          return false;
        }
      };
      // Durable Object: the lock service's requests go through a proxy too.
      const service = type === "durable-object"
        ? await startAdversarialProxy(inject("lockService").url)
        : undefined;
      const through = service ?? proxy!;
      const [victim] = type === "durable-object"
        ? [createWebLocks("durable-object", {
          clientId: "one",
          url: service!.url,
          token: inject("lockService").token,
        })]
        : [locks];
      through.add({
        match: isAcquire,
        action: "delay-response",
        ms: 600,
        count: 1,
      });
      let calledWhileThiefHeld = false;
      let thiefHolds = false;
      let releaseThief = () => {};
      const first = victim.request(name, (lock) => {
        if (thiefHolds) calledWhileThiefHeld = !lock?.signal.aborted;
      }).then(() => "resolved", (e: unknown) => e);
      await new Promise((r) => setTimeout(r, 150)); // its grant is made, its reply held
      let thiefGranted = () => {};
      const thiefHas = new Promise<void>((r) => (thiefGranted = r));
      const thief = victim.request(name, { steal: true }, async () => {
        thiefHolds = true;
        thiefGranted();
        await new Promise<void>((r) => (releaseThief = r));
        thiefHolds = false;
      });
      await thiefHas;
      const outcome = await first; // the first grant arrives (600 ms)
      await new Promise((r) => setTimeout(r, 50)); // its callback's task
      releaseThief();
      await thief;
      through.clear();
      await service?.close();
      assert(
        outcome instanceof DOMException && outcome.name === "AbortError",
        `the first request gave ${String(outcome)}`,
      );
      assert(
        !calledWhileThiefHeld,
        "the first request's callback ran with a live lock while the thief held it",
      );
    },
    30_000,
  );
}
