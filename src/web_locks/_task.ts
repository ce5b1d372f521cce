// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal A later task, as the Web Locks spec queues a granted request's
 * callback on the event loop: never inside `request()`, after every
 * microtask of the requesting task, and one callback per task, so that the
 * microtasks of one callback run before the next callback starts, as they
 * would between two tasks of a browser.
 *
 * A turn of the event loop (`setImmediate`) costs about a microsecond, most
 * of a local request. On Node, Deno and Bun a `process.nextTick` queued from
 * inside a microtask runs only once the microtask queue is empty (the
 * runtime drains every microtask, those queued meanwhile included, before it
 * looks at the tick queue again): that is "after every microtask of the
 * current task" at a third of the cost. Callbacks go through one FIFO queue
 * and one such hop at a time, each hop queued from a microtask after the
 * previous callback ran, so each callback still starts on an empty
 * microtask queue. A run of hops longer than `YIELD_AFTER_MS` takes a real
 * turn of the event loop, so that a long run of handoffs cannot starve
 * timers and I/O (a browser would run other tasks between them too).
 */

type Immediate = (fn: () => void) => unknown;

/** Hops by `process.nextTick` between two looks at the clock. */
const CHECK_EVERY = 64;
/** How long a run of such hops may keep the event loop from its other tasks. */
const YIELD_AFTER_MS = 1;

const g = globalThis as unknown as {
  setImmediate?: Immediate;
  process?: { nextTick?: (fn: () => void) => void };
  navigator?: { userAgent?: string };
  Deno?: unknown;
  Bun?: unknown;
};

/** The cheapest real task the runtime has. */
const task: Immediate = (() => {
  // Node, Deno and Bun: the check phase, about a microsecond.
  if (typeof g.setImmediate === "function") {
    const setImmediate = g.setImmediate;
    return (fn) => setImmediate(fn);
  }
  if (typeof MessageChannel === "function") {
    // Browsers and workerd: each message is its own task.
    let channel: MessageChannel | undefined;
    return (fn) => {
      if (channel === undefined) {
        channel = new MessageChannel();
        // (Only runTurn is ever passed: the queue is this module's own.)
        channel.port1.onmessage = fn;
      }
      channel.port2.postMessage(null);
    };
  }
  return (fn) => setTimeout(fn, 0);
})();

/**
 * `process.nextTick` where its queue is known to run after the microtask
 * queue drains (Node, Deno, Bun; checked by the conformance suite on each).
 * Not workerd's (with `nodejs_compat`): its order is not checked here.
 */
const nextTick: ((fn: () => void) => void) | undefined = (() => {
  const tick = g.process?.nextTick;
  if (typeof tick !== "function" || typeof g.setImmediate !== "function") {
    return undefined;
  }
  if (g.navigator?.userAgent === "Cloudflare-Workers") return undefined;
  const known = typeof g.Deno === "object" || typeof g.Bun === "object" ||
    typeof (g.process as { versions?: { node?: unknown } }).versions?.node ===
      "string";
  return known ? (fn) => tick(fn) : undefined;
})();

// The callbacks waiting for their task, in order: two arrays read from head.
let fns: ((arg: never) => void)[] = [];
let args: unknown[] = [];
let head = 0;
/** A hop is on its way: the queue's head runs when it lands. */
let scheduled = false;
let hops = 0;
/** When the event loop last ran a task of ours (performance.now()). */
let turned = 0;

function runOne(): void {
  const fn = fns[head]!;
  const arg = args[head];
  fns[head] = undefined as never;
  args[head] = undefined;
  head++;
  try {
    fn(arg as never);
  } finally {
    if (head < fns.length) {
      // A queue that never empties (many names granted at once, over and
      // over) is compacted now and then rather than left to grow.
      if (head >= 1024 && head * 2 >= fns.length) {
        fns = fns.slice(head);
        args = args.slice(head);
        head = 0;
      }
      hop();
    } else {
      fns = [];
      args = [];
      head = 0;
      scheduled = false;
    }
  }
}

const tickThenRun = (): void => nextTick!(runOne);
/**
 * A promise reaction is the cheapest microtask: Node's `queueMicrotask` makes
 * an async resource per call, which cost more than the hop it schedules.
 */
const settled: Promise<void> = Promise.resolve();

/** A real turn of the event loop: the clock restarts. */
function runTurn(): void {
  turned = performance.now();
  runOne();
}

/** Sends the queue's head on its way to a later task. */
function hop(): void {
  if (
    nextTick !== undefined &&
    (++hops < CHECK_EVERY ||
      // (A turn costs far more than the clock: under load, the process's
      // core itself. Hence a turn per millisecond, not per 64 hops.)
      (hops = 0, performance.now() - turned < YIELD_AFTER_MS))
  ) {
    // From a microtask, so that the tick lands after the microtasks drain.
    void settled.then(tickThenRun);
  } else task(runTurn);
}

/** Calls `fn(arg)` in a later task. */
export function inLaterTask<T>(arg: T, fn: (arg: T) => void): void {
  fns.push(fn as (arg: never) => void);
  args.push(arg);
  if (!scheduled) {
    scheduled = true;
    hop();
  }
}

/** Calls `fn(arg)` in a microtask (`callbackIn: "microtask"`). */
export function inMicrotask<T>(arg: T, fn: (arg: T) => void): void {
  void settled.then(() => fn(arg));
}
