// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal One semaphore chaos client: acquires random permits of random
 * names, holds them a while, and records (name, fence, client, permits,
 * start, end, lost) for the over-admission checker. It times out, aborts
 * and pauses past its lease at random when the scenario asks, with the
 * choices drawn from a seeded generator. Runs the same in a task or a child
 * process.
 *
 * A record's `start` and `end` lie inside its lease (after the grant came,
 * before the release went), so sections that overlap in time held their
 * permits at once.
 */
import { aborted, between, sleep } from "./_client_kit.mjs";
import { acquisitionCounts, mergeCounts } from "./_client_kit.mjs";
import { now, seeded } from "./_rng.mjs";

/** Record fields, in order (records travel between processes as arrays). */
export const S = {
  name: 0,
  fence: 1,
  client: 2,
  permits: 3,
  start: 4,
  end: 5,
  lost: 6,
  /** When the acquisition was asked for (before its first request). */
  asked: 7,
  /**
   * 1 when the isolate stalled unasked (a stopped process, a starved loop)
   * for half the lease or more while the permits were asked for or held:
   * the holder could not know its lease ran out, and only a fence could
   * stop it, so the over-admission sweep leaves it out (as the lock
   * checker does).
   */
  stalled: 8,
};

// Stalls of this isolate: a pause stops every task in it, so every lease
// held across a stall longer than the lease is lost, not only the pauser's.
const stalls = [];

function stalledPast(start, end, leaseMs) {
  return stalls.some(([from, to]) =>
    from >= start && to <= end && to - from > leaseMs
  );
}

// Stalls nobody asked for (SIGSTOP, a loaded machine): a tick every 20 ms
// notes how late it came.
const lags = [];
let monitors = 0;
let monitor;
/** The monitor's latest tick: a stall still unseen by it runs from here. */
let lastTick = 0;

function watchLag() {
  if (monitors++ > 0) return;
  lastTick = now();
  monitor = setInterval(() => {
    const t = now();
    if (t - lastTick > 60) {
      lags.push([lastTick, t]);
      if (lags.length > 256) lags.shift();
    }
    lastTick = t;
  }, 20);
  monitor.unref?.();
}

function unwatchLag() {
  if (--monitors === 0) clearInterval(monitor);
}

/**
 * Whether the isolate stalled unasked for half the lease near [asked, end],
 * counting the stall the monitor has not ticked after yet: a section's own
 * timer may fire before the monitor's once a stopped process runs again.
 */
function laggedNear(asked, end, leaseMs) {
  return [...lags, [lastTick, now()]].some(([from, to]) =>
    to >= asked && from <= end && to - from > leaseMs / 2
  );
}

/**
 * Runs one client.
 *
 * @param {object} config
 * @param {(name: string) => import("unilock").Semaphore} config.semaphore the semaphore for a name
 * @param {string[]} config.names
 * @param {number} config.capacity the semaphores' permits
 * @param {number} config.client this client's number
 * @param {number} config.sections how many acquisitions to attempt
 * @param {number} config.seed
 * @param {number} [config.deadline] stop starting sections after this time (now())
 * @param {[number, number]} [config.holdMs]
 * @param {[number, number]} [config.permits] how many permits each acquisition takes
 * @param {number} [config.timeoutRatio]
 * @param {[number, number]} [config.timeoutMs]
 * @param {number} [config.abortRatio]
 * @param {[number, number]} [config.abortMs]
 * @param {number} [config.pauseRatio] sections that stall this isolate past their lease
 * @param {number} [config.pauseMs]
 * @param {number} [config.leaseMs]
 * @param {boolean} [config.strictLeases] count any lost lease as a violation
 * @param {[number, number]} [config.priorities]
 * @param {number} [config.livenessMs]
 * @param {(records: unknown[][]) => void} [config.flush]
 */
