// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The lock service (`./worker`) as a stub of one lock's
 * `LockDurableObject`: each call is one HTTP request, or one message on the
 * lock's WebSocket while one is open. A grant that travels over a socket the
 * waiter already holds needs no new request on either side of the service,
 * which makes a handoff about three times faster than a long-poll's reply on
 * local workerd.
 *
 * An acquire that may wait opens the socket, and its upgrade request carries
 * the acquire as the socket's first call: an acquire is still one request,
 * and the waiter is queued as soon as the upgrade arrives. The socket then
 * carries every call, and closes once no call is pending and no lease taken
 * through it is held (or after {@linkcode IDLE_MS} without calls), so it
 * keeps no process alive. Without a `WebSocket` global (Node 20 without
 * `--experimental-websocket`), or when the upgrade fails, calls go over HTTP
 * and waits long-poll: the same protocol, only slower.
 */

import {
  BEARER_PROTOCOL_PREFIX,
  type CancelReply,
  type ExtendReply,
  isSocketError,
  type LockDurableObjectStub,
  lockPath,
  readReply,
  type ReleaseReply,
  SOCKET_PROTOCOL,
  type StatusReply,
} from "./_protocol.ts";

/** How long an open socket stays open without calls. */
const IDLE_MS = 1_000;
/** After a failed upgrade, how long calls use HTTP; doubled per failure. */
const NO_SOCKET_MS = 60_000;
const MAX_NO_SOCKET_MS = 3_600_000;
/** The longest an upgrade may take. */
const OPEN_MS = 3_000;

