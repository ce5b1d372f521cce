// Copyright 2026 the unilock authors. MIT license.
/** @internal The backends the contract suite runs against on every runtime. A new backend adds a line here. */

import type { ContractBackend } from "./_contract.ts";
import type { WebLocksBackend } from "./_web_locks_conformance.ts";
import {
  type DenoKvLike,
  type LockDurableObjectNamespace,
  ThreadLockTable,
  type UpstashRedisLike,
} from "../mod.ts";

export const backends: ContractBackend[] = [
  { type: "local", quietMs: 5 },
  { type: "thread", quietMs: 5 },
];

/**
 * The in-process backends with a semaphore type, run by the semaphore
 * contract on every runtime. Thread semaphores of one name meet in one
 * table, as a manager's do.
 */
export const semaphoreBackends: ContractBackend[] = [
  { type: "local", quietMs: 5 },
  {
    type: "thread",
    quietMs: 5,
    steal: false,
    options: (() => {
      let table: ThreadLockTable | undefined;
      return () =>
        ({
          table: table ??= new ThreadLockTable({ maxLocks: 512 }),
        }) as never;
    })(),
  },
];

/** workerd runs no threads: nor does a thread semaphore get made there. */
export const workerdSemaphoreBackends: ContractBackend[] = semaphoreBackends
  .filter((b) => b.type !== "thread");

/** workerd runs no threads: the thread lock refuses to be created there. */
export const workerdBackends: ContractBackend[] = backends.filter((b) =>
  b.type !== "thread"
);

/**
 * The upstash backend, through a client of the runtime's own kind (the Node
 * `@upstash/redis`, or `@upstash/redis/cloudflare` inside workerd) talking to
 * the REST bridge in front of a real redis-server.
 */
export function upstashBackend(redis: UpstashRedisLike): ContractBackend {
  return {
    type: "upstash",
    // An HTTP round trip and a Lua script, not a microtask.
    quietMs: 80,
    options: () => ({ redis, prefix: `test:${crypto.randomUUID()}:` }),
  };
}

/**
 * The file backend in `dir` (a new temporary directory of the runtime's
 * own making; workerd has no file system to share).
 */
export function fileBackend(dir: string): ContractBackend {
  return {
    type: "file",
    // A few system calls on a local disk, and a file event to wake a waiter.
    quietMs: 40,
    options: () => ({ dir }),
  };
}

/** The durable-object backend through a Worker's namespace binding (RPC). */
export function durableObjectBackend(
  namespace: LockDurableObjectNamespace,
): ContractBackend {
  return {
    type: "durable-object",
    quietMs: 40,
    options: () => ({ namespace }),
  };
}

/** The durable-object backend over HTTP, through the lock service. */
export function lockServiceBackend(
  url: string,
  token: string,
): ContractBackend {
  return {
    type: "durable-object",
    quietMs: 60,
    options: () => ({ url, token }),
  };
}

/**
 * The backends of the Web Locks conformance suite. Every manager of one
 * suite shares one prefix (managers share names only within it); a short
 * lease, so that a holder stolen by another client hears of it soon.
 */
export const webLocksBackends: WebLocksBackend[] = [
  { type: "local", quietMs: 5 },
  {
    type: "thread",
    quietMs: 5,
    // One table, so that the suite's managers share names.
    options: (() => {
      let threads: ThreadLockTable | undefined;
      return () => ({ threads: threads ??= new ThreadLockTable() });
    })(),
  },
];

/** The upstash backend for the Web Locks suite. */
export function upstashWebLocks(redis: UpstashRedisLike): WebLocksBackend {
  const prefix = `test:wl:${crypto.randomUUID()}:`;
  return {
    type: "upstash",
    quietMs: 80,
    options: () => ({ redis, prefix, leaseMs: 1_500 }),
  };
}

/**
 * The file backend for the Web Locks suite in `dir` (every manager of the
 * suite shares it, so they share names).
 */
export function fileWebLocks(dir: string): WebLocksBackend {
  return {
    type: "file",
    quietMs: 40,
    options: () => ({ dir, leaseMs: 1_500 }),
  };
}

/** The durable-object backend for the Web Locks suite, by binding or service. */
export function durableObjectWebLocks(
  options: { namespace: LockDurableObjectNamespace } | {
    url: string;
    token: string;
  },
): WebLocksBackend {
  return {
    type: "durable-object",
    quietMs: "namespace" in options ? 40 : 60,
    options: () => ({ ...options, leaseMs: 1_500 }),
  };
}

/**
 * The deno-kv backend on one database handle (a KV file: `Deno.openKv` on
 * Deno, `@deno/kv` on Node), each test's locks under a prefix of their own.
 */
export function denoKvBackend(kv: DenoKvLike): ContractBackend {
  return {
    type: "deno-kv",
    // A handoff to another lock object is pushed through watch(); polls
    // (pollMs, 25 ms) catch the rest.
    quietMs: 60,
    options: () => ({ kv, prefix: `test-${crypto.randomUUID()}` }),
  };
}

/**
 * The deno-kv backend for the Web Locks suite: every manager of one suite
 * on one handle and prefix, with short leases (see `upstashWebLocks`).
 */
export function denoKvWebLocks(kv: DenoKvLike | string): WebLocksBackend {
  const prefix = `test-wl-${crypto.randomUUID()}`;
  return {
    type: "deno-kv",
    quietMs: 60,
    options: () => ({ kv, prefix, leaseMs: 1_500 }),
  };
}
