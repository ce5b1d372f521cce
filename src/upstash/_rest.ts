// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The Upstash driver's transport: a small Upstash REST client of
 * our own on `fetch` when we hold a URL and token (given, or from the
 * environment), or an `@upstash/redis` client the user passed, wrapped in
 * the same interface.
 *
 * Our own client runs a script as `EVALSHA`, falling back to `EVAL` on
 * `NOSCRIPT`, binds every request to the signal it is given (nothing hangs
 * past it) and never retries (the core does, within the caller's deadline).
 * Its errors are short and say what went wrong ("connection refused",
 * "401 unauthorized (check the token)"): the core puts the operation and
 * {@linkcode UpstashTransport.target} in front. A passed client cannot be
 * aborted (it has no per-request signal, and retries network errors for
 * about 4 s by itself): its calls are raced with the signal instead.
 *
 * The protocol (Upstash's REST API docs, `redis/features/restapi.mdx`): a
 * command is `POST <url>` with the command as a JSON array body and
 * `Authorization: Bearer <token>`; the reply is `{"result": …}` or
 * `{"error": "…"}` (HTTP 400 for a failed command, 401 for auth).
 * `POST <url>/subscribe/<channel>` with `Accept: text/event-stream` is a
 * Server-Sent Events stream of `data: subscribe,<channel>,<count>` and
 * `data: message,<channel>,<message>` (see `_sse.ts`).
 */

import {
  clip,
  describeNetworkError,
  UpstashRequestError,
} from "./_request_error.ts";
import {
  type EventStream,
  type EventStreamHandlers,
  openEventStream,
} from "./_sse.ts";

export { UpstashRequestError };

/** A Lua script, and its SHA-1 once computed. */
export interface UpstashScript {
  /** Which operation, for messages. */
  readonly name: string;
  /** The Lua source. */
  readonly source: string;
}

/**
 * What the driver needs of Redis: scripts run one request each, and the
 * subscription for wake-ups when there is one.
 */
export interface UpstashTransport {
  /** Where requests go, for messages: `Upstash at https://host:443`. */
  readonly target: string;
  /** Runs `script`, bound by `signal`: its reply, or a throw. */
  eval(
    script: UpstashScript,
    keys: readonly string[],
    args: readonly string[],
    signal: AbortSignal,
  ): Promise<unknown>;
  /** Opens a subscription to `channel`, when the transport can. */
  subscribe?(channel: string, handlers: EventStreamHandlers): EventStream;
  /**
   * Called when Redis said it had forgotten a script (`NOSCRIPT`): it
   * restarted or failed over, and a subscription may have died with it.
   */
  onRestart: (() => void) | undefined;
}

/**
 * The part of an `@upstash/redis` client the transport uses (the public
 * `UpstashRedisLike` has the same shape).
 */
export interface RedisClientLike {
  /** Runs a cached script by its SHA-1. */
  evalsha(sha: string, keys: string[], args: string[]): Promise<unknown>;
  /** Runs a script by its source. */
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
  /** Opens a Server-Sent Events subscription. */
  subscribe?(channels: string[]): {
    on(type: string, listener: (data: unknown) => void): void;
    unsubscribe(channels?: string[]): Promise<void>;
  };
}

const shas = new Map<string, Promise<string>>();

function sha1(text: string): Promise<string> {
  let sha = shas.get(text);
  if (sha === undefined) {
    sha = crypto.subtle.digest("SHA-1", new TextEncoder().encode(text)).then(
      (digest) =>
        Array.from(
          new Uint8Array(digest),
          (b) => b.toString(16).padStart(2, "0"),
        ).join(""),
    );
    shas.set(text, sha);
  }
  return sha;
}

/** Whether an error says Redis does not know the script's SHA-1. */
function isNoScript(error: unknown): boolean {
  return error instanceof Error && /\bNOSCRIPT\b/i.test(error.message);
}

/**
 * Runs a script by its SHA-1, and by its source when Redis does not have
 * it. A `NOSCRIPT` for a script this client had run means Redis forgot its
 * scripts (it restarted, failed over, or was flushed): `restarted` hears it.
 * The first use of a script on a Redis is a `NOSCRIPT` too, and says
 * nothing.
 */
async function evalCached(
  loaded: Set<string>,
  source: string,
  bySha: (sha: string) => Promise<unknown>,
  bySource: () => Promise<unknown>,
  restarted: (() => void) | undefined,
): Promise<unknown> {
  const sha = await sha1(source);
  let reply: unknown;
  try {
    reply = await bySha(sha);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    if (loaded.has(sha)) {
      loaded.clear();
      restarted?.();
    }
    reply = await bySource();
  }
  loaded.add(sha);
  return reply;
}

/** Redis errors a repeat cannot help: the script or its keys are wrong. */
const PERMANENT =
  /\b(WRONGTYPE|user_script|Error (running|compiling) script|unknown command|wrong number of arguments|syntax error)\b/i;

/** Redis errors that pass: it is loading, busy, or failing over. */
const TRANSIENT = /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|CLUSTERDOWN|READONLY)\b/;

/** The reply of one command, or a throw naming what went wrong. */
function interpret(status: number, text: string): unknown {
  let body: { result?: unknown; error?: unknown } | undefined;
  try {
    body = JSON.parse(text);
  } catch { /* reported below */ }
  const error = typeof body?.error === "string" ? body.error : undefined;
  if (status === 401 || status === 403) {
    throw new UpstashRequestError(
      `${status} unauthorized (check the token)`,
      false,
      { status },
    );
  }
  if (body === undefined || body === null || typeof body !== "object") {
    throw new UpstashRequestError(
      `${status} reply is not JSON: ${clip(text, 80) || "(empty)"}`,
      status >= 500 || status === 200 || status === 429,
      { status },
    );
  }
  if (error !== undefined) {
    throw new UpstashRequestError(
      status === 200 ? clip(error) : `${status} ${clip(error)}`,
      status >= 500 || status === 429 || TRANSIENT.test(error),
      { status },
    );
  }
  if (status < 200 || status > 299) {
    throw new UpstashRequestError(
      `${status} ${clip(text, 80)}`,
      status >= 500 || status === 429,
      { status },
    );
  }
  if (!("result" in body)) {
    throw new UpstashRequestError(
      `reply has no result: ${clip(text, 80)}`,
      true,
      { status },
    );
  }
  return body.result;
}

/** `https://host:443`: what errors name, with the port spelled out. */
export function targetOf(url: URL): string {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.protocol}//${url.hostname}:${port}`;
}