/** An answer of the service that is not a success, with its HTTP status. */
export class ServiceError extends Error {
  /** The HTTP status (or the socket answer's `status`). */
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type Reply = Record<string, unknown>;
interface Pending {
  /** The socket the call went on. */
  socket: WebSocket | undefined;
  /** An acquire's token: a grant is held over the socket until released. */
  token: string | undefined;
  resolve: (reply: Reply) => void;
  reject: (error: unknown) => void;
}
type Acquire = Parameters<LockDurableObjectStub["acquire"]>[0];
type AcquireReply = Awaited<ReturnType<LockDurableObjectStub["acquire"]>>;

/**
 * What is known of upgrades on the way to each service (a proxy may not pass
 * them), shared by every lock on it: one is being tried ("probing": the
 * others use HTTP meanwhile, so a held upgrade stalls one call, not all),
 * they work ("ok"), or they failed (HTTP until `until`, doubling the wait).
 */
const upgrades = new Map<
  string,
  { state: "probing" | "ok" | "failed"; until: number; backoffMs: number }
>();

function upgradeAllowed(service: string): boolean {
  const known = upgrades.get(service);
  return known === undefined || known.state === "ok" ||
    (known.state === "failed" && Date.now() >= known.until);
}

function upgradeTried(service: string, outcome: "probing" | "ok" | "failed") {
  const known = upgrades.get(service);
  if (outcome === "probing" && known?.state === "ok") return;
  const backoffMs = outcome !== "failed" ? known?.backoffMs ?? 0 : Math.min(
    Math.max(NO_SOCKET_MS, (known?.backoffMs ?? 0) * 2),
    MAX_NO_SOCKET_MS,
  );
  upgrades.set(service, {
    state: outcome,
    until: outcome === "failed" ? Date.now() + backoffMs : 0,
    backoffMs: outcome === "ok" ? 0 : backoffMs,
  });
}

function base64url(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** One lock's calls to the service, over HTTP or its WebSocket. */
export class LockService implements LockDurableObjectStub {
  #url: string;
  #service: string;
  #secret: string;
  #socket: WebSocket | undefined;
  /** Settles when the socket being opened is open or failed. */
  #opening: Promise<void> | undefined;
  #pending = new Map<number, Pending>();
  /** Tokens of leases granted over the socket and not released. */
  #held = new Set<string>();
  #lastId = 0;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * @param base The service's base URL.
   * @param name The lock's name.
   * @param secret The service's bearer secret.
   */
  constructor(base: URL, name: string, secret: string) {
    this.#service = base.href.endsWith("/") ? base.href : `${base.href}/`;
    this.#url = new URL(lockPath(name, "status").slice(1), this.#service).href;
    this.#secret = secret;
  }

  /**
   * `ordered` is called once the call is in line behind this lock's earlier
   * calls: at once on the socket (its messages arrive in order); over HTTP,
   * where requests may overtake each other, a first call that may wait is
   * sent with a 1 ms wait, whose "wait" answer says it is queued, and then
   * again to wait. `sent` is told (`performance.now()`) after the wait for
   * an opening socket and before the second HTTP call: at or before the
   * send of the call that answers.
   */
  async acquire(
    request: Acquire,
    signal?: AbortSignal,
    ordered?: (queued: boolean) => void,
    sent?: (at: number) => void,
  ): Promise<AcquireReply> {
    if (this.#opening !== undefined) await this.#opening;
    signal?.throwIfAborted();
    sent?.(performance.now());
    if (
      this.#socket === undefined && request.waitMs > 0 && this.#socketable()
    ) {
      const reply = await this.#open(
        { op: "acquire", ...request },
        signal,
        ordered,
      );
      if (reply !== undefined) return readReply("acquire", reply);
    }
    if (this.#socket !== undefined) {
      const reply = this.#call("acquire", request, signal);
      ordered?.(false);
      return readReply("acquire", await reply);
    }
    if (ordered !== undefined && request.waitMs > 1) {
      const reply = readReply(
        "acquire",
        await this.#call("acquire", { ...request, waitMs: 1 }, signal),
      );
      if (reply.ok || reply.reason !== "wait") return reply;
      ordered(true);
      sent?.(performance.now());
    }
    return readReply("acquire", await this.#call("acquire", request, signal));
  }

  /** A steal is one call (it never waits), over the socket if one is open. */
  async steal(
    request: Acquire,
    signal?: AbortSignal,
    sent?: (at: number) => void,
  ): Promise<AcquireReply> {
    if (this.#opening !== undefined) await this.#opening;
    signal?.throwIfAborted();
    sent?.(performance.now());
    return readReply("steal", await this.#call("steal", request, signal));
  }

  async release(token: string, signal?: AbortSignal): Promise<ReleaseReply> {
    this.#held.delete(token);
    return readReply(
      "release",
      await this.#call("release", { token }, signal),
    );
  }

  async extend(
    token: string,
    leaseMs: number,
    seq?: number,
    signal?: AbortSignal,
  ): Promise<ExtendReply> {
    const body = seq === undefined
      ? { token, leaseMs }
      : { token, leaseMs, seq };
    return readReply("extend", await this.#call("extend", body, signal));
  }

  async cancel(token: string, signal?: AbortSignal): Promise<CancelReply> {
    return readReply("cancel", await this.#call("cancel", { token }, signal));
  }

  async status(signal?: AbortSignal): Promise<StatusReply> {
    return readReply("status", await this.#call("status", undefined, signal));
  }

  async query(
    signal?: AbortSignal,
  ): ReturnType<LockDurableObjectStub["query"]> {
    return readReply("query", await this.#call("query", undefined, signal));
  }

  /** Closes the socket; pending calls on it fail (and are repeated). */
  close(): void {
    this.#closed = true;
    this.#hangUp();
  }

  /** Closes the socket; calls from now on go over HTTP until another opens. */
  #hangUp(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.close(1000);
  }

  #socketable(): boolean {
    return !this.#closed && typeof globalThis.WebSocket === "function" &&
      upgradeAllowed(this.#service);
  }

  #call(op: string, body?: Reply, signal?: AbortSignal): Promise<Reply> {
    const socket = this.#socket;
    if (socket === undefined) return this.#http(op, body, signal);
    return new Promise<Reply>((resolve, reject) => {
      const id = this.#expect(socket, op, body, resolve, reject, signal);
      socket.send(JSON.stringify({ id, op, ...body }));
    });
  }

  #expect(
    socket: WebSocket | undefined,
    op: string,
    body: Reply | undefined,
    resolve: (reply: Reply) => void,
    reject: (error: unknown) => void,
    signal?: AbortSignal,
  ): number {
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    this.#idle = undefined;
    const id = ++this.#lastId;
    const token = op === "acquire" || op === "steal"
      ? body?.token as string
      : undefined;
    // A call its caller gave up on is forgotten here at once (its answer,
    // if one comes, is dropped); the caller cancels by token if need be.
    const onAbort = () => {
      if (!this.#pending.delete(id)) return;
      reject(signal!.reason);
      if (this.#pending.size === 0) this.#closeWhenIdle();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => signal?.removeEventListener("abort", onAbort);
    this.#pending.set(id, {
      socket,
      token,
      resolve: (reply) => {
        done();
        resolve(reply);
      },
      reject: (error) => {
        done();
        reject(error);
      },
    });
    return id;
  }

  async #http(
    op: string,
    body?: Reply,
    signal?: AbortSignal,
  ): Promise<Reply> {
    const response = await fetch(
      op === "status" ? this.#url : `${this.#url}/${op}`,
      {
        method: body === undefined ? "GET" : "POST",
        headers: {
          authorization: `Bearer ${this.#secret}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal === undefined ? {} : { signal }),
      },
    );
    const text = await response.text();
    if (response.status !== 200) {
      throw new ServiceError(
        response.status,
        `HTTP ${response.status}: ${text.slice(0, 300)}`,
      );
    }
    // A body that is no JSON fails here with the parser's SyntaxError
    // (the lock's error names the call and the service around it).
    return JSON.parse(text);
  }

  /**
   * Opens the socket with `first` as its first call; resolves with that
   * call's answer, or undefined when the socket could not open (then the
   * call may or may not have reached the object: repeat it, by its token).
   */
  #open(
    first: Reply,
    signal?: AbortSignal,
    ordered?: (queued: boolean) => void,
  ): Promise<Reply | undefined> {
    let state: "opening" | "open" | "failed" = "opening";
    let settled = () => {};
    this.#opening = new Promise<void>((resolve) => (settled = resolve));
    upgradeTried(this.#service, "probing");
    return new Promise<Reply | undefined>((resolve, reject) => {
      const id = this.#expect(
        undefined,
        "acquire",
        first,
        resolve,
        reject,
        signal,
      );
      const call = encodeURIComponent(JSON.stringify({ id, ...first }));
      const socket = new WebSocket(
        `${this.#url.replace(/^http/, "ws")}/socket?call=${call}`,
        [
          SOCKET_PROTOCOL,
          `${BEARER_PROTOCOL_PREFIX}${base64url(this.#secret)}`,
        ],
      );
      this.#pending.get(id)!.socket = socket;
      // A proxy that does not pass upgrades may hold one forever, and a
      // runtime may report a failed upgrade by "error" alone.
      const failed = () => {
        if (state !== "opening") return;
        state = "failed";
        clearTimeout(timer);
        this.#opening = undefined;
        settled();
        upgradeTried(this.#service, "failed");
        this.#pending.delete(id);
        resolve(undefined);
        try {
          socket.close();
        } catch { /* never opened */ }
      };
      const timer = setTimeout(failed, OPEN_MS);
      socket.onerror = failed;
      socket.onopen = () => {
        if (state !== "opening") return socket.close(1000);
        state = "open";
        // The upgrade carried the call; later calls wait for the opening and
        // follow it on the socket.
        ordered?.(false);
        clearTimeout(timer);
        this.#opening = undefined;
        settled();
        upgradeTried(this.#service, "ok");
        // A lock that gave this stub up has called again on another.
        if (this.#closed) return socket.close(1000);
        this.#socket = socket;
        // Its first call may have been given up while it opened.
        if (this.#pending.size === 0) this.#closeWhenIdle();
      };
      socket.onmessage = (event) => {
        if (state === "open") this.#answer(event.data);
      };
      socket.onclose = () => {
        if (state !== "open") return failed();
        if (this.#socket === socket) {
          if (this.#idle !== undefined) clearTimeout(this.#idle);
          this.#idle = undefined;
          this.#socket = undefined;
          this.#held.clear();
        }
        const error = new ServiceError(
          503,
          "the lock service's socket closed before it answered",
        );
        // Calls on a socket opened since are not this one's.
        for (const [id, call] of this.#pending) {
          if (call.socket !== socket) continue;
          this.#pending.delete(id);
          call.reject(error);
        }
      };
    });
  }

  #answer(data: unknown): void {
    let reply: Reply;
    try {
      reply = JSON.parse(String(data));
    } catch {
      return this.#socket?.close(1002);
    }
    const call = this.#pending.get(reply.id as number);
    if (call === undefined) return;
    this.#pending.delete(reply.id as number);
    if (isSocketError(reply)) {
      call.reject(new ServiceError(reply.status, reply.error));
    } else {
      delete reply.id;
      if (call.token !== undefined && reply.ok === true) {
        this.#held.add(call.token);
      }
      call.resolve(reply);
    }
    if (this.#pending.size === 0) this.#closeWhenIdle();
  }

  /**
   * Closes the socket once nothing needs it: at once (after this task, so a
   * release followed by an acquire keeps it) when no lease taken over it is
   * held, else after IDLE_MS without calls.
   */
  #closeWhenIdle(): void {
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      this.#idle = undefined;
      if (this.#pending.size === 0) this.#hangUp();
    }, this.#held.size === 0 ? 0 : IDLE_MS);
  }
}
