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
