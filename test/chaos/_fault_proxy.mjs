// Copyright 2026 the unilock authors. MIT license.
// @ts-self-types="./_fault_proxy.d.mts"
/**
 * @internal A fault-injecting HTTP proxy between lock clients and a backend
 * (the Upstash bridge, or the lock service on `wrangler dev`). For each
 * request it draws from a seeded generator whether to:
 *
 * - `drop-request`: close the connection before forwarding (nothing ran);
 * - `drop-response`: forward, then close the connection instead of answering
 *   (the command ran, the client cannot know);
 * - `error-after-run`: forward, then answer 502 (the command ran; a 5xx
 *   that `@upstash/redis` does not retry);
 * - `delay`: hold the request for up to `delayMs` before forwarding;
 * - `duplicate`: forward it twice, answer with the second reply;
 * - `status-500`: answer 500 without forwarding;
 * - `garbage`: forward, then answer 200 with a body that is not the reply;
 * - `hang`: accept the request and never answer, nor forward it (until the
 *   client gives up or the proxy closes);
 * - `hang-after-run`: forward it, then never answer (the command ran);
 * - `reorder`: hold the request until a later request for the same lock has
 *   been answered (at most `delayMs * 4`), so that the later one overtakes it.
 *
 * Streams (SSE subscriptions) pass through untouched but for `drop-request`
 * and `hang`. WebSocket upgrades pass through too; a faulted one is refused
 * at once (`drop-request`), never answered (`hang`) or cut, both ways, at a
 * random moment within 2 s (`cut`). On an open socket (with `messages`, or
 * by `inject()`) each message from the client may be swallowed (`hang`), forwarded with its answer swallowed
 * (`hang-after-run`), held (`delay`, `reorder`: later messages overtake it)
 * or end the connection (`drop-request`).
 *
 * Besides the random faults, `inject()` queues a fault for the next requests
 * that match an operation and a lock (what the model test drives), and
 * `next()` resolves when a matching request arrives (say, a renewal).
 * Requests are classified by what they ask: `acquire`, `release` (for
 * Upstash also `cancel`, which has the same arguments), `extend`, `cancel`,
 * `status`, `query` (Upstash `status` and `query` are both `read`),
 * `subscribe`, `socket`. An Upstash pipeline (`@upstash/redis` batches
 * commands by default) has the operations of all its commands, and the lock
 * of its first.
 */
import { createHash } from "node:crypto";
import { createServer, request } from "node:http";
import { connect } from "node:net";
import { queueWaitMs, SLOW_MS } from "./_client_timing.mjs";
import { now, seeded } from "./_rng.mjs";

/** The faults of the acquire/release scenarios. */
export const FAULT_KINDS = [
  "drop-request",
  "drop-response",
  "delay",
  "duplicate",
  "status-500",
  "garbage",
];

/** Every fault the proxy can inject. */
export const ALL_FAULT_KINDS = [
  ...FAULT_KINDS,
  "error-after-run",
  "hang",
  "hang-after-run",
  "reorder",
];

/** The faults that can hit one WebSocket message. */
const MESSAGE_KINDS = new Set([
  "drop-request",
  "hang",
  "hang-after-run",
  "delay",
  "reorder",
]);

/** How many slow requests are kept (the oldest go first). */
const SLOW_KEPT = 200_000;

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

function parseBody(body) {
  try {
    return JSON.parse(String(body));
  } catch {
    return undefined;
  }
}

function sha1(text) {
  return createHash("sha1").update(text).digest("hex");
}

/**
 * What a request asks, and of which lock: `{ op, lock }`. The lock is the
 * service's lock name, or for Upstash the key prefix of the lock (which
 * contains its name). `shas` maps Upstash script SHA-1s to operations; the
 * scripts' arguments are the fallback.
 */
