// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal Where a `durable-object` lock or semaphore reaches its objects:
 * the namespace binding, or the lock service by url and token (shaped like
 * a binding, so the client logic is one). Checks the options that say so.
 */

import { checkOptions, show } from "../core/_validate.ts";
import { requireName } from "../remote/remote_lock.ts";
import { LockService } from "./_lock_service.ts";
import type { LockDurableObjectNamespace } from "./_driver.ts";
import type { DurableObjectLockOptions } from "./durable_object_lock.ts";

/**
 * The lock service, shaped like a namespace binding so the client logic is
 * one: each "stub" call is one request to `./worker`, or one message on the
 * lock's WebSocket (_lock_service.ts).
 */
function httpNamespace(base: URL, token: string): LockDurableObjectNamespace {
  let last: LockService | undefined;
  return {
    idFromName: (name) => name,
    get: (id) => {
      // A failed call dropped the last stub: its socket may be broken too.
      last?.close();
      return last = new LockService(base, id as unknown as string, token);
    },
  };
}

/**
 * The objects the options name, and what errors call them; throws a
 * TypeError or RangeError naming a bad option.
 */
export function resolveTarget(
  options: DurableObjectLockOptions | undefined,
  kind: "lock" | "semaphore",
): { resolved: LockDurableObjectNamespace; target: string } {
  const action = `create durable-object ${kind}`;
  checkOptions(action, options);
  const { name, namespace, url, token } = options ?? {};
  requireName("durable-object", name, kind);
  let resolved: LockDurableObjectNamespace;
  let target = "the LockDurableObject binding";
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
    let parsed: URL | undefined;
    try {
      parsed = typeof url === "string" ? new URL(url) : undefined;
    } catch { /* reported below */ }
    if (
      parsed === undefined ||
      (parsed.protocol !== "https:" && parsed.protocol !== "http:")
    ) {
      throw new TypeError(
        `Cannot ${action} as 'url' must be the lock service's http(s) URL: current value is ${
          show(url)
        }`,
      );
    }
    if (typeof token !== "string" || token.length === 0) {
      throw new TypeError(
        `Cannot ${action} as 'token' must be the service's non-empty bearer secret: current value is ${
          show(token)
        }`,
      );
    }
    resolved = httpNamespace(parsed, token);
    target = `the lock service at ${parsed.origin}`;
  } else {
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
    resolved = namespace;
  }
  return { resolved, target };
}
