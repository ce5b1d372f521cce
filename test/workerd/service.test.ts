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

/** Opens a lock's socket through the service; answers are queued by arrival. */
async function openSocket(
  path: string,
  headers: Record<string, string> = { authorization: `Bearer ${SECRET}` },
) {
  const response = await exports.default.fetch(`http://lock.test${path}`, {
    headers: { upgrade: "websocket", ...headers },
  });
  const ws = response.webSocket;
  if (ws === null) {
    throw new Error(`no socket: ${response.status} ${await response.text()}`);
  }
  ws.accept();
  const answers: Record<string, unknown>[] = [];
  const waiting: ((answer: Record<string, unknown>) => void)[] = [];
  ws.addEventListener("message", (event) => {
    const answer = JSON.parse(event.data as string);
    const next = waiting.shift();
    if (next) next(answer);
    else answers.push(answer);
  });
  return {
    response,
    send: (message: unknown) =>
      ws.send(typeof message === "string" ? message : JSON.stringify(message)),
    next: (): Promise<Record<string, unknown>> =>
      answers.length > 0
        ? Promise.resolve(answers.shift()!)
        : new Promise((resolve) => waiting.push(resolve)),
    pending: () => answers.length,
    close: () => ws.close(1000),
  };
}

const subprotocol = (secret: string) =>
  `unilock.v1, unilock.bearer.${
    btoa(secret).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "")
  }`;

test("worker.fetch() opens a lock's socket only with the bearer secret, as a header or a subprotocol", async () => {
  const lock = `/v1/locks/socket-auth-${crypto.randomUUID()}/socket`;
  const before = (await listDurableObjectIds(ns)).length;
  for (
    const headers of [
      {},
      { authorization: "Bearer wrong-secret" },
      { "sec-websocket-protocol": subprotocol("wrong-secret") },
      { "sec-websocket-protocol": "unilock.v1, unilock.bearer.%%%" },
    ]
  ) {
    await expectStatus(
      await exports.default.fetch(`http://lock.test${lock}`, {
        headers: { upgrade: "websocket", ...headers },
      }),
      401,
    );
  }
  assertEquals((await listDurableObjectIds(ns)).length, before);
  await expectStatus(await call(lock, { method: "GET" }), 426);
  const byHeader = await openSocket(lock);
  assertEquals(byHeader.response.status, 101);
  byHeader.close();
  const byProtocol = await openSocket(lock, {
    "sec-websocket-protocol": subprotocol(SECRET),
  });
  assertEquals(
    byProtocol.response.headers.get("sec-websocket-protocol"),
    "unilock.v1",
  );
  byProtocol.send({ id: 7, op: "status" });
  assertEquals(await byProtocol.next(), { id: 7, holders: 0, waiters: 0 });
  byProtocol.close();
});

test("LockDurableObject over a socket takes the upgrade's call first, answers by id and pushes the grant to the waiter", async () => {
  const lock = `/v1/locks/socket-${crypto.randomUUID()}`;
  const first = encodeURIComponent(JSON.stringify({
    id: 1,
    op: "acquire",
    token: "tok_holder_a",
    leaseMs: 10_000,
    waitMs: 5_000,
  }));
  const a = await openSocket(`${lock}/socket?call=${first}`);
  const grant = await a.next();
  assertEquals(grant.id, 1);
  assertEquals(grant.ok, true);
  const b = await openSocket(`${lock}/socket`);
  b.send({
    id: 1,
    op: "acquire",
    token: "tok_waiter_b",
    leaseMs: 10_000,
    waitMs: 5_000,
  });
  a.send({ id: 2, op: "status" });
  assertEquals(await a.next(), { id: 2, holders: 1, waiters: 1 });
  assertEquals(b.pending(), 0, "granted while held");
  a.send({ id: 3, op: "release", token: "tok_holder_a" });
  assertEquals(await a.next(), { id: 3, released: true });
  const handed = await b.next();
  assertEquals(handed.id, 1);
  assertEquals(handed.ok, true);
  assert((handed.fence as number) > (grant.fence as number), "fence rises");
  b.send({ id: 2, op: "extend", token: "tok_waiter_b", leaseMs: 5_000 });
  assertEquals(await b.next(), { id: 2, ok: true });
  b.send({ id: 3, op: "release", token: "tok_waiter_b" });
  assertEquals(await b.next(), { id: 3, released: true });
  a.close();
  b.close();
});

test("LockDurableObject answers a bad socket message with its id, a status and the field, and keeps the socket", async () => {
  const s = await openSocket(
    `/v1/locks/socket-bad-${crypto.randomUUID()}/socket`,
  );
  s.send("{not json");
  assertEquals((await s.next()).status, 400);
  s.send({ id: 1, op: "steal", token: "tok_12345678" });
  const op = await s.next();
  assertEquals([op.id, op.status], [1, 400]);
  assert(String(op.error).includes("'op'"), String(op.error));
  s.send({ id: 2, op: "acquire", token: "short", leaseMs: 1_000 });
  const token = await s.next();
  assertEquals([token.id, token.status], [2, 400]);
  assert(String(token.error).includes("'token'"), String(token.error));
  s.send({ id: 3, op: "release", token: "x".repeat(5_000) });
  const big = await s.next();
  assertEquals([big.id, big.status], [3, 413]);
  s.send({ id: 4, op: "status" });
  assertEquals(await s.next(), { id: 4, holders: 0, waiters: 0 });
  s.close();
});

test("LockDurableObject keeps a waiter whose socket closed in its place, for its next call with the same token", async () => {
  const lock = `/v1/locks/socket-gone-${crypto.randomUUID()}`;
  const holder = await call(`${lock}/acquire`, {
    body: { token: "tok_holder_1", leaseMs: 10_000 },
  });
  assertEquals((await holder.json() as { ok: boolean }).ok, true);
  const b = await openSocket(`${lock}/socket`);
  b.send({
    id: 1,
    op: "acquire",
    token: "tok_gone_b",
    leaseMs: 10_000,
    waitMs: 5_000,
  });
  const status = async () => await (await call(lock, { method: "GET" })).json();
  while ((await status() as { waiters: number }).waiters === 0) {
    await new Promise((r) => setTimeout(r, 5));
  }
  b.close();
  await new Promise((r) => setTimeout(r, 50));
  assertEquals(await status(), { holders: 1, waiters: 1 });
  await call(`${lock}/release`, { body: { token: "tok_holder_1" } });
  const again = await call(`${lock}/acquire`, {
    body: { token: "tok_gone_b", leaseMs: 10_000, waitMs: 1_000 },
  });
  assertEquals((await again.json() as { ok: boolean }).ok, true);
});
