// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal One wake-up subscription per transport (one Redis client, one
 * process or isolate) for all of its locks and waiters.
 *
 * The transport listens on one channel of its own; a waiter's queue entry
 * in Redis records that channel, and a handoff publishes the grant there
 * only, addressed to the waiter's token. Draining N waiters spread over N
 * clients costs N deliveries, not N² (every client hearing every handoff),
 * and one stream per client, not one per lock.
 *
 * The stream opens when the first waiter is queued and closes at once when
 * the last one stops, so that it never keeps a process alive. A stream that
 * ends or fails is replaced at once (then with backoff); once it is back,
 * every waiter is told to ask again, since a grant may have been pushed to
 * nobody meanwhile.
 */

import type { UpstashTransport } from "./_rest.ts";
import type { EventStream } from "./_sse.ts";
import { unref } from "../core/_unref.ts";

/** How long a stream may take to confirm its subscription. */
const HANDSHAKE_MS = 3_000;
/** The longest wait between two attempts to open a stream. */
const MAX_BACKOFF_MS = 5_000;

/** What one waiter hears. */
export interface WakeListener {
  /** A grant pushed to this waiter's token: "fence runMs call". */
  onGrant(fence: number, runMs: number, call: number): void;
  /** The stream (re)confirmed its subscription: pushes may have been lost. */
  onLive(): void;
}

/** One waiter's registration. */
export interface WakeRegistration {
  /** Resolves whether pushes can arrive now (false: poll). */
  readonly live: Promise<boolean>;
  /** Asks for the stream: this waiter is queued. */
  need(): void;
  /** Stops listening; idempotent. */
  stop(): void;
}

interface Entry {
  listener: WakeListener;
  needed: boolean;
  settle: ((live: boolean) => void) | undefined;
}

/** The subscription of one transport. */
export class WakeHub {
  /** The channel this transport's waiters are pushed their grants on. */
  readonly channel: string = `unilock:w:${crypto.randomUUID()}`;
  #transport: UpstashTransport;
  #entries = new Map<string, Entry>();
  #stream: EventStream | undefined;
  /** When the current stream confirmed its subscription (0: not yet). */
  #liveSince = 0;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Leases this client holds that were granted to a waiter of this hub: the
   * stream stays open while they are held (the process is busy with them
   * anyway), so that the next acquisition after a release finds it warm,
   * and closes at the first task after the last one ends and nobody waits.
   */
  #holds = new Set<string>();
  #closing: ReturnType<typeof setTimeout> | undefined;
  /** Streams opened, for tests. */
  opened = 0;

  /**
   * Constructs a new instance.
   *
   * @param transport Where the stream comes from (it must `subscribe`).
   */
  constructor(transport: UpstashTransport) {
    this.#transport = transport;
  }

  /** Whether the stream is confirmed, and since when (performance.now()). */
  get liveSince(): number {
    return this.#liveSince;
  }