/** Our own REST client for `url` and `token`. */
class RestTransport implements UpstashTransport {
  readonly target: string;
  onRestart: (() => void) | undefined;
  #loaded = new Set<string>();
  #url: string;
  #headers: Record<string, string>;

  constructor(url: URL, token: string) {
    this.#url = url.href.replace(/\/+$/, "");
    this.target = `Upstash at ${targetOf(url)}`;
    this.#headers = {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
    };
  }

  async #command(body: string[], signal: AbortSignal): Promise<unknown> {
    let status: number, text: string;
    try {
      const res = await fetch(this.#url, {
        method: "POST",
        headers: this.#headers,
        body: JSON.stringify(body),
        signal,
      });
      status = res.status;
      text = await res.text();
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw new UpstashRequestError(describeNetworkError(error), true, {
        cause: error,
      });
    }
    return interpret(status, text);
  }

  async eval(
    script: UpstashScript,
    keys: readonly string[],
    args: readonly string[],
    signal: AbortSignal,
  ): Promise<unknown> {
    if (signal.aborted) throw signal.reason;
    const tail = [String(keys.length), ...keys, ...args];
    return await evalCached(
      this.#loaded,
      script.source,
      (sha) => this.#command(["EVALSHA", sha, ...tail], signal),
      () => this.#command(["EVAL", script.source, ...tail], signal),
      this.onRestart,
    );
  }

  subscribe(channel: string, handlers: EventStreamHandlers): EventStream {
    // As @upstash/redis sends it: a plain channel name goes into the path
    // as it is (ours always is one); anything else is encoded.
    const path = /^[\w:.-]+$/.test(channel)
      ? channel
      : encodeURIComponent(channel);
    return openEventStream(
      `${this.#url}/subscribe/${path}`,
      this.#headers,
      handlers,
    );
  }
}

/** Races `promise` with `signal`: what cannot be aborted is not waited for. */
function raced<T>(promise: () => Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise().then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}

