// Copyright 2026 the unilock authors. MIT license.

/**
 * An Upstash-compatible REST server in front of a real `redis-server`, so
 * that `@upstash/redis` (and the `upstash` lock) can be developed and tested
 * against local Redis, with no Upstash account and no Docker. Node only.
 *
 * It speaks what the SDK uses: `POST /` (one command), `/pipeline`,
 * `/multi-exec`, `/subscribe/<channel>` (Server-Sent Events), Bearer or
 * `?_token=` auth, `Upstash-Encoding: base64`, and the service's error shapes
 * (400 `{"error"}` for a failed command, 401 for auth, 405 for a method). It
 * counts requests and commands (`POST /unilock-bridge/stats` and
 * `/unilock-bridge/reset-stats` read and zero them from another process),
 * and can inject faults for tests.
 *
 * From a shell: `npx unilock-upstash-bridge --redis redis://127.0.0.1:6379`.
 *
 * @example Starting a bridge
 * ```ts ignore
 * import { startUpstashBridge } from "@unilock/unilock/upstash-bridge";
 *
 * const bridge = await startUpstashBridge({ redisUrl: "redis://127.0.0.1:6379" });
 * // new Redis({ url: bridge.url, token: bridge.token })
 * await bridge.close();
 * ```
 *
 * @module
 */

import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { setImmediate } from "node:timers";
import {
  parseRedisUrl,
  RespConnection,
  RespError,
  type RespValue,
} from "./_resp.ts";

/** Options for {@linkcode startUpstashBridge}. */
export interface UpstashBridgeOptions {
  /**
   * The Redis server to forward to.
   *
   * @default {"redis://127.0.0.1:6379"}
   */
  redisUrl?: string;
  /**
   * The REST token clients must present.
   *
   * @default {a random token}
   */
  token?: string;
  /**
   * The port to listen on; `0` picks a free one.
   *
   * @default {0}
   */
  port?: number;
  /**
   * The address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  host?: string;
}

/**
 * A fault the bridge applies to the next matching requests:
 * - `drop-request`: close the connection without running the command;
 * - `drop-response`: run the command, then close the connection unanswered;
 * - `hang`: never answer (the connection stays open until the client gives
 *   up or the bridge closes), without running the command;
 * - `delay`: answer `delayMs` late;
 * - `status-500` / `status-401`: answer that status without running it;
 * - `garbage`: answer 200 with a body that is not JSON, without running it;
 * - `delay-request`: run the request `delayMs` late (a later one may
 *   overtake it), then answer;
 * - `delay-messages`: deliver the next subscription messages (matched on
 *   "channel message") `delayMs` late, as a slow network would.
 */
export interface BridgeFault {
  /** What the fault does (see above). */
  kind:
    | "drop-request"
    | "drop-response"
    | "hang"
    | "delay"
    | "delay-request"
    | "status-500"
    | "status-401"
    | "garbage"
    | "delay-messages";
  /** How many requests (or messages) it applies to. @default {1} */
  count?: number;
  /** With `delay`, `delay-request` and `delay-messages`: how long. @default {100} */
  delayMs?: number;
  /** Only requests whose body contains this string. @default {undefined} every request */
  match?: string;
}

/** What the bridge has served. */
export interface BridgeStats {
  /** HTTP requests answered (or dropped), any path. */
  requests: number;
  /** Redis commands run for clients. */
  commands: number;
  /** Streaming subscriptions opened. */
  subscriptions: number;
  /** Messages written to subscription streams (one per stream it reached). */
  deliveries: number;
  /** Faults applied. */
  faults: number;
}

/** A running bridge. */
export interface UpstashBridge {
  /** The REST URL to give `@upstash/redis`. */
  readonly url: string;
  /** The token to give `@upstash/redis`. */
  readonly token: string;
  /** Counters, live. */
  readonly stats: BridgeStats;
  /** Zeroes the counters. */
  resetStats(): void;
  /** Queues a fault for the next matching requests. */
  inject(fault: BridgeFault): void;
  /** Drops every queued fault (requests held by `hang` stay held). */
  clearFaults(): void;
  /** Stops listening and closes every Redis connection. */
  close(): Promise<void>;
}

function b64(value: string): string {
  const bytes = new TextEncoder().encode(value);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Shapes a reply as Upstash does, base64 for strings (but "OK") when asked. */
function shape(value: RespValue, base64: boolean): unknown {
  if (value instanceof RespError) return { error: value.message };
  return { result: encodeValue(value, base64) };
}

function encodeValue(value: RespValue, base64: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => encodeValue(v, base64));
  if (typeof value === "string") {
    return base64 && value !== "OK" ? b64(value) : value;
  }
  if (value instanceof RespError) return value.message;
  return value;
}

function toArgs(command: unknown): string[] {
  if (!Array.isArray(command) || command.length === 0) {
    throw new RespError("ERR the command must be a non-empty JSON array");
  }
  return command.map((arg) =>
    typeof arg === "string" ? arg : JSON.stringify(arg)
  );
}

const MAX_BODY_BYTES = 10 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    req.on("data", (chunk: Uint8Array) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new RespError("ERR max request size exceeded"));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => {
      const all = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.length;
      }
      resolve(new TextDecoder().decode(all));
    });
    req.on("error", reject);
  });
}

