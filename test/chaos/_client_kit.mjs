// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal What the chaos clients of locks (_workload.mjs, _child.mjs) and
 * of semaphores (_semaphore_workload.mjs, _semaphore_child.mjs) share: the
 * seeded draws and waits of a workload, its counts, and a client process's
 * report to its runner (_harness.mjs reads it).
 */

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A whole number from `min` to `max`, both included, drawn from `rng`. */
export function between(rng, [min, max]) {
  return min + Math.floor(rng() * (max - min + 1));
}

/** Waits until `signal` aborts or `ms` pass; resolves whether it aborted. */
export function aborted(signal, ms) {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(false);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The counts every client keeps of its acquisitions, all 0. */
export function acquisitionCounts() {
  return {
    attempts: 0,
    granted: 0,
    timeouts: 0,
    aborts: 0,
    backendErrors: 0,
    otherErrors: 0,
    releaseErrors: 0,
    paused: 0,
    lost: 0,
  };
}

/** Adds `counts` into `into`; keys ending in `Max`/`MaxMs` keep the larger. */
export function mergeCounts(into, counts) {
  for (const [key, n] of Object.entries(counts)) {
    into[key] = /Max(Ms)?$/.test(key)
      ? Math.max(into[key] ?? 0, n)
      : (into[key] ?? 0) + n;
  }
  return into;
}

/** `make(name)`, made once per name. */
export function perName(make) {
  const made = new Map();
  return (name) => {
    let value = made.get(name);
    if (value === undefined) {
      value = make(name);
      made.set(name, value);
    }
    return value;
  };
}

/**
 * Runs a client process's `tasks` clients (`run(t, flush)` each) and
 * reports to its runner on stdout: records as they come ("R <json>", so a
 * process killed mid-run still leaves what it finished), then "D <json>"
 * with the summed counts, the errors and the backend calls `slow()` says
 * took long; then exits.
 */
export async function reportTasks(tasks, run, slow = () => undefined) {
  const write = (line) =>
    new Promise((resolve) => process.stdout.write(line + "\n", resolve));
  let pending = Promise.resolve();
  const flush = (records) => {
    const line = `R ${JSON.stringify(records)}`;
    pending = pending.then(() => write(line));
  };
  const results = await Promise.all(
    Array.from({ length: tasks }, (_, t) => run(t, flush)),
  );
  await pending;
  const counts = {};
  for (const r of results) mergeCounts(counts, r.counts);
  await write(
    `D ${
      JSON.stringify({
        counts,
        errors: results.flatMap((r) => r.errors),
        slow: slow(),
      })
    }`,
  );
  process.exit(0);
}
