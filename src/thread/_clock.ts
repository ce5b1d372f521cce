// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The one clock that every thread of a process reckons a `thread`
 * lock's leases by.
 *
 * Each thread reads `performance.timeOrigin + performance.now()`: a
 * monotonic clock (`performance.now()`) from an origin that the runtime took
 * from the wall clock when the thread started. Node gives every worker the
 * process's origin, so there all threads agree exactly. Deno and Bun give
 * each worker its own origin, read from the wall clock at the worker's
 * start: the threads agree only as well as the wall clock did between their
 * starts — a step of the wall clock in between (NTP, a manual change) leaves
 * one thread's reading behind another's, forever.
 *
 * So every lock region keeps a clock floor in its shared memory: the latest
 * time any thread read under the region's guard. A thread whose reading is
 * behind the floor moves its own clock forward by the difference (its
 * `skew`, which only grows) and writes nothing earlier. Hence:
 *
 * - every time read under a region's guard is at least every time read
 *   under it before, in any thread: the lock's timeline never runs
 *   backwards, whichever thread reads it;
 * - each thread's clock stays monotonic (it only ever adds to its skew) and
 *   runs at the rate of the operating system's monotonic clock, which all
 *   threads share;
 * - a thread that started behind is brought in line at its first guarded
 *   operation, before it writes an expiry that others would reap early.
 *
 * Nor can it tell how old the floor is: a thread that started behind is
 * brought up to the latest time any thread read under the guard, so on a
 * lock that nobody touched for a while its first lease is shorter, in the
 * other threads' eyes, by that idle time — and may be reaped while its
 * holder still believes in it. That takes a step of the wall clock between
 * the two threads' starts (never on Node, whose workers share the process's
 * origin) and an idle lock; the fence is what stops the stale holder.
 *
 * What it cannot do either: a thread whose clock is *ahead* moves the floor, and so
 * everybody, forward when it first takes the guard; a lease renewed before
 * then ends early by that much, once (its holder is told by `lease.signal`
 * at its next renewal). With no common monotonic clock between threads in
 * these runtimes (their `process.hrtime()` also starts per worker), that is
 * the best a lock that shares only memory can do.
 */

let skew = 0;

/** This thread's reading of the shared clock, in milliseconds. */
export function localNow(): number {
  return performance.timeOrigin + performance.now() + skew;
}

/**
 * Reads the clock against the floor at `f64[index]` (call it only under the
 * region's guard): raises the floor to this thread's reading, or this
 * thread's clock to the floor.
 */
export function sharedNow(f64: Float64Array, index: number): number {
  let t = performance.timeOrigin + performance.now() + skew;
  const floor = f64[index]!;
  if (t < floor) {
    skew += floor - t;
    t = floor;
  } else f64[index] = t;
  return t;
}