export function classify(method, url, body, shas) {
  const path = url.split("?")[0];
  const service = /^\/v1\/locks\/([^/]+)(?:\/([a-z]+))?$/.exec(path);
  if (service !== null) {
    let lock = service[1];
    try {
      lock = decodeURIComponent(lock);
    } catch { /* left encoded */ }
    if (service[2] === "socket") {
      let call;
      try {
        call = JSON.parse(new URL(url, "http://x").searchParams.get("call"));
      } catch { /* no first call */ }
      return { op: call?.op ?? "socket", lock, upgrade: true };
    }
    return { op: service[2] ?? (method === "GET" ? "status" : "?"), lock };
  }
  if (path.startsWith("/subscribe/")) {
    return { op: "subscribe", lock: decodeURIComponent(path.slice(11)) };
  }
  let parsed;
  try {
    parsed = JSON.parse(String(body));
  } catch {
    return { op: "other", lock: "", ops: ["other"] };
  }
  if (!Array.isArray(parsed)) return { op: "other", lock: "", ops: ["other"] };
  // A pipeline (`@upstash/redis` batches commands by default) carries many.
  const commands = Array.isArray(parsed[0]) ? parsed : [parsed];
  const each = commands.map((c) => classifyCommand(c, shas));
  return { ...each[0], ops: each.map((c) => c.op) };
}

function classifyCommand(command, shas) {
  const name = String(command[0]).toLowerCase();
  if (name !== "evalsha" && name !== "eval") {
    return { op: name, lock: String(command[1] ?? "") };
  }
  const n = Number(command[2]);
  const keys = command.slice(3, 3 + n).map(String);
  const args = command.slice(3 + n).map(String);
  const lock = (keys[0] ?? "").replace(/:[a-z]+$/, "");
  const known = shas?.get(name === "eval" ? sha1(command[1]) : command[1]);
  if (known !== undefined) return { op: known, lock };
  // The scripts' arguments: acquire (token, mode "x" or "s", ...), status
  // and query (the channel first), release and cancel (a token, then the
  // channel among the rest), extend (a token and numbers only).
  const channel = (a) => a.endsWith(":c");
  let op = "other";
  if (args[1] === "x" || args[1] === "s") op = "acquire";
  else if (args[0] !== undefined && channel(args[0])) op = "read";
  else if (args.some(channel)) op = "release";
  else if (args.length >= 2 && args.slice(1).every((a) => /^\d+$/.test(a))) {
    op = "extend";
  }
  return { op, lock };
}

function matches(rule, info) {
  const ops = info.ops ?? [info.op];
  return (rule.op === undefined ||
    [rule.op].flat().some((op) => ops.includes(op))) &&
    (rule.lock === undefined || info.lock.includes(rule.lock));
}

/**
 * One direction of a WebSocket connection, parsed into frames: `onFrame`
 * gets each whole frame (its raw bytes, opcode, and unmasked text payload).
 */
function frameReader(onFrame) {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    for (;;) {
      if (buffer.length < 2) return;
      const fin = (buffer[0] & 0x80) !== 0;
      const opcode = buffer[0] & 0x0f;
      const masked = (buffer[1] & 0x80) !== 0;
      let length = buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const mask = masked ? buffer.subarray(offset, offset + 4) : undefined;
      if (masked) offset += 4;
      if (buffer.length < offset + length) return;
      const raw = buffer.subarray(0, offset + length);
      let text;
      if (fin && opcode === 1) {
        const payload = Buffer.from(buffer.subarray(offset, offset + length));
        if (mask !== undefined) {
          for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
        }
        text = payload.toString("utf8");
      }
      buffer = buffer.subarray(offset + length);
      onFrame(raw, text);
    }
  };
}

/**
 * Starts the proxy.
 *
 * @param {string} targetUrl where requests go
 * @param {object} faults
 * @param {number} faults.seed
 * @param {number} faults.rate the share of requests (and messages) faulted at random
 * @param {string[]} faults.kinds what the random faults draw from
 * @param {number} [faults.delayMs] the longest `delay`
 * @param {string[]} [faults.ops] only requests of these operations are faulted at random
 * @param {boolean} [faults.messages] fault WebSocket messages at random too (`inject()` always can)
 * @param {Record<string, string>} [faults.scripts] Upstash scripts by operation, to classify by SHA-1
 * @param {(kind: string, info: { op: string, lock: string }) => void} [faults.onFault] told of each fault as it is applied
 */
