// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal One chaos client: acquires random names from a list, and in each
 * critical section does a non-atomic read-modify-write on a fenced store,
 * recording (name, fence, client, mode, start, end) for the checker. It
 * times out, aborts and pauses at random when the scenario asks, with the
 * choices drawn from a seeded generator.
 *
 * Runs the same in a task, a worker thread, or a child process.
 */
import { now, seeded } from "./_rng.mjs";

/** Record fields, in order (records travel between processes as arrays). */
export const R = {
  name: 0,
  fence: 1,
  client: 2,
  shared: 3,
  start: 4,
  end: 5,
  lost: 6,
  write: 7,
};

/** Write outcomes. */
export const WRITE = { none: 0, accepted: 1, rejected: 2 };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function between(rng, [min, max]) {
  return min + Math.floor(rng() * (max - min + 1));
}

// Stalls of this isolate: a pause stops every task in it, not only the one
// that paused, so every lease held across a stall longer than the lease is
// lost too.
const stalls = [];

function busyWait(ms) {
  const start = now();
  const until = performance.now() + ms;
  while (performance.now() < until) { /* a stop-the-world pause */ }
  stalls.push([start, now()]);
  if (stalls.length > 64) stalls.shift();
}

/**
 * Notes every stall of this isolate's event loop longer than `ms` that comes
 * from outside (a SIGSTOP, a starved CPU), as busyWait notes its own: found
 * by a timer that did not run on time, so the stall's start is known only
 * to within `everyMs`, which is why stalls are matched by overlap below.
 */
export function watchStalls(ms = 50, everyMs = 5) {
  let last = now();
  const timer = setInterval(() => {
    const t = now();
    if (t - last > ms) {
      stalls.push([last, t]);
      if (stalls.length > 64) stalls.shift();
    }
    last = t;
  }, everyMs);
  timer.unref?.();
  return () => clearInterval(timer);
}

// A section that spans a stall overlaps it and lasts about as long at least
// (no section starts or ends while its isolate is stopped; one that began
// after the isolate resumed, before the late timer noticed, is shorter). A
// stall noticed by a timer is longer than the real one by up to the timer's
// period and lateness, STALL_SLACK_MS: only one longer than the lease by
// that much surely cost the lease.
const STALL_SLACK_MS = 100;
function stalledPast(start, end, leaseMs) {
  return stalls.some(([from, to]) =>
    from < end && to > start && to - from > leaseMs + STALL_SLACK_MS &&
    end - start > to - from - STALL_SLACK_MS
  );
}

/** Waits until `signal` aborts or `ms` pass; resolves whether it aborted. */
function aborted(signal, ms) {
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

/**
 * Runs one client.
 *
 * @param {object} config
 * @param {(name: string) => import("unilock").Lock} config.lock the lock for a name
 * @param {object} config.store a fenced store (sync or async methods)
 * @param {string[]} config.names
 * @param {number} config.client this client's number
 * @param {number} config.sections how many acquisitions to attempt
 * @param {number} config.seed
 * @param {number} [config.deadline] stop starting sections after this time (now())
 * @param {[number, number]} [config.holdMs] hold time range; [0, 0] yields microtasks only
 * @param {number} [config.sharedRatio]
 * @param {number} [config.timeoutRatio]
 * @param {[number, number]} [config.timeoutMs]
 * @param {number} [config.abortRatio]
 * @param {[number, number]} [config.abortMs]
 * @param {number} [config.pauseRatio] sections that stall past their lease
 * @param {number} [config.pauseMs]
 * @param {number} [config.leaseMs]
 * @param {boolean} [config.strictLeases] count a lost lease of an unpaused holder as a violation
 * @param {[number, number]} [config.priorities] a random priority from this range for each acquisition
 * @param {number} [config.livenessMs] the longest an acquisition may wait before it counts as hung
 * @param {(records: unknown[][]) => void} [config.flush] takes records in batches
 */
export async function runClient(config) {
  const {
    lock,
    store,
    names,
    client,
    sections,
    seed,
    deadline = Infinity,
    holdMs = [0, 0],
    sharedRatio = 0,
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
    attempts: 0,
    granted: 0,
    timeouts: 0,
    aborts: 0,
    backendErrors: 0,
    otherErrors: 0,
    releaseErrors: 0,
    paused: 0,
    lost: 0,
    lostSignalled: 0,
    unsignalled: 0,
    unexpectedLost: 0,
    hung: 0,
  };
  const errors = [];
  let records = [];
  for (let i = 0; i < sections && now() < deadline; i++) {
    const nameIndex = Math.floor(rng() * names.length);
    const name = names[nameIndex];
    const shared = rng() < sharedRatio;
    const options = { mode: shared ? "shared" : "exclusive" };
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
    const pause = !shared && rng() < pauseRatio;
    const hold = between(rng, holdMs);
    counts.attempts++;
    // Liveness: no acquisition may wait longer than the watchdog allows (far
    // more than any lease and waiter place in the scenarios): a waiter that
    // hangs after a fault is as wrong as a false grant.
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
      lease = await lock(name).acquire(options);
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
        // The backend is down or failing: back off as a real client would,
        // and try again (until the deadline) rather than count it a section.
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
    const start = now();
    let write = WRITE.none;
    try {
      if (shared) {
        await store.peek(name);
        if (hold > 0) await sleep(hold);
        else await null;
      } else {
        const value = await store.read(name, lease.fence);
        if (pause) {
          counts.paused++;
          busyWait(pauseMs);
        } else if (hold > 0) await sleep(hold);
        else await null;
        // A turn of the event loop between the read and the write: the
        // window in which a lease that ran out is noticed (or is not).
        await sleep(0);
        if (value === undefined) write = WRITE.rejected;
        else {
          write = (await store.write(name, lease.fence, value + 1))
            ? WRITE.accepted
            : WRITE.rejected;
        }
      }
    } catch (error) {
      counts.otherErrors++;
      if (errors.length < 5) errors.push(String(error?.stack ?? error));
    }
    const end = now();
    // A stale write means a newer holder exists: this lease is lost, and its
    // signal must say so. So must a pause past the lease. A holder cannot
    // know of its loss the moment it happens (a paused event loop runs no
    // timer): the section counts as lost when the signal aborts before the
    // release, and the fence is what stopped its write.
    const stalled = leaseMs !== undefined && stalledPast(start, end, leaseMs);
    if (write === WRITE.rejected || stalled) {
      if (await aborted(lease.signal, (leaseMs ?? 0) * 2 + 2_000)) {
        counts.lostSignalled++;
      } else {
        counts.unsignalled++;
        if (errors.length < 5) {
          errors.push(
            `unsignalled lost lease: ${
              JSON.stringify({
                name,
                fence: lease.fence,
                write,
                stalled,
                pause,
                held: end - start,
              })
            }`,
          );
        }
      }
    }
    const lost = lease.signal.aborted;
    if (lost) {
      counts.lost++;
      // Without faults and pauses, no lease may be lost: a backend that
      // reaps live holders (and then says so) is as wrong as one that
      // grants twice.
      if (strictLeases && !stalled) counts.unexpectedLost++;
    }
    records.push([
      nameIndex,
      lease.fence,
      client,
      shared ? 1 : 0,
      start,
      end,
      lost ? 1 : 0,
      write,
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
  if (flush !== undefined && records.length > 0) {
    flush(records);
    records = [];
  }
  return { records, counts, errors };
}