  /**
   * Listens for pushes to `token`.
   *
   * @param token The waiter's token.
   * @param listener Called with its grant, and when the stream comes back.
   * @returns The registration.
   */
  watch(token: string, listener: WakeListener): WakeRegistration {
    const entry: Entry = { listener, needed: false, settle: undefined };
    const live = this.#liveSince > 0
      ? Promise.resolve(true)
      : new Promise<boolean>((resolve) => (entry.settle = resolve));
    this.#entries.set(token, entry);
    return {
      live,
      need: () => {
        if (this.#entries.get(token) !== entry || entry.needed) return;
        entry.needed = true;
        this.#ensure();
      },
      stop: () => {
        if (this.#entries.get(token) !== entry) return;
        this.#entries.delete(token);
        entry.settle?.(false);
        entry.settle = undefined;
        this.#closeIfIdle();
      },
    };
  }

  /** A lease granted to a waiter of this hub is held now. */
  hold(token: string): void {
    if (this.#stream !== undefined) this.#holds.add(token);
  }

  /** That lease ended (released, or given up). */
  unhold(token: string): void {
    if (!this.#holds.delete(token) || this.#holds.size > 0) return;
    // At the next task: a release followed at once by an acquire (a loop)
    // keeps the stream; otherwise it closes before the process could idle.
    clearTimeout(this.#closing);
    this.#closing = setTimeout(() => {
      this.#closing = undefined;
      this.#closeIfIdle();
    }, 0);
  }

  /**
   * Closes the stream once no lease of this hub is held and nobody is
   * registered: a waiter registered but not yet queued (its first call on
   * its way) keeps an open stream, though it would not open one.
   */
  #closeIfIdle(): void {
    if (this.#holds.size === 0 && this.#entries.size === 0) this.#close();
  }

  /**
   * Replaces the stream now: something says it may be dead although it
   * did not end (Redis forgot its scripts; a grant was found by polling
   * while the stream claimed to be live).
   */
  suspect(): void {
    if (this.#stream === undefined) return;
    this.#drop();
    this.#ensure();
  }

  #needed(): boolean {
    for (const e of this.#entries.values()) if (e.needed) return true;
    return false;
  }

  #ensure(): void {
    if (this.#stream !== undefined || this.#timer !== undefined) return;
    if (!this.#needed()) return;
    this.#connect();
  }

  #connect(): void {
    const transport = this.#transport;
    if (transport.subscribe === undefined) return this.#settleAll(false);
    this.opened++;
    let stream: EventStream | undefined = undefined;
    const handshake = setTimeout(() => {
      if (this.#stream !== stream || this.#liveSince > 0) return;
      this.#failed();
    }, HANDSHAKE_MS);
    unref(handshake);
    stream = transport.subscribe(this.channel, {
      onData: (data) => {
        if (this.#stream !== stream) return;
        this.#onData(data, handshake);
      },
      onClose: () => {
        clearTimeout(handshake);
        if (this.#stream !== stream) return;
        this.#failed();
      },
    });
    this.#stream = stream;
  }

  #onData(data: string, handshake: ReturnType<typeof setTimeout>): void {
    const prefix = `message,${this.channel},`;
    if (data.startsWith(prefix)) {
      // "token fence runMs call"; the token is all before the last three.
      const parts = data.slice(prefix.length).split(" ");
      if (parts.length < 4) return;
      const call = Number(parts.pop());
      const runMs = Number(parts.pop());
      const fence = Number(parts.pop());
      const entry = this.#entries.get(parts.join(" "));
      if (
        entry !== undefined && Number.isSafeInteger(fence) &&
        Number.isFinite(runMs) && Number.isSafeInteger(call)
      ) entry.listener.onGrant(fence, runMs, call);
      return;
    }
    if (
      data.startsWith(`subscribe,${this.channel},`) && this.#liveSince === 0
    ) {
      clearTimeout(handshake);
      this.#liveSince = performance.now();
      this.#settleAll(true);
      for (const e of [...this.#entries.values()]) e.listener.onLive();
    }
  }

  #settleAll(live: boolean): void {
    for (const e of this.#entries.values()) {
      e.settle?.(live);
      e.settle = undefined;
    }
  }

  /** The stream died (or never came up): listen again, soon. */
  #failed(): void {
    // A stream that lived a while died of something new: retry at once.
    if (this.#liveSince > 0 && performance.now() - this.#liveSince > 1_000) {
      this.#failures = 0;
    }
    this.#drop();
    this.#settleAll(false);
    if (!this.#needed()) return;
    // At once the first time (a restart is noticed as it happens), then
    // with jittered backoff while it keeps failing.
    const ms = this.#failures === 0
      ? 0
      : Math.min(MAX_BACKOFF_MS, 50 * 2 ** this.#failures) *
        (0.5 + Math.random() / 2);
    this.#failures++;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#ensure();
    }, ms);
    unref(this.#timer);
  }

  #drop(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    this.#liveSince = 0;
    stream?.close();
  }

  #close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#closing);
    this.#closing = undefined;
    this.#holds.clear();
    this.#failures = 0;
    this.#drop();
  }
}

const hubs = new WeakMap<UpstashTransport, WakeHub>();

/**
 * The one hub of `transport` (it also hears when Redis forgot its scripts).
 *
 * @param transport The transport.
 * @returns Its hub.
 */
export function hubOf(transport: UpstashTransport): WakeHub {
  let hub = hubs.get(transport);
  if (hub === undefined) {
    const created = new WakeHub(transport);
    hub = created;
    hubs.set(transport, created);
    const previous = transport.onRestart;
    transport.onRestart = () => {
      previous?.();
      created.suspect();
    };
  }
  return hub;
}
