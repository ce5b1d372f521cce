// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The worker side of the thread-lock tests: one script for Node
 * (`worker_threads`, bundled by esbuild first), Deno and Bun (`Worker`).
 * It receives jobs by message and answers by message.
 */

import {
  type AcquireOptions,
  createLock,
  createWebLocks,
  type Lease,
  LockManager,
  type ThreadLockHandle,
  ThreadLockTable,
  type ThreadLockTableHandle,
} from "../../mod.ts";
import { ThreadState } from "../../src/thread/_thread_state.ts";
import { lockContract } from "../_contract.ts";
import { parentPort } from "./_port.ts";

/** Burns a little CPU between the read and the write, widening the race. */
function spin(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x += i % 7;
  return x;
}

export type Job =
  | {
    job: "checker";
    handle: ThreadLockHandle;
    counter: SharedArrayBuffer;
    fences: SharedArrayBuffer;
    iterations: number;
    broken: boolean;
    /** Every worker waits here until all have arrived (a shared counter). */
    start?: SharedArrayBuffer;
    workers?: number;
  }
  | { job: "hold"; handle: ThreadLockHandle; leaseMs?: number }
  | {
    job: "enqueue";
    handle: ThreadLockHandle;
    order: SharedArrayBuffer;
    id: number;
    priority?: number;
  }
  | { job: "contract" }
  | { job: "manager"; threads: ThreadLockTableHandle; id: string }
  | {
    job: "owned";
    threads: ThreadLockTableHandle;
    id: string;
    owner: string;
    leaseMs?: number;
    mode?: "shared";
    /** Answer at once ({ queued }), then again when granted. */
    queued?: boolean;
  }
  | { job: "release held" }
  /** Takes the lock's guard word and keeps it (until terminated). */
  | { job: "take guard"; handle: ThreadLockHandle }
  | {
    job: "acquire";
    handle: ThreadLockHandle;
    options?: AcquireOptions;
    /** Abort the acquisition after this long. */
    abortMs?: number;
    /** Answer at once ({ queued }), then again when settled. */
    queued?: boolean;
    /** Keep the lease (else release it at once). */
    keep?: boolean;
    /** Release the kept lease this long after the grant. */
    releaseAfterMs?: number;
  }
  | { job: "table get"; table: ThreadLockTableHandle; name: string }
  /**
   * Acquires and answers `{ fence }`; then, once the lease's signal aborts
   * (looked for by a busy loop that blocks the event loop when `block`),
   * tries a write to the fenced `store` (its highest fence so far, in
   * `store[0]`, once `store[0]` is set by the thief), releases, and answers
   * `{ reason, ms, accepted }`.
   */
  | {
    job: "hold until stolen";
    handle: ThreadLockHandle;
    options?: AcquireOptions;
    block?: boolean;
    store: SharedArrayBuffer;
  }
  /**
   * Requests `name` through a Web Locks manager on the table and holds it
   * (answers `{ held }`), until the request settles: `{ rejected, message }`
   * when it was stolen.
   */
  | { job: "web lock"; threads: ThreadLockTableHandle; name: string }
  /** Steals the lock and keeps the lease: `{ fence }`. */
  | { job: "steal"; handle: ThreadLockHandle; leaseMs?: number }
  /** Moves this thread's clock (its performance.timeOrigin) by `byMs`. */
  | { job: "skew clock"; byMs: number };

const port = await parentPort();
const held: Lease[] = [];