/** An `@upstash/redis` error in a few words: never the whole command. */
function clientError(error: unknown): UpstashRequestError {
  if (error instanceof UpstashRequestError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const text = message.replace(/, command was: [\s\S]*$/, "");
  if (/^(Unauthorized|WRONGPASS|NOPERM)/i.test(text)) {
    return new UpstashRequestError(
      `401 unauthorized (check the token): ${clip(text, 80)}`,
      false,
      { cause: error },
    );
  }
  const name = error instanceof Error ? error.name : "";
  if (name === "UpstashError") {
    // A failed command: the client throws these for any non-2xx reply, a
    // 5xx of the service or a proxy as well as a script that cannot run.
    // Only the latter will fail again the same way.
    return new UpstashRequestError(
      clip(text),
      TRANSIENT.test(text) || !PERMANENT.test(text),
      { cause: error },
    );
  }
  return new UpstashRequestError(describeNetworkError(error), true, {
    cause: error,
  });
}

/** A passed `@upstash/redis` client, in the transport's interface. */
class ClientTransport implements UpstashTransport {
  readonly target: string;
  onRestart: (() => void) | undefined;
  #loaded = new Set<string>();
  #redis: RedisClientLike;

  constructor(redis: RedisClientLike) {
    this.#redis = redis;
    // The client keeps its URL on an internal object; say so when it does.
    const base = (redis as { client?: { baseUrl?: unknown } }).client?.baseUrl;
    let where = "";
    try {
      if (typeof base === "string") where = ` at ${targetOf(new URL(base))}`;
    } catch { /* an odd client: name it without the URL */ }
    this.target = `Upstash${where} (@upstash/redis client)`;
    if (typeof redis.subscribe === "function") {
      this.subscribe = (channel, handlers) =>
        this.#subscribe(channel, handlers);
    }
  }

  subscribe?: (channel: string, handlers: EventStreamHandlers) => EventStream;

  async eval(
    script: UpstashScript,
    keys: readonly string[],
    args: readonly string[],
    signal: AbortSignal,
  ): Promise<unknown> {
    const redis = this.#redis;
    try {
      return await evalCached(
        this.#loaded,
        script.source,
        (sha) => raced(() => redis.evalsha(sha, [...keys], [...args]), signal),
        () =>
          raced(() => redis.eval(script.source, [...keys], [...args]), signal),
        this.onRestart,
      );
    } catch (error) {
      if (signal.aborted && error === signal.reason) throw error;
      throw clientError(error);
    }
  }

  #subscribe(channel: string, handlers: EventStreamHandlers): EventStream {
    const subscriber = this.#redis.subscribe!([channel]);
    let open = true;
    subscriber.on("subscribe", () => {
      if (open) handlers.onData(`subscribe,${channel},1`);
    });
    subscriber.on("message", (data) => {
      const message = (data as { message?: unknown })?.message;
      if (open && typeof message === "string") {
        handlers.onData(`message,${channel},${message}`);
      }
    });
    subscriber.on("error", (error) => {
      if (!open) return;
      open = false;
      subscriber.unsubscribe().catch(() => {});
      handlers.onClose(clientError(error));
    });
    return {
      close() {
        if (!open) return;
        open = false;
        subscriber.unsubscribe().catch(() => {});
      },
    };
  }
}

/** One transport per URL and token, so that its locks share one subscription. */
const rest = new Map<string, RestTransport>();
const clients = new WeakMap<object, ClientTransport>();

/**
 * The transport for `{ url, token }` (checked by the caller): one per URL
 * and token in this isolate.
 */
export function restTransport(url: string, token: string): UpstashTransport {
  const key = `${url}\n${token}`;
  let transport = rest.get(key);
  if (transport === undefined) {
    transport = new RestTransport(new URL(url), token);
    rest.set(key, transport);
  }
  return transport;
}

/** The transport for a passed client: one per client object. */
export function clientTransport(redis: RedisClientLike): UpstashTransport {
  let transport = clients.get(redis);
  if (transport === undefined) {
    transport = new ClientTransport(redis);
    clients.set(redis, transport);
  }
  return transport;
}

/**
 * A fresh transport that shares nothing (for tests that stand in for
 * separate processes).
 */
export function isolatedTransport(
  url: string,
  token: string,
): UpstashTransport {
  return new RestTransport(new URL(url), token);
}

function readEnv(name: string): string | undefined {
  const deno = (globalThis as {
    Deno?: { env: { get(name: string): string | undefined } };
  }).Deno;
  if (deno !== undefined) return deno.env.get(name);
  const process = (globalThis as {
    process?: { env?: Record<string, string | undefined> };
  }).process;
  return process?.env?.[name];
}

/**
 * The URL and token from the environment: `UPSTASH_REDIS_REST_URL` and
 * `UPSTASH_REDIS_REST_TOKEN`, or Vercel's `KV_REST_API_URL` and
 * `KV_REST_API_TOKEN`, as `Redis.fromEnv()` reads them. Throws a
 * non-retryable error naming what is missing.
 */
export function envCredentials(): { url: string; token: string } {
  let url: string | undefined, token: string | undefined;
  try {
    url = readEnv("UPSTASH_REDIS_REST_URL") || readEnv("KV_REST_API_URL");
    token = readEnv("UPSTASH_REDIS_REST_TOKEN") || readEnv("KV_REST_API_TOKEN");
  } catch (error) {
    throw new UpstashRequestError(
      "cannot read UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN from the environment (on Deno: --allow-env=UPSTASH_REDIS_REST_URL,UPSTASH_REDIS_REST_TOKEN)",
      false,
      { cause: error },
    );
  }
  if (url === undefined) {
    throw new UpstashRequestError(
      "UPSTASH_REDIS_REST_URL is not set: set it and UPSTASH_REDIS_REST_TOKEN, or pass redis: { url, token }",
      false,
    );
  }
  if (token === undefined) {
    throw new UpstashRequestError(
      "UPSTASH_REDIS_REST_TOKEN is not set (UPSTASH_REDIS_REST_URL is): set it, or pass redis: { url, token }",
      false,
    );
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch { /* reported below */ }
  if (parsed === undefined || !/^https?:$/.test(parsed.protocol)) {
    throw new UpstashRequestError(
      `UPSTASH_REDIS_REST_URL is not an http(s) URL: ${clip(url, 80)}`,
      false,
    );
  }
  return { url, token };
}