export async function runSemaphoreClient(config) {
  const {
    semaphore,
    names,
    capacity,
    client,
    sections,
    seed,
    deadline = Infinity,
    holdMs = [0, 2],
    permits = [1, capacity],
    timeoutRatio = 0,
    timeoutMs = [1, 20],
    abortRatio = 0,
    abortMs = [0, 10],
    pauseRatio = 0,
    pauseMs = 0,
    leaseMs,
    strictLeases = false,
    priorities,
    livenessMs = 60_000,
    flush,
  } = config;
  const rng = seeded(seed);
  const counts = {
    ...acquisitionCounts(),
    unsignalled: 0,
    unexpectedLost: 0,
    hung: 0,
  };
  const errors = [];
  let records = [];
  watchLag();
  try {
    for (let i = 0; i < sections && now() < deadline; i++) {
      const nameIndex = Math.floor(rng() * names.length);
      const name = names[nameIndex];
      const want = between(rng, permits);
      const options = { permits: want };
      if (leaseMs !== undefined) options.leaseMs = leaseMs;
      if (priorities !== undefined) options.priority = between(rng, priorities);
      if (rng() < timeoutRatio) options.timeoutMs = between(rng, timeoutMs);
      let abortTimer;
      if (rng() < abortRatio) {
        const controller = new AbortController();
        options.signal = controller.signal;
        const reason = Object.assign(new Error("chaos abort"), {
          name: "ChaosAbort",
        });
        abortTimer = setTimeout(
          () => controller.abort(reason),
          between(rng, abortMs),
        );
      }
      const pause = rng() < pauseRatio;
      const hold = between(rng, holdMs);
      counts.attempts++;
      const watchdog = new AbortController();
      const hung = Object.assign(new Error("chaos watchdog"), {
        name: "ChaosHung",
      });
      const watchdogTimer = setTimeout(() => watchdog.abort(hung), livenessMs);
      options.signal = options.signal === undefined
        ? watchdog.signal
        : AbortSignal.any([options.signal, watchdog.signal]);
      const asked = now();
      let lease;
      try {
        lease = await semaphore(name).acquire(options);
      } catch (error) {
        const kind = error?.name;
        if (kind === "TimeoutError") counts.timeouts++;
        else if (kind === "ChaosAbort") counts.aborts++;
        else if (kind === "ChaosHung") {
          counts.hung++;
          if (errors.length < 5) {
            errors.push(
              `an acquisition of ${name} hung ${Math.round(now() - asked)} ms`,
            );
          }
        } else if (kind === "LockBackendError") {
          counts.backendErrors++;
          i--;
          await sleep(between(rng, [20, 200]));
        } else {
          counts.otherErrors++;
          if (errors.length < 5) errors.push(String(error?.stack ?? error));
        }
        continue;
      } finally {
        clearTimeout(abortTimer);
        clearTimeout(watchdogTimer);
      }
      counts.granted++;
      if (lease.permits !== want) {
        counts.otherErrors++;
        if (errors.length < 5) {
          errors.push(`asked for ${want} permits, got ${lease.permits}`);
        }
      }
      const start = now();
      if (pause && leaseMs !== undefined) {
        counts.paused++;
        // A stop-the-world pause past the lease: this lease is lost, and so
        // is every other this isolate holds across it.
        const from = now();
        const until = performance.now() + pauseMs;
        while (performance.now() < until) { /* stalled */ }
        stalls.push([from, now()]);
        if (stalls.length > 64) stalls.shift();
      } else if (hold > 0) await sleep(hold);
      else await null;
      const end = now();
      const stalled = leaseMs !== undefined && stalledPast(start, end, leaseMs);
      if (stalled) {
        // Its signal must say so, soon after the event loop runs again.
        if (!(await aborted(lease.signal, (leaseMs ?? 0) * 2 + 2_000))) {
          counts.unsignalled++;
          if (errors.length < 5) {
            errors.push(`unsignalled lost lease of ${name} (${lease.fence})`);
          }
        }
      }
      const lost = lease.signal.aborted;
      if (lost) {
        counts.lost++;
        if (strictLeases && !stalled) {
          // Once the turn it resumed in is over, the lag monitor's late
          // tick has noted a stall (see the lock workload's record()).
          await sleep(1);
          // A loop that stalled unasked for a renewal's period (a third of
          // the lease) explains the loss, as in the lock workload.
          if (laggedNear(asked, end, ((leaseMs ?? 30_000) * 2) / 3)) {
            counts.lostToLag = (counts.lostToLag ?? 0) + 1;
          } else counts.unexpectedLost++;
        }
      }
      records.push([
        nameIndex,
        lease.fence,
        client,
        want,
        start,
        end,
        lost ? 1 : 0,
        asked,
        !lost && laggedNear(asked, end, leaseMs ?? 30_000) ? 1 : 0,
      ]);
      try {
        await lease.release();
      } catch (error) {
        if (error?.name === "LockBackendError") counts.releaseErrors++;
        else {
          counts.otherErrors++;
          if (errors.length < 5) errors.push(String(error?.stack ?? error));
        }
      }
      if (flush !== undefined && records.length >= 20) {
        flush(records);
        records = [];
      }
    }
  } finally {
    unwatchLag();
  }
  if (flush !== undefined && records.length > 0) {
    flush(records);
    records = [];
  }
  return { records, counts, errors };
}

