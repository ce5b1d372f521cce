// Copyright 2026 the unilock authors. MIT license.
// Adversarial: the `local` Web Locks space, whose names are the facade's own
// entries (src/web_locks/web_locks.ts, `isolate`). Found by a reviewer who
// ran random programs against Node 24's and Deno's native navigator.locks
// and ours side by side; each test gave two exclusive holders before its fix.
import { test } from "vitest";
import { createWebLocks, type WebLock } from "../../mod.ts";
import { assertEquals } from "../_assert.ts";
import { randomName } from "../_contract.ts";

/** Counts holders inside callbacks: the most at once must stay 1. */
function counter(): {
  enter: () => void;
  leave: () => void;
  readonly most: number;
} {
  let inside = 0, most = 0;
  return {
    enter: () => {
      most = Math.max(most, ++inside);
    },
    leave: () => {
      inside--;
    },
    get most() {
      return most;
    },
  };
}

test("WebLocks.request() keeps one holder when a request of a name's dropped entry settles after the name was requested again", async () => {
  // The isolate drops idle names past 1,024 of them. An ifAvailable
  // request refused while the name was held settles a task later; by then
  // the name had gone idle (dropped) and been requested again (a new entry,
  // held). Its settling dropped the new entry by name, and the next request
  // made a third entry and was granted beside the holder.
  const locks = createWebLocks("local");
  const prefix = randomName("wll");
  for (let i = 0; i < 1_100; i++) {
    await locks.request(`${prefix}-${i}`, () => {});
  }
  const name = `${prefix}-x`;
  const c = counter();
  let second: Promise<unknown> | undefined, third: Promise<unknown> | undefined;
  const first = locks.request(name, () => {
    c.enter();
    queueMicrotask(() => {
      // The first holder let go when its callback returned.
      second = locks.request(name, async () => {
        c.enter();
        third = locks.request(name, () => {
          c.enter();
          c.leave();
        });
        await new Promise((r) => setTimeout(r, 20));
        c.leave();
      });
    });
    c.leave();
  });
  const refused = locks.request(name, { ifAvailable: true }, (lock) => lock);
  await first;
  assertEquals(await refused, null);
  await new Promise((r) => setTimeout(r, 5));
  await second;
  await third;
  assertEquals(c.most, 1, "two holders of one name at once");
});

test("WebLocks.request() with steal holds the lock before the stolen lock's signal aborts", async () => {
  // The stolen holder's lock.signal aborted inside the steal, before the
  // thief held the name: a request made by its abort listener found the
  // name free and was granted beside the thief.
  const locks = createWebLocks("local");
  const name = randomName("wll");
  const c = counter();
  let fromListener: Promise<unknown> | undefined;
  let started!: () => void;
  const ready = new Promise<void>((r) => (started = r));
  const victim = locks.request(name, async (lock) => {
    lock.signal.addEventListener("abort", () => {
      fromListener = locks.request(name, async () => {
        c.enter();
        await new Promise((r) => setTimeout(r, 20));
        c.leave();
      });
    });
    started();
    await new Promise((r) => setTimeout(r, 50));
  }).catch((error: DOMException) => error.name);
  await ready;
  await locks.request(name, { steal: true }, async () => {
    c.enter();
    await new Promise((r) => setTimeout(r, 20));
    c.leave();
  });
  assertEquals(await victim, "AbortError");
  await fromListener;
  assertEquals(
    c.most,
    1,
    "the listener's request was granted beside the thief",
  );
});

test("WebLock.signal read first after a release is not aborted as if stolen", async () => {
  // The signal is made when first read; it took "not held" for "stolen",
  // so a lock released normally reported a steal.
  const locks = createWebLocks("local");
  let kept: WebLock | undefined;
  await locks.request(randomName("wll"), (lock) => {
    kept = lock;
  });
  assertEquals(kept!.signal.aborted, false);
});
