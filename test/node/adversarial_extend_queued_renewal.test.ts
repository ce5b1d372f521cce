// Copyright 2026 the unilock authors. MIT license.
// Adversarial (found by reading RemoteLease after a quick chaos run lost a
// lease in `durable-object/whole-api`): the renewal timer fires while the
// holder's `extend()` is still on its way. The renewal waits its turn, but
// it had taken the lease's length when it fired, before the extend was
// confirmed: extend(longer) was then cut back to the old length by the
// renewal sent right after it (and renewals went on at the old length), and
// extend(shorter) was pushed out to the old length again — the length the
// holder asked for lasted one round trip.
import { test } from "vitest";
import { assert, delay } from "../_assert.ts";
import { useBackends } from "./_adversarial_backends.ts";

const backends = useBackends();

/**
 * The lease length an extend or renewal asks for, or undefined for another
 * request. Durable Object: `{ token, leaseMs, seq }`; Upstash: the extend
 * script's EVALSHA, `[..., token, leaseMs, seq]` (16 parts).
 */
function extendMs(
  type: string,
  r: { path: string; body: string },
): number | undefined {
  try {
    if (type === "durable-object") {
      return r.path.endsWith("/extend")
        ? (JSON.parse(r.body) as { leaseMs: number }).leaseMs
        : undefined;
    }
    const command = JSON.parse(r.body) as string[];
    return command.length === 16 ? Number(command[14]) : undefined;
  } catch {
    return undefined;
  }
}

for (const type of ["upstash", "durable-object"] as const) {
  for (
    const [kind, asked] of [["longer", 9_000], ["shorter", 1_200]] as const
  ) {
    test(
      `RemoteLease.extend() keeps the ${kind} length when the renewal timer fires while it is on its way (${type})`,
      async () => {
        const backend = backends[type]!;
        const named = backend.fresh();
        const lock = named.lock();
        // Renewed a third of 3 s after the grant: at about 1,000 ms.
        const lease = await lock.acquire({ leaseMs: 3_000 });
        const granted = performance.now();
        await delay(Math.max(0, granted + 850 - performance.now()));
        const slow = backend.proxy.add({
          match: (r) => named.matches(r) && extendMs(type, r) !== undefined,
          action: "delay-response",
          ms: 400,
          count: 1,
        });
        const from = backend.proxy.log.length;
        await lease.extend(asked);
        backend.proxy.clear(slow);
        // Long enough for the next renewal at the new length (a third of
        // it after the extend) to go out.
        await delay(asked / 3 + 600);
        const sent = backend.proxy.log.slice(from)
          .filter((r) => named.matches(r))
          .map((r) => extendMs(type, r))
          .filter((ms) => ms !== undefined);
        const signalQuiet = !lease.signal.aborted;
        await lease.release();
        assert(signalQuiet, `the lease was lost: ${lease.signal.reason}`);
        assert(
          sent.length >= 2,
          `expected the extend and a renewal after it, saw ${
            JSON.stringify(sent)
          }`,
        );
        assert(
          sent.every((ms) => ms === asked),
          `after extend(${asked}) the lease was renewed with other lengths: ${
            JSON.stringify(sent)
          }`,
        );
      },
      20_000,
    );
  }
}
