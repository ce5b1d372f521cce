// Copyright 2026 the unilock authors. MIT license.
// How the remote-lock core reckons a grant's lease: from the send of the
// call the server answered, which a driver may know to be later than the
// core's call (one held back behind an opening socket, or sent second after
// a first that found its place). A driver of the public `RemoteDriver`
// interface, written here, whose server is a variable: the question is the
// core's arithmetic, which no backend's timing would show exactly.
import { test } from "vitest";
import {
  type RemoteAcquireReply,
  type RemoteDriver,
  RemoteLock,
} from "../../src/remote/remote.ts";
import { assert } from "../_assert.ts";

const HELD_BACK_MS = 300;
const LEASE_MS = 600;

/**
 * A server that grants at once, reached after `HELD_BACK_MS` in the driver;
 * its renewals never come back (so a lease lasts what the client reckoned).
 */
function heldBackDriver(sentAt: (at: number) => number | undefined): {
  driver: RemoteDriver;
  granted: () => number;
} {
  let grantedAt = 0;
  const driver: RemoteDriver = {
    type: "held-back",
    target: "a test server",
    minLeaseMs: 100,
    async acquire(request): Promise<RemoteAcquireReply> {
      await new Promise((resolve) => setTimeout(resolve, HELD_BACK_MS));
      const at = performance.now(); // sent now, answered at once
      grantedAt = at;
      const when = sentAt(at);
      return {
        state: "granted",
        fence: 1,
        leaseMs: request.leaseMs,
        ...(when === undefined ? {} : { sentAt: when }),
      };
    },
    release: () => Promise.resolve(true),
    extend: (_token, _ms, _seq, signal) =>
      new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason))
      ),
    status: () => Promise.resolve({ holders: 0, waiters: 0 }),
    query: () => Promise.resolve({ held: [], pending: [] }),
  };
  return { driver, granted: () => grantedAt };
}

/** How long after its grant a lease whose renewals hang was given up. */
async function lastsAfterGrant(
  sentAt: (at: number) => number | undefined,
): Promise<number> {
  const { driver, granted } = heldBackDriver(sentAt);
  const lock = new RemoteLock(driver, {
    name: `reckoning-${crypto.randomUUID()}`,
    requestTimeoutMs: 5_000,
  });
  const lease = await lock.acquire({ leaseMs: LEASE_MS });
  await new Promise((resolve) =>
    lease.signal.addEventListener("abort", resolve, { once: true })
  );
  return performance.now() - granted();
}

test("RemoteLock.acquire() reckons a lease from when its driver sent the call that was granted", async () => {
  const lasted = await lastsAfterGrant((at) => at);
  // From the core's call it would last LEASE_MS - HELD_BACK_MS (300 ms).
  assert(
    lasted >= LEASE_MS - 100,
    `the lease lasted ${
      Math.round(lasted)
    } ms after its grant, as if reckoned from before the driver sent it`,
  );
  assert(lasted <= LEASE_MS + 200, `lasted ${Math.round(lasted)} ms`);
});

test("RemoteLock.acquire() reckons a lease from its own call when its driver says nothing, or a send time in the future", async () => {
  for (const sentAt of [() => undefined, (at: number) => at + 10_000]) {
    const lasted = await lastsAfterGrant(sentAt);
    assert(
      lasted <= LEASE_MS - HELD_BACK_MS + 100,
      `the lease lasted ${
        Math.round(lasted)
      } ms after its grant: longer than reckoned from the core's call`,
    );
  }
});
