// Copyright 2026 the unilock authors. MIT license.
// The two ends of the lock service's wire protocol agree: every answer the
// real object gives, over RPC, HTTP and its socket, passes the checks the
// client applies (src/durable_object/_protocol.ts), and the service and the
// object hold the same limits.
import { env, exports } from "cloudflare:workers";
import { test } from "vitest";
import { assert, assertEquals } from "../_assert.ts";
import {
  isReply,
  isSocketError,
  LEASE_MS,
  type LockOp,
  lockPath,
  MAX_BODY_BYTES,
  readReply,
  TOKEN_LENGTH,
} from "../../src/durable_object/_protocol.ts";
import type { LockDurableObject } from "../../workers/durable_object.ts";

const SECRET = "workerd-test-secret";
const ns = (env as unknown as {
  LOCKS: DurableObjectNamespace<LockDurableObject>;
}).LOCKS;

/** Every answer seen, by op, to check against the protocol at the end. */
type Seen = [LockOp, unknown, string][];

function http(name: string, op: LockOp, body?: unknown): Promise<Response> {
  return exports.default.fetch(`http://lock.test${lockPath(name, op)}`, {
    method: body === undefined ? "GET" : "POST",
    headers: {
      authorization: `Bearer ${SECRET}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined
      ? {}
      : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

/** A scenario that passes every answer through `record`. */
async function scenario(
  call: (op: LockOp, body?: Record<string, unknown>) => Promise<unknown>,
): Promise<void> {
  const acquire = (token: string, more: Record<string, unknown> = {}) =>
    call("acquire", { token, leaseMs: 5_000, ...more });
  await call("status");
  await call("query");
  await acquire("tok_holder_a", { owner: "job-1" }); // granted
  await acquire("tok_holder_a"); // granted again (idempotent)
  await acquire("tok_busy_bb"); // busy
  await acquire("tok_waiter_c", { waitMs: 20, mode: "shared" }); // wait
  await call("query"); // held and pending, with and without owner
  const cancelled = call("acquire", {
    token: "tok_waiter_d",
    leaseMs: 5_000,
    waitMs: 5_000,
  });
  await new Promise((r) => setTimeout(r, 20));
  await call("cancel", { token: "tok_waiter_d" }); // held: false
  await cancelled; // cancelled
  await acquire("tok_waiter_d"); // gone
  await call("extend", { token: "tok_holder_a", leaseMs: 4_000, seq: 1 });
  await call("extend", { token: "tok_holder_a", leaseMs: 4_000, seq: 1 });
  await call("extend", { token: "tok_nobody_x", leaseMs: 4_000 });
  await call("release", { token: "tok_holder_a" }); // released: true
  await call("release", { token: "tok_holder_a" }); // released: false
  // The waiter c was granted while away: it finds its lease (waited).
  await acquire("tok_waiter_c", { waitMs: 1_000, mode: "shared" });
  await call("cancel", { token: "tok_waiter_c" }); // held: true
  await call("release", { token: "tok_waiter_c" });
  await acquire("tok_holder_e");
  const waiting = call("acquire", {
    token: "tok_waiter_f",
    leaseMs: 5_000,
    waitMs: 5_000,
  });
  await new Promise((r) => setTimeout(r, 20));
  await call("status"); // a waiter with its call pending
  await call("release", { token: "tok_holder_e" });
  const handed = await waiting as { waited?: boolean };
  assertEquals(handed.waited, true, "the grant from the queue");
  await call("release", { token: "tok_waiter_f" });
}

function checkAll(seen: Seen): void {
  const ops = new Set(seen.map(([op]) => op));
  assertEquals(ops.size, 6, `ops seen: ${[...ops]}`);
  const reasons = new Set(
    seen.filter(([op]) => op === "acquire").map(([, r]) =>
      (r as { ok: boolean; reason?: string }).ok
        ? "granted"
        : (r as { reason: string }).reason
    ),
  );
  assertEquals(
    [...reasons].sort(),
    ["busy", "cancelled", "gone", "granted", "wait"],
    "acquire answers seen",
  );
  for (const [op, reply, via] of seen) {
    assert(isReply(op, reply), `${via} ${op} answer ${JSON.stringify(reply)}`);
    // Accepted from older services without it, but this one always sends it.
    if (op === "extend") {
      assert("leaseMs" in (reply as object), `${via} extend without leaseMs`);
    }
  }
}

test("every answer the object gives over RPC passes the client's protocol checks", async () => {
  const name = `protocol-rpc-${crypto.randomUUID()}`;
  const stub = ns.get(ns.idFromName(name));
  const seen: Seen = [];
  await scenario(async (op, body = {}) => {
    const reply = await (op === "acquire"
      ? stub.acquire(
        {
          mode: "exclusive",
          waitMs: 0,
          ...body,
        } as Parameters<typeof stub.acquire>[0],
      )
      : op === "extend"
      ? stub.extend(
        body.token as string,
        body.leaseMs as number,
        body.seq as number | undefined,
      )
      : op === "release" || op === "cancel"
      ? stub[op](body.token as string)
      : stub[op]());
    seen.push([op, JSON.parse(JSON.stringify(reply)), "RPC"]);
    return reply;
  });
  checkAll(seen);
});

test("every answer the service gives over HTTP passes the client's protocol checks", async () => {
  const name = `protocol-http-${crypto.randomUUID()}`;
  const seen: Seen = [];
  await scenario(async (op, body) => {
    const response = await http(
      name,
      op,
      op === "status" || op === "query" ? undefined : body,
    );
    assertEquals(response.status, 200);
    const reply = await response.json();
    seen.push([op, reply, "HTTP"]);
    return reply;
  });
  checkAll(seen);
});

test("every answer the object gives over its socket passes the client's protocol checks", async () => {
  const name = `protocol-socket-${crypto.randomUUID()}`;
  const response = await exports.default.fetch(
    `http://lock.test${lockPath(name, "socket")}`,
    { headers: { upgrade: "websocket", authorization: `Bearer ${SECRET}` } },
  );
  const ws = response.webSocket!;
  ws.accept();
  const pending = new Map<number, (answer: Record<string, unknown>) => void>();
  const errors: unknown[] = [];
  ws.addEventListener("message", (event) => {
    const answer = JSON.parse(event.data as string);
    const resolve = pending.get(answer.id);
    if (resolve === undefined) errors.push(answer);
    else {
      pending.delete(answer.id);
      resolve(answer);
    }
  });
  let lastId = 0;
  const send = (message: Record<string, unknown>) => {
    const id = ++lastId;
    return new Promise<Record<string, unknown>>((resolve) => {
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, ...message }));
    });
  };
  const seen: Seen = [];
  await scenario(async (op, body) => {
    const { id, ...reply } = await send({ op, ...body });
    assert(typeof id === "number", "no id");
    seen.push([op, reply, "socket"]);
    return reply;
  });
  checkAll(seen);
  // Error answers have the shape the client reads as a ServiceError.
  for (
    const bad of [
      { op: "steal", token: "tok_12345678" },
      { op: "acquire", token: "short", leaseMs: 1_000 },
      { op: "release", token: "x".repeat(5_000) },
    ]
  ) {
    const answer = await send(bad);
    assert(isSocketError(answer), JSON.stringify(answer));
    assert(!isReply(bad.op as LockOp, answer), "an error read as an answer");
  }
  ws.close(1000);
});

