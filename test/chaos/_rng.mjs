// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A seeded pseudo-random generator (mulberry32), so that a chaos
 * scenario's fault schedule and workload choices replay from its seed.
 */

/** Returns a function giving numbers in [0, 1), the same sequence per seed. */
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A derived seed for one client or component of a scenario. */
export function derive(seed, index) {
  return (Math.imul(seed ^ 0x9e3779b9, 2654435761) + index * 40503) >>> 0;
}

const hrtime = typeof globalThis.process?.hrtime?.bigint === "function" &&
    !("Deno" in globalThis) && !("Bun" in globalThis)
  ? globalThis.process.hrtime.bigint
  : undefined;

/**
 * One timeline for every process and thread on this machine, in ms. On Node
 * it is the system's monotonic clock (`process.hrtime`, CLOCK_MONOTONIC on
 * Linux), the same in every process: `performance.timeOrigin + now()` is not,
 * since each process pairs its wall clock with its monotonic clock once at
 * start, and a start slowed by a loaded machine paired them tens of
 * milliseconds apart (23 ms measured here), which made one process's sections
 * seem to overlap another's.
 */
export function now() {
  return hrtime === undefined
    ? performance.timeOrigin + performance.now()
    : Number(hrtime()) / 1e6;
}
