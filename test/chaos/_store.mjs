// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The fenced storage pattern, as users of a lock should copy it:
 * every read and write carries the lease's fence, and the store refuses any
 * operation whose fence is lower than the highest it has seen for that key.
 * A holder that paused past its lease and came back with an old fence is
 * turned away instead of overwriting a newer holder's work.
 *
 * Three ways to reach one: in memory (tasks), over HTTP (other processes),
 * and in a SharedArrayBuffer (worker threads).
 */
import { createServer } from "node:http";

/** The in-memory store; `state()` is what the checker reads at the end. */
export class FencedStore {
  #keys = new Map();

  #key(name) {
    let key = this.#keys.get(name);
    if (key === undefined) {
      key = { value: 0, fence: 0, accepted: 0, rejected: 0 };
      this.#keys.set(name, key);
    }
    return key;
  }

  /** The value, or `undefined` when `fence` is stale. */
  read(name, fence) {
    const key = this.#key(name);
    if (fence < key.fence) {
      key.rejected++;
      return undefined;
    }
    key.fence = fence;
    return key.value;
  }

  /** Whether the write was accepted. */
  write(name, fence, value) {
    const key = this.#key(name);
    if (fence < key.fence) {
      key.rejected++;
      return false;
    }
    key.fence = fence;
    key.value = value;
    key.accepted++;
    return true;
  }

  /** Reads without a fence (for shared holders, which do not write). */
  peek(name) {
    return this.#key(name).value;
  }

  state() {
    return Object.fromEntries(this.#keys);
  }
}

/** Serves a store to other processes: POST /read|/write|/peek with JSON. */
export async function serveStore(store) {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const { name, fence, value } = JSON.parse(body);
      let result;
      if (req.url === "/read") result = store.read(name, fence) ?? null;
      else if (req.url === "/write") result = store.write(name, fence, value);
      else result = store.peek(name);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(result));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

/** A client of `serveStore`, with the store's interface (async). */
export function remoteStore(url) {
  const call = async (op, payload) => {
    const res = await fetch(`${url}/${op}`, {
      method: "POST",
      body: JSON.stringify(payload),
    });
    return await res.json();
  };
  return {
    read: async (name, fence) =>
      (await call("read", { name, fence })) ?? undefined,
    write: (name, fence, value) => call("write", { name, fence, value }),
    peek: (name) => call("peek", { name }),
  };
}

// SharedArrayBuffer layout per key: guard, fence, value, accepted, rejected.
const WORDS = 5;

/** A store in shared memory for worker threads, guarded by its own spin word. */
export class SharedFencedStore {
  #words;
  #names;

  /** `buffer` from `SharedFencedStore.buffer(names.length)`. */
  constructor(buffer, names) {
    this.#words = new Int32Array(buffer);
    this.#names = names;
  }

  static buffer(count) {
    return new SharedArrayBuffer(count * WORDS * 4);
  }

  #op(name, fn) {
    const base = this.#names.indexOf(name) * WORDS;
    const w = this.#words;
    while (Atomics.compareExchange(w, base, 0, 1) !== 0) { /* spin */ }
    try {
      return fn(w, base);
    } finally {
      Atomics.store(w, base, 0);
    }
  }

  read(name, fence) {
    return this.#op(name, (w, b) => {
      if (fence < w[b + 1]) {
        w[b + 4]++;
        return undefined;
      }
      w[b + 1] = fence;
      return w[b + 2];
    });
  }

  write(name, fence, value) {
    return this.#op(name, (w, b) => {
      if (fence < w[b + 1]) {
        w[b + 4]++;
        return false;
      }
      w[b + 1] = fence;
      w[b + 2] = value;
      w[b + 3]++;
      return true;
    });
  }

  peek(name) {
    return this.#op(name, (w, b) => w[b + 2]);
  }

  state() {
    return Object.fromEntries(
      this.#names.map((name) => [
        name,
        this.#op(name, (w, b) => ({
          value: w[b + 2],
          fence: w[b + 1],
          accepted: w[b + 3],
          rejected: w[b + 4],
        })),
      ]),
    );
  }
}
