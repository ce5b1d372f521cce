// Copyright 2026 the unilock authors. MIT license.
// The HTTP lock service inside workerd: auth before anything, request
// checks naming the field, and tokens that cannot touch others' leases.
import { env, exports } from "cloudflare:workers";
import { listDurableObjectIds } from "cloudflare:test";
import { test } from "vitest";
import { assert, assertEquals } from "../_assert.ts";

const SECRET = "workerd-test-secret";
const ns = (env as unknown as { LOCKS: DurableObjectNamespace }).LOCKS;

function call(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } =
    {},
) {
  const { method = "POST", body, headers = {} } = init;
  return exports.default.fetch(`http://lock.test${path}`, {
    method,
    headers: {
      authorization: `Bearer ${SECRET}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined
      ? {}
      : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

async function expectStatus(
  response: Response,
  status: number,
  includes?: string,
): Promise<void> {
  const text = await response.text();
  assertEquals(response.status, status, text);
  if (includes !== undefined) {
    assert(text.includes(includes), `expected ${includes} in ${text}`);
  }
}

test("worker.fetch() answers 401 and touches no object without the right bearer token", async () => {
  const name = `auth-${crypto.randomUUID()}`;
  const before = (await listDurableObjectIds(ns)).length;
  for (
    const headers of [
      { authorization: "" },
      { authorization: "Bearer wrong-secret" },
      { authorization: `Basic ${SECRET}` },
      { authorization: `bearer ${SECRET}` },
    ]
  ) {
    await expectStatus(
      await call(`/v1/locks/${name}/acquire`, {
        body: { token: "tok_12345678", leaseMs: 1_000 },
        headers,
      }),
      401,
    );
    await expectStatus(
      await call(`/v1/locks/${name}/query`, { method: "GET", headers }),
      401,
    );
  }
  assertEquals((await listDurableObjectIds(ns)).length, before);
});

test("worker.fetch() answers 400, 413 or 415 naming the field for bad requests", async () => {
  const lock = `/v1/locks/bad-${crypto.randomUUID()}`;
  await expectStatus(
    await call(`${lock}/acquire`, { body: "{not json" }),
    400,
    "valid JSON",
  );
  await expectStatus(
    await call(`${lock}/acquire`, { body: "[1]" }),
    400,
    "JSON object",
  );
  await expectStatus(
    await call(`${lock}/acquire`, {
      body: "{}",
      headers: { "content-type": "text/plain" },
    }),
    415,
  );
  await expectStatus(
    await call(`${lock}/acquire`, { body: { token: "x".repeat(5_000) } }),
    413,
  );
  await expectStatus(
    await call(`${lock}/acquire`, { body: { leaseMs: 1_000 } }),
    400,
    "'token'",
  );
  await expectStatus(
    await call(`${lock}/acquire`, { body: { token: "short", leaseMs: 1_000 } }),
    400,
    "'token'",
  );
  await expectStatus(
    await call(`${lock}/acquire`, {
      body: { token: "tok_12345678", leaseMs: -5 },
    }),
    400,
    "'leaseMs'",
  );
  await expectStatus(
    await call(`${lock}/acquire`, {
      body: { token: "tok_12345678", leaseMs: 1e12 },
    }),
    400,
    "'leaseMs'",
  );
  await expectStatus(
    await call(`${lock}/acquire`, {
      body: { token: "tok_12345678", leaseMs: 1_000, waitMs: -1 },
    }),
    400,
    "'waitMs'",
  );
  await expectStatus(
    await call(`${lock}/acquire`, {
      body: { token: "tok_12345678", leaseMs: 1_000, mode: "both" },
    }),
    400,
    "'mode'",
  );
  for (const priority of [1.5, 101, "1"]) {
    await expectStatus(
      await call(`${lock}/acquire`, {
        body: { token: "tok_12345678", leaseMs: 1_000, priority },
      }),
      400,
      "'priority'",
    );
  }
  await expectStatus(
    await call(`/v1/locks/${"n".repeat(513)}/release`, {
      body: { token: "tok_12345678" },
    }),
    400,
    "'name'",
  );
  await expectStatus(
    await call(`/v1/locks/%E0%A4%A/release`, {
      body: { token: "tok_12345678" },
    }),
    400,
    "'name'",
  );
  for (const owner of ["", "o".repeat(257), 42]) {
    await expectStatus(
      await call(`${lock}/acquire`, {
        body: { token: "tok_12345678", leaseMs: 1_000, owner },
      }),
      400,
      "'owner'",
    );
  }
  await expectStatus(await call(`${lock}/query`, { body: {} }), 405);
  await expectStatus(await call(`${lock}/steal`, { body: {} }), 404);
  await expectStatus(await call(`${lock}/acquire`, { method: "GET" }), 405);
});

test("worker.fetch() refuses a release with another holder's token and leaves the lock untouched", async () => {
  const lock = `/v1/locks/own-${crypto.randomUUID()}`;
  const granted = await call(`${lock}/acquire`, {
    body: { token: "tok_holder_1", leaseMs: 10_000 },
  });
  const grant = await granted.json() as { ok: boolean; fence: number };
  assertEquals(grant.ok, true);
  const stranger = await call(`${lock}/release`, {
    body: { token: "tok_stranger" },
  });
  assertEquals(await stranger.json(), { released: false });
  const status = await call(lock, { method: "GET" });
  assertEquals(await status.json(), { holders: 1, waiters: 0 });
  const again = await call(`${lock}/acquire`, {
    body: { token: "tok_holder_1", leaseMs: 10_000 },
  });
  assertEquals(
    (await again.json() as { fence: number }).fence,
    grant.fence,
    "not idempotent",
  );
  const mine = await call(`${lock}/release`, {
    body: { token: "tok_holder_1" },
  });
  assertEquals(await mine.json(), { released: true });
});

test("worker.fetch() fails closed with 503 when the UNILOCK_TOKEN secret is missing", async () => {
  const { default: worker } = await import("../../workers/worker.ts");
  const response = await worker.fetch(
    new Request("http://lock.test/v1/locks/x/release", {
      method: "POST",
      headers: { authorization: "Bearer anything" },
    }),
    { LOCKS: ns as never },
  );
  await expectStatus(response, 503, "UNILOCK_TOKEN");
});

test("worker.fetch() answers GET /v1/locks/{name}/query with the object's holders and waiters", async () => {
  const lock = `/v1/locks/query-${crypto.randomUUID()}`;
  const granted = await call(`${lock}/acquire`, {
    body: { token: "tok_holder_1", leaseMs: 10_000, owner: "job-7" },
  });
  const { fence } = await granted.json() as { fence: number };
  const busy = await call(`${lock}/acquire`, {
    body: {
      token: "tok_waiter_1",
      leaseMs: 10_000,
      waitMs: 50,
      mode: "shared",
    },
  });
  assertEquals(((await busy.json()) as { reason: string }).reason, "wait");
  const response = await call(`${lock}/query`, { method: "GET" });
  assertEquals(response.status, 200);
  const body = await response.json() as {
    held: { mode: string; fence: number; ageMs: number; owner?: string }[];
    pending: { mode: string; ageMs: number; owner?: string }[];
  };
  assertEquals(body.held.map((h) => [h.mode, h.fence, h.owner]), [[
    "exclusive",
    fence,
    "job-7",
  ]]);
  // The waiter whose call ended keeps its place for a while: still pending.
  assertEquals(body.pending.map((p) => [p.mode, p.owner]), [[
    "shared",
    undefined,
  ]]);
  for (const e of [...body.held, ...body.pending]) {
    assert(typeof e.ageMs === "number" && e.ageMs >= 0, `ageMs ${e.ageMs}`);
  }
  await expectStatus(
    await call(`${lock}/cancel`, { body: { token: "tok_waiter_1" } }),
    200,
  );
  await expectStatus(
    await call(`${lock}/release`, { body: { token: "tok_holder_1" } }),
    200,
  );
  const empty = await call(`${lock}/query`, { method: "GET" });
  assertEquals(await empty.json(), { held: [], pending: [] });
});
