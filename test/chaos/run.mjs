#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
/**
 * `npm run chaos`: the mutual-exclusion checker against every backend, under
 * named fault scenarios with fixed seeds. Bounded: every scenario stops
 * starting critical sections at its deadline. `--quick` runs each scenario
 * briefly (part of `npm test`).
 *
 * Usage: node test/chaos/run.mjs [--quick] [--backend local,thread,file,upstash,durable-object,deno-kv]
 *          [--scenario name] [--seed n] [--scale share] [--json file] [--markdown file]
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { createLock } from "unilock";
import { check } from "./_checker.mjs";
import { BROKEN_TYPE } from "./_broken_lock.mjs";
import {
  ALL_FAULT_KINDS,
  FAULT_KINDS,
  startFaultProxy,
} from "./_fault_proxy.mjs";
import { runBounds } from "./_bounds.mjs";
import {
  chaosArgs,
  children,
  driveHttp,
  driveProcesses,
  httpBackends,
  pauses as pausesFor,
  runScenarios,
  sleep,
  startClientProcess,
  stuckAfter,
} from "./_harness.mjs";
import { derive, now, seeded } from "./_rng.mjs";
import { FencedStore, serveStore, SharedFencedStore } from "./_store.mjs";
import { driveTrials } from "./_thread_trials.mjs";
import { runClient } from "./_workload.mjs";

const args = chaosArgs(20261127);
const { arg, quick, size, deadlineMs, livenessMs } = args;
const markdownFile = arg("--markdown");
/** A scenario's own bound: `quickMs` shortens its quick run. */
const deadlineOf = (scenario) =>
  quick && scenario.quickMs !== undefined ? scenario.quickMs : deadlineMs;

const timeoutsAndAborts = {
  // Priorities reorder the queue under the timeouts and aborts too.
  priorities: [-2, 2],
  timeoutRatio: 0.3,
  timeoutMs: [0, 30],
  abortRatio: 0.3,
  abortMs: [0, 30],
};

/**
 * The whole public API at once: every acquisition method, `extend` longer,
 * shorter and timed to land while a renewal is in flight on short leases
 * (renewed every 100 to 500 ms), `isLocked()`/`query()` while holding,
 * timeouts and aborts landing synchronously, after microtasks or on a timer
 * (during requests and waits alike), and `withLock` sections whose
 * acquisition signal aborts once they run.
 */
const wholeApi = {
  methods: { acquire: 3, tryAcquire: 1, withLock: 2 },
  leaseMs: [300, 1_500],
  extendRatio: 0.35,
  extendKinds: { longer: 1, shorter: 1, renewal: 2 },
  queryRatio: 0.3,
  sharedRatio: 0.1,
  holdMs: [0, 5],
  priorities: [-2, 2],
  timeoutRatio: 0.3,
  timeoutMs: [0, 1_500],
  abortRatio: 0.25,
  abortMs: [0, 1_000],
  abortAt: ["sync", "microtask", "timer", "timer"],
  sectionAbortRatio: 0.3,
};

