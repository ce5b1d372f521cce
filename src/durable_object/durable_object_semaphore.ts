// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { SemaphoreOptions } from "../core/types.ts";
import { RemoteSemaphore } from "../remote/remote_semaphore.ts";
import { driverFor, remoteOptions } from "./_resolve.ts";
import { serviceTarget } from "./_service_target.ts";
import type { DurableObjectLockOptions } from "./durable_object_lock.ts";

/** Options for {@linkcode DurableObjectSemaphore}: a durable-object lock's, plus `permits`. */
export interface DurableObjectSemaphoreOptions
  extends DurableObjectLockOptions, SemaphoreOptions {}

/**
 * A globally consistent counting semaphore in a Cloudflare Durable Object:
 * the `durable-object` semaphore type, by namespace binding (RPC) or over
 * HTTP through the lock service. The same object as the `durable-object`
 * lock, which admits the head of its queue while the permits held plus its
 * own fit the capacity: one call per acquire and per release when permits
 * are free; waiters wait inside the object, which grants them on a release
 * or an expiry (no client polls).
 *
 * @example At most three exports at once, across every Worker
 * ```ts ignore
 * import { createSemaphore } from "@unilock/unilock";
 *
 * export default {
 *   async fetch(request: Request, env: { LOCKS: DurableObjectNamespace }) {
 *     const exports = createSemaphore("durable-object", {
 *       name: "exports", permits: 3, namespace: env.LOCKS,
 *     });
 *     return await exports.withPermits(async () => new Response("exported"));
 *   },
 * };
 * ```
 */
export class DurableObjectSemaphore extends RemoteSemaphore {
  /**
   * Constructs a new instance; checks the options now.
   *
   * @param options Name, capacity (`permits`), namespace binding or service URL and token, lease length.
   */
  constructor(options: DurableObjectSemaphoreOptions) {
    super(driverFor(options, "semaphore", serviceTarget), {
      ...remoteOptions(options),
      permits: options.permits,
    });
  }
}
