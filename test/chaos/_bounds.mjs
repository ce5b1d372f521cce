// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The bounds a distributed lock promises under faults, measured
 * with faults aimed at one request each (through the fault proxy's
 * `inject()`), in this process:
 *
 * - `hung-acquire`: an acquire whose request hangs (never answered, or
 *   answered never after it ran) settles within its `timeoutMs`, or its
 *   abort, plus a bound; so does a second acquire on the same instance,
 *   started while the first hangs (a hung request must not block the
 *   instance).
 * - `hung-release`: `withLock` whose release hangs, or fails every time,
 *   resolves with the section's result, within a bound.
 * - `uncertain-acquire`: after an acquire (or tryAcquire) whose reply was
 *   lost once the server had run it, the lock is free again within a round
 *   trip plus backoff, not after the whole lease: the time from the failed
 *   call to another client's grant, on an otherwise idle lock.
 * - `one-instance`: many acquisitions at once on one instance (as
 *   `LockManager` hands out) while the lock is held elsewhere behave as that
 *   many independent waiters: each times out at its own `timeoutMs`, is
 *   aborted at its own signal, and each is granted in turn once it is free.
 *
 * Each measurement is a figure; one past the bound (generous: this machine
 * is shared) is a violation.
 */
import { now } from "./_rng.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Awaits `promise` for at most `ms`: `{ settled, value, error, at }`. */
function bounded(promise, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ settled: false }), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve({ settled: true, value, at: now() });
      },
      (error) => {
        clearTimeout(timer);
        resolve({ settled: true, error, at: now() });
      },
    );
  });
}

/** A figure: how a list of measurements (ms, or null for "never") reads. */
function figure(values) {
  const seen = values.filter((v) => v !== null).sort((a, b) => a - b);
  const never = values.length - seen.length;
  const at = (p) =>
    seen[Math.min(seen.length - 1, Math.floor(p * seen.length))];
  return {
    n: values.length,
    ...(seen.length > 0
      ? { min: seen[0], p50: at(0.5), p90: at(0.9), max: seen[seen.length - 1] }
      : {}),
    ...(never > 0 ? { never } : {}),
  };
}

/**
 * Runs every probe.
 *
 * @param {object} config
 * @param {ReturnType<typeof import("./_fault_proxy.mjs").startFaultProxy> extends Promise<infer P> ? P : never} config.proxy
 * @param {(name: string) => import("unilock").Lock} config.viaProxy a new lock instance through the proxy
 * @param {(name: string) => import("unilock").Lock} config.direct a new lock instance straight to the backend
 * @param {() => string} config.newName a fresh lock name
 * @param {number} config.trials trials per measurement
 * @param {number} [config.settleBoundMs] how far past a deadline an acquisition may settle
 * @param {number} [config.freeBoundMs] how soon a lock must be free after an uncertain acquire
 * @param {number} [config.releaseBoundMs] how long `withLock` may take past its section when the release hangs
 */
