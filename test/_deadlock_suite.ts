// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Deadlock detection by a `LockManager` for the lock types it sees
 * whole in one isolate (`local`, and `thread` within one thread), run on
 * every runtime.
 */

import {
  type Lock,
  LockDeadlockError,
  LockManager,
  LockTimeoutError,
  type LockType,
} from "../mod.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  delay,
  track,
} from "./_assert.ts";
import { randomName, type RegisterTest } from "./_contract.ts";

/** Registers the deadlock tests for each of `types` with `test`. */
export function deadlockSuite(
  test: RegisterTest,
  types: LockType[],
): void {
  for (const type of types) {
    const it = (name: string, fn: () => Promise<void>) =>
      test(`[${type}] ${name}`, fn);
    // Three locks of one manager.
    const setup = (): [Lock, Lock, Lock] => {
      const manager = new LockManager({ type });
      const lock = () => manager.getOrCreateLock(randomName("deadlock"));
      return [lock(), lock(), lock()];
    };

    it("LockManager lock.acquire() rejects the acquire that closes a two-lock cycle with LockDeadlockError", async () => {
      const [x, y] = setup();
      const a = await x.acquire({ owner: "A" });
      const b = await y.acquire({ owner: "B" });
      const aWaits = track(y.acquire({ owner: "A" }));
      await delay(5);
      const error = await assertRejects(
        x.acquire({ owner: "B" }),
        LockDeadlockError,
        [
          `owner B waits for "${x.name}" held by A, A waits for "${y.name}" held by B`,
        ],
      ) as LockDeadlockError;
      assertEquals(error.lockName, x.name);
      assertEquals(error.cycle, [
        { owner: "B", lockName: x.name, holder: "A" },
        { owner: "A", lockName: y.name, holder: "B" },
      ]);
      assertEquals(aWaits.settled, false, "A stopped waiting");
      // B gives up what it holds, so A goes on; B left no ghost behind on x.
      await b.release();
      const ay = await aWaits.promise;
      await a.release();
      const again = await x.tryAcquire();
      assert(again !== undefined, "a ghost of B's rejected wait holds x");
      await again.release();
      await ay.release();
      assertEquals(await x.isLocked(), false);
      assertEquals(await y.isLocked(), false);
    });

    it("LockManager lock.acquire() rejects the acquire that closes a three-lock cycle", async () => {
      const [x, y, z] = setup();
      const held = [
        await x.acquire({ owner: "A" }),
        await y.acquire({ owner: "B" }),
        await z.acquire({ owner: "C" }),
      ];
      const aWaits = y.acquire({ owner: "A" });
      const bWaits = z.acquire({ owner: "B" });
      await delay(5);
      const error = await assertRejects(
        x.acquire({ owner: "C" }),
        LockDeadlockError,
      ) as LockDeadlockError;
      assertEquals(
        error.message,
        `Cannot acquire lock "${x.name}": deadlock: owner C waits for "${x.name}" held by A, A waits for "${y.name}" held by B, B waits for "${z.name}" held by C`,
      );
      assertEquals(error.cycle.length, 3);
      await held[2]!.release(); // C gives up z: B, then A go on
      const bz = await bWaits;
      await held[1]!.release();
      const ay = await aWaits;
      for (const lease of [held[0]!, bz, ay]) await lease.release();
      for (const lock of [x, y, z]) assertEquals(await lock.isLocked(), false);
    });

    it("LockManager lock.acquire() waits normally when no cycle would close", async () => {
      const [x, y] = setup();
      const a = await x.acquire({ owner: "A" });
      const b = await y.acquire({ owner: "B" });
      const bWaits = track(x.acquire({ owner: "B" })); // B → A, A waits for nothing
      const cWaits = track(y.acquire({ owner: "C" })); // C → B → A
      await delay(5);
      assertEquals([bWaits.settled, cWaits.settled], [false, false]);
      await a.release();
      const bx = await bWaits.promise;
      await bx.release();
      await b.release();
      await (await cWaits.promise).release();
      // Unlabelled holders are not tracked: a labelled waiter just waits.
      const anonymous = await x.acquire();
      await assertRejects(
        x.acquire({ owner: "A", timeoutMs: 5 }),
        LockTimeoutError,
      );
      await anonymous.release();
    });

    it("LockManager lock.acquire() reports an owner asking again for the exclusive lock it holds as a one-owner cycle", async () => {
      const [x] = setup();
      const a = await x.acquire({ owner: "A" });
      const error = await assertRejects(
        x.acquire({ owner: "A" }),
        LockDeadlockError,
        [`owner A waits for "${x.name}" held by A`],
      ) as LockDeadlockError;
      assertEquals(error.cycle, [{
        owner: "A",
        lockName: x.name,
        holder: "A",
      }]);
      await assertRejects(
        x.withLock(() => 1, { owner: "A", mode: "shared" }),
        LockDeadlockError,
      );
      await a.release();
      // Shared holders share, even with the same owner.
      const s1 = await x.acquire({ owner: "A", mode: "shared" });
      const s2 = await x.acquire({ owner: "A", mode: "shared" });
      await s1.release();
      await s2.release();
      assertEquals(await x.withLock(() => 7, { owner: "A" }), 7);
      assertEquals(await x.isLocked(), false);
    });

    it("LockManager lock.acquire() rejects a bad owner with an error naming 'owner' and the value", async () => {
      const [x] = setup();
      await assertRejects(x.acquire({ owner: "" }), RangeError, ["'owner'"]);
      await assertRejects(
        x.acquire({ owner: 5 as never }),
        TypeError,
        ["'owner'", "5"],
      );
      assertEquals(await x.isLocked(), false);
    });
  }
}
