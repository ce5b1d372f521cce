// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal One chaos client: acquires random names from a list, and in each
 * critical section does a non-atomic read-modify-write on a fenced store,
 * recording (name, fence, client, mode, start, end, when the lease was lost)
 * for the checker. It times out, aborts and pauses at random when the
 * scenario asks, with the choices drawn from a seeded generator.
 *
 * Beyond `acquire` and `release`, a scenario can have it use the rest of the
 * public API: `tryAcquire` and `withLock` (whose result must stand even when
 * its release fails), `extend` (longer, shorter, and timed to land while an
 * automatic renewal is in flight), `isLocked()` and `query()` while holding
 * (the server must agree that a lease its holder believes in is held),
 * aborts landing synchronously, after a few microtasks or on a timer. Every
 * call is awaited with a bound, so a call that hangs is counted rather than
 * hanging the run, and every acquisition's settling is timed against its
 * deadline (`timeoutMs` or the abort).
 *
 * Runs the same in a task, a worker thread, or a child process.
 */
import { aborted, between, sleep } from "./_client_kit.mjs";
import { acquisitionCounts, mergeCounts } from "./_client_kit.mjs";
import { now, seeded } from "./_rng.mjs";

export { mergeCounts };

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
  /** When `lease.signal` aborted (0: not before the section's end). */
  lostAt: 8,
  /** 0 acquire, 1 tryAcquire, 2 withLock. */
  method: 9,
  /**
   * The longest this isolate's event loop stalled (unasked) before the loss:
   * a timer that fires late says a loss late, by as much.
   */
  slack: 10,
  /** Whether a stall of the isolate (a pause) outlasted the lease: its holder cannot know. */
  stalled: 11,
  /** The section's extend: 0 none, then EXTENDS' order. */
  extend: 12,
  /** The acquisition's lease length (0: the backend's default). */
  leaseMs: 13,
  /** Lost, with `strictLeases`, though neither a pause nor a stall explains it. */
  unexpected: 14,
  /** Lost to a steal (its signal's reason says so). */
  stolen: 15,
  /** Its acquisition took the lock with `steal`. */
  steal: 16,
  /**
   * The shortest lease in force during the section: `leaseMs`, or the
   * length an `extend(shorter)` asked for, from when it was sent (the
   * holder's belief shrinks then). Its renewals come a third of it apart,
   * so a stall or a slow request of that third explains a loss.
   */
  inForceMs: 17,
  /**
   * When the acquisition was asked for. A steal may take the lock more than
   * once in one acquisition: a grant whose reply came after its lease ran
   * out is given back and stolen again, and only the last has a section.
   */
  asked: 18,
};

/** The kinds of `extend` a section may do, in record order (from 1). */
export const EXTENDS = ["longer", "shorter", "renewal"];

/** Write outcomes. */
export const WRITE = { none: 0, accepted: 1, rejected: 2 };

/**
 * The settle-time histogram's bucket bounds (ms past the deadline): counts
 * travel as `settle<=N` keys, which the checker sums like any count.
 */
export const SETTLE_BUCKETS = [0, 10, 25, 50, 100, 250, 500, 1_000, 2_000];

const METHODS = ["acquire", "tryAcquire", "withLock"];

