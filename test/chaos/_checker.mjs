// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The mutual-exclusion checker. From the critical sections every
 * client recorded and the fenced store's final state, it counts:
 *
 * - overlaps: two sections of one name, at least one exclusive, overlapping
 *   in time while neither lease had been lost by the section's end (must be 0);
 * - fence order: exclusive sections of one name, in time order, whose fences
 *   do not strictly increase, or two exclusive grants with one fence (must be 0);
 * - lost updates: a name's final value differs from the writes the store
 *   accepted, so two read-modify-writes interleaved (must be 0);
 * - stale writes: writes the fenced store turned away (a stale holder stopped
 *   by its fence: the pattern working, not a violation);
 * - unsignalled: leases lost (a stale write, or a pause past the lease) whose
 *   `lease.signal` never aborted (must be 0);
 * - unexpected lost leases: in a scenario without faults or pauses, any lease
 *   lost at all (must be 0);
 * - hung: an acquisition that waited past the liveness bound (must be 0).
 *
 * A section whose lease was lost (its signal aborted before its release)
 * is left out of the overlap and fence-order checks: its holder was told, and
 * the fenced store is what must stop its writes.
 */
import { R, WRITE } from "./_workload.mjs";

/** Merges client results and checks them; `stuck` and `waitersLeft` come from the backend. */
export function check({ names, results, store, stuck = 0, waitersLeft = 0 }) {
  const counts = {};
  const errors = [];
  const records = [];
  for (const result of results) {
    for (const [key, n] of Object.entries(result.counts)) {
      counts[key] = (counts[key] ?? 0) + n;
    }
    errors.push(...result.errors);
    for (const r of result.records) records.push(r);
  }
  const byName = names.map(() => []);
  for (const r of records) byName[r[R.name]].push(r);
  let overlaps = 0;
  let fenceOrder = 0;
  const examples = [];
  for (const list of byName) {
    const valid = list.filter((r) => r[R.lost] === 0);
    valid.sort((a, b) => a[R.start] - b[R.start]);
    let endAny = -Infinity, endExclusive = -Infinity;
    let lastAny, lastExclusive;
    let lastFence = -Infinity;
    for (const r of valid) {
      const shared = r[R.shared] === 1;
      const clash = shared ? r[R.start] < endExclusive : r[R.start] < endAny;
      if (clash) {
        overlaps++;
        if (examples.length < 3) {
          examples.push({
            section: r,
            with: shared ? lastExclusive : lastAny,
          });
        }
      }
      if (!shared) {
        if (r[R.fence] <= lastFence) fenceOrder++;
        lastFence = r[R.fence];
      }
      if (r[R.end] > endAny) {
        endAny = r[R.end];
        lastAny = r;
      }
      if (!shared && r[R.end] > endExclusive) {
        endExclusive = r[R.end];
        lastExclusive = r;
      }
    }
    // Every exclusive grant has its own fence, lost leases included.
    const fences = new Set();
    for (const r of list) {
      if (r[R.shared] === 1) continue;
      if (fences.has(r[R.fence])) fenceOrder++;
      fences.add(r[R.fence]);
    }
  }
  let accepted = 0, rejected = 0, lostUpdates = 0;
  for (const name of names) {
    const key = store[name] ?? { value: 0, accepted: 0, rejected: 0 };
    accepted += key.accepted;
    rejected += key.rejected;
    if (key.value !== key.accepted) lostUpdates += key.accepted - key.value;
  }
  const sectionsWritten = records.filter((r) => r[R.write] === WRITE.accepted)
    .length;
  const report = {
    sections: records.length,
    attempts: counts.attempts ?? 0,
    timeouts: counts.timeouts ?? 0,
    aborts: counts.aborts ?? 0,
    steals: counts.steals ?? 0,
    backendErrors: counts.backendErrors ?? 0,
    releaseErrors: counts.releaseErrors ?? 0,
    paused: counts.paused ?? 0,
    lostLeases: counts.lost ?? 0,
    lostSignalled: counts.lostSignalled ?? 0,
    staleWritesRejected: rejected,
    writesAccepted: accepted,
    // Violations: each must be 0.
    overlaps,
    fenceOrder,
    lostUpdates,
    // Accepted writes the store saw but no surviving record holds: only
    // clients killed mid-section may leave these.
    unrecordedWrites: accepted - sectionsWritten,
    unsignalled: counts.unsignalled ?? 0,
    unexpectedLost: counts.unexpectedLost ?? 0,
    hung: counts.hung ?? 0,
    otherErrors: counts.otherErrors ?? 0,
    stuck,
    waitersLeft,
  };
  report.violations = report.overlaps + report.fenceOrder +
    report.lostUpdates + report.unsignalled + report.unexpectedLost +
    report.hung +
    report.otherErrors +
    report.stuck + report.waitersLeft;
  if (examples.length > 0) report.examples = examples;
  if (errors.length > 0) report.errors = errors.slice(0, 5);
  return report;
}