/** The scenarios of a backend reached over HTTP by client processes. */
function httpScenarios(restart) {
  return [
    {
      name: "clean",
      sections: 15_000,
      workload: { holdMs: [0, 2], strictLeases: true },
    },
    {
      name: "request-faults",
      sections: 30_000,
      faults: { rate: 0.03, kinds: FAULT_KINDS, delayMs: 300 },
      workload: { holdMs: [0, 2], leaseMs: 2_000 },
    },
    {
      name: restart.name,
      sections: 20_000,
      restartEveryMs: restart.everyMs,
      workload: { holdMs: [0, 2], leaseMs: 3_000 },
    },
    {
      name: "paused-holder",
      sections: 15_000,
      workload: {
        holdMs: [0, 2],
        leaseMs: 500,
        pauseRatio: 0.004,
        pauseMs: 800,
      },
    },
    {
      name: "client-killed",
      sections: 15_000,
      kill: true,
      workload: { holdMs: [0, 2], leaseMs: 1_000 },
    },
    {
      name: "timeouts-aborts",
      sections: 25_000,
      workload: { ...timeoutsAndAborts, leaseMs: 2_000, strictLeases: true },
    },
    {
      // A steal now and then, through every acquire method: the old holder
      // hears of it at its next renewal (a third of 900 ms), its stale
      // writes are fenced off, and no two unlost holders overlap.
      name: "steal",
      sections: 3_000,
      names: 4,
      quickMs: 6_000,
      workload: {
        holdMs: [0, 2],
        leaseMs: 900,
        methods: { acquire: 2, withLock: 1, tryAcquire: 1 },
        stealRatio: 0.05,
        settleLostMs: 700,
      },
    },
    {
      // 400 waiters queued at once on one name, most aborted at random.
      name: "mass-cancel",
      names: 1,
      tasks: 100,
      perClient: quick ? 1 : 3,
      workload: { holdMs: [0, 1], abortRatio: 0.7, abortMs: [0, 1_500] },
    },
    {
      // No faults: no lease may be lost (but to a stalled event loop), no
      // holder may believe in a lease the server let go.
      name: "whole-api",
      sections: 15_000,
      names: 6,
      quickMs: 7_000,
      // Leases of 500 ms and more: on a loaded machine a healthy renewal
      // may take a few hundred ms, and this scenario loses no lease.
      workload: {
        ...wholeApi,
        leaseMs: [500, 1_500],
        minLeaseMs: 300,
        strictLeases: true,
      },
    },
    {
      // Every fault kind, hung requests and reordered ones included, on
      // HTTP requests and WebSocket messages alike.
      name: "whole-api-faults",
      sections: 15_000,
      names: 6,
      quickMs: 7_000,
      faults: {
        rate: 0.03,
        kinds: ALL_FAULT_KINDS,
        delayMs: 300,
        messages: true,
      },
      workload: wholeApi,
    },
    {
      // Every task of a process gets its locks from one LockManager: many
      // acquisitions at once on one instance, each with its own deadline.
      name: "shared-instance",
      sections: 15_000,
      names: 2,
      tasks: 12,
      sharedInstance: true,
      quickMs: 5_000,
      workload: {
        methods: { acquire: 3, tryAcquire: 1, withLock: 1 },
        leaseMs: 2_000,
        holdMs: [0, 20],
        // Now and then a long hold: the others queue behind it, each with
        // its own deadline.
        longHoldRatio: 0.05,
        longHoldMs: [1_500, 3_000],
        timeoutRatio: 0.5,
        timeoutMs: [0, 1_500],
        abortRatio: 0.3,
        abortMs: [0, 1_000],
        abortAt: ["sync", "microtask", "timer", "timer"],
        strictLeases: true,
      },
    },
    {
      // Faults aimed at one request each, with what they must not break
      // measured (see _bounds.mjs).
      name: "bounds",
      bounds: true,
    },
  ];
}

