// Copyright 2026 the unilock authors. MIT license.
// The HTTP lock service inside workerd: auth before anything, request
// checks naming the field, and tokens that cannot touch others' leases.
import { env, exports } from "cloudflare:workers";
import { listDurableObjectIds } from "cloudflare:test";
import { test } from "vitest";
import { assert, assertEquals } from "../_assert.ts";
import {
  MAX_MESSAGE_BYTES,
  MAX_SOCKET_TOKENS,
  utf8Length as utf8,
} from "../../src/durable_object/_protocol.ts";

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
  await expectStatus(await call(`${lock}/explode`, { body: {} }), 404);
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
      ws.send(
        typeof message === "string" || message instanceof Uint8Array
          ? message
          : JSON.stringify(message),
      ),
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
  assertEquals(await b.next(), { id: 2, ok: true, leaseMs: 5_000 });
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
  s.send({ id: 1, op: "explode", token: "tok_12345678" });
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

test("worker.fetch() answers gone to an acquire replayed after its release, or after a cancel that overtook it", async () => {
  const lock = `/v1/locks/replay-${crypto.randomUUID()}`;
  const acquire = async (token: string) =>
    await (await call(`${lock}/acquire`, {
      body: { token, leaseMs: 10_000, waitMs: 1_000 },
    })).json();
  assertEquals((await acquire("tok_replayed") as { ok: boolean }).ok, true);
  await expectStatus(
    await call(`${lock}/release`, { body: { token: "tok_replayed" } }),
    200,
  );
  assertEquals(await acquire("tok_replayed"), { ok: false, reason: "gone" });
  assertEquals(await (await call(lock, { method: "GET" })).json(), {
    holders: 0,
    waiters: 0,
  });
  const cancelled = await call(`${lock}/cancel`, {
    body: { token: "tok_overtaken" },
  });
  assertEquals(await cancelled.json(), { held: false });
  assertEquals(await acquire("tok_overtaken"), { ok: false, reason: "gone" });
  assertEquals(await (await call(lock, { method: "GET" })).json(), {
    holders: 0,
    waiters: 0,
  });
});

test("worker.fetch() passes extend's seq to the object and answers the lease's length", async () => {
  const lock = `/v1/locks/extend-${crypto.randomUUID()}`;
  const extend = async (body: unknown) =>
    await (await call(`${lock}/extend`, { body })).json();
  await call(`${lock}/acquire`, {
    body: { token: "tok_extended", leaseMs: 10_000 },
  });
  assertEquals(
    await extend({ token: "tok_extended", leaseMs: 4_000, seq: 5 }),
    { ok: true, leaseMs: 4_000 },
  );
  const stale = await extend({ token: "tok_extended", leaseMs: 9e5, seq: 4 });
  assert(
    (stale as { leaseMs: number }).leaseMs <= 4_000,
    JSON.stringify(stale),
  );
  assertEquals(await extend({ token: "tok_extended", leaseMs: 3_000 }), {
    ok: true,
    leaseMs: 3_000,
  });
  assertEquals(await extend({ token: "tok_stranger", leaseMs: 3_000 }), {
    ok: false,
    leaseMs: 0,
  });
  for (const seq of [-1, 1.5, "2"]) {
    await expectStatus(
      await call(`${lock}/extend`, {
        body: { token: "tok_extended", leaseMs: 1_000, seq },
      }),
      400,
      "'seq'",
    );
  }
});

test("LockDurableObject measures a socket message in UTF-8 bytes before parsing it", async () => {
  const s = await openSocket(
    `/v1/locks/socket-bytes-${crypto.randomUUID()}/socket`,
  );
  // 2,000 euro signs: 2,000 UTF-16 code units, 6,000 bytes of UTF-8.
  s.send(JSON.stringify({ id: 5, op: "status", pad: "€".repeat(2_000) }));
  const big = await s.next();
  assertEquals([big.id, big.status], [5, 413]);
  // Not valid JSON, and too long: refused for its size, unparsed.
  s.send(`{"id": 6, "op": "status", "pad": "${"€".repeat(2_000)}`);
  const unparsed = await s.next();
  assertEquals([unparsed.id, unparsed.status], [6, 413]);
  // Exactly at the limit is read.
  const head = JSON.stringify({ id: 7, op: "status", pad: "" });
  const room = MAX_MESSAGE_BYTES - utf8(head);
  const exact = head.replace(
    '""',
    `"${"é".repeat(Math.floor(room / 2))}${"e".repeat(room % 2)}"`,
  );
  assertEquals(utf8(exact), MAX_MESSAGE_BYTES);
  s.send(exact);
  assertEquals(await s.next(), { id: 7, holders: 0, waiters: 0 });
  s.send(new Uint8Array(MAX_MESSAGE_BYTES + 1));
  assertEquals((await s.next()).status, 413);
  s.send({ id: 8, op: "status" });
  assertEquals(await s.next(), { id: 8, holders: 0, waiters: 0 });
  s.close();
});

test("LockDurableObject lets one socket hold or wait for at most MAX_SOCKET_TOKENS tokens, with a clear error past it", async () => {
  const lock = `/v1/locks/socket-cap-${crypto.randomUUID()}`;
  const s = await openSocket(`${lock}/socket`);
  const acquire = (id: number, token: string) =>
    s.send({ id, op: "acquire", token, mode: "shared", leaseMs: 30_000 });
  for (let i = 0; i < MAX_SOCKET_TOKENS; i++) acquire(i, `tok_cap_${i}_xx`);
  for (let i = 0; i < MAX_SOCKET_TOKENS; i++) {
    assertEquals((await s.next()).ok, true, `grant ${i}`);
  }
  acquire(-1, "tok_one_too_many");
  const refused = await s.next();
  assertEquals([refused.id, refused.status], [-1, 429]);
  assert(
    String(refused.error).includes(String(MAX_SOCKET_TOKENS)),
    String(refused.error),
  );
  // Repeating a call for a token it has is not a new token.
  acquire(-2, "tok_cap_0_xx");
  assertEquals((await s.next()).ok, true);
  // A token released (here over HTTP, not the socket) frees a place.
  await call(`${lock}/release`, { body: { token: "tok_cap_1_xx" } });
  acquire(-3, "tok_one_too_many");
  assertEquals((await s.next()).ok, true);
  s.send({ id: -4, op: "release", token: "tok_cap_2_xx" });
  assertEquals((await s.next()).released, true);
  acquire(-5, "tok_one_more_now");
  assertEquals((await s.next()).ok, true);
  // Another socket has its own allowance.
  const other = await openSocket(`${lock}/socket`);
  other.send({
    id: 1,
    op: "acquire",
    token: "tok_other_socket",
    mode: "shared",
    leaseMs: 30_000,
  });
  assertEquals((await other.next()).ok, true);
  other.close();
  s.close();
});
