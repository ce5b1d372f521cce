// Copyright 2026 the unilock authors. MIT license.

/**
 * The unilock HTTP lock service, as a Cloudflare Worker `fetch` handler: the
 * `durable-object` lock for callers outside Cloudflare (Node, Deno, Bun,
 * other serverless platforms, any language). Each lock name is one
 * `LockDurableObject`; this Worker checks the caller and the request, then
 * makes one RPC to that object.
 *
 * HTTP API (version 1). Every call but health needs
 * `Authorization: Bearer <UNILOCK_TOKEN>`; bodies are JSON, at most 4 KiB.
 *
 * | request | body | answer (200) |
 * | --- | --- | --- |
 * | `POST /v1/locks/{name}/acquire` | `{ token, mode?, leaseMs, waitMs?, priority? }` | `{ ok: true, fence, leaseMs }` or `{ ok: false, reason: "busy" \| "wait" \| "cancelled", retryAfterMs }` |
 * | `POST /v1/locks/{name}/release` | `{ token }` | `{ released }` |
 * | `POST /v1/locks/{name}/extend` | `{ token, leaseMs }` | `{ ok }` |
 * | `POST /v1/locks/{name}/cancel` | `{ token }` | `{ held }` |
 * | `GET /v1/locks/{name}` | — | `{ holders, waiters }` |
 * | `GET /v1/locks/{name}/query` | — | `{ held: [{ mode, fence, ageMs, owner? }], pending: [{ mode, ageMs, owner? }] }` |
 * | `GET /v1/locks/{name}/socket` (WebSocket upgrade) | — | 101; then messages `{ id, op, ...body }` answered `{ id, ...answer }` |
 * | `GET /v1/health` | — | `{ ok: true, service: "unilock" }` |
 *
 * The socket carries the same calls (`op` is acquire, release, extend, cancel,
 * status or query) as JSON text, answered in any order by `id`; an error
 * answers `{ id, status, error }`. The upgrade's query `?call=<message>` is
 * the socket's first call (an acquire that opens a socket is one request). A
 * client that cannot set headers (a browser) offers the subprotocols `unilock.v1` and `unilock.bearer.<base64url of the
 * secret>` instead of the `Authorization` header.
 *
 * `token` is the caller's random id for one acquisition (8–128 characters);
 * an acquire may carry `owner`, a label of 1–256 characters that `query`
 * shows (held by fence, pending in queue order, ages by the object's clock);
 * repeating a call with the same token is safe. An acquire waits at most
 * `waitMs` (capped at 25 s) and answers `reason: "wait"` when the cap ends
 * the wait: call again with the same token to keep the place in the queue.
 * `priority` (an integer from -100 to 100, default 0) places a new waiter:
 * higher first, aged so that nobody starves (see `AcquireOptions.priority`).
 * Errors: 400 (a field named in `error`), 401 (token), 404, 405, 413, 415, 426,
 * 503 (the service has no `UNILOCK_TOKEN` secret: it fails closed).
 *
 * @example Asking the service for its health
 * ```ts
 * import worker from "@unilock/unilock/worker";
 * import assert from "node:assert/strict";
 *
 * const response = await worker.fetch(new Request("http://lock.test/v1/health"), {});
 * assert.equal(response.status, 200);
 * assert.deepEqual(await response.json(), { ok: true, service: "unilock" });
 * ```
 *
 * @module
 */

/** The service's protocol version, the first segment of every path. */
export const API_VERSION = "v1";

/** The longest body the service reads. */
const MAX_BODY_BYTES = 4096;

/** The bindings the service needs. */
export interface LockServiceEnv {
  /** The `LockDurableObject` namespace. */
  LOCKS?: {
    idFromName(name: string): unknown;
    get(id: never): unknown;
  };
  /** The bearer secret callers must present. */
  UNILOCK_TOKEN?: string;
}