const SCENARIOS = {
  local: [
    {
      name: "contention",
      sections: 60_000,
      clients: 32,
      workload: { sharedRatio: 0.1, strictLeases: true },
    },
    {
      name: "timeouts-aborts",
      sections: 100_000,
      clients: 32,
      workload: {
        ...timeoutsAndAborts,
        timeoutMs: [0, 3],
        abortMs: [0, 3],
        holdMs: [0, 1],
      },
    },
    {
      name: "mass-cancel",
      sections: 30_000,
      clients: 5_000,
      perClient: quick ? 2 : 6,
      names: 1,
      workload: { abortRatio: 0.7, abortMs: [0, 50] },
    },
    {
      // Steals among 16 clients through every acquire method: the old
      // holders are told at once, and their stale writes are fenced off.
      name: "steal",
      sections: 20_000,
      clients: 16,
      workload: {
        holdMs: [0, 1],
        methods: { acquire: 2, withLock: 1, tryAcquire: 1 },
        stealRatio: 0.05,
      },
    },
    {
      name: "broken-lock",
      broken: true,
      sections: 5_000,
      clients: 16,
      workload: {
        holdMs: [0, 1],
        methods: { acquire: 2, withLock: 1 },
        queryRatio: 0.3,
      },
    },
    {
      // A local lease never expires: extend only validates, so few sections
      // hold on after one.
      name: "whole-api",
      sections: 30_000,
      clients: 32,
      quickMs: 5_000,
      workload: { ...wholeApi, extendRatio: 0.02, strictLeases: true },
    },
  ],
  thread: [
    {
      name: "contention",
      sections: 40_000,
      workload: { sharedRatio: 0.1, leaseMs: 2_000, strictLeases: true },
    },
    {
      name: "timeouts-aborts",
      sections: 60_000,
      workload: { ...timeoutsAndAborts, leaseMs: 2_000, strictLeases: true },
    },
    {
      name: "paused-holder",
      sections: 30_000,
      workload: { leaseMs: 200, pauseRatio: 0.002, pauseMs: 400 },
    },
    {
      name: "holder-killed",
      sections: 30_000,
      kill: true,
      workload: { leaseMs: 300, holdMs: [0, 1] },
    },
    {
      // 1,500 waiters across three threads on one name, most aborted.
      name: "mass-cancel",
      names: 1,
      tasks: 500,
      perClient: quick ? 1 : 4,
      capacity: 2_048,
      workload: { abortRatio: 0.7, abortMs: [0, 50], leaseMs: 2_000 },
    },
    {
      name: "whole-api",
      sections: 20_000,
      quickMs: 8_000,
      workload: {
        ...wholeApi,
        extendRatio: 0.5,
        extendKinds: { longer: 1, shorter: 2, renewal: 1 },
        strictLeases: true,
      },
    },
    {
      // Workers terminated at random moments, many times, wherever they
      // are: mid-acquire, mid-release, inside query(), queued, holding;
      // now and then an acquisition steals the lock.
      // Labelled acquisitions through a manager's table, so the deadlock
      // graph sees them too. In a child process under a hard timeout.
      name: "terminations",
      isolated: "terminations",
      // The full run on every runtime with threads; quick on Node.
      runtimes: quick ? ["node"] : ["node", "bun", "deno"],
      kills: quick ? 15 : 150,
      durationMs: quick ? 6_000 : 60_000,
      workload: {
        holdMs: [0, 2],
        leaseMs: 300,
        sharedRatio: 0.2,
        // Steals from live holders in other threads (their stale writes
        // must be fenced off) and from dead ones.
        stealRatio: 0.03,
        timeoutRatio: 0.3,
        timeoutMs: [0, 50],
        abortRatio: 0.2,
        abortMs: [0, 50],
      },
    },
    {
      // Issue 18's measurement: a worker loops acquire/release with
      // leaseMs and is terminated at a random moment; then the lock must
      // still be granted. Each trial under a silence bound (a wedged thread
      // answers nothing).
      name: "termination-trials",
      isolated: "trials",
      runtimes: quick ? ["node"] : ["node", "bun", "deno"],
      trials: quick ? 10 : 200,
    },
  ],
  file: [
    {
      name: "contention",
      sections: 20_000,
      workload: { holdMs: [0, 2], sharedRatio: 0.1, strictLeases: true },
    },
    {
      name: "timeouts-aborts",
      sections: 20_000,
      workload: { ...timeoutsAndAborts, holdMs: [0, 2], strictLeases: true },
    },
    {
      // Processes SIGKILLed mid-hold or mid-wait: freed by their pid, long
      // before the 20 s lease could end.
      name: "holder-killed",
      sections: 15_000,
      kill: true,
      workload: { holdMs: [0, 2], leaseMs: 20_000 },
    },
    {
      // Processes SIGSTOPped for 2 to 3 leases, then resumed: the lease is
      // taken over, the fence turns the stale holder's writes away, and its
      // lease.signal aborts when it wakes.
      name: "holder-stopped",
      sections: 15_000,
      stop: { ms: [1_000, 1_500] },
      workload: { holdMs: [0, 2], leaseMs: 500 },
    },
    {
      // What crashes leave, planted while the lock is in use: temporary
      // files of dead processes, state files cut short, old and foreign files.
      name: "stale-files",
      sections: 15_000,
      plantEveryMs: 100,
      workload: { holdMs: [0, 2], strictLeases: true },
    },
    {
      // 400 waiters queued at once on one name, most aborted at random.
      name: "mass-cancel",
      names: 1,
      tasks: 100,
      perClient: quick ? 1 : 3,
      workload: { holdMs: [0, 1], abortRatio: 0.7, abortMs: [0, 1_500] },
    },
    {
      // Every public method at once on short leases, no faults: no lease
      // may be lost (but to a stalled event loop).
      name: "whole-api",
      sections: 15_000,
      names: 6,
      quickMs: 7_000,
      workload: {
        ...wholeApi,
        leaseMs: [500, 1_500],
        minLeaseMs: 300,
        strictLeases: true,
      },
    },
    {
      // Steals across processes: the old holder hears of one at its next
      // renewal, and its stale writes are fenced off.
      name: "steal",
      sections: 3_000,
      quickMs: 6_000,
      workload: {
        holdMs: [0, 2],
        leaseMs: 900,
        methods: { acquire: 2, withLock: 1, tryAcquire: 1 },
        stealRatio: 0.05,
        settleLostMs: 700,
      },
    },
    {
      // Every task of a process gets its locks from one LockManager.
      name: "shared-instance",
      sections: 15_000,
      names: 2,
      tasks: 12,
      sharedInstance: true,
      quickMs: 5_000,
      workload: {
        methods: { acquire: 3, tryAcquire: 1, withLock: 1 },
        leaseMs: 2_000,
        holdMs: [0, 20],
        longHoldRatio: 0.05,
        longHoldMs: [1_500, 3_000],
        timeoutRatio: 0.5,
        timeoutMs: [0, 1_500],
        abortRatio: 0.3,
        abortMs: [0, 1_000],
        abortAt: ["sync", "microtask", "timer", "timer"],
        strictLeases: true,
      },
    },
  ],
  upstash: httpScenarios({ name: "redis-restart", everyMs: 3_000 }),
  "durable-object": httpScenarios({ name: "service-restart", everyMs: 6_000 }),
  // Deno processes on one KV file; the leases of killed and stopped
  // processes run out by the clock.
  "deno-kv": [
    {
      name: "clean",
      sections: 15_000,
      workload: { holdMs: [0, 2], sharedRatio: 0.1, strictLeases: true },
    },
    {
      name: "timeouts-aborts",
      sections: 20_000,
      workload: { ...timeoutsAndAborts, leaseMs: 2_000, strictLeases: true },
    },
    {
      name: "paused-holder",
      sections: 15_000,
      workload: {
        holdMs: [0, 2],
        leaseMs: 500,
        pauseRatio: 0.004,
        pauseMs: 800,
      },
    },
    {
      name: "process-killed",
      sections: 15_000,
      kill: true,
      workload: { holdMs: [0, 2], leaseMs: 1_000 },
    },
    {
      // SIGSTOP a whole process (holders and waiters alike) past its
      // leases, then SIGCONT: it comes back to leases already taken over.
      // Two names and holds long enough that a stop mostly finds a holder.
      name: "process-stopped",
      sections: 15_000,
      names: 2,
      stop: { ms: [1_500, 1_500] },
      workload: { holdMs: [10, 40], leaseMs: 500 },
    },
    {
      name: "mass-cancel",
      names: 1,
      tasks: 100,
      perClient: quick ? 1 : 3,
      workload: { holdMs: [0, 1], abortRatio: 0.7, abortMs: [0, 1_500] },
    },
    {
      // The whole public API at once, as on the HTTP backends (no faults:
      // no lease may be lost but to a stalled event loop).
      name: "whole-api",
      sections: 15_000,
      names: 6,
      quickMs: 7_000,
      workload: {
        ...wholeApi,
        leaseMs: [500, 1_500],
        minLeaseMs: 300,
        strictLeases: true,
      },
    },
    {
      // Steals across processes: the old holder hears of one at its next
      // renewal, and its stale writes are fenced off.
      name: "steal",
      sections: 3_000,
      quickMs: 6_000,
      workload: {
        holdMs: [0, 2],
        leaseMs: 900,
        methods: { acquire: 2, withLock: 1, tryAcquire: 1 },
        stealRatio: 0.05,
        settleLostMs: 700,
      },
    },
  ],
};