function weighted(rng, weights) {
  const entries = Object.entries(weights).filter(([, w]) => w > 0);
  let roll = rng() * entries.reduce((n, [, w]) => n + w, 0);
  for (const [key, w] of entries) {
    if ((roll -= w) < 0) return key;
  }
  return entries[entries.length - 1][0];
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
 * Whether the isolate stalled long enough to lose a lease while it was being
 * granted or held: the holder could not know (its timers could not run),
 * and only the fence can stop it. The stall may have begun before the
 * section did: a grant that arrived just before another task's pause is
 * read after it.
 */
function stalledNear(asked, end, leaseMs) {
  return [...stalls, ...lags].some(([from, to]) =>
    to >= asked && from <= end && to - from > leaseMs / 2
  );
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

/**
 * Whether a pause within the section outlasted its lease: the lease is surely
 * lost. A pause of its own is timed exactly; a stall noticed from outside
 * (watchStalls) only by overlap, with the slack above.
 */
function pausedPast(start, end, leaseMs) {
  return stalls.some(([from, to]) =>
    (from >= start && to <= end && to - from > leaseMs) ||
    (from < end && to > start && to - from > leaseMs + STALL_SLACK_MS &&
      end - start > to - from - STALL_SLACK_MS)
  );
}

// Stalls nobody asked for (a loaded machine, a collection): a tick every
// 20 ms notes how late it came, so that a loss said late because its timer
// fired late is told from one said late by the lock.
const lags = [];
let monitors = 0;
let monitor;

function watchLag() {
  if (monitors++ > 0) return;
  let last = now();
  monitor = setInterval(() => {
    const t = now();
    if (t - last > 60) {
      lags.push([last, t]);
      if (lags.length > 256) lags.shift();
    }
    last = t;
  }, 20);
  monitor.unref?.();
}

function unwatchLag() {
  if (--monitors === 0) clearInterval(monitor);
}

/** The longest stall (asked or not) that overlapped [from, to]. */
function lagWithin(from, to) {
  let longest = 0;
  for (const [a, b] of [...lags, ...stalls]) {
    if (b >= from && a <= to) longest = Math.max(longest, b - a);
  }
  return Math.round(longest);
}

/**
 * Awaits `promise` for at most `ms`: `{ settled, value, error }`. A call
 * that never settles is the lock's fault, and must not hang the run.
 */
function bounded(promise, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ settled: false }), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve({ settled: true, value });
      },
      (error) => {
        clearTimeout(timer);
        resolve({ settled: true, error });
      },
    );
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
 * @param {number} [config.longHoldRatio] sections that hold for `longHoldMs` instead
 * @param {[number, number]} [config.longHoldMs]
 * @param {number} [config.sharedRatio]
 * @param {number} [config.timeoutRatio]
 * @param {[number, number]} [config.timeoutMs]
 * @param {number} [config.abortRatio]
 * @param {[number, number]} [config.abortMs]
 * @param {string[]} [config.abortAt] where aborts land: "timer" (after `abortMs`), "sync" (right after the call), "microtask" (a few microtasks later)
 * @param {number} [config.pauseRatio] sections that stall past their lease
 * @param {number} [config.pauseMs]
 * @param {number | [number, number]} [config.leaseMs] a lease length, or a range to draw each acquisition's from
 * @param {boolean} [config.strictLeases] count a lost lease of an unpaused holder as a violation
 * @param {[number, number]} [config.priorities] a random priority from this range for each acquisition
 * @param {number} [config.livenessMs] the longest an acquisition may wait before it counts as hung
 * @param {Record<string, number>} [config.methods] weights of "acquire", "tryAcquire", "withLock"
 * @param {number} [config.extendRatio] exclusive sections that call `extend`
 * @param {Record<string, number>} [config.extendKinds] weights of "longer", "shorter", "renewal" (longer, sent as a renewal is in flight)
 * @param {number} [config.queryRatio] sections that ask `isLocked()` or `query()` while holding
 * @param {number} [config.sectionAbortRatio] `withLock` sections whose acquisition signal aborts mid-section (the lease must not care)
 * @param {number} [config.settleBoundMs] how long past its deadline an acquisition may settle before it counts as late
 * @param {number} [config.opBoundMs] how long a call without a deadline (release, extend, query, tryAcquire) may take before it counts as hung
 * @param {number} [config.minLeaseMs] the shortest lease `extend(shorter)` asks for
 * @param {number} [config.stealRatio] exclusive acquisitions that take the lock with `steal`
 * @param {number} [config.settleLostMs] how long an exclusive section waits, before it ends, for a steal to reach it (a distributed holder hears of one at its next renewal)
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
    longHoldRatio = 0,
    longHoldMs = [1_000, 2_000],
    sharedRatio = 0,
    timeoutRatio = 0,
    timeoutMs = [1, 20],
    abortRatio = 0,
    abortMs = [0, 10],
    abortAt = ["timer"],
    pauseRatio = 0,
    pauseMs = 0,
    leaseMs: leaseOption,
    strictLeases = false,
    priorities,
    livenessMs = 60_000,
    methods = { acquire: 1 },
    extendRatio = 0,
    extendKinds = { longer: 1, shorter: 1, renewal: 1 },
    queryRatio = 0,
    sectionAbortRatio = 0,
    settleBoundMs = 2_000,
    opBoundMs = 15_000,
    minLeaseMs = 150,
    stealRatio = 0,
    settleLostMs = 0,
    flush,
  } = config;
  const rng = seeded(seed);
  const counts = {
    ...acquisitionCounts(),
    lostSignalled: 0,
    unsignalled: 0,
    lostToLag: 0,
    hung: 0,
    busy: 0,
    lateSettles: 0,
    settled: 0,
    settleMaxMs: 0,
    over250: 0,
    extends: 0,
    extendErrors: 0,
    extendLost: 0,
    checks: 0,
    checkErrors: 0,
    beliefWithoutHold: 0,
    withLockRuns: 0,
    withLockResultLost: 0,
    steals: 0,
  };
  for (const method of METHODS) counts[`method:${method}`] = 0;
  const errors = [];
  const slowNotes = [];
  const note = (message) => {
    if (errors.length < 5) errors.push(message);
  };
  let records = [];
  /** The lock instances this client used. */
  const used = new Set();
  const flushSome = () => {
    if (flush !== undefined && records.length >= 20) {
      flush(records);
      records = [];
    }
  };
  watchLag();

  /** Times a settled acquisition against its deadline; true when too late. */
  const settledAt = (settled, due) => {
    if (due === undefined || settled < due) return false;
    const over = Math.max(0, Math.round(settled - due));
    counts.settled++;
    const bucket = SETTLE_BUCKETS.find((b) => over <= b);
    const key = bucket === undefined ? "settle>2000" : `settle<=${bucket}`;
    counts[key] = (counts[key] ?? 0) + 1;
    if (over > counts.settleMaxMs) counts.settleMaxMs = over;
    if (over > 250) counts.over250++;
    return over > settleBoundMs;
  };

  /** The critical section: read, hold (extending, asking), write. */
  const section = async (lease, name, shared, plan, l) => {
    const start = now();
    let write = WRITE.none;
    if (shared) {
      await store.peek(name);
      if (plan.hold > 0) await sleep(plan.hold);
      else await null;
      if (plan.query) await check(lease, l, name);
      return { start, write };
    }
    const value = await store.read(name, lease.fence);
    if (plan.pause) {
      counts.paused++;
      busyWait(pauseMs);
    } else if (plan.extend !== undefined) {
      await extendWithin(lease, plan, name);
    } else if (plan.hold > 0) await sleep(plan.hold);
    else await null;
    if (plan.query) await check(lease, l, name);
    // A turn of the event loop between the read and the write: the
    // window in which a lease that ran out is noticed (or is not).
    await sleep(0);
    if (value === undefined) write = WRITE.rejected;
    else {
      write = (await store.write(name, lease.fence, value + 1))
        ? WRITE.accepted
        : WRITE.rejected;
    }
    return { start, write };
  };

  /**
   * Extends the lease (longer, shorter, or longer while a renewal is in
   * flight: the renewal goes out a third of the lease after the grant), then
   * holds past where the old (or new, shorter) lease would have ended, so
   * that a server that kept another length than its holder believes lets
   * someone else in meanwhile.
   */
  const extendWithin = async (lease, plan, name) => {
    const { extend, leaseMs, grantedAt } = plan;
    let ms;
    if (extend === "shorter") {
      ms = Math.max(minLeaseMs, Math.round(leaseMs * (0.1 + rng() * 0.3)));
    } else ms = Math.round(leaseMs * (2 + rng() * 2));
    if (extend === "renewal") {
      const at = grantedAt + leaseMs / 3 + between(rng, [-3, 15]);
      await sleep(Math.max(0, at - now()));
    } else await sleep(between(rng, [0, Math.round(leaseMs / 4)]));
    counts.extends++;
    counts[`extend:${extend}`] = (counts[`extend:${extend}`] ?? 0) + 1;
    if (ms < plan.inForceMs) plan.inForceMs = ms;
    const result = await bounded(lease.extend(ms), opBoundMs);
    if (!result.settled) {
      counts.hung++;
      note(`extend(${ms}) of ${name} did not settle in ${opBoundMs} ms`);
      return;
    }
    if (result.error !== undefined) {
      const kind = result.error?.name;
      if (kind === "LockLostError") counts.extendLost++;
      else if (kind === "LockBackendError") counts.extendErrors++;
      else {
        counts.otherErrors++;
        note(String(result.error?.stack ?? result.error));
      }
      return;
    }
    // Past the old expiry (longer), or well past the new one (shorter),
    // which only renewals on the new length can keep.
    // A shortened lease is held past the renewal the old length had
    // scheduled (a third of it in), which must not be the next one.
    const hold = extend === "shorter"
      ? Math.max(
        between(rng, [Math.round(ms * 0.8), Math.round(ms * 2.5)]),
        Math.round(leaseMs / 3 + 50),
      )
      : between(rng, [Math.round(leaseMs * 0.6), Math.round(leaseMs * 2)]);
    await sleep(hold);
  };

  /**
   * Asks the backend whether the lease is held: a holder that believes in
   * its lease (its signal quiet) while the server has let it go is a second
   * holder waiting to happen. A loss the holder is told of within 300 ms
   * of the answer is a race with the expiry, not a false belief.
   */
  const check = async (lease, l, name) => {
    const useQuery = rng() < 0.5;
    counts.checks++;
    const result = await bounded(
      useQuery ? l.query() : l.isLocked(),
      opBoundMs,
    );
    if (!result.settled) {
      counts.hung++;
      note(
        `${
          useQuery ? "query" : "isLocked"
        }() of ${name} did not settle in ${opBoundMs} ms`,
      );
      return;
    }
    if (result.error !== undefined) {
      if (result.error?.name === "LockBackendError") counts.checkErrors++;
      else {
        counts.otherErrors++;
        note(String(result.error?.stack ?? result.error));
      }
      return;
    }
    const held = useQuery
      ? result.value.held.some((h) =>
        h.fence === lease.fence || h.fence === undefined
      )
      : result.value === true;
    if (held || lease.signal.aborted) return;
    if (await aborted(lease.signal, 300)) return;
    counts.beliefWithoutHold++;
    note(
      `${name} fence ${lease.fence}: its holder believes in the lease, the server ${
        useQuery ? `lists ${JSON.stringify(result.value.held)}` : "says free"
      }`,
    );
  };

  for (let i = 0; i < sections && now() < deadline; i++) {
    const nameIndex = Math.floor(rng() * names.length);
    const name = names[nameIndex];
    const l = lock(name);
    used.add(l);
    const method = weighted(rng, methods);
    const shared = rng() < sharedRatio;
    const options = { mode: shared ? "shared" : "exclusive" };
    const extend = !shared && leaseOption !== undefined && rng() < extendRatio
      ? weighted(rng, extendKinds)
      : undefined;
    let leaseMs = Array.isArray(leaseOption)
      ? between(rng, leaseOption)
      : leaseOption;
    // Half the leases to be shortened start 4× as long, so that the new
    // length ends well before the renewal the old length had scheduled.
    if (extend === "shorter" && rng() < 0.5) leaseMs *= 4;
    if (leaseMs !== undefined) options.leaseMs = leaseMs;
    if (!shared && stealRatio > 0 && rng() < stealRatio) {
      options.steal = true;
      counts.steals++;
    }
    if (priorities !== undefined && method !== "tryAcquire") {
      options.priority = between(rng, priorities);
    }
    if (method !== "tryAcquire" && rng() < timeoutRatio) {
      options.timeoutMs = between(rng, timeoutMs);
    }
    let abortTimer;
    let abortNow;
    let abortedAt;
    let abortWhere;
    if (rng() < abortRatio) {
      const controller = new AbortController();
      options.signal = controller.signal;
      const reason = Object.assign(new Error("chaos abort"), {
        name: "ChaosAbort",
      });
      abortWhere = abortAt[Math.floor(rng() * abortAt.length)];
      const abort = () => {
        abortedAt ??= now();
        controller.abort(reason);
      };
      if (abortWhere === "timer") {
        abortTimer = setTimeout(abort, between(rng, abortMs));
      } else if (abortWhere === "sync") abortNow = abort;
      else {
        const depth = between(rng, [1, 6]);
        abortNow = () => {
          let p = Promise.resolve();
          for (let d = 0; d < depth; d++) p = p.then(() => {});
          p.then(abort);
        };
      }
    }
    const plan = {
      pause: !shared && rng() < pauseRatio,
      hold: rng() < longHoldRatio
        ? between(rng, longHoldMs)
        : between(rng, holdMs),
      extend,
      query: rng() < queryRatio,
      sectionAbort: method === "withLock" && rng() < sectionAbortRatio,
      leaseMs,
      inForceMs: leaseMs ?? 30_000,
      grantedAt: 0,
    };
    counts.attempts++;
    counts[`method:${method}`]++;
    // Liveness: no acquisition may wait longer than the watchdog allows (far
    // more than any lease and waiter place in the scenarios): a waiter that
    // hangs after a fault is as wrong as a false grant.
    const watchdog = new AbortController();
    const hung = Object.assign(new Error("chaos watchdog"), {
      name: "ChaosHung",
    });
    const watchdogTimer = setTimeout(() => watchdog.abort(hung), livenessMs);
    const acquisitionSignal = options.signal;
    options.signal = options.signal === undefined
      ? watchdog.signal
      : AbortSignal.any([options.signal, watchdog.signal]);
    if (plan.sectionAbort && acquisitionSignal === undefined) {
      // Aborts the acquisition's signal once the section runs: the grant was
      // made, so the abort must change nothing.
      const controller = new AbortController();
      options.signal = AbortSignal.any([controller.signal, watchdog.signal]);
      plan.abortSection = () => controller.abort(new Error("too late"));
    }
    const asked = now();
    /** When the acquisition must have settled by (its timeout or its abort). */
    const due = () => {
      const candidates = [asked + livenessMs];
      if (options.timeoutMs !== undefined) {
        candidates.push(asked + options.timeoutMs);
      }
      if (abortedAt !== undefined) candidates.push(abortedAt);
      return Math.min(...candidates);
    };

    /** The section for a lease: what record() needs. */
    const runSection = async (held) => {
      counts.granted++;
      plan.grantedAt = now();
      let lostAt = 0;
      const onLost = () => (lostAt = now());
      if (held.signal.aborted) lostAt = now();
      else held.signal.addEventListener("abort", onLost, { once: true });
      plan.abortSection?.();
      let result = { start: now(), write: WRITE.none };
      try {
        result = await section(held, name, shared, plan, l);
      } catch (error) {
        counts.otherErrors++;
        note(String(error?.stack ?? error));
      }
      // A holder a steal took the lock from may not know yet: it holds on
      // (as a user's section would) for as long as its backend takes to say
      // so, and only then counts as unlost. It looks at its signal as its
      // section ends, which on a thread lease reads shared memory: a steal
      // from another thread is seen then, before the watch's wake-up.
      const seen = held.signal.aborted;
      if (!seen && settleLostMs > 0 && !shared) {
        await aborted(held.signal, settleLostMs);
      }
      const end = now();
      held.signal.removeEventListener("abort", onLost);
      return { held, start: result.start, end, write: result.write, lostAt };
    };

    /** Checks a finished section's loss, and records it. */
    const record = async ({ held, start, end, write, lostAt }) => {
      // A stale write means a newer holder exists: this lease is lost, and
      // its signal must say so. So must a pause past the lease. A holder
      // cannot know of its loss the moment it happens (a paused event loop
      // runs no timer): the section counts as lost when the signal aborts
      // before the release, and the fence is what stopped its write.
      if (lostAt > 0 || write === WRITE.rejected) {
        // A stalled process's late timers all run in the turn it resumes,
        // the lease's own timer perhaps first: the watchers' must have
        // noted the stall before it is looked for (a SIGSTOPped file
        // holder whose loss fired first went unexcused: 7 false overlaps).
        await sleep(1);
      }
      const stalled = leaseMs !== undefined &&
        stalledNear(asked, end, plan.inForceMs);
      const pausedOut = leaseMs !== undefined &&
        pausedPast(start, end, leaseMs);
      if (write === WRITE.rejected || pausedOut) {
        if (await aborted(held.signal, (leaseMs ?? 0) * 2 + 2_000)) {
          counts.lostSignalled++;
        } else {
          counts.unsignalled++;
          note(
            `unsignalled lost lease: ${
              JSON.stringify({
                name,
                fence: held.fence,
                write,
                stalled,
                pausedOut,
                pause: plan.pause,
                held: end - start,
              })
            }`,
          );
        }
      }
      const lost = lostAt > 0 && lostAt <= end;
      const slack = lost ? lagWithin(start, lostAt) : 0;
      let unexpected = false;
      if (lost) {
        counts.lost++;
        // Without faults and pauses, no lease may be lost: a backend that
        // reaps live holders (and then says so) is as wrong as one that
        // grants twice. A loop that stalled for a renewal's period explains
        // a loss.
        if (strictLeases && !stalled) {
          if (slack >= plan.inForceMs / 3) counts.lostToLag++;
          else {
            // The checker decides: a backend that took a renewal's period
            // to answer (the proxy times every request) explains it too.
            unexpected = true;
            note(
              `${name} fence ${held.fence} lost while its holder was healthy (unless its backend was slow): ${
                String(held.signal.reason?.message ?? held.signal.reason)
              } (${method}, lease ${leaseMs} ms, extend ${plan.extend}, held ${
                Math.round(lostAt - start)
              } ms)`,
            );
          }
        }
      }
      records.push([
        nameIndex,
        held.fence,
        client,
        shared ? 1 : 0,
        start,
        end,
        lost ? 1 : 0,
        write,
        lost ? lostAt : 0,
        METHODS.indexOf(method),
        slack,
        stalled ? 1 : 0,
        EXTENDS.indexOf(plan.extend) + 1,
        leaseMs ?? 0,
        unexpected ? 1 : 0,
        lost && /stolen/.test(String(held.signal.reason?.message)) ? 1 : 0,
        options.steal === true ? 1 : 0,
        plan.inForceMs,
        asked,
      ]);
    };

    const classify = (error, name) => {
      const kind = error?.name;
      if (kind === "TimeoutError") counts.timeouts++;
      else if (kind === "ChaosAbort") counts.aborts++;
      else if (kind === "ChaosHung") {
        counts.hung++;
        note(`an acquisition of ${name} hung ${Math.round(now() - asked)} ms`);
      } else if (kind === "LockBackendError") counts.backendErrors++;
      else {
        counts.otherErrors++;
        note(String(error?.stack ?? error));
      }
    };

    let lease;
    let granted; // when the lease reached the caller
    let outcome; // the section's result, for withLock
    let sectionRan = false;
    let abandoned = false;
    let promise;
    let onStart;
    const started = new Promise((resolve) => (onStart = resolve));
    const token = { section: i };
    if (method === "withLock") {
      counts.withLockRuns++;
      promise = l.withLock(async (held) => {
        // A grant that came after this client gave up on it: let it go.
        if (abandoned) return token;
        lease = held;
        granted = now();
        sectionRan = true;
        onStart();
        outcome = await runSection(held);
        return token;
      }, options);
      promise.then(onStart, onStart);
    } else {
      promise = method === "tryAcquire"
        ? l.tryAcquire(options)
        : l.acquire(options);
    }
    abortNow?.();

    let acquireError;
    let timedOut = false;
    const bound = livenessMs + settleBoundMs;
    if (method === "withLock") {
      // The acquisition part: until the section starts, or withLock settles.
      if (!(await bounded(started, bound)).settled) timedOut = true;
    } else {
      const result = await bounded(promise, bound);
      if (!result.settled) timedOut = true;
      else if (result.error !== undefined) acquireError = result.error;
      else {
        lease = result.value;
        granted = now();
      }
    }
    clearTimeout(abortTimer);
    clearTimeout(watchdogTimer);
    const settled = timedOut ? Infinity : granted ?? now();
    const late = timedOut || settledAt(settled, due());
    if (!late && settled - due() > 250 && slowNotes.length < 2) {
      slowNotes.push(
        `slow: ${method} of ${name} (timeoutMs ${options.timeoutMs}, abort ${abortWhere}) settled ${
          Math.round(settled - due())
        } ms past its deadline, ${
          acquireError === undefined ? "granted" : acquireError?.name
        }`,
      );
    }
    if (late) {
      counts.lateSettles++;
      note(
        `${method} of ${name} (timeoutMs ${options.timeoutMs}, abort ${abortWhere}) ${
          timedOut
            ? "never settled"
            : `settled ${Math.round(settled - due())} ms past its deadline`
        } (the longest stall of this process's event loop meanwhile: ${
          lagWithin(due(), timedOut ? now() : settled)
        } ms)`,
      );
      if (timedOut) {
        // Whatever it brings later is given back.
        abandoned = true;
        promise.then((late) => late?.release?.(), () => {});
        continue;
      }
    }

    if (method === "withLock") {
      // The section runs inside withLock; its result must be what withLock
      // gives back, even when the release that follows fails.
      const result = await bounded(
        promise,
        (plan.hold + pauseMs + 3 * (leaseMs ?? 1_000)) * 2 + livenessMs +
          opBoundMs,
      );
      if (!result.settled) {
        counts.hung++;
        note(`withLock on ${name} never settled (section ran: ${sectionRan})`);
        continue;
      }
      if (!sectionRan) acquireError = result.error;
      else if (result.error !== undefined || result.value !== token) {
        counts.withLockResultLost++;
        note(
          `withLock on ${name}: the section returned, withLock ${
            result.error === undefined
              ? `resolved ${JSON.stringify(result.value)}`
              : `rejected: ${result.error?.name}: ${result.error?.message}`
          }`,
        );
      }
      if (outcome !== undefined) await record(outcome);
    }
    if (acquireError !== undefined) {
      classify(acquireError, name);
      if (acquireError?.name === "LockBackendError") {
        // The backend is down or failing: back off as a real client would,
        // and try again (until the deadline) rather than count it a section.
        i--;
        await sleep(between(rng, [20, 200]));
      }
      continue;
    }
    if (method === "withLock") {
      flushSome();
      continue;
    }
    if (lease === undefined) {
      counts.busy++; // tryAcquire on a busy lock
      continue;
    }
    const done = await runSection(lease);
    await record(done);
    const release = await bounded(lease.release(), opBoundMs);
    if (!release.settled) {
      counts.hung++;
      note(`release of ${name} did not settle in ${opBoundMs} ms`);
    } else if (release.error !== undefined) {
      if (release.error?.name === "LockBackendError") counts.releaseErrors++;
      else {
        counts.otherErrors++;
        note(String(release.error?.stack ?? release.error));
      }
    }
    flushSome();
  }
  unwatchLag();
  // Every lock this client used accounts for itself sensibly: counts and
  // distributions are numbers that fit together.
  for (const l of used) {
    if (typeof l.metrics !== "function") continue; // a test double
    let m;
    try {
      m = l.metrics();
    } catch (error) {
      counts.otherErrors++;
      note(`metrics() of ${l.name} threw: ${error?.stack ?? error}`);
      continue;
    }
    const fields = [
      "acquisitions",
      "contended",
      "busy",
      "timeouts",
      "aborts",
      "lost",
      "holders",
      "waiters",
    ];
    const bad = fields.filter((f) => !(Number.isInteger(m?.[f]) && m[f] >= 0));
    if (
      bad.length > 0 || m.contended > m.acquisitions ||
      m.lost > m.acquisitions || !(m.waitMs?.count >= 0)
    ) {
      counts.otherErrors++;
      note(`metrics() of ${l.name} do not add up: ${JSON.stringify(m)}`);
    }
  }
  if (flush !== undefined && records.length > 0) {
    flush(records);
    records = [];
  }
  return { records, counts, errors: [...errors, ...slowNotes] };
}
