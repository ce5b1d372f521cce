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
 *   lost at all, but to a stalled event loop or a request for its lock that
 *   took a sixth of the lease in force (shortened by `extend`: the new
 *   length, from when it was sent), as the proxy timed it between itself and
 *   the backend or its client process from its send to the answer, a
 *   long-poll's wait in the queue left out (must be 0);
 * - hung: an acquisition that waited past the liveness bound, or a call
 *   (release, extend, query, tryAcquire) that never settled (must be 0);
 * - late settles: an acquisition that settled more than `settleBoundMs`
 *   (2 s) past its deadline, its `timeoutMs` or its abort (must be 0; the
 *   distribution past the deadline is reported);
 * - belief without hold: a holder whose signal was quiet while the server
 *   said its lease was not held (must be 0);
 * - withLock results lost: a section that returned while `withLock`
 *   rejected (a failed release must not replace the section's result) (must
 *   be 0).
 *
 * A holder is unlost until its `lease.signal` aborts, or until a steal took
 * its lock: the belief of a section whose lock a steal took (the section of
 * the lowest stealing fence above its own began while it held) ends where
 * the thief's section began, provided its holder heard of it within
 * `stealTellMs` of that — or ended its section within that time, before it
 * could hear: a distributed holder hears at its next renewal, a third of its
 * lease later at most, and its writes meanwhile are the fence's to stop. A
 * holder told later, or never, overlaps its thief. A section whose lease
 * was lost counts, in the overlap check, until the moment its signal aborted
 * (less `lossToleranceMs` and the longest stall of its event loop meanwhile,
 * as a timer cannot fire on time in a stalled loop). A section whose process
 * stalled past its lease (a pause) is left out of the overlap and the
 * fence-order checks, as is every lost section from the fence-order check:
 * its holder could not know, and the fenced store is what must stop its
 * writes.
 */
import {
  EXTENDS,
  mergeCounts,
  R,
  SETTLE_BUCKETS,
  WRITE,
} from "./_workload.mjs";

const METHOD_NAMES = ["acquire", "tryAcquire", "withLock"];
const WRITE_NAMES = ["none", "accepted", "rejected"];

/** A record, readable. */
export function describe(r) {
  if (r === undefined) return undefined;
  const start = r[R.start];
  return {
    name: r[R.name],
    fence: r[R.fence],
    client: r[R.client],
    mode: r[R.shared] === 1 ? "shared" : "exclusive",
    method: METHOD_NAMES[r[R.method] ?? 0],
    leaseMs: r[R.leaseMs],
    extend: EXTENDS[(r[R.extend] ?? 0) - 1] ?? "none",
    start: new Date(start).toISOString(),
    heldMs: Math.round(r[R.end] - start),
    lostAfterMs: r[R.lostAt] > 0 ? Math.round(r[R.lostAt] - start) : undefined,
    write: WRITE_NAMES[r[R.write]],
    slackMs: r[R.slack],
    steal: r[R.steal] === 1,
    toldStolen: r[R.stolen] === 1,
  };
}

/**
 * How much later than the truth a loss may be said: a timer fires late by
 * up to the event loop's stalls, of which those over 60 ms are measured
 * (each record's slack) and those under are not; and a few ms of timer
 * granularity. A client that reckons its lease from the send time of the
 * request that set it says its loss before the server can grant anyone
 * else, so nothing more is owed.
 */
const LOSS_TOLERANCE_MS = 75;

/**
 * How soon the holder of a stolen lease must hear of the steal: at once
 * where the lock lives in this process or its threads' memory (no lease
 * length); otherwise at its next renewal, a third of its lease later at
 * most, plus a request's round trip on a loaded machine.
 */
const stealTellMs = (r) => r[R.leaseMs] > 0 ? r[R.leaseMs] / 3 + 500 : 0;