const pauses = (scenario) => pausesFor(scenario, quick);

function lockNames(count, tag) {
  const run = crypto.randomUUID().slice(0, 8);
  return Array.from({ length: count }, (_, i) => `chaos-${tag}-${run}-${i}`);
}

/**
 * How long a name may take to be free after a run. Only a fault may leave a
 * holder (until its lease ends) or a waiter's place (until it lapses, after
 * `lapseMs`) behind; without one, every name must be free at once, so that a
 * ghost waiter left by a timeout or an abort is caught.
 */
function settleBound(scenario, lapseMs) {
  const disrupted = scenario.kill || scenario.stop ||
    scenario.restartEveryMs ||
    scenario.faults || scenario.workload.pauseRatio;
  return disrupted ? longestLease(scenario.workload) * 2 + lapseMs : 1_000;
}

/** The longest lease a workload can hold (one to be shortened starts 4× as long, an extend may lengthen one 4×). */
function longestLease(workload) {
  const lease = [workload.leaseMs ?? 30_000].flat();
  return Math.max(...lease) * ((workload.extendRatio ?? 0) > 0 ? 16 : 1);
}

// ---------------------------------------------------------------- local

async function runLocal(scenario, seed) {
  const names = lockNames(scenario.names ?? 4, "local");
  const store = new FencedStore();
  const type = scenario.broken ? BROKEN_TYPE : "local";
  const locks = new Map(names.map((n) => [n, createLock(type, { name: n })]));
  const clients = scenario.clients;
  const perClient = scenario.perClient ??
    Math.ceil(size(scenario.sections) / clients);
  const deadline = now() + deadlineOf(scenario);
  const results = await Promise.all(
    Array.from({ length: clients }, (_, c) =>
      runClient({
        ...scenario.workload,
        lock: (name) => locks.get(name),
        store,
        names,
        client: c,
        sections: perClient,
        livenessMs,
        seed: derive(seed, c),
        deadline,
      })),
  );
  const stuck = await stuckAfter(names, (n) => locks.get(n), 1_000);
  return check({ names, results, store: store.state(), stuck });
}

// ---------------------------------------------------------------- thread

