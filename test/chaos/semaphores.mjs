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
 * Usage: node test/chaos/semaphores.mjs [--quick] [--backend local,file,upstash,durable-object]
 *          [--scenario name] [--seed n] [--json file]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSemaphore } from "unilock";
import {
  startBridgeProcess,
  startLockService,
  startRedis,
} from "../_services.mjs";
import { FAULT_KINDS, startFaultProxy } from "./_fault_proxy.mjs";
import { derive, now, seeded } from "./_rng.mjs";
import { checkSemaphores, runSemaphoreClient } from "./_semaphore_workload.mjs";

const arg = (flag) => {
  const i = process.argv.indexOf(flag);
  return i === -1 ? undefined : process.argv[i + 1];
};
const quick = process.argv.includes("--quick");
const only = arg("--backend")?.split(",");
const onlyScenario = arg("--scenario");
const baseSeed = Number(arg("--seed") ?? 20261213);
const jsonFile = arg("--json");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const scale = Number(arg("--scale") ?? (quick ? 1 / 100 : 1));
const size = (n) => Math.max(100, Math.round(n * scale));
const deadlineMs = quick ? 20_000 : 300_000;
const livenessMs = quick ? 30_000 : 60_000;
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
  // Four processes on one directory: no request to fault, no server to
  // restart; holders paused past their lease and processes SIGKILLed.
  file: [
    ...httpScenarios().filter((s) => !s.faults && !("restartEveryMs" in s)),
    {
      // Processes SIGSTOPped for 2 to 3 leases, then resumed: their leases
      // are taken over, and read as lost when they wake.
      name: "holder-stopped",
      sections: 10_000,
      stop: { ms: [1_000, 1_500] },
      workload: { holdMs: [0, 2], leaseMs: 500 },
    },
  ],
  upstash: httpScenarios({ name: "redis-restart", everyMs: 3_000 }),
  "durable-object": httpScenarios({ name: "service-restart", everyMs: 6_000 }),
};

function semaphoreNames(count, tag) {
  const run = crypto.randomUUID().slice(0, 8);
  return Array.from(
    { length: count },
    (_, i) => `chaos-sem-${tag}-${run}-${i}`,
  );
}

function pauses(scenario) {
  const ratio = scenario.workload.pauseRatio;
  return ratio === undefined ? {} : { pauseRatio: quick ? ratio * 5 : ratio };
}

function settleBound(scenario, lapseMs) {
  const disrupted = scenario.kill || scenario.restartEveryMs ||
    scenario.faults || scenario.workload.pauseRatio;
  return disrupted
    ? (scenario.workload.leaseMs ?? 30_000) * 2 + lapseMs
    : 1_000;
}

/** Polls until every permit of every name can be taken at once. */
async function stuckAfter(names, make, boundMs) {
  let stuck = 0;
  for (const name of names) {
    const sem = make(name);
    const until = now() + boundMs;
    let free = false;
    while (!free && now() < until) {
      try {
        const lease = await sem.tryAcquire({ permits: CAPACITY });
        if (lease !== undefined) {
          free = true;
          await lease.release();
        }
      } catch { /* settling */ }
      if (!free) await sleep(100);
    }
    if (!free) stuck++;
  }
  return stuck;
}

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

const infra = {};

async function upstashInfra() {
  if (infra.upstash) return infra.upstash;
  const redis = await startRedis({ persist: true });
  const bridge = await startBridgeProcess(redis.url);
  return infra.upstash = {
    url: bridge.url,
    token: bridge.token,
    stop: async () => {
      await bridge.close();
      await redis.stop();
    },
    restart: () => redis.restart(),
    make: (name) =>
      createSemaphore("upstash", {
        name,
        permits: CAPACITY,
        redis: { url: bridge.url, token: bridge.token },
      }),
    settleMs: 15_000,
  };
}

