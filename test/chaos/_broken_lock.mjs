// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A lock that skips its check, for proving the checker can fail:
 * it grants every acquire at once, and a holder arriving while others hold
 * gets their fence (a backend that forgot its holder and granted twice). Its
 * `query()` and `isLocked()` say nobody holds it (a holder's belief the
 * server does not share), and every other `withLock` rejects after its
 * section returned (a failed release replacing the section's result).
 */
import { registerLockType } from "unilock";

export const BROKEN_TYPE = "chaos-broken";

class BrokenLock {
  type = BROKEN_TYPE;
  #fence = 0;
  #held = 0;

  constructor(name) {
    this.name = name;
  }

  acquire(options = {}) {
    if (this.#held === 0) this.#fence++;
    this.#held++;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        this.#held--;
      }
      return Promise.resolve();
    };
    return Promise.resolve({
      name: this.name,
      mode: options.mode ?? "exclusive",
      fence: this.#fence,
      signal: new AbortController().signal,
      get released() {
        return released;
      },
      release,
      extend: () => Promise.resolve(),
      [Symbol.asyncDispose]() {
        return this.release();
      },
    });
  }

  tryAcquire(options) {
    return this.acquire(options);
  }

  #runs = 0;

  async withLock(fn, options) {
    const lease = await this.acquire(options);
    let result;
    try {
      result = await fn(lease);
    } finally {
      await lease.release();
    }
    if (this.#runs++ % 2 === 1) {
      throw Object.assign(new Error("the release failed"), {
        name: "LockBackendError",
      });
    }
    return result;
  }

  isLocked() {
    return Promise.resolve(false);
  }

  query() {
    return Promise.resolve({ held: [], pending: [] });
  }
}

registerLockType(BROKEN_TYPE, (options) => new BrokenLock(options.name));
