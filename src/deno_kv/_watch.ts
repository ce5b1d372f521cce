// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal One `kv.watch()` of a lock's state record per KV handle, for
 * all of this process's waiters of that lock: each change of the state
 * (a release, a grant) reaches every registered waiter at once, and a
 * waiter that finds itself among the holders takes its grant without
 * another request.
 *
 * On a local KV file, `watch()` sees only the writes of this process
 * (denoland/deno #21640): a release in another process does not reach the
 * stream, so waiters still poll (the driver's `pollMs`); the stream only
 * makes handoffs within a process immediate. The stream opens when the
 * first waiter listens and is cancelled when the last one stops: an open
 * watch keeps a Deno process alive.
 */

import type { DenoKvKey, DenoKvLike } from "./_kv.ts";

/** Told the state's raw value at each change (`null`: no state). */
export type StateListener = (raw: unknown) => void;

/** One waiter's registration. */
export interface Registration {
  /** Whether the stream has been up without a break since registering. */
  readonly listening: boolean;
  /** Opens the stream if need be; resolves whether it is up. */
  listen(): Promise<boolean>;
  /** Stops listening; idempotent. */
  stop(): void;
}

class StateWatch {
  #kv: DenoKvLike;
  #key: DenoKvKey;
  #listeners = new Map<object, StateListener>();
  #reader: ReadableStreamDefaultReader<unknown> | undefined;
  /** Counts the streams opened; the current one is up when `#up`. */
  #epoch = 0;
  #up = false;
  #pending: ((up: boolean) => void)[] = [];
  #done: () => void;

  constructor(kv: DenoKvLike, key: DenoKvKey, done: () => void) {
    this.#kv = kv;
    this.#key = key;
    this.#done = done;
  }

  register(listener: StateListener): Registration {
    const id = {};
    this.#listeners.set(id, listener);
    const epoch = this.#up ? this.#epoch : -1;
    const isUp = () => this.#up && this.#epoch === epoch;
    return {
      get listening(): boolean {
        return isUp();
      },
      listen: () => {
        if (!this.#listeners.has(id)) return Promise.resolve(false);
        if (this.#up) return Promise.resolve(true);
        const up = new Promise<boolean>((resolve) =>
          this.#pending.push(resolve)
        );
        this.#open();
        return up;
      },
      stop: () => {
        if (!this.#listeners.delete(id)) return;
        if (this.#listeners.size === 0) this.#close();
      },
    };
  }

  #open(): void {
    if (this.#reader !== undefined) return;
    let stream: ReadableStream<readonly { value: unknown }[]>;
    try {
      stream = this.#kv.watch!([this.#key]);
    } catch {
      return this.#settle(false);
    }
    const reader = stream.getReader();
    this.#reader = reader;
    const epoch = ++this.#epoch;
    // Up from now: the stream's first emission is the state as it stands,
    // so a grant made before it reaches every listener all the same.
    this.#up = true;
    this.#settle(true);
    (async () => {
      try {
        while (true) {
          const { done, value } = await reader.read();
          if (done || this.#reader !== reader) break;
          const raw = value?.[0]?.value ?? null;
          for (const listener of [...this.#listeners.values()]) {
            try {
              listener(raw);
            } catch { /* one waiter's trouble is not the stream's */ }
          }
        }
      } catch {
        // The stream failed (the handle closed, say): waiters poll.
      }
      if (this.#epoch === epoch) {
        this.#up = false;
        if (this.#reader === reader) this.#reader = undefined;
        this.#settle(false);
      }
    })();
  }

  #settle(up: boolean): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const resolve of pending) resolve(up);
  }

  #close(): void {
    const reader = this.#reader;
    this.#reader = undefined;
    this.#up = false;
    this.#epoch++;
    this.#settle(false);
    reader?.cancel().catch(() => {});
    this.#done();
  }
}

const watches = new WeakMap<DenoKvLike, Map<string, StateWatch>>();

/**
 * Registers `listener` for changes of the state record `key` of `kv`,
 * through the one stream this process keeps for it.
 */
export function watchState(
  kv: DenoKvLike,
  key: DenoKvKey,
  listener: StateListener,
): Registration {
  let byKey = watches.get(kv);
  if (byKey === undefined) watches.set(kv, byKey = new Map());
  const id = JSON.stringify(key);
  let watch = byKey.get(id);
  if (watch === undefined) {
    const created = new StateWatch(kv, key, () => {
      if (byKey!.get(id) === created) byKey!.delete(id);
    });
    byKey.set(id, watch = created);
  }
  return watch.register(listener);
}