async function runThread(scenario, seed) {
  if (scenario.isolated) return runThreadIsolated(scenario, seed);
  const names = lockNames(scenario.names ?? 4, "thread");
  const storeBuffer = SharedFencedStore.buffer(names.length);
  const store = new SharedFencedStore(storeBuffer, names);
  const locks = names.map((name) =>
    createLock("thread", { name, capacity: scenario.capacity ?? 256 })
  );
  const workers = 3;
  const tasks = scenario.tasks ?? 4;
  const perClient = scenario.perClient ??
    Math.ceil(size(scenario.sections) / (workers * tasks));
  const deadline = now() + deadlineOf(scenario);
  const rng = seeded(seed);
  const results = [];
  const running = new Set();
  let next = 0;
  const startWorker = () => {
    const index = next++;
    const result = { records: [], counts: {}, errors: [] };
    results.push(result);
    const worker = new Worker(
      new URL("./_thread_worker.mjs", import.meta.url),
      {
        workerData: {
          handles: locks.map((l) => l.handle),
          storeBuffer,
          names,
          tasks,
          seed: derive(seed, index),
          worker: index,
          workload: {
            ...scenario.workload,
            ...pauses(scenario),
            sections: perClient,
            livenessMs,
            deadline,
          },
        },
      },
    );
    running.add(worker);
    const done = new Promise((resolve) => {
      worker.on("message", (m) => {
        if (m.records) result.records.push(...m.records);
        if (m.done) {
          result.counts = m.done.counts;
          result.errors = m.done.errors;
        }
      });
      worker.on("error", (e) => {
        result.errors.push(String(e?.stack ?? e));
        result.counts.otherErrors = (result.counts.otherErrors ?? 0) + 1;
      });
      worker.on("exit", () => {
        running.delete(worker);
        resolve();
      });
    });
    return { worker, done };
  };
  const started = Array.from({ length: workers }, startWorker);
  const finished = started.map((s) => s.done);
  let killed = 0;
  if (scenario.kill) {
    // Terminate a worker at random moments (a holder may die mid-section),
    // starting a replacement each time.
    const killer = (async () => {
      while (running.size > 0 && now() < deadline) {
        // Quick runs last a fraction of a second: kill sooner there.
        await sleep((quick ? 20 : 100) + rng() * (quick ? 80 : 400));
        const victim = [...running][Math.floor(rng() * running.size)];
        if (victim === undefined) break;
        killed++;
        await victim.terminate();
        finished.push(startWorker().done);
        if (killed >= (quick ? 3 : 20)) break;
      }
    })();
    await killer;
  }
  while (true) {
    const count = finished.length;
    await Promise.all(finished);
    if (finished.length === count) break;
  }
  const stuck = await stuckAfter(
    names,
    (n) => locks[names.indexOf(n)],
    settleBound(scenario, 0),
  );
  const report = check({ names, results, store: store.state(), stuck });
  if (killed > 0) report.faults = { "worker-terminated": killed };
  return report;
}

/**
 * A thread scenario that could hang its thread if the lock failed (a dead
 * thread's guard): run in child processes under a hard timeout, so that it
 * fails instead of hanging the run.
 */
async function runThreadIsolated(scenario, seed) {
  let total;
  for (const runtime of scenario.runtimes ?? ["node"]) {
    const report = scenario.isolated === "trials"
      ? await runTrials(scenario, seed, runtime)
      : await runTerminations(scenario, seed, runtime);
    report.byRuntime = { [runtime]: report.violations };
    total = total === undefined ? report : mergeReports(total, report);
  }
  return total;
}

async function runTrials(scenario, seed, runtime) {
  const trials = await driveTrials({
    runtime,
    trials: scenario.trials,
    seed,
    silenceMs: 15_000,
  });
  const report = emptyReport();
  report.sections = trials.ok;
  report.timeouts = trials.timeout;
  // A wedged trial is a lock nobody could take again.
  report.stuck = trials.wedged;
  report.wedged = trials.wedged;
  report.tookOver = trials.tookOver;
  report.maxMs = trials.maxMs;
  report.violations = trials.wedged + trials.timeout;
  report.faults = { "worker-terminated": scenario.trials };
  return report;
}

const runtimeBin = (name) =>
  new URL(`../../node_modules/.bin/${name}`, import.meta.url).pathname;

