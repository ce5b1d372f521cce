// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A minimal RESP2 client over a TCP socket, for the Upstash REST
 * bridge: pipelined commands on one connection, and a subscriber mode. Node
 * (and Deno/Bun through their `node:net`) only.
 */

import { connect, type Socket } from "node:net";

/** A reply: strings, integers, null, arrays of replies, or an error. */
export type RespValue = string | number | null | RespValue[] | RespError;

/** An error reply from Redis (`-ERR …`). */
export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RespError";
  }
}

function encode(args: readonly string[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  parts.push(enc.encode(`*${args.length}\r\n`));
  for (const arg of args) {
    const bytes = enc.encode(arg);
    parts.push(enc.encode(`$${bytes.length}\r\n`), bytes, enc.encode("\r\n"));
  }
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Parses one reply at `offset`; returns it and the next offset, or undefined if incomplete. */
function parse(
  buf: Uint8Array,
  offset: number,
): [RespValue, number] | undefined {
  if (offset >= buf.length) return undefined;
  const end = indexOfCrlf(buf, offset);
  if (end < 0) return undefined;
  const type = buf[offset]!;
  const line = new TextDecoder().decode(buf.subarray(offset + 1, end));
  const next = end + 2;
  switch (type) {
    case 0x2b: // +
      return [line, next];
    case 0x2d: // -
      return [new RespError(line), next];
    case 0x3a: // :
      return [Number(line), next];
    case 0x24: { // $
      const length = Number(line);
      if (length < 0) return [null, next];
      if (buf.length < next + length + 2) return undefined;
      return [
        new TextDecoder().decode(buf.subarray(next, next + length)),
        next + length + 2,
      ];
    }
    case 0x2a: { // *
      const count = Number(line);
      if (count < 0) return [null, next];
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, at);
        if (item === undefined) return undefined;
        items.push(item[0]);
        at = item[1];
      }
      return [items, at];
    }
    default:
      throw new RespError(`Protocol error: unexpected byte ${type}`);
  }
}

function indexOfCrlf(buf: Uint8Array, from: number): number {
  for (let i = from; i < buf.length - 1; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10) return i;
  }
  return -1;
}

/** One connection to Redis. Replies come back in the order commands went out. */
export class RespConnection {
  #socket: Socket;
  #pending: {
    resolve: (value: RespValue) => void;
    reject: (error: Error) => void;
  }[] = [];
  #buffer: Uint8Array = new Uint8Array(0);
  #closed: Error | undefined;
  #ready: Promise<void>;
  /** Called with every pushed message once `subscribe` is in use. */
  onPush: ((value: RespValue) => void) | undefined;
  /** Called once when the connection ends, for whatever reason. */
  onClose: (() => void) | undefined;

  constructor(host: string, port: number) {
    this.#socket = connect({ host, port });
    this.#socket.setNoDelay(true);
    this.#ready = new Promise((resolve, reject) => {
      this.#socket.once("connect", () => resolve());
      this.#socket.once("error", reject);
    });
    this.#ready.catch(() => {});
    this.#socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    this.#socket.on("error", (error) => this.#fail(error));
    this.#socket.on(
      "close",
      () => this.#fail(new Error("Connection to Redis closed")),
    );
  }

  /** Whether the connection can no longer be used. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  #fail(error: Error): void {
    if (this.#closed === undefined) {
      this.#closed = error;
      queueMicrotask(() => this.onClose?.());
    }
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) p.reject(error);
  }

  #onData(chunk: Uint8Array): void {
    const merged = new Uint8Array(this.#buffer.length + chunk.length);
    merged.set(this.#buffer);
    merged.set(chunk, this.#buffer.length);
    let offset = 0;
    try {
      for (;;) {
        const parsed = parse(merged, offset);
        if (parsed === undefined) break;
        offset = parsed[1];
        const waiter = this.#pending.shift();
        if (waiter !== undefined) waiter.resolve(parsed[0]);
        else this.onPush?.(parsed[0]);
      }
    } catch (error) {
      this.#socket.destroy();
      this.#fail(error as Error);
      return;
    }
    this.#buffer = merged.slice(offset);
  }

  /** Sends one command; resolves its reply (an error reply resolves as a `RespError`). */
  async send(args: readonly string[]): Promise<RespValue> {
    await this.#ready;
    if (this.#closed) throw this.#closed;
    return new Promise<RespValue>((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#socket.write(encode(args));
    });
  }

  /** Sends commands back to back; resolves all replies in order. */
  async sendAll(
    commands: readonly (readonly string[])[],
  ): Promise<RespValue[]> {
    await this.#ready;
    return Promise.all(commands.map((args) => this.send(args)));
  }

  /**
   * Enters subscriber mode on `channels`; resolves the first confirmation
   * (the others, and later messages, go to `onPush`).
   */
  subscribe(channels: readonly string[]): Promise<RespValue> {
    return this.send(["SUBSCRIBE", ...channels]);
  }

  close(): void {
    this.#socket.destroy();
    this.#fail(new Error("Connection closed by the bridge"));
  }
}

/** Parses `redis://host:port` (the only form the bridge needs). */
export function parseRedisUrl(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  if (parsed.protocol !== "redis:") {
    throw new TypeError(
      `Cannot connect to Redis as the URL must start with redis://: current value is ${
        JSON.stringify(url)
      }`,
    );
  }
  return {
    host: parsed.hostname || "127.0.0.1",
    port: Number(parsed.port || 6379),
  };
}