function fileInfra() {
  if (infra.file) return infra.file;
  const dir = mkdtempSync(join(tmpdir(), "unilock-chaos-sem-"));
  return infra.file = {
    dir,
    stop: () => rmSync(dir, { recursive: true, force: true }),
    make: (name) => createSemaphore("file", { name, permits: CAPACITY, dir }),
    settleMs: 5_000,
  };
}

async function lockServiceInfra() {
  if (infra.do) return infra.do;
  const service = await startLockService();
  return infra.do = {
    url: service.url,
    token: service.token,
    stop: () => service.stop(),
    restart: () => service.restart(),
    make: (name) =>
      createSemaphore("durable-object", {
        name,
        permits: CAPACITY,
        url: service.url,
        token: service.token,
      }),
    settleMs: 15_000,
  };
}

const children = new Set();

function startChild(config, result) {
  const child = spawn(process.execPath, [
    ...(config.websocket ? ["--experimental-websocket"] : []),
    new URL("./_semaphore_child.mjs", import.meta.url).pathname,
    JSON.stringify(config),
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let buffer = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith("R ")) {
        result.records.push(...JSON.parse(line.slice(2)));
      } else if (line.startsWith("D ")) {
        const done = JSON.parse(line.slice(2));
        result.counts = done.counts;
        result.errors = done.errors;
      }
    }
  });
  child.stderr.on("data", (d) => (stderr += d));
  children.add(child);
  child.once("exit", () => children.delete(child));
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      if (code !== 0 && signal !== "SIGKILL") {
        result.errors.push(
          `client exited ${code ?? signal}: ${stderr.slice(-500)}`,
        );
        result.counts.otherErrors = (result.counts.otherErrors ?? 0) + 1;
      }
      resolve();
    })
  );
  return { child, exited };
}

async function runHttp(backend, scenario, seed) {
  const file = backend === "file";
  const env = file
    ? fileInfra()
    : backend === "upstash"
    ? await upstashInfra()
    : await lockServiceInfra();
  const names = semaphoreNames(
    scenario.names ?? 3,
    file ? "file" : backend === "upstash" ? "up" : "do",
  );
  // The file backend has no requests to fault.
  const proxy = file ? undefined : await startFaultProxy(env.url, {
    seed: derive(seed, 9_999),
    rate: scenario.faults?.rate ?? 0,
    kinds: scenario.faults?.kinds ?? [],
    delayMs: scenario.faults?.delayMs,
  });
  const processes = 4;
  const tasks = scenario.tasks ?? 4;
  const perClient = scenario.perClient ??
    Math.ceil(size(scenario.sections) / (processes * tasks));
  const deadline = now() + deadlineMs;
  const rng = seeded(seed);
  const results = [];
  const running = new Set();
  let next = 0;
  const launch = () => {
    const index = next++;
    const result = { records: [], counts: {}, errors: [] };
    results.push(result);
    const spawned = startChild({
      backend,
      url: proxy?.url,
      token: env.token,
      dir: env.dir,
      names,
      capacity: CAPACITY,
      tasks,
      client: index,
      seed: derive(seed, index),
      websocket: backend === "durable-object" && index % 2 === 1,
      workload: {
        ...scenario.workload,
        ...pauses(scenario),
        sections: perClient,
        livenessMs: livenessFor(scenario),
        deadline,
      },
    }, result);
    running.add(spawned.child);
    spawned.exited.then(() => running.delete(spawned.child));
    return spawned.exited;
  };
  const finished = Array.from({ length: processes }, launch);
  const faults = {};
  const disrupt = async (every, act, label, limit = Infinity) => {
    while (running.size > 0 && now() < deadline && !(faults[label] >= limit)) {
      await sleep(every / (quick ? 3 : 1) * (0.5 + rng()));
      if (running.size === 0) break;
      await act();
      faults[label] = (faults[label] ?? 0) + 1;
    }
  };
  const disruption = scenario.restartEveryMs
    ? disrupt(
      scenario.restartEveryMs,
      env.restart,
      backend === "upstash" ? "redis-restart" : "service-restart",
    )
    : scenario.kill
    ? disrupt(
      1_500,
      () => {
        const victim = [...running][Math.floor(rng() * running.size)];
        victim?.kill("SIGKILL");
        finished.push(launch());
      },
      "client-killed",
      quick ? 2 : 8,
    )
    : scenario.stop
    ? disrupt(
      1_500,
      async () => {
        const victim = [...running][Math.floor(rng() * running.size)];
        if (victim === undefined) return;
        victim.kill("SIGSTOP");
        const [min, max] = scenario.stop.ms;
        await sleep(min + rng() * (max - min));
        victim.kill("SIGCONT");
      },
      "process-stopped",
      quick ? 2 : 8,
    )
    : Promise.resolve();
  while (true) {
    const count = finished.length;
    await Promise.all(finished);
    if (finished.length === count && running.size === 0) break;
  }
  await disruption;
  proxy?.calm();
  Object.assign(
    faults,
    ...Object.entries(proxy?.stats().injected ?? {}).filter(([, n]) => n > 0)
      .map(([k, n]) => ({ [k]: n })),
  );
  const stuck = await stuckAfter(
    names,
    env.make,
    settleBound(scenario, env.settleMs),
  );
  await proxy?.close();
  const report = checkSemaphores({ names, capacity: CAPACITY, results, stuck });
  report.faults = faults;
  if (proxy !== undefined) report.requests = proxy.stats().requests;
  return report;
}