async function runTerminations(scenario, seed, runtime) {
  const config = {
    seed,
    kills: scenario.kills,
    durationMs: scenario.durationMs,
    livenessMs: 15_000,
    workload: scenario.workload,
  };
  const hardMs = scenario.durationMs + (quick ? 45_000 : 120_000);
  const script = new URL("./_thread_terminations.mjs", import.meta.url)
    .pathname;
  const [cmd, args] = runtime === "deno"
    ? [runtimeBin("deno"), ["run", "-A", script]]
    : runtime === "bun"
    ? [runtimeBin("bun"), [script]]
    : [process.execPath, [script]];
  const child = spawn(cmd, [...args, JSON.stringify(config)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stdout = "", stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), hardMs);
  const [code, signal] = await new Promise((resolve) =>
    child.once("exit", (c, s) => resolve([c, s]))
  );
  clearTimeout(timer);
  children.delete(child);
  const line = stdout.split("\n").find((l) => l.startsWith("REPORT "));
  if (line !== undefined) return JSON.parse(line.slice(7));
  const report = emptyReport();
  report.violations = 1;
  report.errors = [
    signal === "SIGKILL"
      ? `the scenario hung on ${runtime}: killed after ${hardMs} ms`
      : `the scenario exited ${code} on ${runtime}: ${stderr.slice(-1500)}`,
  ];
  return report;
}

/** Two runs' reports as one: counts summed, the longest time kept. */
function mergeReports(a, b) {
  const merged = { ...a };
  for (const [key, value] of Object.entries(b)) {
    if (typeof value === "number") {
      merged[key] = key === "maxMs"
        ? Math.max(a[key] ?? 0, value)
        : (a[key] ?? 0) + value;
    } else if (Array.isArray(value)) {
      merged[key] = [...(a[key] ?? []), ...value];
    } else if (value !== null && typeof value === "object") {
      merged[key] = mergeReports(a[key] ?? {}, value);
    }
  }
  return merged;
}

function emptyReport() {
  return check({ names: [], results: [], store: {} });
}

// ---------------------------------------------------------------- HTTP backends

const backends = httpBackends((type, url, token) => (name) =>
  createLock(
    type,
    type === "upstash" ? { name, redis: { url, token } } : { name, url, token },
  )
);
const upstashInfra = () => backends.upstash();
const lockServiceInfra = () => backends.durableObject();

async function runHttp(backend, scenario, seed) {
  const env = backend === "upstash"
    ? await upstashInfra()
    : await lockServiceInfra();
  const names = lockNames(
    scenario.names ?? 4,
    backend === "upstash" ? "up" : "do",
  );
  const store = new FencedStore();
  const storeServer = await serveStore(store);
  const http = {
    script: new URL("./_child.mjs", import.meta.url),
    names,
    deadline: now() + deadlineOf(scenario),
    livenessMs,
    config: {
      storeUrl: storeServer.url,
      sharedInstance: scenario.sharedInstance === true,
    },
  };
  const driven = await driveHttp(args, backend, scenario, seed, env, http);
  const { results, faults, proxy } = driven;
  const stuck = await stuckAfter(
    names,
    env.make,
    settleBound(scenario, env.settleMs),
  );
  await proxy.close();
  await storeServer.close();
  const report = check({
    names,
    results,
    store: store.state(),
    stuck,
    slowRequests: proxy.slow(),
  });
  report.faults = faults;
  report.requests = proxy.stats().requests;
  return report;
}

/** The `bounds` scenario: faults aimed at single requests, from this process. */
async function runBoundsScenario(backend, _scenario, seed) {
  const env = backend === "upstash"
    ? await upstashInfra()
    : await lockServiceInfra();
  const proxy = await startFaultProxy(env.url, {
    seed: derive(seed, 9_999),
    rate: 0,
    kinds: [],
  });
  const viaProxy = (name) =>
    backend === "upstash"
      ? createLock("upstash", {
        name,
        redis: { url: proxy.url, token: env.token },
      })
      : createLock("durable-object", {
        name,
        url: proxy.url,
        token: env.token,
      });
  const tag = backend === "upstash" ? "up" : "do";
  const run = crypto.randomUUID().slice(0, 8);
  let n = 0;
  const result = await runBounds({
    proxy,
    viaProxy,
    direct: env.make,
    newName: () => `chaos-bounds-${tag}-${run}-${n++}`,
    trials: quick ? 1 : 10,
  });
  await proxy.close();
  // Every name free again once the probes' leases (6 s at most) ran out.
  const stuck = await stuckAfter(result.names, env.make, 6_000 + 2_000);
  return {
    sections: 0,
    overlaps: 0,
    fenceOrder: 0,
    lostUpdates: 0,
    staleWritesRejected: 0,
    paused: 0,
    lostLeases: 0,
    unsignalled: 0,
    timeouts: 0,
    aborts: 0,
    backendErrors: 0,
    stuck,
    bounds: result.figures,
    boundViolations: result.violations,
    violations: result.violations.length + stuck,
    faults: Object.fromEntries(
      Object.entries(proxy.stats().injected).filter(([, v]) => v > 0),
    ),
    requests: proxy.stats().requests,
  };
}

// ---------------------------------------------------------------- file

