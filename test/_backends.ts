// Copyright 2026 the unilock authors. MIT license.
/** @internal The backends the contract suite runs against on every runtime. A new backend adds a line here. */

import type { ContractBackend } from "./_contract.ts";
import type { LockDurableObjectNamespace, UpstashRedisLike } from "../mod.ts";

export const backends: ContractBackend[] = [
  { type: "local", quietMs: 5 },
  { type: "thread", quietMs: 5 },
];

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