export async function runBounds(config) {
  const {
    proxy,
    viaProxy,
    direct,
    newName,
    trials,
    settleBoundMs = 2_000,
    freeBoundMs = 2_500,
    releaseBoundMs = 10_000,
  } = config;
  const figures = {};
  const violations = [];
  const names = [];
  const fresh = () => {
    const name = newName();
    names.push(name);
    return name;
  };
  const measure = (key, value, bound, what) => {
    (figures[key] ??= []).push(value === null ? null : Math.round(value));
    if (value === null || value > bound) {
      violations.push(
        `${key}: ${what} ${
          value === null ? "never settled" : `took ${Math.round(value)} ms`
        } (bound ${bound} ms)`,
      );
    }
  };
  /** Gives back whatever a call that was given up on brings later. */
  const abandon = (promise) =>
    promise.then((lease) => lease?.release?.().catch(() => {}), () => {});

  // ---- hung-acquire: timeoutMs, abort, and a second acquire behind it.
  for (let t = 0; t < Math.max(trials, 2); t++) {
    const kind = t % 2 === 0 ? "hang" : "hang-after-run";
    {
      const name = fresh();
      const lock = viaProxy(name);
      proxy.inject({ kind, op: "acquire", lock: name });
      const asked = now();
      const acquiring = lock.acquire({ timeoutMs: 1_000, leaseMs: 2_000 });
      const r = await bounded(acquiring, 1_000 + settleBoundMs + 1_000);
      if (r.settled && r.error === undefined) await r.value.release();
      if (!r.settled) abandon(acquiring);
      measure(
        "hungAcquireTimeoutOvershootMs",
        r.settled ? Math.max(0, r.at - asked - 1_000) : null,
        settleBoundMs,
        `acquire({ timeoutMs: 1000 }) with its request ${kind}`,
      );
    }
    {
      const name = fresh();
      const lock = viaProxy(name);
      proxy.inject({ kind, op: "acquire", lock: name });
      const controller = new AbortController();
      const acquiring = lock.acquire({
        signal: controller.signal,
        leaseMs: 2_000,
      });
      await sleep(500);
      const abortedAt = now();
      controller.abort(new Error("probe abort"));
      const r = await bounded(acquiring, settleBoundMs + 1_000);
      if (r.settled && r.error === undefined) await r.value.release();
      if (!r.settled) abandon(acquiring);
      measure(
        "hungAcquireAbortOvershootMs",
        r.settled ? Math.max(0, r.at - abortedAt) : null,
        settleBoundMs,
        `acquire() aborted at 500 ms with its request ${kind}`,
      );
    }
    {
      // The first acquire's request hangs; a second on the same instance,
      // with the lock free, must not wait behind it.
      const name = fresh();
      const lock = viaProxy(name);
      proxy.inject({ kind, op: "acquire", lock: name });
      const first = lock.acquire({ timeoutMs: 3_000, leaseMs: 2_000 });
      await sleep(50);
      const asked = now();
      const second = lock.acquire({ timeoutMs: 1_000, leaseMs: 2_000 });
      const r = await bounded(second, 1_000 + settleBoundMs + 1_000);
      if (r.settled && r.error === undefined) await r.value.release();
      if (!r.settled) abandon(second);
      measure(
        "behindHungAcquireOvershootMs",
        r.settled ? Math.max(0, r.at - asked - 1_000) : null,
        settleBoundMs,
        "a second acquire({ timeoutMs: 1000 }) on the instance whose first acquire hangs",
      );
      const f = await bounded(first, 3_000 + settleBoundMs);
      if (f.settled && f.error === undefined) await f.value.release();
      if (!f.settled) abandon(first);
    }
  }

  // ---- hung-release: withLock's result stands, within a bound.
  const releaseFaults = [
    { kind: "hang", count: 1, what: "release request hangs" },
    {
      kind: "status-500",
      count: 50,
      what: "every release attempt answers 500",
    },
    {
      kind: "error-after-run",
      count: 50,
      what: "every release attempt answers 502 after it ran",
    },
  ];
  for (let t = 0; t < Math.max(trials, releaseFaults.length); t++) {
    const fault = releaseFaults[t % releaseFaults.length];
    const name = fresh();
    const lock = viaProxy(name);
    let sectionEnd;
    const running = lock.withLock(() => {
      proxy.inject({
        kind: fault.kind,
        op: "release",
        lock: name,
        count: fault.count,
      });
      sectionEnd = now();
      return "the section's result";
    }, { leaseMs: 1_000, timeoutMs: 5_000 });
    const r = await bounded(running, releaseBoundMs + 5_000);
    proxy.clear();
    if (!r.settled) abandon(running);
    measure(
      "withLockHungReleaseMs",
      r.settled && sectionEnd !== undefined ? r.at - sectionEnd : null,
      releaseBoundMs,
      `withLock whose ${fault.what}`,
    );
    if (r.settled && r.value !== "the section's result") {
      violations.push(
        `withLockResult: withLock whose ${fault.what} ${
          r.error === undefined
            ? `resolved ${JSON.stringify(r.value)}`
            : `rejected (${r.error?.name}: ${r.error?.message})`
        } instead of the section's result`,
      );
    }
  }

  // ---- uncertain-acquire: free again soon, not after the lease.
  const leaseMs = 6_000;
  const uncertain = [
    { call: "acquire", kind: "error-after-run", count: 1 },
    { call: "acquire", kind: "error-after-run", count: 20 },
    { call: "acquire", kind: "drop-response", count: 20 },
    { call: "tryAcquire", kind: "error-after-run", count: 1 },
    { call: "tryAcquire", kind: "drop-response", count: 20 },
  ];
  for (let t = 0; t < Math.max(trials, uncertain.length); t++) {
    const u = uncertain[t % uncertain.length];
    const name = fresh();
    const lock = viaProxy(name);
    proxy.inject({ kind: u.kind, op: "acquire", lock: name, count: u.count });
    const calling = u.call === "acquire"
      ? lock.acquire({ leaseMs, timeoutMs: 4_000 })
      : lock.tryAcquire({ leaseMs });
    const r = await bounded(calling, 4_000 + settleBoundMs + 1_000);
    proxy.clear();
    const what =
      `${u.call}() whose reply was lost ${u.count}× (${u.kind}), then another client's acquire`;
    if (!r.settled) {
      abandon(calling);
      measure("freeAfterUncertainMs", null, freeBoundMs, what);
      continue;
    }
    if (r.error === undefined) {
      // It got the lock after all (a retry found its grant): not uncertain.
      await r.value?.release();
      (figures.uncertainButGranted ??= []).push(
        `${u.call} ${u.kind}×${u.count}`,
      );
      continue;
    }
    const other = direct(name);
    const waited = await bounded(
      other.acquire({ timeoutMs: leaseMs + 2_000, leaseMs: 2_000 }),
      leaseMs + 4_000,
    );
    if (waited.settled && waited.error === undefined) {
      await waited.value.release();
    }
    measure(
      "freeAfterUncertainMs",
      waited.settled && waited.error === undefined ? waited.at - r.at : null,
      freeBoundMs,
      what,
    );
  }

  // ---- one-instance: N acquisitions at once behave as N waiters.
  for (let t = 0; t < trials; t++) {
    const name = fresh();
    const holder = await direct(name).acquire({ leaseMs: 5_000 });
    const lock = viaProxy(name);
    const n = 8;
    const settle = async (promise, due) => {
      const r = await bounded(promise, due - now() + settleBoundMs + 1_000);
      if (r.settled && r.error === undefined) await r.value.release();
      if (!r.settled) abandon(promise);
      return r.settled ? Math.max(0, r.at - due) : null;
    };
    // First a waiter without a deadline (its call may long-poll for as long
    // as the server allows), then the others behind it on the instance.
    const patient = new AbortController();
    const first = lock.acquire({ signal: patient.signal, leaseMs: 2_000 });
    await sleep(50);
    const asked = now();
    const timeouts = Array.from({ length: n }, (_, i) => {
      const timeoutMs = 300 + i * 100;
      return settle(
        lock.acquire({ timeoutMs, leaseMs: 2_000 }),
        asked + timeoutMs,
      );
    });
    const immediate = Array.from(
      { length: 2 },
      () => settle(lock.acquire({ timeoutMs: 0, leaseMs: 2_000 }), asked),
    );
    const controller = new AbortController();
    const abortedAt = asked + 400;
    setTimeout(() => controller.abort(new Error("probe abort")), 400);
    const abortedOne = settle(
      lock.acquire({ signal: controller.signal, leaseMs: 2_000 }),
      abortedAt,
    );
    for (const v of await Promise.all([...timeouts, ...immediate])) {
      measure(
        "oneInstanceTimeoutOvershootMs",
        v,
        settleBoundMs,
        `one of ${
          n + 2
        } concurrent timed acquires on one instance, behind a waiter without a deadline`,
      );
    }
    measure(
      "oneInstanceAbortOvershootMs",
      await abortedOne,
      settleBoundMs,
      "an aborted acquire among concurrent ones on one instance",
    );
    const patientAbortedAt = now();
    patient.abort(new Error("probe abort"));
    measure(
      "oneInstanceAbortOvershootMs",
      await settle(first, patientAbortedAt),
      settleBoundMs,
      "the first waiter (no timeout) on one instance, aborted",
    );
    // Then each granted in turn once the holder lets go.
    const waiting = Array.from(
      { length: n },
      () =>
        lock.withLock(() => sleep(10).then(() => true), {
          timeoutMs: 10_000,
          leaseMs: 2_000,
        }),
    );
    await sleep(100);
    const freed = now();
    await holder.release();
    const results = await bounded(
      Promise.allSettled(waiting),
      10_000 + settleBoundMs,
    );
    const granted = results.settled
      ? results.value.filter((s) => s.status === "fulfilled").length
      : 0;
    measure(
      "oneInstanceDrainMs",
      results.settled && granted === n ? results.at - freed : null,
      settleBoundMs + n * 500,
      `${n} waiters on one instance granted in turn (${granted} were)`,
    );
  }

  const summary = Object.fromEntries(
    Object.entries(figures).map((
      [k, v],
    ) => [k, typeof v[0] === "string" ? v : figure(v)]),
  );
  return { figures: summary, violations, names };
}