/**
 * Starts a bridge in this process.
 *
 * @param options Where Redis is, the token, and where to listen.
 * @returns The running bridge.
 */
export async function startUpstashBridge(
  options: UpstashBridgeOptions = {},
): Promise<UpstashBridge> {
  const {
    redisUrl = "redis://127.0.0.1:6379",
    token = `bridge_${crypto.randomUUID()}`,
    port = 0,
    host = "127.0.0.1",
  } = options;
  const redis = parseRedisUrl(redisUrl);
  const stats: BridgeStats = {
    requests: 0,
    commands: 0,
    subscriptions: 0,
    deliveries: 0,
    faults: 0,
  };
  const reset = () => {
    stats.requests =
      stats.commands =
      stats.subscriptions =
      stats.deliveries =
      stats.faults =
        0;
  };
  const faults: Required<BridgeFault>[] = [];
  const side = new Set<RespConnection>();
  const streams = new Set<() => void>();
  let shared: RespConnection | undefined;
  let closed = false;
  /**
   * A new connection to Redis; none once the bridge is closed, so that a
   * request still under way then (one held back by `delay-request`, say)
   * cannot open one that nothing would close.
   */
  const connect = (): RespConnection => {
    if (closed) throw new Error("the bridge is closed");
    return new RespConnection(redis.host, redis.port);
  };
  const main = () => {
    if (shared === undefined || shared.closed) shared = connect();
    return shared;
  };

  /** The next fault for a request (or, with `stream`, a stream message). */
  function takeFault(
    body: string,
    stream = false,
  ): Required<BridgeFault> | undefined {
    const index = faults.findIndex((f) =>
      (f.kind === "delay-messages") === stream &&
      (f.match === "" || body.includes(f.match))
    );
    if (index < 0) return undefined;
    const fault = faults[index]!;
    if (--fault.count <= 0) faults.splice(index, 1);
    stats.faults++;
    return fault;
  }

  function send(res: ServerResponse, status: number, body: unknown): void {
    // The client may be gone (a dropped stream, a closed subscription).
    if (res.headersSent || res.writableEnded) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "upstash-sync-token": "0",
    });
    res.end(text);
  }

  async function run(
    path: string,
    body: string,
    base64: boolean,
  ): Promise<[number, unknown]> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return [400, { error: "ERR failed to parse the request body as JSON" }];
    }
    try {
      if (path === "/") {
        const args = toArgs(parsed);
        stats.commands++;
        const reply = await main().send(args);
        return reply instanceof RespError
          ? [400, { error: reply.message }]
          : [200, shape(reply, base64)];
      }
      if (path === "/pipeline" || path === "/multi-exec") {
        if (!Array.isArray(parsed)) {
          return [400, { error: "ERR the body must be an array of commands" }];
        }
        const commands = parsed.map(toArgs);
        stats.commands += commands.length;
        if (path === "/pipeline") {
          const replies = await main().sendAll(commands);
          return [200, replies.map((r) => shape(r, base64))];
        }
        // A connection of its own: MULTI…EXEC must not interleave with
        // other clients' commands.
        const conn = connect();
        side.add(conn);
        try {
          const replies = await conn.sendAll([
            ["MULTI"],
            ...commands,
            ["EXEC"],
          ]);
          const exec = replies[replies.length - 1]!;
          if (exec instanceof RespError) return [400, { error: exec.message }];
          return [200, (exec as RespValue[]).map((r) => shape(r, base64))];
        } finally {
          conn.close();
          side.delete(conn);
        }
      }
    } catch (error) {
      if (error instanceof RespError) return [400, { error: error.message }];
      return [500, {
        error: `ERR Redis is unreachable: ${(error as Error).message}`,
      }];
    }
    return [404, { error: `ERR unknown path ${path}` }];
  }

  function subscribe(channels: string[], res: ServerResponse): void {
    stats.subscriptions++;
    // Headers at once: the stream is open from the client's point of view,
    // and the "subscribe" event says when messages will arrive.
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    res.flushHeaders();
    const conn = connect();
    side.add(conn);
    let open = true;
    const end = () => {
      if (!open) return;
      open = false;
      conn.close();
      side.delete(conn);
      res.end();
    };
    res.on("close", end);
    streams.add(end);
    res.on("close", () => streams.delete(end));
    // The subscription lives on its own Redis connection: when that dies
    // (Redis restarted, say), the stream ends, as the subscription has.
    conn.onClose = end;
    const confirm = (value: RespValue) => {
      if (!open || !Array.isArray(value)) return;
      res.write(`data: subscribe,${value[1]},${value[2]}\n\n`);
    };
    conn.onPush = (value) => {
      if (!open || !Array.isArray(value)) return;
      if (value[0] === "subscribe") return confirm(value);
      if (value[0] !== "message") return;
      const event = `data: message,${value[1]},${value[2]}\n\n`;
      const fault = takeFault(`${value[1]} ${value[2]}`, true);
      const deliver = () => {
        if (!open) return;
        stats.deliveries++;
        res.write(event);
      };
      if (fault === undefined) deliver();
      else setTimeout(deliver, fault.delayMs);
    };
    conn.subscribe(channels).then(
      (reply) => {
        if (!open) return;
        if (reply instanceof RespError) return end();
        confirm(reply);
      },
      () => end(),
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://bridge");
    const auth = req.headers.authorization;
    const presented = auth?.startsWith("Bearer ")
      ? auth.slice(7)
      : url.searchParams.get("_token");
    // The bridge's own endpoints, for a benchmark in another process; not
    // counted, and not part of Upstash's API.
    if (url.pathname.startsWith("/unilock-bridge/") && presented === token) {
      if (url.pathname === "/unilock-bridge/stats") {
        return send(res, 200, stats);
      }
      if (url.pathname === "/unilock-bridge/reset-stats") {
        reset();
        return send(res, 200, stats);
      }
    }
    stats.requests++;
    if (presented !== token) {
      return send(res, 401, { error: "Unauthorized" });
    }
    if (req.method !== "POST") {
      return send(res, 405, { error: `Method ${req.method} is not allowed` });
    }
    if (url.pathname.startsWith("/subscribe/")) {
      await readBody(req);
      // Path-style arguments, as Upstash takes them: /subscribe/a/b is
      // SUBSCRIBE a b.
      const channels = url.pathname.slice(11).split("/").map(
        decodeURIComponent,
      );
      return subscribe(channels, res);
    }
    let body: string;
    try {
      body = await readBody(req);
    } catch (error) {
      return send(res, 413, { error: (error as Error).message });
    }
    const fault = takeFault(body);
    if (fault?.kind === "drop-request") return void req.socket.destroy();
    if (fault?.kind === "hang") return;
    if (fault?.kind === "status-500") {
      return send(res, 500, { error: "ERR injected server error" });
    }
    if (fault?.kind === "status-401") {
      return send(res, 401, { error: "Unauthorized" });
    }
    if (fault?.kind === "garbage") {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end("<html>not json</html>");
    }
    if (fault?.kind === "delay-request") {
      // Runs it late, so that a request sent after it may overtake it.
      await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    }
    const base64 = String(req.headers["upstash-encoding"]).toLowerCase() ===
      "base64";
    const [status, reply] = await run(url.pathname, body, base64);
    // A script's reply and the messages it published come from Redis in the
    // same moment on two connections, the reply (read first) ahead. One
    // turn of the event loop lets the messages already read go out first:
    // a release's grant then reaches its waiter before the releaser's
    // reply does, which a client serving both (the benchmark's one
    // process; any app with many waiters) would otherwise handle first.
    // Not a wait: setImmediate runs as soon as the pending I/O is handled.
    await new Promise((resolve) => setImmediate(resolve));
    if (fault?.kind === "drop-response") return void req.socket.destroy();
    if (fault?.kind === "delay") {
      await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    }
    send(res, status, reply);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) send(res, 500, { error: String(error) });
      else res.end();
    });
  });
  // Long enough that clients keep their connections: the server advertises
  // `Keep-Alive: timeout=<s>`, and undici (Node's fetch) closes a socket
  // after its reply when that is within its own threshold (2 s in Node
  // 20's undici: keepAliveTimeoutThreshold), so at 1 s
  // every request paid a new TCP connection (connect and close were a
  // fifth of a client's CPU in the semaphore benchmark). close() ends idle
  // sockets itself (closeAllConnections), so they cannot keep it waiting.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    token,
    stats,
    resetStats: reset,
    clearFaults() {
      faults.length = 0;
    },
    inject(fault) {
      faults.push({
        count: 1,
        delayMs: 100,
        match: "",
        ...fault,
      } as Required<BridgeFault>);
    },
    close() {
      closed = true;
      // Streams end cleanly, as a server going away politely would.
      for (const end of [...streams]) end();
      for (const conn of side) conn.close();
      shared?.close();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    },
  };
}
