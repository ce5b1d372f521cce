// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { LockOptions } from "../core/types.ts";
import { RemoteLock } from "../remote/remote_lock.ts";
import type { LockDurableObjectNamespace } from "./_driver.ts";
import { driverFor, remoteOptions } from "./_resolve.ts";
import { serviceTarget } from "./_service_target.ts";

export type { LockDurableObjectStub } from "./_protocol.ts";
export type { LockDurableObjectNamespace } from "./_driver.ts";

/** Options for {@linkcode DurableObjectLock}. */
export interface DurableObjectLockOptions extends LockOptions {
  /**
   * The lock's name: one Durable Object per name, shared by every client.
   * Required. 1 to 512 characters of well-formed Unicode.
   */
  name?: string;
  /**
   * The namespace binding of `LockDurableObject` in your Worker (for
   * example `env.LOCKS`).
   *
   * @default {undefined}
   */
  namespace?: LockDurableObjectNamespace;
  /**
   * The lock service's base URL (a deployed `./worker`, or `wrangler dev`),
   * for callers outside Cloudflare. Give `url` and `token`, or `namespace`.
   * While it waits or holds, the lock keeps a WebSocket to the service (if
   * the runtime has `WebSocket`), closed when it no longer needs it.
   *
   * @default {undefined}
   */
  url?: string;
  /**
   * The service's bearer secret (its `UNILOCK_TOKEN`), with `url`.
   *
   * @default {undefined}
   */
  token?: string;
  /**
   * The lease length when `acquire` is not given `leaseMs`; renewed every
   * third of it while held. 100 ms to 24 days.
   *
   * @default {30000}
   */
  leaseMs?: number;
  /**
   * How long one call to the object may take before it counts as failed,
   * 1 ms to 30 s (a waiting call gets its wait of at most 15 s and 2 s of
   * silence instead). Every call is bounded by the caller's `timeoutMs` and
   * `signal` as well.
   *
   * @default {10000}
   */
  requestTimeoutMs?: number;
}

/**
 * A globally consistent named lock in a Cloudflare Durable Object: the
 * `durable-object` lock type, used from a Worker through the namespace
 * binding of `LockDurableObject` (one object per lock name), or from anywhere
 * else over HTTP through the lock service (`{ url, token }`). An uncontended
 * acquire and release cost one RPC each; waiters wait inside the object, which
 * grants the lock to them when it is released or its lease ends. Over HTTP,
 * a lock that waits or holds keeps a WebSocket to its object (where a
 * runtime has `WebSocket`), which carries its calls and brings its grant.
 *
 * @example Guarding a Worker handler
 * ```ts ignore
 * import { createLock } from "@unilock/unilock";
 * export { LockDurableObject } from "@unilock/unilock/durable-object";
 *
 * export default {
 *   async fetch(request: Request, env: { LOCKS: DurableObjectNamespace }) {
 *     const lock = createLock("durable-object", { name: "stock", namespace: env.LOCKS });
 *     return await lock.withLock(async (lease) => new Response(`fence ${lease.fence}`));
 *   },
 * };
 * ```
 */
export class DurableObjectLock extends RemoteLock {
  /**
   * Constructs a new instance; checks the options now.
   *
   * @param options Name, namespace binding or service URL and token, lease length.
   */
  constructor(options?: DurableObjectLockOptions) {
    super(
      driverFor(options, "lock", serviceTarget),
      remoteOptions(options!),
    );
  }
}