test("isReply() refuses answers that are not the protocol's, so the agreement tests can fail", () => {
  const wrong: [LockOp, unknown][] = [
    ["acquire", { ok: true, leaseMs: 5_000 }],
    ["acquire", { ok: true, fence: 0, leaseMs: 5_000 }],
    ["acquire", { ok: false, reason: "busy" }],
    ["acquire", { ok: false, reason: "nope", retryAfterMs: 0 }],
    ["extend", { ok: "yes" }],
    ["extend", { ok: true, leaseMs: -1 }],
    ["extend", { ok: false, leaseMs: 100 }],
    ["release", { ok: true }],
    ["cancel", {}],
    ["status", { holders: -1, waiters: 0 }],
    ["query", { held: [{ mode: "exclusive", ageMs: 1 }], pending: [] }],
    ["query", { held: [], pending: [{ mode: "both", ageMs: 1 }] }],
    ["status", null],
    ["status", [1, 2]],
  ];
  for (const [op, reply] of wrong) {
    assert(!isReply(op, reply), `${op} accepted ${JSON.stringify(reply)}`);
  }
  // What a service deployed before extend's seq answers: still read.
  assert(isReply("extend", { ok: true }), "an older service's extend answer");
  let threw = false;
  try {
    readReply("status", { holders: "1" });
  } catch (error) {
    threw = String(error).includes("malformed status reply");
  }
  assert(threw, "readReply() accepted a malformed reply");
});

test("the service and the object hold the same limits, the protocol's", async () => {
  const name = `protocol-limits-${crypto.randomUUID()}`;
  const stub = ns.get(ns.idFromName(name));
  const min = "t".repeat(TOKEN_LENGTH.min), max = "t".repeat(TOKEN_LENGTH.max);
  for (
    const [token, leaseMs, ok] of [
      [min, LEASE_MS.min, true],
      [max, LEASE_MS.max, true],
      ["t".repeat(TOKEN_LENGTH.min - 1), LEASE_MS.min, false],
      ["t".repeat(TOKEN_LENGTH.max + 1), LEASE_MS.min, false],
      [min, LEASE_MS.min - 1, false],
      [min, LEASE_MS.max + 1, false],
    ] as const
  ) {
    const body = { token, leaseMs, mode: "shared" as const, waitMs: 0 };
    const response = await http(name, "acquire", body);
    await response.body?.cancel();
    assertEquals(response.status, ok ? 200 : 400, JSON.stringify(body));
    const rpc = await stub.acquire(body).then(() => true, () => false);
    assertEquals(rpc, ok, `RPC ${JSON.stringify(body).slice(0, 80)}`);
  }
  // A body of exactly MAX_BODY_BYTES is read; one byte more is not.
  const base = JSON.stringify({ token: "tok_limit_1", pad: "" });
  const exact = base.replace(
    '""',
    `"${"p".repeat(MAX_BODY_BYTES - base.length)}"`,
  );
  const read = await http(name, "release", exact);
  assertEquals(read.status, 200, await read.text());
  const over = await http(name, "release", exact.replace('"p', '"pp'));
  assertEquals(over.status, 413, await over.text());
});
