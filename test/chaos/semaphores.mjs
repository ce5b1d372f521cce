#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
/**
 * The over-admission checker for semaphores: the lock runner's fault
 * scenarios (run.mjs), with clients taking random permits of semaphores
 * instead of locks. A violation is any moment at which the leases not lost
 * by the end of their sections hold more permits than the capacity, a fence
 * out of order, a lost lease not signalled, a hung acquisition, or a name
 * whose permits cannot all be taken after the run. Bounded: each scenario
 * stops starting sections at its deadline. `--quick` runs each briefly.
 *
 * Usage: node test/chaos/semaphores.mjs [--quick] [--backend local,thread,file,upstash,durable-object,deno-kv]
 *          [--scenario name] [--seed n] [--json file]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { createSemaphore, ThreadLockTable } from "unilock";
import { FAULT_KINDS } from "./_fault_proxy.mjs";
import {
  chaosArgs,
  driveHttp,
  driveProcesses,
  httpBackends,
  pauses,
  runScenarios,
  startClientProcess,
  stuckAfter as stuckAfterBy,
} from "./_harness.mjs";
import { derive, now, seeded } from "./_rng.mjs";
import { checkSemaphores, runSemaphoreClient } from "./_semaphore_workload.mjs";

const args = chaosArgs(20261213);
const { quick, size, deadlineMs, livenessMs } = args;
/**
 * A restart's outage is as long in a quick run as in a full one (wrangler dev
 * takes tens of seconds to come back on a loaded machine): waiters across it
 * get the full run's bound.
 */
const livenessFor = (scenario) => scenario.restartEveryMs ? 60_000 : livenessMs;
/** Three permits, taken one to three at a time: weighted, and contended. */
const CAPACITY = 3;

const timeoutsAndAborts = {
  priorities: [-2, 2],
  timeoutRatio: 0.3,
  timeoutMs: [0, 30],
  abortRatio: 0.3,
  abortMs: [0, 30],
};

function httpScenarios(restart = { name: "restart", everyMs: 0 }) {
  return [
    {
      name: "clean",
      sections: 10_000,
      workload: { holdMs: [0, 4], strictLeases: true },
    },
    {
      name: "request-faults",
      sections: 20_000,
      faults: { rate: 0.03, kinds: FAULT_KINDS, delayMs: 300 },
      workload: { holdMs: [0, 2], leaseMs: 2_000 },
    },
    {
      name: restart.name,
      sections: 15_000,
      restartEveryMs: restart.everyMs,
      workload: { holdMs: [0, 2], leaseMs: 3_000 },
    },
    {
      name: "paused-holder",
      sections: 10_000,
      workload: {
        holdMs: [0, 2],
        leaseMs: 500,
        pauseRatio: 0.004,
        pauseMs: 800,
      },
    },
    {
      name: "client-killed",
      sections: 10_000,
      kill: true,
      workload: { holdMs: [0, 2], leaseMs: 1_000 },
    },
    {
      name: "timeouts-aborts",
      sections: 20_000,
      workload: { ...timeoutsAndAborts, leaseMs: 2_000, strictLeases: true },
    },
  ];
}