/** A Worker module's default export: answers every request of the service. */
export interface LockServiceWorker {
  /** Answers one HTTP request. */
  fetch(request: Request, env: LockServiceEnv): Promise<Response>;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/** Compares without an early exit, so timing does not reveal the secret. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  }
  return diff === 0;
}

class BadRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function readJson(request: Request): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.toLowerCase().startsWith("application/json")) {
    throw new BadRequest(
      415,
      `The body must be JSON (Content-Type: application/json), not ${
        JSON.stringify(type)
      }`,
    );
  }
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) {
    throw new BadRequest(
      413,
      `The body must be at most ${MAX_BODY_BYTES} bytes`,
    );
  }
  const text = await request.text();
  if (new TextEncoder().encode(text).length > MAX_BODY_BYTES) {
    throw new BadRequest(
      413,
      `The body must be at most ${MAX_BODY_BYTES} bytes`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadRequest(400, "The body is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new BadRequest(400, "The body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

function field(
  body: Record<string, unknown>,
  name: string,
  check: (value: unknown) => boolean,
  expected: string,
): unknown {
  const value = body[name];
  if (!check(value)) {
    throw new BadRequest(
      400,
      `'${name}' must be ${expected}: current value is ${
        JSON.stringify(value) ?? "missing"
      }`,
    );
  }
  return value;
}

const isToken = (v: unknown) =>
  typeof v === "string" && v.length >= 8 && v.length <= 128;
const msIn = (min: number, max: number) => (v: unknown) =>
  typeof v === "number" && v >= min && v <= max;

interface Stub {
  acquire(r: unknown): Promise<unknown>;
  release(token: string): Promise<unknown>;
  extend(token: string, leaseMs: number): Promise<unknown>;
  cancel(token: string): Promise<unknown>;
  status(): Promise<unknown>;
  query(): Promise<unknown>;
  fetch(request: Request): Promise<Response>;
}

/** The secret offered as a subprotocol, as an Authorization value ("" if none). */
function bearerProtocol(request: Request): string {
  const offered = request.headers.get("sec-websocket-protocol") ?? "";
  for (const p of offered.split(",")) {
    const value = p.trim();
    if (!value.startsWith("unilock.bearer.")) continue;
    try {
      const b64 = value.slice(15).replaceAll("-", "+").replaceAll("_", "/");
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      return `Bearer ${new TextDecoder().decode(bytes)}`;
    } catch {
      return "";
    }
  }
  return "";
}

async function serve(request: Request, env: LockServiceEnv): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  if (path === `/${API_VERSION}/health`) {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return json(405, { error: `Method ${request.method} is not allowed` });
    }
    return json(200, { ok: true, service: "unilock" });
  }
  const match =
    /^\/v1\/locks\/([^/]+)(?:\/(acquire|release|extend|cancel|query|socket))?$/
      .exec(path);
  if (match === null) return json(404, { error: `No route for ${path}` });
  // Auth before anything touches an object (and before an object is billed).
  const secret = env.UNILOCK_TOKEN;
  if (typeof secret !== "string" || secret.length === 0) {
    return json(503, {
      error: "The service has no UNILOCK_TOKEN secret configured",
    });
  }
  const auth = request.headers.get("authorization") ??
    (match[2] === "socket" ? bearerProtocol(request) : "");
  if (!auth.startsWith("Bearer ") || !sameSecret(auth.slice(7), secret)) {
    return json(401, { error: "Unauthorized" });
  }
  let name: string;
  try {
    name = decodeURIComponent(match[1]!);
  } catch {
    return json(400, { error: "'name' is not valid percent-encoding" });
  }
  if (name.length === 0 || name.length > 512) {
    return json(400, {
      error:
        `'name' must be 1 to 512 characters: current length is ${name.length}`,
    });
  }
  if (env.LOCKS === undefined) {
    return json(503, { error: "The service has no LOCKS namespace binding" });
  }
  const op = match[2];
  const expected = op === undefined || op === "query" || op === "socket"
    ? "GET"
    : "POST";
  if (request.method !== expected) {
    return json(405, { error: `Method ${request.method} is not allowed here` });
  }
  const stub = env.LOCKS.get(env.LOCKS.idFromName(name) as never) as Stub;
  if (op === "socket") {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return json(426, { error: "This path needs a WebSocket upgrade" });
    }
    return await stub.fetch(request);
  }
  if (op === undefined) return json(200, await stub.status());
  if (op === "query") return json(200, await stub.query());
  const body = await readJson(request);
  const token = field(
    body,
    "token",
    isToken,
    "a string of 8 to 128 characters",
  ) as string;
  switch (op) {
    case "acquire": {
      const mode = body.mode ?? "exclusive";
      if (mode !== "exclusive" && mode !== "shared") {
        throw new BadRequest(
          400,
          `'mode' must be "exclusive" or "shared": current value is ${
            JSON.stringify(mode)
          }`,
        );
      }
      const leaseMs = field(
        body,
        "leaseMs",
        msIn(100, 2_073_600_000),
        "a number of ms from 100 to 2073600000",
      );
      const waitMs = body.waitMs === undefined ? 0 : field(
        body,
        "waitMs",
        msIn(0, 2_147_483_647),
        "a number of ms from 0 to 2147483647",
      );
      const priority = body.priority === undefined ? 0 : field(
        body,
        "priority",
        (v) => Number.isInteger(v) && Math.abs(v as number) <= 100,
        "an integer from -100 to 100",
      ) as number;
      const owner = body.owner === undefined ? undefined : field(
        body,
        "owner",
        (v) => typeof v === "string" && v.length >= 1 && v.length <= 256,
        "a string of 1 to 256 characters",
      );
      return json(
        200,
        await stub.acquire({
          token,
          mode,
          leaseMs,
          waitMs,
          priority,
          ...(owner === undefined ? {} : { owner }),
        }),
      );
    }
    case "release":
      return json(200, await stub.release(token));
    case "extend": {
      const leaseMs = field(
        body,
        "leaseMs",
        msIn(100, 2_073_600_000),
        "a number of ms from 100 to 2073600000",
      ) as number;
      return json(200, await stub.extend(token, leaseMs));
    }
    default:
      return json(200, await stub.cancel(token));
  }
}

/** The lock service's `fetch` handler. */
const worker: LockServiceWorker = {
  async fetch(request: Request, env: LockServiceEnv): Promise<Response> {
    try {
      return await serve(request, env ?? {});
    } catch (error) {
      if (error instanceof BadRequest) {
        return json(error.status, { error: error.message });
      }
      // The object failed or was reset: the caller retries with its token.
      return json(503, {
        error: `The lock object failed: ${(error as Error)?.message ?? error}`,
        retryable: true,
      });
    }
  },
};

export default worker;
