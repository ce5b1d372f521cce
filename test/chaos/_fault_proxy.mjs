// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A fault-injecting HTTP proxy between lock clients and a backend
 * (the Upstash bridge, or the lock service on `wrangler dev`). For each
 * request it draws from a seeded generator whether to:
 *
 * - `drop-request`: close the connection before forwarding (nothing ran);
 * - `drop-response`: forward, then close the connection instead of answering
 *   (the command ran, the client cannot know);
 * - `delay`: hold the request for up to `delayMs` before forwarding;
 * - `duplicate`: forward it twice, answer with the second reply;
 * - `status-500`: answer 500 without forwarding;
 * - `garbage`: forward, then answer 200 with a body that is not the reply.
 *
 * Streams (SSE subscriptions) pass through untouched but for `drop-request`.
 * WebSocket upgrades pass through too; a faulted one is refused at once
 * (`drop-request`) or cut, both ways, at a random moment within 2 s (`cut`).
 */
import { createServer, request } from "node:http";
import { connect } from "node:net";
import { seeded } from "./_rng.mjs";

export const FAULT_KINDS = [
  "drop-request",
  "drop-response",
  "delay",
  "duplicate",
  "status-500",
  "garbage",
];

function forward(target, req, body) {
  return new Promise((resolve, reject) => {
    const out = request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: target.host },
    }, resolve);
    out.on("error", reject);
    out.end(body);
  });
}

function readAll(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on("data", (c) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

/**
 * Starts the proxy.
 *
 * @param {string} targetUrl where requests go
 * @param {{ seed: number, rate: number, kinds: string[], delayMs?: number }} faults
 */
export async function startFaultProxy(targetUrl, faults) {
  const target = new URL(targetUrl);
  const rng = seeded(faults.seed);
  const injected = Object.fromEntries(faults.kinds.map((k) => [k, 0]));
  let requests = 0;
  let enabled = true;
  const server = createServer(async (req, res) => {
    requests++;
    const body = await readAll(req);
    const streaming =
      (req.headers.accept ?? "").includes("text/event-stream") ||
      req.url.startsWith("/subscribe");
    const roll = rng();
    const kind = enabled && roll < faults.rate
      ? faults.kinds[Math.floor(rng() * faults.kinds.length)]
      : undefined;
    try {
      if (kind === "drop-request") {
        injected[kind]++;
        return void req.socket.destroy();
      }
      if (streaming || kind === undefined) {
        const reply = await forward(target, req, body);
        res.writeHead(reply.statusCode, reply.headers);
        reply.pipe(res);
        // A client that hangs up (an unsubscribe) hangs up upstream too.
        res.on("close", () => reply.destroy());
        return;
      }
      injected[kind]++;
      if (kind === "status-500") {
        res.writeHead(500, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ error: "injected fault" }));
      }
      if (kind === "delay") {
        await new Promise((r) =>
          setTimeout(r, Math.floor(rng() * (faults.delayMs ?? 200)))
        );
      }
      if (kind === "duplicate") await readAll(await forward(target, req, body));
      const reply = await forward(target, req, body);
      const replyBody = await readAll(reply);
      if (kind === "drop-response") return void req.socket.destroy();
      if (kind === "garbage") {
        res.writeHead(200, { "content-type": "application/json" });
        return void res.end('{"result":[1,"not a fence"');
      }
      res.writeHead(reply.statusCode, reply.headers);
      res.end(replyBody);
    } catch {
      // The backend is down (a restart under way): the client sees a reset.
      req.socket.destroy();
    }
  });
  server.on("upgrade", (req, socket, head) => {
    requests++;
    const faulted = enabled && rng() < faults.rate;
    if (faulted && rng() < 0.5) {
      injected["drop-request"] = (injected["drop-request"] ?? 0) + 1;
      return void socket.destroy();
    }
    const upstream = connect(Number(target.port), target.hostname, () => {
      const headers = Object.entries({ ...req.headers, host: target.host })
        .map(([k, v]) => `${k}: ${v}`).join("\r\n");
      upstream.write(`${req.method} ${req.url} HTTP/1.1\r\n${headers}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    const close = () => {
      upstream.destroy();
      socket.destroy();
    };
    upstream.on("error", close);
    socket.on("error", close);
    upstream.on("close", close);
    socket.on("close", close);
    if (faulted) {
      injected.cut = (injected.cut ?? 0) + 1;
      setTimeout(close, Math.floor(rng() * 2_000));
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ requests, injected: { ...injected } }),
    /** Stops injecting (the end-of-run checks go through cleanly). */
    calm: () => {
      enabled = false;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}
