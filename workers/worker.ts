// Copyright 2026 the unilock authors. MIT license.

/**
 * The unilock HTTP lock service, as a Cloudflare Worker `fetch` handler: the
 * `durable-object` lock for callers outside Cloudflare (Node, Deno, Bun,
 * other serverless platforms, any language). Each lock name is one
 * `LockDurableObject`; this Worker checks the caller and the request, then
 * makes one RPC to that object.
 *
 * HTTP API (version 1), defined in `src/durable_object/_protocol.ts` and
 * described in full in `docs/http-api.md`. Every call but health needs
 * `Authorization: Bearer <UNILOCK_TOKEN>`; bodies are JSON, at most 4 KiB.
 *
 * | request | body | answer (200) |
 * | --- | --- | --- |
 * | `POST /v1/locks/{name}/acquire` | `{ token, mode?, leaseMs, waitMs?, priority?, owner?, permits?, capacity? }` | `{ ok: true, fence, leaseMs, waited? }`, `{ ok: false, reason: "busy" \| "wait" \| "cancelled", retryAfterMs }` or `{ ok: false, reason: "gone" }` |
 * | `POST /v1/locks/{name}/release` | `{ token }` | `{ released }` |
 * | `POST /v1/locks/{name}/extend` | `{ token, leaseMs, seq? }` | `{ ok, leaseMs }` |
 * | `POST /v1/locks/{name}/cancel` | `{ token }` | `{ held }` |
 * | `GET /v1/locks/{name}` | — | `{ holders, waiters }` |
 * | `GET /v1/locks/{name}/query` | — | `{ held: [{ mode, fence, ageMs, owner? }], pending: [{ mode, ageMs, owner? }] }` |
 * | `GET /v1/locks/{name}/socket` (WebSocket upgrade) | — | 101; then messages `{ id, op, ...body }` answered `{ id, ...answer }` |
 * | `GET /v1/health` | — | `{ ok: true, service: "unilock" }` |
 *
 * `token` is the caller's random id for one acquisition (8–128 characters);
 * repeating a call with the same token is safe, and a token released or
 * cancelled is remembered for 2 minutes: an acquire for it then answers
 * `"gone"`. An acquire waits at most `waitMs` (capped at 25 s) and answers
 * `reason: "wait"` when the cap ends the wait: call again with the same
 * token to keep the place in the queue. Errors: 400 (a field named in
 * `error`), 401, 404, 405, 413, 415, 426, 429 (a socket's token cap), 503
 * (misconfigured, failing closed; or the object failed: `retryable`).
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

import {
  API_VERSION,
  BEARER_PROTOCOL_PREFIX,
  checkAcquireRequest,
  checkExtendRequest,
  checkLockName,
  checkTokenRequest,
  type ErrorReply,
  hasBody,
  HEALTH_PATH,
  type LockDurableObjectStub,
  MAX_BODY_BYTES,
  parseLockPath,
  ProtocolError,
  STATUS,
} from "../src/durable_object/_protocol.ts";

export { API_VERSION };

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

const fail = (status: number, error: string): Response =>
  json(status, { error } satisfies ErrorReply);

/** Compares without an early exit, so timing does not reveal the secret. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  }
  return diff === 0;
}

const tooLarge = () =>
  new ProtocolError(
    STATUS.tooLarge,
    `The body must be at most ${MAX_BODY_BYTES} bytes`,
  );

/** Reads at most MAX_BODY_BYTES of the body: a longer one is not buffered. */
async function readText(request: Request): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

async function readJson(request: Request): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.toLowerCase().startsWith("application/json")) {
    throw new ProtocolError(
      STATUS.unsupportedType,
      `The body must be JSON (Content-Type: application/json), not ${
        JSON.stringify(type)
      }`,
    );
  }
  const text = await readText(request);
  try {
    return JSON.parse(text);
  } catch {
    throw new ProtocolError(STATUS.badRequest, "The body is not valid JSON");
  }
}

/** The secret offered as a subprotocol, as an Authorization value ("" if none). */
function bearerProtocol(request: Request): string {
  const offered = request.headers.get("sec-websocket-protocol") ?? "";
  for (const p of offered.split(",")) {
    const value = p.trim();
    if (!value.startsWith(BEARER_PROTOCOL_PREFIX)) continue;
    try {
      const b64 = value.slice(BEARER_PROTOCOL_PREFIX.length)
        .replaceAll("-", "+").replaceAll("_", "/");
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
  if (path === HEALTH_PATH) {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return fail(
        STATUS.methodNotAllowed,
        `Method ${request.method} is not allowed`,
      );
    }
    return json(STATUS.ok, { ok: true, service: "unilock" });
  }
  const route = parseLockPath(path);
  if (route === undefined) return fail(STATUS.notFound, `No route for ${path}`);
  // Auth before anything touches an object (and before an object is billed).
  const secret = env.UNILOCK_TOKEN;
  if (typeof secret !== "string" || secret.length === 0) {
    return fail(
      STATUS.unavailable,
      "The service has no UNILOCK_TOKEN secret configured",
    );
  }
  const { op } = route;
  const auth = request.headers.get("authorization") ??
    (op === "socket" ? bearerProtocol(request) : "");
  if (!auth.startsWith("Bearer ") || !sameSecret(auth.slice(7), secret)) {
    return fail(STATUS.unauthorized, "Unauthorized");
  }
  const name = checkLockName(route.encodedName);
  if (env.LOCKS === undefined) {
    return fail(
      STATUS.unavailable,
      "The service has no LOCKS namespace binding",
    );
  }
  const expected = op !== "socket" && hasBody(op) ? "POST" : "GET";
  if (request.method !== expected) {
    return fail(
      STATUS.methodNotAllowed,
      `Method ${request.method} is not allowed here`,
    );
  }
  const stub = env.LOCKS.get(
    env.LOCKS.idFromName(name) as never,
  ) as LockDurableObjectStub & { fetch(request: Request): Promise<Response> };
  switch (op) {
    case "socket":
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return fail(
          STATUS.upgradeRequired,
          "This path needs a WebSocket upgrade",
        );
      }
      return await stub.fetch(request);
    case "status":
      return json(STATUS.ok, await stub.status());
    case "query":
      return json(STATUS.ok, await stub.query());
    case "acquire":
      return json(
        STATUS.ok,
        await stub.acquire(checkAcquireRequest(await readJson(request))),
      );
    case "extend": {
      const { token, leaseMs, seq } = checkExtendRequest(
        await readJson(request),
      );
      return json(STATUS.ok, await stub.extend(token, leaseMs, seq));
    }
    case "release": {
      const { token } = checkTokenRequest(await readJson(request));
      return json(STATUS.ok, await stub.release(token));
    }
    case "cancel": {
      const { token } = checkTokenRequest(await readJson(request));
      return json(STATUS.ok, await stub.cancel(token));
    }
    case "steal":
      return json(
        STATUS.ok,
        await stub.steal(checkAcquireRequest(await readJson(request))),
      );
  }
}

/** The lock service's `fetch` handler. */
const worker: LockServiceWorker = {
  async fetch(request: Request, env: LockServiceEnv): Promise<Response> {
    try {
      return await serve(request, env ?? {});
    } catch (error) {
      if (error instanceof ProtocolError) {
        return fail(error.status, error.message);
      }
      // The object failed or was reset: the caller retries with its token.
      return json(
        STATUS.unavailable,
        {
          error: `The lock object failed: ${
            (error as Error)?.message ?? error
          }`,
          retryable: true,
        } satisfies ErrorReply,
      );
    }
  },
};

export default worker;
