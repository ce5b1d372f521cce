// Copyright 2026 the unilock authors. MIT license.
// A Worker next to the lock service template, written against the `Env`
// that `wrangler types` generates from the template's wrangler.toml (an
// interface: no index signature; LOCKS typed by the exported class). The
// consumer check type-checks it with that file, without skipLibCheck.
import { createLock, describeLockTarget } from "unilock";

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const name = new URL(request.url).searchParams.get("sku") ?? "none";
    const target = describeLockTarget({ name, env });
    const lock = createLock("durable-object", {
      name: `stock:${name}`,
      namespace: env.LOCKS,
    });
    const auto = createLock("auto", { name, env });
    const fence = await lock.withLock((lease) => lease.fence);
    return new Response(`${target.type} ${auto.type} ${fence}`);
  },
} satisfies ExportedHandler<Env>;