/**
 * Checks the records of every client against the capacity:
 *
 * - overAdmissions: moments at which the permits held by leases not lost
 *   by the end of their section exceed the capacity (must be 0), leaving
 *   out sections whose isolate stalled unasked past half their lease
 *   (`stalledSections`, counted: their holders could not know);
 * - fenceOrder: two grants with one fence, or a grant asked for after
 *   another's section ended (so granted after that one was) whose fence is
 *   not higher (must be 0). Grants that may have crossed are not ordered:
 *   a section's start is when its grant arrived, not when it was made;
 * - and, from the clients: unsignalled lost leases, unexpected losses in a
 *   scenario without faults (but to an event loop stalled for a third of
 *   the lease: `lostToLag`), hung acquisitions, other errors (all 0);
 *   `stuck` names whose permits could not all be taken after the run.
 *
 * `most` is the highest number of permits seen out at once (the limit
 * reached under load, at best `capacity`).
 */
export function checkSemaphores({ names, capacity, results, stuck = 0 }) {
  const counts = {};
  const errors = [];
  const records = [];
  for (const result of results) {
    mergeCounts(counts, result.counts);
    errors.push(...result.errors);
    for (const r of result.records) records.push(r);
  }
  let overAdmissions = 0, fenceOrder = 0, most = 0, stalledSections = 0;
  const examples = [];
  for (let n = 0; n < names.length; n++) {
    const list = records.filter((r) => r[S.name] === n);
    const fences = new Set();
    for (const r of list) {
      if (fences.has(r[S.fence])) fenceOrder++;
      fences.add(r[S.fence]);
    }
    // A sweep over the unlost sections: ends before starts at one instant.
    const events = [];
    for (const r of list) {
      if (r[S.lost] === 1) continue;
      if (r[S.stalled] === 1) {
        stalledSections++;
        continue;
      }
      events.push([r[S.start], 1, r], [r[S.end], -1, r]);
    }
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let inUse = 0;
    const open = new Set();
    for (const [, step, r] of events) {
      if (step === -1) {
        inUse -= r[S.permits];
        open.delete(r);
        continue;
      }
      inUse += r[S.permits];
      open.add(r);
      most = Math.max(most, inUse);
      if (inUse > capacity) {
        overAdmissions++;
        if (examples.length < 3) examples.push({ inUse, holders: [...open] });
      }
    }
    // Fences: an acquisition asked for after another's section ended was
    // granted after that one, so its fence is higher.
    const byAsked = [...list].sort((a, b) => a[S.asked] - b[S.asked]);
    const byEnd = [...list].sort((a, b) => a[S.end] - b[S.end]);
    let e = 0, highest = -Infinity;
    for (const r of byAsked) {
      while (e < byEnd.length && byEnd[e][S.end] < r[S.asked]) {
        highest = Math.max(highest, byEnd[e][S.fence]);
        e++;
      }
      if (r[S.fence] <= highest) {
        fenceOrder++;
        if (examples.length < 3) examples.push({ fence: r, highest });
      }
    }
  }
  const report = {
    sections: records.length,
    attempts: counts.attempts ?? 0,
    timeouts: counts.timeouts ?? 0,
    aborts: counts.aborts ?? 0,
    backendErrors: counts.backendErrors ?? 0,
    releaseErrors: counts.releaseErrors ?? 0,
    paused: counts.paused ?? 0,
    lostLeases: counts.lost ?? 0,
    most,
    capacity,
    overAdmissions,
    fenceOrder,
    unsignalled: counts.unsignalled ?? 0,
    unexpectedLost: counts.unexpectedLost ?? 0,
    stalledSections,
    hung: counts.hung ?? 0,
    otherErrors: counts.otherErrors ?? 0,
    stuck,
  };
  report.violations = report.overAdmissions + report.fenceOrder +
    report.unsignalled + report.unexpectedLost + report.hung +
    report.otherErrors + report.stuck;
  if (examples.length > 0) report.examples = examples;
  if (errors.length > 0) report.errors = errors.slice(0, 5);
  return report;
}