const SCENARIOS = {
  local: [
    {
      name: "contention",
      sections: 60_000,
      clients: 32,
      workload: { holdMs: [0, 1], strictLeases: true },
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
      // A semaphore that admits twice its capacity: the checker must catch it.
      name: "broken-semaphore",
      broken: true,
      sections: 5_000,
      clients: 16,
      workload: { holdMs: [0, 1] },
    },
    {
      name: "mass-cancel",
      sections: 30_000,
      clients: 3_000,
      perClient: quick ? 2 : 6,
      names: 1,
      workload: { abortRatio: 0.7, abortMs: [0, 50] },
    },
  ],
  thread: [
    {
      name: "contention",
      sections: 40_000,
      workload: { holdMs: [0, 1], strictLeases: true },
    },
    {
      name: "timeouts-aborts",
      sections: 40_000,
      workload: {
        ...timeoutsAndAborts,
        timeoutMs: [0, 3],
        abortMs: [0, 3],
        holdMs: [0, 1],
        leaseMs: 2_000,
      },
    },
    {
      // Threads terminated mid-run (holding permits, at the head of the
      // line, in it): their permits come back by their leases' expiry.
      name: "terminations",
      sections: 20_000,
      kill: true,
      workload: { holdMs: [0, 2], leaseMs: 500 },
    },
  ],
  upstash: httpScenarios({ name: "redis-restart", everyMs: 3_000 }),
  "durable-object": httpScenarios({ name: "service-restart", everyMs: 6_000 }),
  // Deno processes on one KV file; the leases of killed and stopped
  // processes run out by the clock.
  // Four Node processes on one lock directory: no request to fault, no
  // server to restart; holders paused past their lease, processes killed
  // and stopped.
  file: [
    ...httpScenarios().filter((s) => !s.faults && !("restartEveryMs" in s)),
    {
      // Processes stopped for 2 to 3 leases, then resumed: their permits
      // are taken over, and read as lost when they wake.
      name: "holder-stopped",
      sections: 10_000,
      names: 2,
      stop: { ms: [1_250, 1_250] },
      workload: { holdMs: [0, 2], leaseMs: 500 },
    },
  ],
  "deno-kv": [
    {
      name: "clean",
      sections: 10_000,
      workload: { holdMs: [0, 4], strictLeases: true },
    },
    {
      name: "timeouts-aborts",
      sections: 15_000,
      workload: { ...timeoutsAndAborts, leaseMs: 2_000, strictLeases: true },
    },
    {
      name: "paused-holder",
      sections: 10_000,
      workload: {
        holdMs: [0, 2],
        leaseMs: 500,
        pauseRatio: 0.004,
        pauseMs: 800,
      },
    },
    {
      name: "process-killed",
      sections: 10_000,
      kill: true,
      workload: { holdMs: [0, 2], leaseMs: 1_000 },
    },
    {
      // A whole process stopped past its leases, then continued: it comes
      // back to permits already handed on.
      name: "process-stopped",
      sections: 10_000,
      names: 2,
      stop: { ms: [1_500, 1_500] },
      workload: { holdMs: [10, 40], leaseMs: 500 },
    },
  ],
};

function semaphoreNames(count, tag) {
  const run = crypto.randomUUID().slice(0, 8);
  return Array.from(
    { length: count },
    (_, i) => `chaos-sem-${tag}-${run}-${i}`,
  );
}

function settleBound(scenario, lapseMs) {
  const disrupted = scenario.kill || scenario.stop ||
    scenario.restartEveryMs ||
    scenario.faults || scenario.workload.pauseRatio;
  return disrupted
    ? (scenario.workload.leaseMs ?? 30_000) * 2 + lapseMs
    : 1_000;
}

/** Polls until every permit of every name can be taken at once. */
const stuckAfter = (names, make, boundMs) =>
  stuckAfterBy(
    names,
    make,
    boundMs,
    (sem) => sem.tryAcquire({ permits: CAPACITY }),
  );

