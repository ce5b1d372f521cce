// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The worker side of the thread-semaphore tests (Node bundles it
 * with esbuild first; Deno and Bun run it as is): jobs by message, answers
 * by message.
 */

import {
  createSemaphore,
  type SemaphoreLease,
  type ThreadLockTableHandle,
  type ThreadSemaphoreHandle,
} from "../../mod.ts";
import { SemaphoreState } from "../../src/thread/_semaphore_state.ts";
import { parentPort } from "./_port.ts";

/** Where the semaphore is: its handle, or a table and a name. */
type Where =
  | { handle: ThreadSemaphoreHandle }
  | { table: ThreadLockTableHandle; name: string };

export type SemaphoreJob =
  | (Where & {
    job: "count";
    permits: number;
    /** int32: [in use, most in use, over the limit, sections] */
    counter: SharedArrayBuffer;
    /** float64 per section: the fences this worker was granted */
    fences: SharedArrayBuffer;
    fenceAt: number;
    weights: number[];
    iterations: number;
    holdMs: number;
  })
  | (Where & { job: "hold"; permits: number; take: number; leaseMs?: number })
  | (Where & { job: "open"; permits: number })
  /** Takes the permits' guard word and keeps it (until terminated). */
  | { job: "take guard"; handle: ThreadSemaphoreHandle };

const port = await parentPort();
const held: SemaphoreLease[] = [];

function open(message: Where & { permits: number }) {
  return createSemaphore(
    "thread",
    "handle" in message
      ? { handle: message.handle, permits: message.permits }
      : { table: message.table, name: message.name, permits: message.permits },
  );
}

async function run(message: SemaphoreJob): Promise<unknown> {
  switch (message.job) {
    case "count": {
      const sem = open(message);
      const counter = new Int32Array(message.counter);
      const fences = new Float64Array(message.fences);
      for (let i = 0; i < message.iterations; i++) {
        const permits = message.weights[i % message.weights.length]!;
        await sem.withPermits(async (lease) => {
          fences[message.fenceAt + i] = lease.fence;
          const now = Atomics.add(counter, 0, permits) + permits;
          if (now > message.permits) Atomics.add(counter, 2, 1);
          for (;;) {
            const most = Atomics.load(counter, 1);
            if (now <= most) break;
            if (Atomics.compareExchange(counter, 1, most, now) === most) break;
          }
          if (message.holdMs > 0) {
            await new Promise((resolve) => setTimeout(resolve, message.holdMs));
          } else await Promise.resolve();
          Atomics.sub(counter, 0, permits);
          Atomics.add(counter, 3, 1);
        }, { permits, timeoutMs: 60_000 });
      }
      return { done: true };
    }
    case "hold": {
      const sem = open(message);
      port.postMessage({ asking: true });
      const lease = await sem.acquire({
        permits: message.take,
        ...(message.leaseMs === undefined ? {} : { leaseMs: message.leaseMs }),
      });
      held.push(lease);
      return { fence: lease.fence };
    }
    case "take guard": {
      const state = new SemaphoreState(
        message.handle.buffer,
        message.handle.byteOffset,
      );
      state.lock();
      // Keeps it: answers, and never unlocks (a thread killed mid-section).
      return { taken: true };
    }
    case "open": {
      const sem = open(message);
      try {
        const lease = await sem.acquire({ timeoutMs: 5_000 });
        await lease.release();
        return { ok: true };
      } catch (error) {
        return {
          rejected: `${(error as Error).name}: ${(error as Error).message}`,
        };
      }
    }
  }
}

port.addEventListener("message", (event: MessageEvent) => {
  run(event.data as SemaphoreJob).then(
    (result) => port.postMessage(result),
    (error) => port.postMessage({ error: String(error?.stack ?? error) }),
  );
});
port.postMessage({ ready: true });
