// Copyright 2026 the unilock authors. MIT license.
// The measuring loops shared by the distributed-lock benchmarks. A peer is
// make(name) → acquire() → release(); `requests` counts what was sent:
// { reset(): Promise<void>, read(): Promise<number> }.

export const HOLD_MS = 10;

export function percentile(sorted, p) {
  return sorted.length
    ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
    : NaN;
}

/** Requests per acquire + release, after a warm-up pair. */
export async function uncontended(make, requests, n) {
  const acquire = make(`bench-${crypto.randomUUID()}`);
  await (await acquire())(); // warm-up (scripts, connections)
  await requests.reset();
  for (let i = 0; i < n; i++) await (await acquire())();
  return (await requests.read()) / n;
}

/**
 * `contenders` clients each take the lock `each` times and hold it HOLD_MS.
 * Returns requests per acquisition, utilization (hold time ÷ elapsed),
 * wake-up latency (a release to the next holder in another client) and the
 * overlaps seen (must be 0).
 */
export async function contended(make, requests, contenders, each) {
  const name = `bench-${crypto.randomUUID()}`;
  const acquires = Array.from({ length: contenders }, () => make(name));
  await (await acquires[0]())(); // warm-up
  await new Promise((r) => setTimeout(r, 50));
  await requests.reset();
  let held = 0, lastRelease = 0, lastHolder = -1, inside = 0, overlaps = 0;
  const wakes = [];
  const start = performance.now();
  await Promise.all(acquires.map(async (acquire, id) => {
    for (let i = 0; i < each; i++) {
      const release = await acquire();
      const got = performance.now();
      if (++inside > 1) overlaps++;
      if (lastHolder !== id && lastRelease > 0) wakes.push(got - lastRelease);
      await new Promise((r) => setTimeout(r, HOLD_MS));
      inside--;
      held += performance.now() - got;
      lastRelease = performance.now();
      lastHolder = id;
      await release();
    }
  }));
  const elapsed = performance.now() - start;
  const sent = await requests.read();
  wakes.sort((a, b) => a - b);
  return {
    perAcquisition: sent / (contenders * each),
    utilization: held / elapsed,
    p50: percentile(wakes, 0.5),
    p99: percentile(wakes, 0.99),
    overlaps,
  };
}
