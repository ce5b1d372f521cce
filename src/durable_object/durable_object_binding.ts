// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

/**
 * The `durable-object` lock for a Worker that reaches its objects through
 * the namespace binding (`unilock/durable-object/binding`): the same
 * {@linkcode DurableObjectLock} as `unilock/durable-object/client`, without
 * the lock service's HTTP and WebSocket client, which such a Worker never
 * uses (about 1.8 KiB gzip less). It refuses `url` and `token`.
 *
 * @example Guarding a Worker handler
 * ```ts ignore
 * import { DurableObjectLock } from "@unilock/unilock/durable-object/binding";
 * export { LockDurableObject } from "@unilock/unilock/durable-object";
 *
 * export default {
 *   async fetch(request: Request, env: { LOCKS: DurableObjectNamespace }) {
 *     const lock = new DurableObjectLock({ name: "stock", namespace: env.LOCKS });
 *     return await lock.withLock(async (lease) => new Response(`fence ${lease.fence}`));
 *   },
 * };
 * ```
 *
 * @module
 */

import { RemoteLock } from "../remote/remote_lock.ts";
import { driverFor, remoteOptions } from "./_resolve.ts";
import type { DurableObjectLockOptions } from "./durable_object_lock.ts";

export type {
  DurableObjectLockOptions,
  LockDurableObjectNamespace,
  LockDurableObjectStub,
} from "./durable_object_lock.ts";

/**
 * A globally consistent named lock in a Cloudflare Durable Object, used
 * from a Worker through the namespace binding of `LockDurableObject` (one
 * object per lock name): the `durable-object` lock without the lock
 * service's client. Give `namespace`; `url` and `token` are refused (import
 * the lock from `unilock/durable-object/client` for those).
 *
 * @example Guarding a Worker handler
 * ```ts ignore
 * import { DurableObjectLock } from "@unilock/unilock/durable-object/binding";
 *
 * export default {
 *   async fetch(request: Request, env: { LOCKS: DurableObjectNamespace }) {
 *     const lock = new DurableObjectLock({ name: "stock", namespace: env.LOCKS });
 *     return await lock.withLock(async (lease) => new Response(`fence ${lease.fence}`));
 *   },
 * };
 * ```
 */
export class DurableObjectLock extends RemoteLock {
  /**
   * Constructs a new instance; checks the options now.
   *
   * @param options Name, namespace binding, lease length.
   */
  constructor(options?: DurableObjectLockOptions) {
    super(driverFor(options, "lock"), remoteOptions(options!));
  }
}
