// Copyright 2026 the unilock authors. MIT license.
// A Cloudflare Worker guarding its handler with a named lock: requests for
// the same sku run one at a time, across every isolate and location.
// wrangler.toml needs the LOCKS binding and the SQLite migration (see the
// top-level wrangler.toml).
import { createLock, type LockDurableObjectNamespace } from "unilock";
export { LockDurableObject } from "unilock/durable-object";

export interface Env {
  LOCKS: LockDurableObjectNamespace;
}

/** Stands in for the real work: read, decide, write. */
export const stock = new Map<string, number>();

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const sku = new URL(request.url).searchParams.get("sku");
    if (sku === null) return new Response("sku is required", { status: 400 });
    const lock = createLock("durable-object", {
      name: `stock:${sku}`,
      namespace: env.LOCKS,
    });
    try {
      return await lock.withLock(async (lease) => {
        const left = stock.get(sku) ?? 3;
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (left === 0) return new Response("sold out", { status: 409 });
        stock.set(sku, left - 1);
        return new Response(`bought, ${left - 1} left (fence ${lease.fence})`);
      }, { timeoutMs: 5_000 });
    } catch (error) {
      if ((error as Error).name === "TimeoutError") {
        return new Response("busy", {
          status: 503,
          headers: { "retry-after": "1" },
        });
      }
      throw error;
    }
  },
};
