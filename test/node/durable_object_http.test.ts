// Copyright 2026 the unilock authors. MIT license.
// What only the HTTP client of the durable-object lock promises, against the
// lock service on `wrangler dev` (its own process, so this one can stall
// while the object goes on).
import { spawn } from "node:child_process";
import { inject, test } from "vitest";
import { createLock } from "../../mod.ts";
import { assert, delay } from "../_assert.ts";
import { randomName } from "../_contract.ts";

const service = inject("lockService");

function post(name: string, op: string, body: unknown): Promise<Response> {
  return fetch(`${service.url}/v1/locks/${encodeURIComponent(name)}/${op}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${service.token}`,
      "content-type": "application/json",
    },
    body: JSON.stringify(body),
  });
}

test("DurableObjectLock never hands out a grant that ran out before the reply was read", async () => {
  const name = randomName("stale");
  const holder = `tk_${crypto.randomUUID()}`;
  const held = await (await post(name, "acquire", {
    token: holder,
    leaseMs: 5_000,
  })).json() as { ok: boolean };
  assert(held.ok, "the holder did not get the lock");
  const lock = createLock("durable-object", { name, ...service });
  // (600 ms: a fresh lease that short survives a loaded machine's late
  // renewal timer; the stall below still outlasts it.)
  const waiting = lock.acquire({ leaseMs: 600 });
  await delay(300); // parked in the object
  // Another process releases while this one is stalled: the object hands
  // the lock over at once, and the 600 ms grant runs out before this
  // process reads the reply. It must give it back and queue again.
  const releaser = spawn(process.execPath, [
    "-e",
    `setTimeout(async () => {
      const res = await fetch(${
      JSON.stringify(
        `${service.url}/v1/locks/${encodeURIComponent(name)}/release`,
      )
    }, {
        method: "POST",
        headers: { authorization: "Bearer ${service.token}", "content-type": "application/json" },
        body: ${JSON.stringify(JSON.stringify({ token: holder }))},
      });
      process.exit(res.ok ? 0 : 1);
    }, 150);`,
  ]);
  const released = new Promise((resolve) => releaser.once("exit", resolve));
  const until = performance.now() + 1_500;
  while (performance.now() < until) { /* a stop-the-world pause */ }
  assert(await released === 0, "the other process could not release");
  const lease = await waiting;
  await delay(120); // past the first renewal of a stale lease
  assert(!lease.signal.aborted, "a lease that had run out was handed out");
  assert(await lock.isLocked(), "the lock is not held");
  await lease.release();
});

test("the lock service answers gone to an acquire replayed after its release, or after a cancel that overtook it", async () => {
  const name = randomName("replay");
  const token = `tk_${crypto.randomUUID()}`;
  const acquire = async (t: string) =>
    await (await post(name, "acquire", {
      token: t,
      leaseMs: 5_000,
      waitMs: 1_000,
    })).json() as { ok: boolean; reason?: string };
  assert((await acquire(token)).ok, "not granted");
  assert((await post(name, "release", { token })).ok, "release failed");
  const replayed = await acquire(token);
  assert(
    !replayed.ok && replayed.reason === "gone",
    `replayed: ${JSON.stringify(replayed)}`,
  );
  const overtaken = `tk_${crypto.randomUUID()}`;
  assert((await post(name, "cancel", { token: overtaken })).ok);
  const late = await acquire(overtaken);
  assert(!late.ok && late.reason === "gone", `late: ${JSON.stringify(late)}`);
  const status = await fetch(
    `${service.url}/v1/locks/${encodeURIComponent(name)}`,
    { headers: { authorization: `Bearer ${service.token}` } },
  );
  const body = await status.json();
  assert(
    body.holders === 0 && body.waiters === 0,
    `status: ${JSON.stringify(body)}`,
  );
});

test(
  "DurableObjectLock.acquire() on one shared instance does not wait behind another acquire's long-poll",
  async () => {
    const name = randomName("shared-instance");
    const other = createLock("durable-object", { name, ...service });
    const holder = await other.acquire();
    // One lock object, as a LockManager hands out: a first waiter parks in
    // the object; the others on the same instance keep their own deadlines.
    const lock = createLock("durable-object", { name, ...service });
    const first = lock.acquire();
    await delay(200);
    const started = performance.now();
    const timedOut = lock.acquire({ timeoutMs: 1_000 }).then(
      () => "granted",
      (error: Error) => error.name,
    );
    const immediate = lock.acquire({ timeoutMs: 0 }).then(
      () => "granted",
      (error: Error) => error.name,
    );
    const controller = new AbortController();
    const aborted = lock.acquire({ signal: controller.signal }).then(
      () => "granted",
      () => performance.now() - started,
    );
    setTimeout(() => controller.abort(new Error("stop")), 500);
    assert(await immediate === "TimeoutError", "timeoutMs 0 did not time out");
    assert(
      await timedOut === "TimeoutError",
      "timeoutMs 1000 did not time out",
    );
    const timedOutMs = performance.now() - started;
    const abortedMs = await aborted;
    // Generous bounds: before the core they took the long-poll's 25 s.
    assert(timedOutMs < 4_000, `timeoutMs 1000 settled after ${timedOutMs} ms`);
    assert(
      typeof abortedMs === "number" && abortedMs < 3_000,
      `an abort at 500 ms was honoured after ${abortedMs} ms`,
    );
    await holder.release();
    await (await first).release();
    assert(!(await other.isLocked()), "a waiter that gave up was granted");
  },
  60_000,
);
