// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal A later task, as the Web Locks spec queues a granted request's
 * callback on the event loop: never inside `request()`, and after every
 * microtask of the current task. One task per callback, so that the
 * microtasks of one callback run before the next callback starts, as they
 * would between two tasks of a browser.
 */

type Immediate = (fn: (arg: never) => void, arg: unknown) => unknown;

/** The cheapest task the runtime has. */
const schedule: Immediate = (() => {
  const g = globalThis as unknown as { setImmediate?: Immediate };
  // Node, Deno and Bun: the check phase, about a microsecond.
  if (typeof g.setImmediate === "function") {
    const setImmediate = g.setImmediate;
    return (fn, arg) => setImmediate(fn, arg);
  }
  if (typeof MessageChannel === "function") {
    // Browsers and workerd: each message is its own task.
    const queue: [(arg: never) => void, unknown][] = [];
    let channel: MessageChannel | undefined;
    const port = () => {
      if (channel === undefined) {
        channel = new MessageChannel();
        channel.port1.onmessage = () => {
          const [fn, arg] = queue.shift()!;
          fn(arg as never);
        };
      }
      return channel.port2;
    };
    return (fn, arg) => {
      queue.push([fn, arg]);
      port().postMessage(null);
    };
  }
  return (fn, arg) => setTimeout(() => fn(arg as never), 0);
})();

/** Calls `fn(arg)` in a later task. */
export function inLaterTask<T>(arg: T, fn: (arg: T) => void): void {
  schedule(fn as (arg: never) => void, arg);
}

/** Calls `fn(arg)` in a microtask (`callbackIn: "microtask"`). */
export function inMicrotask<T>(arg: T, fn: (arg: T) => void): void {
  queueMicrotask(() => fn(arg));
}