async function run(message: Job): Promise<unknown> {
  switch (message.job) {
    case "checker": {
      const lock = createLock("thread", { handle: message.handle });
      const counter = new Int32Array(message.counter);
      const fences = new Float64Array(message.fences);
      if (message.start !== undefined) {
        // Start together, so that workers which skip the lock do overlap
        // (one that started late could otherwise find the others done).
        const start = new Int32Array(message.start);
        Atomics.add(start, 0, 1);
        const until = Date.now() + 10_000;
        while (
          Atomics.load(start, 0) < message.workers! && Date.now() < until
        ) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
      for (let i = 0; i < message.iterations; i++) {
        const lease = message.broken ? undefined : await lock.acquire();
        // A non-atomic read-modify-write: only the lock keeps it exact.
        const value = counter[0]!;
        spin(200);
        await null;
        counter[0] = value + 1;
        if (lease !== undefined) {
          fences[value] = lease.fence;
          await lease.release();
        }
      }
      return { done: true };
    }
    case "hold": {
      const lock = createLock("thread", { handle: message.handle });
      const lease = await lock.acquire(
        message.leaseMs === undefined
          ? undefined
          : { leaseMs: message.leaseMs },
      );
      held.push(lease);
      return { fence: lease.fence };
    }
    case "enqueue": {
      const lock = createLock("thread", { handle: message.handle });
      const order = new Int32Array(message.order);
      port.postMessage({ queued: message.id });
      const lease = await lock.acquire(
        message.priority === undefined
          ? undefined
          : { priority: message.priority },
      );
      order[Atomics.add(order, 0, 1) + 1] = message.id;
      await lease.release();
      return { done: message.id };
    }
    case "contract": {
      const tests: [string, () => Promise<void>][] = [];
      const register = (name: string, fn: () => Promise<void>) =>
        void tests.push([name, fn]);
      lockContract(register, { type: "thread", quietMs: 5 });
      lockContract(register, { type: "local", quietMs: 5 });
      const failed: string[] = [];
      for (const [name, fn] of tests) {
        try {
          await fn();
        } catch (error) {
          failed.push(`${name}: ${(error as Error)?.message}`);
        }
      }
      return { total: tests.length, failed };
    }
    case "manager": {
      const manager = new LockManager({ threads: message.threads });
      const lock = manager.getOrCreateLock(message.id, "thread");
      const lease = await lock.tryAcquire();
      if (lease !== undefined) held.push(lease);
      return { acquired: lease !== undefined, fence: lease?.fence ?? 0 };
    }
    case "owned": {
      const manager = new LockManager({ threads: message.threads });
      const lock = manager.getOrCreateLock(message.id, "thread");
      if (message.queued) port.postMessage({ queued: true });
      try {
        const lease = await lock.acquire({
          owner: message.owner,
          ...(message.leaseMs === undefined
            ? {}
            : { leaseMs: message.leaseMs }),
          ...(message.mode === undefined ? {} : { mode: message.mode }),
        });
        held.push(lease);
        return { fence: lease.fence };
      } catch (error) {
        return { failed: (error as Error).name, message: String(error) };
      }
    }
    case "take guard": {
      new ThreadState(message.handle.buffer, message.handle.byteOffset).lock();
      return { taken: true };
    }
    case "acquire": {
      const lock = createLock("thread", { handle: message.handle });
      const options: AcquireOptions = { ...message.options };
      if (message.abortMs !== undefined) {
        const controller = new AbortController();
        setTimeout(
          () => controller.abort(new Error("aborted by the test")),
          message.abortMs,
        );
        options.signal = controller.signal;
      }
      if (message.queued) port.postMessage({ queued: true });
      const started = performance.now();
      try {
        const lease = await lock.acquire(options);
        const ms = performance.now() - started;
        if (message.keep) {
          held.push(lease);
          if (message.releaseAfterMs !== undefined) {
            setTimeout(() => lease.release(), message.releaseAfterMs);
          }
        } else await lease.release();
        return { fence: lease.fence, ms };
      } catch (error) {
        return {
          failed: (error as Error).name,
          message: String(error),
          cause: String((error as Error).cause),
          ms: performance.now() - started,
        };
      }
    }
    case "table get": {
      const table = new ThreadLockTable({ handle: message.table });
      const started = performance.now();
      const lock = table.get(message.name);
      const lease = await lock.acquire({ timeoutMs: 10_000 });
      await lease.release();
      return { fence: lease.fence, ms: performance.now() - started };
    }
    case "skew clock": {
      Object.defineProperty(performance, "timeOrigin", {
        value: performance.timeOrigin + message.byMs,
        configurable: true,
      });
      return { skewed: message.byMs };
    }
    case "hold until stolen": {
      const lock = createLock("thread", { handle: message.handle });
      const lease = await lock.acquire(message.options);
      held.push(lease);
      port.postMessage({ fence: lease.fence });
      const started = performance.now();
      const until = Date.now() + 10_000;
      if (message.block) {
        // A thread busy elsewhere: no event loop turn until it sees it.
        while (!lease.signal.aborted && Date.now() < until) spin(1_000);
      } else {
        while (!lease.signal.aborted && Date.now() < until) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 10_000);
            lease.signal.addEventListener("abort", () => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
      }
      const ms = performance.now() - started;
      // The stale holder writes anyway, after the thief: the store refuses.
      const store = new Float64Array(message.store);
      while (store[0] === 0 && Date.now() < until) spin(1_000);
      const accepted = lease.fence >= store[0]!;
      if (accepted) store[0] = lease.fence;
      await lease.release();
      return {
        reason: String(lease.signal.reason),
        lost: (lease.signal.reason as Error | undefined)?.name,
        ms,
        accepted,
      };
    }
    case "web lock": {
      const locks = createWebLocks("thread", { threads: message.threads });
      let done!: () => void;
      const callback = new Promise<void>((resolve) => (done = resolve));
      try {
        await locks.request(message.name, () => {
          port.postMessage({ held: true });
          return callback;
        });
        return { resolved: true };
      } catch (error) {
        return {
          rejected: (error as Error).name,
          message: (error as Error).message,
        };
      } finally {
        done();
      }
    }
    case "steal": {
      const lock = createLock("thread", { handle: message.handle });
      const lease = await lock.acquire({
        steal: true,
        ...(message.leaseMs === undefined ? {} : { leaseMs: message.leaseMs }),
      });
      held.push(lease);
      return { fence: lease.fence };
    }
    case "release held": {
      for (const lease of held.splice(0)) await lease.release();
      return { released: true };
    }
  }
}

port.addEventListener("message", (event: MessageEvent) => {
  run(event.data as Job).then(
    (result) => port.postMessage(result),
    (error) => port.postMessage({ error: String(error?.stack ?? error) }),
  );
});
port.postMessage({ ready: true });
