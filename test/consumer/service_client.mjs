// Copyright 2026 the unilock authors. MIT license.
// One acquire and release over HTTP, through the packed client, against the
// lock service deployed from the template on `wrangler dev`; a second
// client is refused while the first holds, and served after it releases.
import assert from "node:assert/strict";
import { createLock } from "unilock";

const [url, token] = process.argv.slice(2);
const name = `consumer-${crypto.randomUUID()}`;

const health = await fetch(`${url}/v1/health`);
assert.deepEqual(await health.json(), { ok: true, service: "unilock" });
const refused = await fetch(`${url}/v1/locks/${name}`);
await refused.body?.cancel();
assert.equal(refused.status, 401, "a call without the secret");

const a = createLock("durable-object", { name, url, token });
const b = createLock("durable-object", { name, url, token });
const lease = await a.acquire({ timeoutMs: 10_000 });
assert.ok(lease.fence >= 1, `fence ${lease.fence}`);
assert.equal(await b.tryAcquire(), undefined, "b got the lock a holds");
assert.equal(await b.isLocked(), true);
await lease.release();
const next = await b.acquire({ timeoutMs: 10_000 });
assert.ok(next.fence > lease.fence, `fence ${next.fence} after ${lease.fence}`);
await next.release();
assert.equal(await a.isLocked(), false);
console.log(
  `acquired fence ${lease.fence}, released; then fence ${next.fence}`,
);