export async function startFaultProxy(targetUrl, faults) {
  const target = new URL(targetUrl);
  const rng = seeded(faults.seed);
  const delayMs = faults.delayMs ?? 200;
  const injected = Object.fromEntries(faults.kinds.map((k) => [k, 0]));
  const ops = {};
  const shas = new Map(
    Object.entries(faults.scripts ?? {}).map(([op, source]) => [
      sha1(source),
      op,
    ]),
  );
  /** Faults queued by inject(), applied before random ones. */
  const rules = [];
  /** Promises of next(), waiting for a request. */
  const watchers = [];
  /** Requests held by `reorder`, released when a later one is answered. */
  const parked = new Set();
  /**
   * Requests (and socket calls) that took {@linkcode SLOW_MS} or more from
   * the client's request to the backend's answer, by the shared clock: a
   * lease lost to a slow backend is not the client's fault.
   */
  const slow = [];
  /**
   * Requests on their way, each `{ lock, from }`: one that has taken long
   * already counts as slow before its answer (a lease is given up as lost
   * while its renewal is still out).
   */
  const open = new Set();
  const opened = (lock) => {
    const call = { lock, from: now() };
    open.add(call);
    return call;
  };
  const keep = (lock, from, to) => {
    if (to - from < SLOW_MS) return;
    slow.push({ lock, from, to });
    if (slow.length > SLOW_KEPT) slow.shift();
  };
  const timed = (call) => {
    if (open.delete(call)) keep(call.lock, call.from, now());
  };
  /**
   * A long-poll that ended in a grant is timed too, less its wait: the
   * object's answer gives the lease's length from the call's arrival (the
   * length asked for plus the time the call waited in the queue), so what
   * the call took besides waiting is its way there and the grant's way
   * back. A grant that took long to reach its waiter leaves it a short lease,
   * as a slow renewal does.
   */
  const grantTimed = (lock, from, asked, text) => {
    // A grant found held on arrival (re-asked) answers at once: all of it
    // counts. One from the queue says how long it waited.
    const waited = queueWaitMs(asked, parseBody(text));
    if (waited !== undefined) keep(lock, from + waited, now());
  };
  /** Whether a call may wait on purpose (a long-poll for a grant): not timed. */
  const waits = (op, call) => op === "acquire" && Number(call?.waitMs) > 0;
  /** Upgraded sockets, which the HTTP server no longer tracks. */
  const sockets = new Set();
  let requests = 0;
  let enabled = true;
  let closed = false;

  const count = (kind, info) => {
    injected[kind] = (injected[kind] ?? 0) + 1;
    faults.onFault?.(kind, info);
  };

  /** The fault for a request or message, or undefined. */
  function pick(info, allowed, rulesOnly = false) {
    for (const op of info.ops ?? [info.op]) ops[op] = (ops[op] ?? 0) + 1;
    for (let i = 0; i < watchers.length; i++) {
      if (matches(watchers[i], info)) {
        watchers[i].resolve(info);
        watchers.splice(i--, 1);
      }
    }
    const index = rules.findIndex((r) =>
      matches(r, info) && (allowed === undefined || allowed.has(r.kind))
    );
    if (index !== -1) {
      const rule = rules[index];
      if (--rule.count <= 0) rules.splice(index, 1);
      return { kind: rule.kind, delayMs: rule.delayMs ?? delayMs };
    }
    if (rulesOnly || !enabled || rng() >= faults.rate) return undefined;
    if (
      faults.ops !== undefined &&
      !(info.ops ?? [info.op]).some((op) => faults.ops.includes(op))
    ) {
      return undefined;
    }
    const kinds = allowed === undefined
      ? faults.kinds
      : faults.kinds.filter((k) => allowed.has(k));
    if (kinds.length === 0) return undefined;
    const kind = kinds[Math.floor(rng() * kinds.length)];
    return { kind, delayMs: Math.floor(rng() * delayMs) };
  }

  /** Holds a request until a later one for its lock is answered. */
  function park(info, ms) {
    return new Promise((resolve) => {
      const entry = { lock: info.lock, resolve: () => done() };
      const timer = setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        parked.delete(entry);
        resolve();
      };
      parked.add(entry);
    });
  }

  /** A request for `lock` was answered: what it overtook may go now. */
  function overtaken(lock, before) {
    for (const entry of parked) {
      if (entry.lock === lock && before.has(entry)) entry.resolve();
    }
  }

  const server = createServer(async (req, res) => {
    requests++;
    const arrived = now();
    const body = await readAll(req);
    const info = classify(req.method, req.url, body, shas);
    const asked = parseBody(body);
    const waiting = waits(info.op, asked);
    const call = waiting ? undefined : { lock: info.lock, from: arrived };
    if (call !== undefined) open.add(call);
    res.on("close", () => open.delete(call));
    const streaming =
      (req.headers.accept ?? "").includes("text/event-stream") ||
      req.url.startsWith("/subscribe");
    const fault = pick(
      info,
      streaming ? new Set(["drop-request", "hang"]) : undefined,
    );
    const kind = fault?.kind;
    if (kind !== undefined) count(kind, info);
    const overtakes = new Set(parked);
    try {
      if (kind === "drop-request") return void req.socket.destroy();
      // Never answered: the client must give up by itself.
      if (kind === "hang") return;
      if (kind === "reorder") await park(info, Math.max(50, delayMs * 4));
      if (streaming || kind === undefined || kind === "reorder") {
        const reply = await forward(target, req, body);
        res.writeHead(reply.statusCode, reply.headers);
        reply.pipe(res);
        // A client that hangs up (an unsubscribe) hangs up upstream too.
        res.on("close", () => reply.destroy());
        if (!streaming) {
          const chunks = [];
          if (waiting) reply.on("data", (c) => chunks.push(c));
          reply.once("end", () => {
            overtaken(info.lock, overtakes);
            timed(call);
            if (waiting) {
              grantTimed(
                info.lock,
                arrived,
                asked,
                Buffer.concat(chunks),
              );
            }
          });
        }
        return;
      }
      if (kind === "status-500") {
        res.writeHead(500, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ error: "injected fault" }));
      }
      if (kind === "delay") {
        await new Promise((r) => setTimeout(r, fault.delayMs));
      }
      if (kind === "duplicate") await readAll(await forward(target, req, body));
      const reply = await forward(target, req, body);
      const replyBody = await readAll(reply);
      overtaken(info.lock, overtakes);
      timed(call);
      if (kind === "drop-response") return void req.socket.destroy();
      if (kind === "hang-after-run") return;
      if (kind === "error-after-run") {
        res.writeHead(502, { "content-type": "text/plain" });
        return void res.end("Bad Gateway (injected after the command ran)");
      }
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
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    const info = classify(req.method, req.url, Buffer.alloc(0), shas);
    const fault = pick(info, new Set(["drop-request", "hang", "delay"]));
    if (fault?.kind === "drop-request") {
      count("drop-request", info);
      return void socket.destroy();
    }
    if (fault?.kind === "hang") {
      count("hang", info);
      socket.on("error", () => {});
      return; // the upgrade is never answered
    }
    // A delayed upgrade is cut at a random moment instead (the old `cut`).
    const cut = fault?.kind === "delay";
    if (cut) count("cut", info);
    /** Ids of messages whose answers are swallowed. */
    const swallow = new Set();
    /** When each call on the socket arrived, by id (the first: the upgrade). */
    const sent = new Map();
    /** Long-polls on the socket, by id: when each arrived, and what it asked. */
    const polls = new Map();
    /** Times a call from the client, by its kind. */
    const opening = (call) => {
      if (call?.id === undefined) return;
      if (!waits(String(call.op), call)) sent.set(call.id, opened(info.lock));
      else polls.set(call.id, { from: now(), asked: call });
    };
    try {
      opening(JSON.parse(
        new URL(req.url, "http://x").searchParams.get("call"),
      ));
    } catch { /* no first call */ }
    const upstream = connect(Number(target.port), target.hostname, () => {
      // Without the offer of compression, so that no extension is agreed and
      // every frame's text can be read (a deflated answer hid its id: the
      // socket's calls went untimed, and answers meant to be swallowed
      // reached their callers).
      const { "sec-websocket-extensions": _, ...offered } = req.headers;
      const headers = Object.entries({ ...offered, host: target.host })
        .map(([k, v]) => `${k}: ${v}`).join("\r\n");
      upstream.write(`${req.method} ${req.url} HTTP/1.1\r\n${headers}\r\n\r\n`);
      if (head.length > 0) fromClient(head);
    });
    // Client to server: whole frames, each of which may be faulted.
    const fromClient = frameReader((raw, text) => {
      let call;
      try {
        call = text === undefined ? undefined : JSON.parse(text);
      } catch { /* not a call */ }
      const message = call === undefined ? undefined : pick(
        { op: String(call.op), lock: info.lock },
        MESSAGE_KINDS,
        faults.messages !== true,
      );
      const kind = message?.kind;
      if (kind !== undefined) {
        count(kind, { op: String(call.op), lock: info.lock });
      }
      opening(call);
      if (kind === "drop-request") return close();
      if (kind === "hang") return;
      if (kind === "hang-after-run") swallow.add(call.id);
      if (kind === "delay" || kind === "reorder") {
        const ms = kind === "delay" ? message.delayMs : delayMs;
        return void setTimeout(() => upstream.write(raw), ms);
      }
      upstream.write(raw);
    });
    socket.on("data", (chunk) => fromClient(chunk));
    // Server to client: the upgrade's answer, then frames.
    let headerDone = false;
    let headerBuffer = Buffer.alloc(0);
    const fromServer = frameReader((raw, text) => {
      if (text !== undefined) {
        let id;
        try {
          id = JSON.parse(text).id;
        } catch { /* forwarded */ }
        if (sent.has(id)) {
          timed(sent.get(id));
          sent.delete(id);
        }
        const poll = polls.get(id);
        if (poll !== undefined) {
          polls.delete(id);
          grantTimed(info.lock, poll.from, poll.asked, text);
        }
        if (swallow.has(id)) return void swallow.delete(id);
      }
      socket.write(raw);
    });
    upstream.on("data", (chunk) => {
      if (headerDone) return fromServer(chunk);
      headerBuffer = Buffer.concat([headerBuffer, chunk]);
      const end = headerBuffer.indexOf("\r\n\r\n");
      if (end === -1) return;
      headerDone = true;
      socket.write(headerBuffer.subarray(0, end + 4));
      const rest = headerBuffer.subarray(end + 4);
      if (rest.length > 0) fromServer(rest);
    });
    const close = () => {
      upstream.destroy();
      socket.destroy();
      // Calls it never answered are on their way no longer.
      for (const c of sent.values()) open.delete(c);
      sent.clear();
    };
    upstream.on("error", close);
    socket.on("error", close);
    upstream.on("close", close);
    socket.on("close", close);
    if (cut) setTimeout(close, Math.floor(rng() * 2_000));
  });

  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    /** Requests seen, faults injected by kind, requests by operation. */
    stats: () => ({ requests, injected: { ...injected }, ops: { ...ops } }),
    /** Requests that took `SLOW_MS` or more: `{ lock, from, to }` by the shared clock. */
    slow: () => {
      const at = now();
      const late = [...open].filter((c) => at - c.from >= SLOW_MS)
        .map((c) => ({ lock: c.lock, from: c.from, to: at }));
      return [...slow, ...late];
    },
    /** Stops injecting random faults (the end-of-run checks go through cleanly). */
    calm: () => {
      enabled = false;
    },
    /**
     * Queues `kind` for the next `count` requests (or socket messages) of
     * operation `op` on a lock whose id contains `lock`.
     */
    inject: ({ kind, op, lock, count = 1, delayMs: ms }) => {
      rules.push({ kind, op, lock, count, delayMs: ms });
    },
    /** Drops the queued faults. */
    clear: () => {
      rules.length = 0;
    },
    /** Resolves with the next matching request's `{ op, lock }`, or undefined after `timeoutMs`. */
    next: ({ op, lock }, timeoutMs = 10_000) =>
      new Promise((resolve) => {
        const watcher = { op, lock, resolve: (info) => done(info) };
        const timer = setTimeout(() => done(undefined), timeoutMs);
        const done = (info) => {
          clearTimeout(timer);
          const i = watchers.indexOf(watcher);
          if (i !== -1) watchers.splice(i, 1);
          resolve(info);
        };
        watchers.push(watcher);
      }),
    close: () =>
      new Promise((resolve) => {
        if (closed) return resolve();
        closed = true;
        for (const entry of parked) entry.resolve();
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
