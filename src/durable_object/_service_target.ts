// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The lock service as a `durable-object` target (`{ url, token }`):
 * kept out of `_resolve.ts` so that a Worker which reaches its objects through
 * the namespace binding does not bundle the HTTP client.
 */

import { show } from "../core/_validate.ts";
import { LockService } from "./_lock_service.ts";
import type { LockDurableObjectNamespace } from "./_driver.ts";
import type { ServiceTarget } from "./_resolve.ts";

/**
 * The lock service, shaped like a namespace binding so the client logic is
 * one: each "stub" call is one request to `./worker`, or one message on the
 * lock's WebSocket (_lock_service.ts).
 */
function httpNamespace(
  action: string,
  base: URL,
  token: string,
): LockDurableObjectNamespace {
  let last: LockService | undefined;
  return {
    idFromName: (name) => {
      // A URL normalizes these path segments away ("%2E" included): the
      // request would reach another route, or none.
      if (name === "." || name === "..") {
        throw new TypeError(
          `Cannot ${action} as 'name' "${name}" is no URL path segment: use the binding`,
        );
      }
      return name;
    },
    get: (id) => {
      // A failed call dropped the last stub: its socket may be broken too.
      last?.close();
      return last = new LockService(base, id as unknown as string, token);
    },
  };
}

/**
 * The lock service at `url`, reached with `token`; throws a TypeError
 * naming a bad option.
 */
export const serviceTarget: ServiceTarget = (action, url, token) => {
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
  return {
    resolved: httpNamespace(action, parsed, token),
    target: `the lock service at ${parsed.origin}`,
    http: true,
  };
};
