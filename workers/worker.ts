// Copyright 2026 the unilock authors. MIT license.

/**
 * The unilock HTTP lock service, as a Cloudflare Worker `fetch` handler.
 *
 * This release answers `GET /v1/health` only: the lock endpoints, backed by
 * `LockDurableObject`, arrive with the `durable-object` lock type.
 *
 * @example Asking the service for its health
 * ```ts
 * import worker from "@unilock/unilock/worker";
 * import assert from "node:assert/strict";
 *
 * const response = await worker.fetch(new Request("http://lock.test/v1/health"));
 * assert.equal(response.status, 200);
 * assert.deepEqual(await response.json(), { ok: true, service: "unilock" });
 * ```
 *
 * @module
 */

/** The service's protocol version, the first segment of every path. */
export const API_VERSION = "v1";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/** A Worker module's default export: answers every request of the service. */
export interface LockServiceWorker {
  /** Answers one HTTP request. */
  fetch(request: Request): Promise<Response>;
}

/** The lock service's `fetch` handler. */
const worker: LockServiceWorker = {
  fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === `/${API_VERSION}/health`) {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return Promise.resolve(
          json(405, { error: `Method ${request.method} is not allowed` }),
        );
      }
      return Promise.resolve(json(200, { ok: true, service: "unilock" }));
    }
    return Promise.resolve(json(404, { error: `No route for ${pathname}` }));
  },
};

export default worker;