const runners = {
  local: runLocal,
  file: (s, seed) => runHttp("file", s, seed),
  upstash: (s, seed) => runHttp("upstash", s, seed),
  "durable-object": (s, seed) => runHttp("durable-object", s, seed),
};

const rows = [];
let failed = 0;
let passed = 0;
try {
  for (const [backend, scenarios] of Object.entries(SCENARIOS)) {
    if (only !== undefined && !only.includes(backend)) continue;
    for (const [i, scenario] of scenarios.entries()) {
      if (onlyScenario !== undefined && scenario.name !== onlyScenario) {
        continue;
      }
      const seed = derive(baseSeed, i + backend.length * 100);
      const started = now();
      const report = await runners[backend](scenario, seed);
      report.seconds = Math.round((now() - started) / 100) / 10;
      // The broken semaphore must be caught: its scenario passes when it fails.
      const ok = scenario.broken
        ? report.overAdmissions > 0
        : report.violations === 0;
      if (ok) passed++;
      else failed++;
      const replay =
        `node test/chaos/semaphores.mjs --backend ${backend} --scenario ${scenario.name} --seed ${baseSeed}${
          quick ? " --quick" : ""
        }`;
      rows.push({
        backend,
        scenario: scenario.name,
        seed,
        ok,
        replay,
        ...report,
      });
      console.log(
        `${
          ok ? "ok  " : "FAIL"
        } semaphore ${backend}/${scenario.name}: ${report.sections} sections, ` +
          `faults ${
            JSON.stringify(report.faults ?? {})
          }, most permits out ${report.most} of ${report.capacity}, ` +
          `over-admissions ${report.overAdmissions}, fence order ${report.fenceOrder}, ` +
          `lost leases ${report.lostLeases} (unsignalled ${report.unsignalled}), paused ${report.paused}, ` +
          `timeouts ${report.timeouts}, aborts ${report.aborts}, backend errors ${report.backendErrors}, ` +
          `stuck ${report.stuck}, ${report.seconds} s` +
          (scenario.broken ? " (a broken semaphore: must be caught)" : ""),
      );
      if (!ok) {
        console.log(`     replay: ${replay}`);
        console.log(JSON.stringify(report, null, 1).slice(0, 3000));
      }
    }
  }
} finally {
  for (const child of children) child.kill("SIGKILL");
  await infra.upstash?.stop();
  await infra.do?.stop();
  infra.file?.stop();
}
if (jsonFile) writeFileSync(jsonFile, JSON.stringify(rows, null, 1));
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