/** Who this host and process namespace are, as the file lock names them. */
function fileIdentity() {
  const read = (f) => {
    try {
      return readFileSync(f, "utf8").trim();
    } catch {
      return "";
    }
  };
  const h = (s) =>
    s === ""
      ? "00000000"
      : createHash("sha256").update(s).digest("hex").slice(0, 8);
  let ns = "";
  try {
    ns = readlinkSync("/proc/self/ns/pid");
  } catch { /* not Linux */ }
  return `${h(read("/proc/sys/kernel/hostname") || hostname())}.${
    h(read("/proc/sys/kernel/random/boot_id"))
  }.${h(ns)}`;
}

/**
 * Plants in a random lock directory what crashed processes leave: the
 * half-written pending file of a change a dead process never made, a
 * state file cut short (a machine that crashed mid-write), an old state file
 * below the highest, and a file that is not the lock's. Never overwrites.
 */
function plant(dir, rng, tag, deadPid) {
  const subs = readdirSync(dir).filter((n) => n.startsWith("lock-"));
  if (subs.length === 0) return 0;
  const sub = join(dir, subs[Math.floor(rng() * subs.length)]);
  let max = 0;
  for (const n of readdirSync(sub)) {
    const m = /^v(\d+)$/.exec(n);
    if (m) max = Math.max(max, Number(m[1]));
  }
  const rand = Math.floor(rng() * 2 ** 40).toString(36);
  let planted = 0;
  const put = (file, text) => {
    try {
      writeFileSync(join(sub, file), text, { flag: "wx" });
      planted++;
    } catch { /* taken: never overwrite */ }
  };
  const pick = rng();
  if (pick < 0.4) {
    put(
      `pending/t${max}.${tag}.${deadPid}.1.${rand}`,
      '{"format":"unilock-file/1","fen',
    );
  } else if (pick < 0.7) {
    put(`v${max + 1}`, '{"format":"unilock-file/1","fence":1');
  } else if (pick < 0.85) {
    if (max > 10) put(`v${max - 8}`, JSON.stringify({ format: "other" }));
  } else put(`core.${rand}`, "not a lock file");
  return planted;
}

// ------------------------------------------------- file and deno-kv

const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname;

/**
 * 4 processes on one store of the host, killed, stopped or given stale
 * files now and then: Node processes on one lock directory (`file`), or
 * Deno processes on one KV file (`deno-kv`).
 */
async function runSharedStore(backend, scenario, seed) {
  const kv = backend === "deno-kv";
  const dir = mkdtempSync(join(tmpdir(), `unilock-chaos-${backend}-`));
  const path = join(dir, "chaos.sqlite3");
  const names = lockNames(scenario.names ?? 4, kv ? "kv" : "file");
  const store = new FencedStore();
  const storeServer = await serveStore(store);
  const processes = 4;
  const tasks = scenario.tasks ?? 4;
  const perClient = scenario.perClient ??
    Math.ceil(size(scenario.sections) / (processes * tasks));
  const deadline = now() + deadlineOf(scenario);
  const rng = seeded(derive(seed, 7_777));
  let planting;
  if (scenario.plantEveryMs) {
    const tag = fileIdentity();
    // A pid that is not running: a process that ran and exited.
    const deadPid = spawnSync("true").pid;
    planting = {
      everyMs: scenario.plantEveryMs * (quick ? 3 : 1),
      act: () => plant(dir, rng, tag, deadPid),
      label: "files-planted",
    };
  }
  const { results, faults } = await driveProcesses({
    backend,
    scenario,
    seed,
    deadline,
    quick,
    processes,
    killLabel: "process-killed",
    disruption: planting,
    start: (index, result) => {
      const config = {
        ...(kv ? { path } : {
          backend,
          dir,
          watchStalls: 100,
          sharedInstance: scenario.sharedInstance === true,
        }),
        storeUrl: storeServer.url,
        names,
        tasks,
        client: index,
        seed: derive(seed, index),
        workload: {
          ...scenario.workload,
          ...pauses(scenario),
          sections: perClient,
          livenessMs,
          deadline,
        },
      };
      return kv
        ? startClientProcess(
          new URL("./_deno_kv_child.ts", import.meta.url),
          config,
          result,
          [DENO, "run", "-A", "--unstable-kv"],
        )
        : startClientProcess(
          new URL("./_child.mjs", import.meta.url),
          config,
          result,
        );
    },
  });
  // Checked from this Node process (through @deno/kv for a KV file).
  const make = (name) =>
    kv
      ? createLock("deno-kv", { name, kv: path })
      : createLock("file", { name, dir });
  const stuck = await stuckAfter(names, make, settleBound(scenario, 15_000));
  // Every process is gone: no waiter may be left in any queue.
  let waitersLeft = 0;
  if (!kv) {
    for (const name of names) {
      waitersLeft += (await make(name).query()).pending.length;
    }
  }
  await storeServer.close();
  const report = check({
    names,
    results,
    store: store.state(),
    stuck,
    waitersLeft,
  });
  report.faults = faults;
  // A run that entered no section proves nothing: it fails (so does a
  // child whose clock is not this process's, which sees its deadline past).
  if (report.sections === 0) report.violations++;
  rmSync(dir, { recursive: true, force: true });
  return report;
}

