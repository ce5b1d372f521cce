// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A deterministic fault-injecting HTTP proxy for the adversarial
 * tests: it sits between a lock client and a real backend (the Upstash
 * bridge in front of redis-server, or the lock service on `wrangler dev`)
 * and applies the first rule that matches each request. Unlike the chaos
 * proxy (random faults by seed), each test says exactly which request is
 * delayed before it reaches the server (so later requests overtake it),
 * hung forever, answered 502 after it ran, and so on.
 */
import {
  createServer,
  type IncomingMessage,
  request,
  type ServerResponse,
} from "node:http";
import { connect, type Socket } from "node:net";

/** What a rule does to a request it matches. */
export type ProxyAction =
  /** Hold the request `ms` before forwarding (later ones overtake it). */
  | "delay-request"
  /** Forward it at once, hold the reply `ms`. */
  | "delay-response"
  /** Never forward, never answer (until the client gives up). */
  | "hang"
  /** Forward, then never answer (it ran; the client cannot know). */
  | "hang-after"
  /** Forward, then answer 502 (it ran; the client sees a 5xx). */
  | "502-after"
  /** Answer 502 without forwarding. */
  | "502"
  /** Forward, then reset the connection (it ran). */
  | "drop-response"
  /** Forward twice (one after the other), answer the second reply. */
  | "duplicate";

/** One rule; the first that matches a request (and has count left) applies. */
export interface ProxyRule {
  /** Which requests: by method, path and body. */
  match: (r: { method: string; path: string; body: string }) => boolean;
  action: ProxyAction;
  /** With the delays. @default {200} */
  ms?: number;
  /** How many requests it applies to. @default {Infinity} */
  count?: number;
}

/** One request the proxy saw. */
export interface ProxyLogEntry {
  method: string;
  path: string;
  body: string;
  action: ProxyAction | undefined;
  at: number;
}

/** A running proxy. */
export interface AdversarialProxy {
  readonly url: string;
  readonly log: ProxyLogEntry[];
  /** Adds a rule (after the others); returns it so it can be removed. */
  add(rule: ProxyRule): ProxyRule;
  /** Removes one rule, or all. */
  clear(rule?: ProxyRule): void;
  /** Stops listening and destroys every connection (hung ones too). */
  close(): Promise<void>;
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

/** Starts a proxy to `targetUrl` on a random port. */
export async function startAdversarialProxy(
  targetUrl: string,
): Promise<AdversarialProxy> {
  const target = new URL(targetUrl);
  const rules: { rule: ProxyRule; left: number }[] = [];
  const log: ProxyLogEntry[] = [];
  const sockets = new Set<Socket>();

  const forward = (
    req: IncomingMessage,
    body: Buffer,
  ): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
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

  const take = (method: string, path: string, body: string) => {
    const found = rules.find((r) =>
      r.left > 0 && r.rule.match({ method, path, body })
    );
    if (found !== undefined) found.left--;
    return found?.rule;
  };

  const server = createServer(async (req, res: ServerResponse) => {
    const raw = await readAll(req);
    const body = raw.toString("utf8");
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const streaming = (req.headers.accept ?? "").includes("text/event-stream");
    const rule = take(method, path, body);
    log.push({
      method,
      path,
      body,
      action: rule?.action,
      at: performance.now(),
    });
    try {
      if (rule?.action === "hang") return;
      if (rule?.action === "502") {
        res.writeHead(502, { "content-type": "text/plain" });
        return void res.end("Bad Gateway (injected)");
      }
      if (rule?.action === "delay-request") {
        await new Promise((r) => setTimeout(r, rule.ms ?? 200));
      }
      if (rule?.action === "duplicate") await readAll(await forward(req, raw));
      const reply = await forward(req, raw);
      if (streaming && rule === undefined) {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
        res.on("close", () => reply.destroy());
        return;
      }
      const replyBody = await readAll(reply);
      if (rule?.action === "hang-after") return;
      if (rule?.action === "drop-response") return void req.socket.destroy();
      if (rule?.action === "502-after") {
        res.writeHead(502, { "content-type": "text/plain" });
        return void res.end("Bad Gateway (injected after it ran)");
      }
      if (rule?.action === "delay-response") {
        await new Promise((r) => setTimeout(r, rule.ms ?? 200));
      }
      if (res.destroyed) return;
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      res.end(replyBody);
    } catch {
      req.socket.destroy();
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  // WebSocket upgrades: passed through (a "hang" rule on the path holds it).
  server.on("upgrade", (req, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const path = req.url ?? "/";
    const rule = take("UPGRADE", path, "");
    log.push({
      method: "UPGRADE",
      path,
      body: "",
      action: rule?.action,
      at: performance.now(),
    });
    if (rule?.action === "hang") return;
    const go = () => {
      const upstream = connect(Number(target.port), target.hostname, () => {
        const headers = Object.entries({ ...req.headers, host: target.host })
          .map(([k, v]) => `${k}: ${v}`).join("\r\n");
        upstream.write(
          `${req.method} ${req.url} HTTP/1.1\r\n${headers}\r\n\r\n`,
        );
        if (head.length > 0) upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      sockets.add(upstream);
      const close = () => {
        upstream.destroy();
        socket.destroy();
      };
      upstream.on("error", close);
      socket.on("error", close);
      upstream.on("close", close);
      socket.on("close", close);
    };
    if (rule?.action === "delay-request") setTimeout(go, rule.ms ?? 200);
    else go();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    add(rule) {
      rules.push({ rule, left: rule.count ?? Infinity });
      return rule;
    },
    clear(rule) {
      if (rule === undefined) rules.length = 0;
      else {
        const i = rules.findIndex((r) => r.rule === rule);
        if (i >= 0) rules.splice(i, 1);
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