async function runLocal(scenario, seed) {
  const names = semaphoreNames(scenario.names ?? 4, "local");
  const permits = scenario.broken ? CAPACITY * 2 : CAPACITY;
  const sems = new Map(
    names.map((n) => [n, createSemaphore("local", { name: n, permits })]),
  );
  const clients = scenario.clients;
  const perClient = scenario.perClient ??
    Math.ceil(size(scenario.sections) / clients);
  const deadline = now() + deadlineMs;
  const results = await Promise.all(
    Array.from({ length: clients }, (_, c) =>
      runSemaphoreClient({
        ...scenario.workload,
        semaphore: (name) => sems.get(name),
        names,
        capacity: CAPACITY,
        client: c,
        sections: perClient,
        livenessMs,
        seed: derive(seed, c),
        deadline,
      })),
  );
  const stuck = await stuckAfter(names, (n) => sems.get(n), 1_000);
  return checkSemaphores({ names, capacity: CAPACITY, results, stuck });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Worker threads, each with `tasks` clients, on semaphores in one table. */
async function runThread(scenario, seed) {
  const names = semaphoreNames(scenario.names ?? 3, "thread");
  const table = new ThreadLockTable();
  const threads = 4, tasks = scenario.tasks ?? 4;
  const perClient = scenario.perClient ??
    Math.ceil(size(scenario.sections) / (threads * tasks));
  const deadline = now() + deadlineMs;
  const rng = seeded(seed);
  const results = [];
  const running = new Set();
  let next = 0;
  const launch = () => {
    const index = next++;
    const result = { records: [], counts: {}, errors: [] };
    results.push(result);
    const worker = new Worker(
      new URL("./_semaphore_thread_worker.mjs", import.meta.url),
      {
        workerData: {
          table: table.handle,
          names,
          capacity: CAPACITY,
          tasks,
          client: index,
          seed: derive(seed, index),
          workload: {
            ...scenario.workload,
            sections: perClient,
            livenessMs,
            deadline,
          },
        },
      },
    );
    running.add(worker);
    worker.on("message", (m) => {
      if (m.records) result.records.push(...m.records);
      if (m.done) {
        result.counts = m.counts;
        result.errors = m.errors;
      }
    });
    worker.on("error", (error) => {
      result.counts.otherErrors = (result.counts.otherErrors ?? 0) + 1;
      result.errors.push(String(error));
    });
    return new Promise((resolve) =>
      worker.on("exit", () => {
        running.delete(worker);
        resolve();
      })
    );
  };
  const finished = Array.from({ length: threads }, launch);
  const faults = {};
  const disruption = (async () => {
    if (!scenario.kill) return;
    while (
      running.size > 0 && now() < deadline &&
      !(faults.terminated >= (quick ? 3 : 10))
    ) {
      // Quick runs are short: terminate sooner, so that they terminate at all.
      await sleep(400 / (quick ? 8 : 1) * (0.5 + rng()));
      if (running.size === 0) break;
      const victim = [...running][Math.floor(rng() * running.size)];
      await victim.terminate();
      faults.terminated = (faults.terminated ?? 0) + 1;
      finished.push(launch());
    }
  })();
  while (true) {
    const count = finished.length;
    await Promise.all(finished);
    if (finished.length === count && running.size === 0) break;
  }
  await disruption;
  const make = (name) =>
    createSemaphore("thread", { table, name, permits: CAPACITY });
  const stuck = await stuckAfter(
    names,
    make,
    scenario.kill ? (scenario.workload.leaseMs ?? 0) * 2 + 5_000 : 1_000,
  );
  const report = checkSemaphores({ names, capacity: CAPACITY, results, stuck });
  report.faults = faults;
  return report;
}

const backends = httpBackends((type, url, token) => (name) =>
  createSemaphore(
    type,
    type === "upstash"
      ? { name, permits: CAPACITY, redis: { url, token } }
      : { name, permits: CAPACITY, url, token },
  )
);

async function runHttp(backend, scenario, seed) {
  const env = backend === "upstash"
    ? await backends.upstash()
    : await backends.durableObject();
  const names = semaphoreNames(
    scenario.names ?? 3,
    backend === "upstash" ? "up" : "do",
  );
  const http = {
    script: new URL("./_semaphore_child.mjs", import.meta.url),
    names,
    deadline: now() + deadlineMs,
    livenessMs: livenessFor(scenario),
    config: { capacity: CAPACITY },
  };
  const driven = await driveHttp(args, backend, scenario, seed, env, http);
  const { results, faults, proxy } = driven;
  const stuck = await stuckAfter(
    names,
    env.make,
    settleBound(scenario, env.settleMs),
  );
  await proxy.close();
  const report = checkSemaphores({ names, capacity: CAPACITY, results, stuck });
  report.faults = faults;
  report.requests = proxy.stats().requests;
  return report;
}

// ------------------------------------------------- deno-kv and file

const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname;

/**
 * 4 processes on one store of the host, killed or stopped now and then:
 * Deno processes on one KV file (`deno-kv`), or Node processes on one lock
 * directory (`file`).
 */
async function runSharedStore(backend, scenario, seed) {
  const kv = backend === "deno-kv";
  const dir = mkdtempSync(join(tmpdir(), `unilock-chaos-sem-${backend}-`));
  const path = join(dir, "chaos.sqlite3");
  const names = semaphoreNames(scenario.names ?? 3, kv ? "kv" : "file");
  const processes = 4;
  const tasks = scenario.tasks ?? 4;
  const perClient = scenario.perClient ??
    Math.ceil(size(scenario.sections) / (processes * tasks));
  const deadline = now() + deadlineMs;
  const { results, faults } = await driveProcesses({
    backend,
    scenario,
    seed,
    deadline,
    quick,
    processes,
    killLabel: "process-killed",
    start: (index, result) => {
      const config = {
        ...(kv ? { path } : { backend, dir }),
        names,
        capacity: CAPACITY,
        tasks,
        client: index,
        seed: derive(seed, index),
        workload: {
          ...scenario.workload,
          ...pauses(scenario, quick),
          sections: perClient,
          livenessMs,
          deadline,
        },
      };
      return kv
        ? startClientProcess(
          new URL("./_deno_kv_semaphore_child.ts", import.meta.url),
          config,
          result,
          [DENO, "run", "-A", "--unstable-kv"],
        )
        : startClientProcess(
          new URL("./_semaphore_child.mjs", import.meta.url),
          config,
          result,
        );
    },
  });
  // Checked from this Node process (through @deno/kv for a KV file).
  const stuck = await stuckAfter(
    names,
    (name) =>
      kv
        ? createSemaphore("deno-kv", { name, permits: CAPACITY, kv: path })
        : createSemaphore("file", { name, permits: CAPACITY, dir }),
    settleBound(scenario, 15_000),
  );
  const report = checkSemaphores({ names, capacity: CAPACITY, results, stuck });
  report.faults = faults;
  // A run that entered no section proves nothing (a child on another clock
  // would see its deadline past): it fails.
  if (report.sections === 0) report.violations++;
  rmSync(dir, { recursive: true, force: true });
  return report;
}

const runners = {
  local: runLocal,
  thread: runThread,
  upstash: (s, seed) => runHttp("upstash", s, seed),
  "durable-object": (s, seed) => runHttp("durable-object", s, seed),
  file: (s, seed) => runSharedStore("file", s, seed),
  "deno-kv": (s, seed) => runSharedStore("deno-kv", s, seed),
};

const { passed, failed } = await runScenarios({
  scenarios: SCENARIOS,
  runners,
  args,
  script: "semaphores.mjs",
  // The broken semaphore must be caught: its scenario passes when it fails.
  passes: (report, scenario) =>
    scenario.broken ? report.overAdmissions > 0 : report.violations === 0,
  print: ({ ok, backend, scenario, report }) => {
    console.log(
      `${
        ok ? "ok  " : "FAIL"
      } semaphore ${backend}/${scenario.name}: ${report.sections} sections, ` +
        `faults ${
          JSON.stringify(report.faults ?? {})
        }, most permits out ${report.most} of ${report.capacity}, ` +
        `over-admissions ${report.overAdmissions} (stalled sections left out ${
          report.stalledSections ?? 0
        }), fence order ${report.fenceOrder}, ` +
        `lost leases ${report.lostLeases} (unsignalled ${report.unsignalled}), paused ${report.paused}, ` +
        `timeouts ${report.timeouts}, aborts ${report.aborts}, backend errors ${report.backendErrors}, ` +
        `stuck ${report.stuck}, ${report.seconds} s` +
        (scenario.broken ? " (a broken semaphore: must be caught)" : ""),
    );
  },
  stop: () => backends.stop(),
});
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