/** Merges client results and checks them; `stuck` and `waitersLeft` come from the backend. */
export function check({
  names,
  results,
  store,
  stuck = 0,
  waitersLeft = 0,
  lossToleranceMs = LOSS_TOLERANCE_MS,
  slowRequests = [],
}) {
  const counts = {};
  const errors = [];
  const records = [];
  // The proxy's timings, and those a client took of its own backend calls.
  slowRequests = [
    ...slowRequests,
    ...results.flatMap((result) => result.slow ?? []),
  ];
  for (const result of results) {
    mergeCounts(counts, result.counts);
    errors.push(...result.errors);
    for (const r of result.records) records.push(r);
  }
  const byName = names.map(() => []);
  for (const r of records) byName[r[R.name]].push(r);
  let overlaps = 0;
  let fenceOrder = 0;
  /** How far a lost section's belief reached into the next holder's, at most. */
  let beliefOverlapMaxMs = 0;
  const examples = [];
  const fenceExamples = [];
  for (const list of byName) {
    // Each section's belief: from its grant to its end, or to the moment
    // its signal aborted; a pause past the lease is left out.
    const beliefs = [];
    const thieves = list.filter((r) => r[R.steal] === 1)
      .sort((a, b) => a[R.fence] - b[R.fence]);
    for (const r of list) {
      if (r[R.stalled] === 1) continue;
      const lostAt = r[R.lostAt] ?? 0;
      if (r[R.lost] === 1 && lostAt === 0) continue; // an old record
      let end = lostAt > 0 ? Math.min(r[R.end], lostAt) : r[R.end];
      const thief = thieves.find((t) => t[R.fence] > r[R.fence]);
      let stolen = false;
      // The steal may have taken the lock as soon as it was asked for: a
      // grant that outran its lease on the way was given back and stolen
      // again, the lock free between the two (the full run's one
      // upstash/steal overlap: a holder not yet told, and a section granted
      // in that gap, at load 65).
      const stoleAt = thief === undefined
        ? Infinity
        : Math.min(thief[R.start], thief[R.asked] ?? Infinity);
      if (thief !== undefined && stoleAt < end) {
        const heard = r[R.stolen] === 1 ? lostAt : r[R.end];
        stolen = heard - stoleAt <= stealTellMs(r) + (r[R.slack] ?? 0);
        if (stolen) end = stoleAt;
      }
      if (end < r[R.start]) continue;
      // A loss may be said late by the tolerance and the loop's stall.
      const hard = stolen
        ? end
        : lostAt > 0
        ? end - lossToleranceMs - (r[R.slack] ?? 0)
        : end;
      beliefs.push({ r, end, hard });
    }
    beliefs.sort((a, b) => a.r[R.start] - b.r[R.start]);
    let hardAny = -Infinity, hardExclusive = -Infinity;
    let softAny = -Infinity, softExclusive = -Infinity;
    let lastAny, lastExclusive;
    for (const b of beliefs) {
      const r = b.r;
      const shared = r[R.shared] === 1;
      const clash = shared ? r[R.start] < hardExclusive : r[R.start] < hardAny;
      const soft = shared ? softExclusive : softAny;
      if (r[R.start] < soft) {
        beliefOverlapMaxMs = Math.max(beliefOverlapMaxMs, soft - r[R.start]);
      }
      if (clash) {
        overlaps++;
        if (examples.length < 3) {
          const other = shared ? lastExclusive : lastAny;
          examples.push({
            section: describe(r),
            with: describe(other),
            overlapMs: Math.round(
              (shared ? hardExclusive : hardAny) - r[R.start],
            ),
            // For a diagnosis: the steals granted between the two.
            thievesBetween: thieves.filter((t) =>
              t[R.fence] > (other?.[R.fence] ?? Infinity) &&
              t[R.fence] < r[R.fence]
            ).slice(0, 3).map(describe),
          });
        }
      }
      if (b.hard > hardAny) {
        hardAny = b.hard;
        lastAny = r;
      }
      if (!shared && b.hard > hardExclusive) {
        hardExclusive = b.hard;
        lastExclusive = r;
      }
      softAny = Math.max(softAny, b.end);
      if (!shared) softExclusive = Math.max(softExclusive, b.end);
    }
    // Fences rise in the order of unlost exclusive sections. A section whose
    // process stalled past its lease is left out, as from the overlap check:
    // a grant that arrived just before another task's pause is read after
    // it, by which time the lease was reaped and granted again, so its
    // section begins after its successor's with the lower fence (the fenced
    // store turns its write away; the lost-update count checks that).
    const valid = list.filter((r) =>
      r[R.lost] === 0 && r[R.shared] === 0 && r[R.stalled] !== 1
    );
    valid.sort((a, b) => a[R.start] - b[R.start]);
    let lastFence = -Infinity, last;
    for (const r of valid) {
      if (r[R.fence] <= lastFence) {
        fenceOrder++;
        if (fenceExamples.length < 3) {
          fenceExamples.push({ section: describe(r), after: describe(last) });
        }
      }
      lastFence = r[R.fence];
      last = r;
    }
    // Every exclusive grant has its own fence, lost leases included.
    const fences = new Set();
    for (const r of list) {
      if (r[R.shared] === 1) continue;
      if (fences.has(r[R.fence])) fenceOrder++;
      fences.add(r[R.fence]);
    }
  }
  // A lease lost while its holder was healthy: unexpected, unless a request
  // for its lock took half a renewal's period (a sixth of the lease)
  // meanwhile. A renewal goes out a third of the lease after the last one
  // was answered, or half the time left if sooner: one answered in R leaves
  // the next (L - R)/2, so two replies of about L/3 each lose a lease of L,
  // and a client loop lagging under the 60 ms the stall watch notes comes on
  // top. The hops between the proxy and a client, which the proxy cannot
  // time, the client process times (a grant that reached it late).
  let unexpectedLost = 0, lostToSlowBackend = 0;
  const lostExamples = [];
  for (const r of records) {
    if (r[R.unexpected] !== 1) continue;
    const name = names[r[R.name]];
    const leaseMs = r[R.leaseMs] || 30_000;
    // A shortened lease renews a third of its new length apart.
    const renewMs = (r[R.inForceMs] || leaseMs) / 3;
    let slowest = 0;
    // A call a client process timed itself can explain only the losses of
    // its own leases (tasks of one process are numbered process * 100 + t).
    const own = Math.floor(r[R.client] / 100);
    for (const q of slowRequests) {
      if (
        q.lock.includes(name) && q.to >= r[R.start] - leaseMs &&
        q.from <= r[R.lostAt] &&
        (q.process === undefined || q.process === own)
      ) slowest = Math.max(slowest, q.to - q.from);
    }
    if (slowest >= renewMs / 2) lostToSlowBackend++;
    else {
      unexpectedLost++;
      // What the lease was when lost, and the slowest request for its lock
      // meanwhile that the proxy (or the client) timed: for the diagnosis.
      if (lostExamples.length < 3) {
        lostExamples.push({
          ...describe(r),
          inForceMs: r[R.inForceMs],
          waitedMs: Math.round(r[R.start] - r[R.asked]),
          slowestRequestMs: Math.round(slowest),
        });
      }
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
    unexpectedLost,
    hung: counts.hung ?? 0,
    lateSettles: counts.lateSettles ?? 0,
    beliefWithoutHold: counts.beliefWithoutHold ?? 0,
    withLockResultLost: counts.withLockResultLost ?? 0,
    otherErrors: counts.otherErrors ?? 0,
    stuck,
    waitersLeft,
    // What the whole-API workload did, and how acquisitions settled.
    busy: counts.busy ?? 0,
    lostToLag: counts.lostToLag ?? 0,
    lostToSlowBackend,
    beliefOverlapMaxMs: Math.round(beliefOverlapMaxMs),
    api: Object.fromEntries(
      Object.entries(counts).filter(([k]) =>
        k.startsWith("method:") || k.startsWith("extend") ||
        ["checks", "checkErrors", "withLockRuns"].includes(k)
      ),
    ),
    settle: settleSummary(counts),
  };
  report.violations = report.overlaps + report.fenceOrder +
    report.lostUpdates + report.unsignalled + report.unexpectedLost +
    report.hung + report.lateSettles + report.beliefWithoutHold +
    report.withLockResultLost +
    report.otherErrors +
    report.stuck + report.waitersLeft;
  if (examples.length > 0) report.examples = examples;
  if (fenceExamples.length > 0) report.fenceExamples = fenceExamples;
  if (lostExamples.length > 0) report.lostExamples = lostExamples;
  // What went wrong first, then what was merely slow.
  if (errors.length > 0) {
    const slow = errors.filter((e) => e.startsWith("slow: "));
    report.errors = [
      ...errors.filter((e) => !e.startsWith("slow: ")).slice(0, 8),
      ...slow.slice(0, 2),
    ];
  }
  return report;
}

/**
 * How acquisitions that were still pending at their deadline (`timeoutMs`
 * or abort) settled past it: a count, percentiles by histogram bucket (the
 * bucket's upper bound), the maximum, and how many took over 250 ms.
 */
export function settleSummary(counts) {
  const total = counts.settled ?? 0;
  const buckets = [
    ...SETTLE_BUCKETS.map((b) => [b, counts[`settle<=${b}`] ?? 0]),
    [Infinity, counts["settle>2000"] ?? 0],
  ];
  const percentile = (p) => {
    let seen = 0;
    for (const [bound, n] of buckets) {
      seen += n;
      if (seen >= total * p) return bound === Infinity ? ">2000" : bound;
    }
    return 0;
  };
  return {
    count: total,
    p50: total === 0 ? 0 : percentile(0.5),
    p90: total === 0 ? 0 : percentile(0.9),
    p99: total === 0 ? 0 : percentile(0.99),
    max: counts.settleMaxMs ?? 0,
    over250: counts.over250 ?? 0,
  };
}
