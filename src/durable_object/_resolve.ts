// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal Where a `durable-object` lock or semaphore reaches its objects:
 * the namespace binding, or the lock service by url and token (shaped like
 * a binding, so the client logic is one). Checks the options that say so.
 */

import { checkOptions, show } from "../core/_validate.ts";
import { requireName } from "../remote/remote_lock.ts";
import type { RemoteDriver } from "../remote/driver.ts";
import type { RemoteLockOptions } from "../remote/remote_lock.ts";
import { durableObjectDriver } from "./_driver.ts";
import type { LockDurableObjectNamespace } from "./_driver.ts";
import type { DurableObjectLockOptions } from "./durable_object_lock.ts";

/** Where a lock's calls go, what errors call it, and whether over HTTP. */
export interface Target {
  resolved: LockDurableObjectNamespace;
  target: string;
  http: boolean;
}

/**
 * The lock service at `url` with `token` (_service_target.ts), handed in by
 * the clients that offer it, so that one without it bundles no HTTP client.
 */
export type ServiceTarget = (
  action: string,
  url: unknown,
  token: unknown,
) => Target;

/**
 * The objects the options name, and what errors call them; throws a
 * TypeError or RangeError naming a bad option.
 */
export function resolveTarget(
  options: DurableObjectLockOptions | undefined,
  kind: "lock" | "semaphore",
  service?: ServiceTarget,
): Target {
  const action = `create durable-object ${kind}`;
  checkOptions(action, options);
  const { name, namespace, url, token } = options ?? {};
  requireName("durable-object", name, kind);
  // The name travels in a URL (and names the object either way): a lone
  // surrogate has no UTF-8 form, so it could not reach the same object.
  if (
    /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
      .test(String(name))
  ) {
    throw new RangeError(
      `Cannot ${action} as 'name' must be well-formed Unicode (no lone surrogate): current value is ${
        show(name)
      }`,
    );
  }
  if (url !== undefined || token !== undefined) {
    if (namespace !== undefined) {
      throw new TypeError(
        `Cannot ${action} with both 'namespace' and 'url': give the binding inside a Worker, url and token elsewhere`,
      );
    }
    if (service === undefined) {
      throw new TypeError(
        `Cannot ${action} with 'url' from unilock/durable-object/binding: the lock service needs unilock/durable-object/client`,
      );
    }
    return service(action, url, token);
  }
  if (
    namespace === null || typeof namespace !== "object" ||
    typeof namespace.idFromName !== "function" ||
    typeof namespace.get !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action} as 'namespace' must be the Durable Object namespace binding of LockDurableObject (env.LOCKS), or give 'url' and 'token': current value is ${
        show(namespace)
      }`,
    );
  }
  return {
    resolved: namespace,
    target: "the LockDurableObject binding",
    http: false,
  };
}

/**
 * The driver for the objects the options name (through `service` for a
 * `url`); throws a TypeError or RangeError naming a bad option.
 */
export function driverFor(
  options: DurableObjectLockOptions | undefined,
  kind: "lock" | "semaphore",
  service?: ServiceTarget,
): RemoteDriver {
  const { resolved, target, http } = resolveTarget(options, kind, service);
  // The lock service's namespace refuses the names a URL cannot carry:
  // at once, rather than at the first request.
  if (http) resolved.idFromName(options!.name!);
  return durableObjectDriver(options!.name!, resolved, target, http);
}

/** The options the remote-lock core takes from a durable-object client's. */
export function remoteOptions(
  options: DurableObjectLockOptions,
): RemoteLockOptions {
  const { name, leaseMs, requestTimeoutMs } = options;
  return {
    name: name as string,
    ...(leaseMs === undefined ? {} : { leaseMs }),
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
  };
}