// ---------------------------------------------------------------- main

const runners = {
  local: runLocal,
  thread: runThread,
  file: (s, seed) => runSharedStore("file", s, seed),
  upstash: (s, seed) =>
    s.bounds
      ? runBoundsScenario("upstash", s, seed)
      : runHttp("upstash", s, seed),
  "durable-object": (s, seed) =>
    s.bounds
      ? runBoundsScenario("durable-object", s, seed)
      : runHttp("durable-object", s, seed),
  "deno-kv": (s, seed) => runSharedStore("deno-kv", s, seed),
};

const { rows, passed, failed } = await runScenarios({
  scenarios: SCENARIOS,
  runners,
  args,
  script: "run.mjs",
  // The broken lock must be caught: its scenario passes when it fails.
  passes: (report, scenario) =>
    scenario.broken
      ? report.overlaps > 0 && report.lostUpdates + report.fenceOrder > 0 &&
        report.beliefWithoutHold > 0 && report.withLockResultLost > 0
      : report.violations === 0,
  print: ({ ok, backend, scenario, report }) => {
    console.log(
      `${
        ok ? "ok  " : "FAIL"
      } ${backend}/${scenario.name}: ${report.sections} sections, ` +
        `faults ${
          JSON.stringify(report.faults ?? {})
        }, overlaps ${report.overlaps}, ` +
        `fence order ${report.fenceOrder}, lost updates ${report.lostUpdates}, ` +
        `stale writes rejected ${report.staleWritesRejected}, paused ${report.paused}, lost leases ${
          report.lostLeases + report.unsignalled
        } ` +
        `(signalled ${report.lostLeases}), timeouts ${report.timeouts}, aborts ${report.aborts}, ` +
        `backend errors ${report.backendErrors}, stuck ${report.stuck}, ${report.seconds} s` +
        (scenario.broken ? " (a broken lock: must be caught)" : ""),
    );
    if (report.settle?.count > 0 || report.api?.checks > 0) {
      console.log(
        `     late settles ${report.lateSettles}, settled past deadline ${
          JSON.stringify(report.settle)
        }, belief without hold ${report.beliefWithoutHold}, withLock results lost ${report.withLockResultLost}, ` +
          `unexpected lost ${report.unexpectedLost} (to loop stalls ${report.lostToLag}, to a slow backend ${report.lostToSlowBackend}), hung ${report.hung}, ` +
          `belief overlap max ${report.beliefOverlapMaxMs} ms, api ${
            JSON.stringify(report.api)
          }`,
      );
    }
    // What a failure looked like, for its diagnosis.
    for (const key of ok ? [] : ["examples", "fenceExamples", "lostExamples"]) {
      for (const example of report[key] ?? []) {
        console.log(`     ${key}: ${JSON.stringify(example)}`);
      }
    }
    if (report.bounds !== undefined) {
      console.log(`     bounds ${JSON.stringify(report.bounds)}`);
      for (const v of report.boundViolations.slice(0, 30)) {
        console.log(`     violated: ${v}`);
      }
    }
  },
  stop: () => backends.stop(),
});
if (markdownFile) writeFileSync(markdownFile, markdown(rows));

/** The table RELIABILITY.md shows. */
function markdown(rows) {
  const lines = [
    "| backend | scenario | critical sections | faults injected | violations | stale writes fenced off | lost leases (signalled) | timeouts / aborts / backend errors | seconds |",
    "|---|---|---:|---|---:|---:|---:|---|---:|",
  ];
  for (const r of rows) {
    const faults = Object.entries(r.faults ?? {}).map(([k, n]) => `${k} ${n}`)
      .join(", ") || "—";
    const violations = r.scenario === "broken-lock"
      ? `caught: ${r.overlaps} overlaps, ${r.lostUpdates} lost updates, ${r.beliefWithoutHold} beliefs without hold, ${r.withLockResultLost} withLock results lost`
      : String(r.violations);
    const cells = [
      r.backend,
      r.scenario,
      r.sections.toLocaleString("en"),
      faults,
      violations,
      r.staleWritesRejected,
      `${r.lostLeases + r.unsignalled} (${r.lostLeases})`,
      `${r.timeouts} / ${r.aborts} / ${r.backendErrors}`,
      r.seconds,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n") + "\n";
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
