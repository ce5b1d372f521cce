// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal What the lock runner (run.mjs) and the semaphore runner
 * (semaphores.mjs) share: their command line, the client processes and the
 * line protocol they report in, the drive of an HTTP scenario (processes
 * launched, killed and replaced, the server restarted), the HTTP backends'
 * servers, and the check that every name is free after a run. One copy, so
 * that a fix to the harness reaches both checkers.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import {
  startBridgeProcess,
  startLockService,
  startRedis,
} from "../_services.mjs";
import { startFaultProxy } from "./_fault_proxy.mjs";
import { derive, now, seeded } from "./_rng.mjs";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The flags both runners take: `--quick`, `--backend a,b`, `--scenario`,
 * `--seed` (default `defaultSeed`), `--json`, `--scale`; and what they set.
 */
export function chaosArgs(defaultSeed) {
  const arg = (flag) => {
    const i = process.argv.indexOf(flag);
    return i === -1 ? undefined : process.argv[i + 1];
  };
  const quick = process.argv.includes("--quick");
  /** Full-run sections per scenario; --quick runs a hundredth, at least 100; --scale sets another share. */
  const scale = Number(arg("--scale") ?? (quick ? 1 / 100 : 1));
  return {
    arg,
    quick,
    only: arg("--backend")?.split(","),
    onlyScenario: arg("--scenario"),
    baseSeed: Number(arg("--seed") ?? defaultSeed),
    jsonFile: arg("--json"),
    size: (n) => Math.max(100, Math.round(n * scale)),
    /** Each scenario's time bound (--seconds sets another for a full run). */
    deadlineMs: quick ? 20_000 : Number(arg("--seconds") ?? 300) * 1_000,
    /** The longest an acquisition may wait before the checker calls it hung. */
    livenessMs: quick ? 30_000 : 60_000,
  };
}

/** Quick runs pause five times as often, so that they pause at all. */
export function pauses(scenario, quick) {
  const ratio = scenario.workload.pauseRatio;
  return ratio === undefined ? {} : { pauseRatio: quick ? ratio * 5 : ratio };
}

/**
 * Polls until every name can be taken at once (by `take`, a plain
 * `tryAcquire()` unless given); returns how many never could.
 */
export async function stuckAfter(
  names,
  make,
  boundMs,
  take = (lock) => lock.tryAcquire(),
) {
  let stuck = 0;
  for (const name of names) {
    const lock = make(name);
    const until = now() + boundMs;
    let free = false;
    while (!free && now() < until) {
      try {
        const lease = await take(lock);
        if (lease !== undefined) {
          free = true;
          await lease.release();
        }
      } catch { /* the backend is settling: try again */ }
      if (!free) await sleep(100);
    }
    if (!free) {
      stuck++;
      // For a diagnosis: who the backend says holds it, and who waits.
      try {
        const q = await lock.query();
        console.log(
          `     stuck: ${name} held by ${
            JSON.stringify(q.held)
          }, ${q.pending.length} waiting`,
        );
      } catch (error) {
        console.log(`     stuck: ${name} (query failed: ${error?.message})`);
      }
    }
  }
  return stuck;
}

/**
 * The servers of the HTTP backends, started once per run and shared by its
 * scenarios: `make(url, token)` gives the runner's lock (or semaphore) for a
 * name on them.
 */
export function httpBackends(make) {
  const started = {};
  return {
    async upstash() {
      if (started.upstash) return started.upstash;
      const redis = await startRedis({ persist: true });
      const bridge = await startBridgeProcess(redis.url);
      return started.upstash = {
        redis,
        bridge,
        url: bridge.url,
        token: bridge.token,
        stop: async () => {
          await bridge.close();
          await redis.stop();
        },
        restart: () => redis.restart(),
        make: make("upstash", bridge.url, bridge.token),
        // A killed client's waiter place lapses after its heartbeat TTL.
        settleMs: 15_000,
      };
    },
    async durableObject() {
      if (started.do) return started.do;
      const service = await startLockService();
      return started.do = {
        url: service.url,
        token: service.token,
        stop: () => service.stop(),
        restart: () => service.restart(),
        make: make("durable-object", service.url, service.token),
        // A waiter that stopped calling keeps its place for 10 s.
        settleMs: 15_000,
      };
    },
    async stop() {
      await started.upstash?.stop();
      await started.do?.stop();
    },
  };
}

/** Every client process started, so that a run that fails stops them too. */
export const children = new Set();

/**
 * Starts the client process `script` with `config`, gathering into `result`
 * its records ("R <json>" lines, as they come, so a process killed mid-run
 * leaves what it finished) and its counts ("D <json>", at the end).
 * `command` is the program and its flags (Node by default; Deno for the
 * deno-kv clients).
 */
export function startClientProcess(
  script,
  config,
  result,
  command = [process.execPath],
) {
  const [program, ...flags] = command;
  const child = spawn(program, [
    ...flags,
    // A diagnosis's flags for every client (CHAOS_CHILD_FLAGS="--cpu-prof
    // --cpu-prof-dir=/tmp/prof": where a loaded contender's time goes).
    ...(process.env.CHAOS_CHILD_FLAGS?.split(" ").filter(Boolean) ?? []),
    // Node 20's WebSocket, for the lock service's socket transport.
    ...(config.websocket ? ["--experimental-websocket"] : []),
    new URL(script).pathname,
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
        // A backend's calls that took long, timed by the client itself.
        if (Array.isArray(done.slow)) result.slow = done.slow;
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

/**
 * Runs an HTTP scenario of `backend` on `env` (its servers) to the end:
 * four client processes of `script`, each with `tasks` clients, reaching
 * the servers through a fault proxy that injects the scenario's faults;
 * `config` adds the runner's own fields to each process's config. Returns
 * every process's result, the faults injected by kind, and the proxy (still
 * open, calm: close it).
 */
export async function driveHttp(args, backend, scenario, seed, env, run) {
  const { script, names, deadline, livenessMs, config } = run;
  const proxy = await startFaultProxy(env.url, {
    seed: derive(seed, 9_999),
    rate: scenario.faults?.rate ?? 0,
    kinds: scenario.faults?.kinds ?? [],
    delayMs: scenario.faults?.delayMs,
    messages: scenario.faults?.messages,
  });
  const processes = 4;
  const tasks = scenario.tasks ?? 4;
  const perClient = scenario.perClient ??
    Math.ceil(args.size(scenario.sections) / (processes * tasks));
  const { results, faults } = await driveProcesses({
    backend,
    scenario,
    env,
    proxy,
    seed,
    deadline,
    quick: args.quick,
    processes,
    start: (index, result) =>
      startClientProcess(script, {
        backend,
        url: proxy.url,
        token: env.token,
        names,
        tasks,
        client: index,
        seed: derive(seed, index),
        // Half the lock service's clients wait on WebSockets, half long-poll.
        websocket: backend === "durable-object" && index % 2 === 1,
        ...config,
        workload: {
          ...scenario.workload,
          ...pauses(scenario, args.quick),
          sections: perClient,
          livenessMs,
          deadline,
        },
      }, result),
  });
  return { results, faults, proxy };
}

/**
 * Runs a scenario's client processes to the end: `processes` at once, each
 * started by `start(index, result)`, and the scenario's disruption:
 * a restart of the server (`env.restart`) every `scenario.restartEveryMs`;
 * with `scenario.kill` a random process killed (and replaced) now and then
 * (counted as `killLabel`); with `scenario.stop` (`{ ms: [min, max] }`) a
 * random running process stopped (SIGSTOP) that long and continued; or
 * `disruption` of the runner's own (`{ everyMs, act, label }`, `act`
 * resolving how many it did). Then calms `proxy`, if any. Returns every
 * process's result and the faults injected, by kind.
 */
export async function driveProcesses(
  {
    backend,
    scenario,
    env,
    proxy,
    seed,
    deadline,
    quick,
    processes,
    start,
    killLabel = "client-killed",
    disruption: own,
  },
) {
  const rng = seeded(seed);
  const results = [];
  const running = new Set();
  const stopped = new Set();
  let next = 0;
  const launch = () => {
    const index = next++;
    const result = { records: [], counts: {}, errors: [] };
    results.push(result);
    const spawned = start(index, result);
    running.add(spawned.child);
    spawned.exited.then(() => running.delete(spawned.child));
    return spawned.exited;
  };
  const finished = Array.from({ length: processes }, launch);
  const faults = {};
  const disrupt = async (every, act, label, limit = Infinity) => {
    while (running.size > 0 && now() < deadline && !(faults[label] >= limit)) {
      // Quick runs are short: disrupt sooner, so that they disrupt at all.
      await sleep(every / (quick ? 3 : 1) * (0.5 + rng()));
      if (running.size === 0) break;
      const n = await act();
      faults[label] = (faults[label] ?? 0) + (n ?? 1);
    }
  };
  /** A process that runs (not one stopped now). */
  const victim = () => {
    const alive = [...running].filter((c) => !stopped.has(c));
    return alive[Math.floor(rng() * alive.length)];
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
        // A process dies (mid-wait or mid-hold); another takes its place.
        victim()?.kill("SIGKILL");
        finished.push(launch());
      },
      killLabel,
      quick ? 2 : 8,
    )
    : scenario.stop
    ? disrupt(
      1_500,
      async () => {
        const child = victim();
        if (child === undefined) return 0;
        stopped.add(child);
        child.kill("SIGSTOP");
        const [min, max] = scenario.stop.ms;
        await sleep(min + rng() * (max - min));
        child.kill("SIGCONT");
        stopped.delete(child);
      },
      "process-stopped",
      quick ? 3 : 8,
    )
    : own
    ? disrupt(own.everyMs, own.act, own.label)
    : Promise.resolve();
  while (true) {
    const count = finished.length;
    await Promise.all(finished);
    if (finished.length === count && running.size === 0) break;
  }
  await disruption;
  if (proxy !== undefined) {
    proxy.calm();
    Object.assign(
      faults,
      ...Object.entries(proxy.stats().injected).filter(([, n]) => n > 0).map((
        [k, n],
      ) => ({ [k]: n })),
    );
  }
  return { results, faults };
}

/**
 * Runs every scenario of `scenarios` (by backend) that the command line
 * selects, with `runners[backend](scenario, seed)`, and prints a line for
 * each (`print`), with its replay command and report when it fails. A
 * scenario passes when `passes(report, scenario)`. Stops every client process
 * and then `stop()`s, however the run ends; writes `--json`. Returns the
 * rows and the counts.
 */
export async function runScenarios(
  { scenarios, runners, args, script, passes, print, stop },
) {
  const { only, onlyScenario, baseSeed, quick, jsonFile } = args;
  const rows = [];
  let failed = 0;
  let passed = 0;
  try {
    for (const [backend, list] of Object.entries(scenarios)) {
      if (only !== undefined && !only.includes(backend)) continue;
      for (const [i, scenario] of list.entries()) {
        if (onlyScenario !== undefined && scenario.name !== onlyScenario) {
          continue;
        }
        const seed = derive(baseSeed, i + backend.length * 100);
        const started = now();
        const report = await runners[backend](scenario, seed);
        report.seconds = Math.round((now() - started) / 100) / 10;
        const ok = passes(report, scenario);
        if (ok) passed++;
        else failed++;
        const replay =
          `node test/chaos/${script} --backend ${backend} --scenario ${scenario.name} --seed ${baseSeed}${
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
        print({ ok, backend, scenario, report });
        if (!ok) {
          // One short line npm test's summary repeats (CI shows its tail).
          console.log(
            `failed: ${backend}/${scenario.name} (${whyFailed(report)})`,
          );
          console.log(`     replay: ${replay}`);
          console.log(JSON.stringify(report, null, 1).slice(0, 3000));
        }
      }
    }
  } finally {
    for (const child of children) {
      child.kill("SIGCONT"); // a stopped process dies only once it runs
      child.kill("SIGKILL");
    }
    await stop();
  }
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify(rows, null, 1));
  return { rows, passed, failed };
}

/** The kinds of violation a failed scenario's report counts, in a few words. */
function whyFailed(report) {
  const kinds = [
    "overlaps",
    "overAdmissions",
    "fenceOrder",
    "lostUpdates",
    "unsignalled",
    "unexpectedLost",
    "hung",
    "lateSettles",
    "beliefWithoutHold",
    "withLockResultLost",
    "otherErrors",
    "stuck",
    "waitersLeft",
  ].filter((k) => report[k] > 0).map((k) => `${k} ${report[k]}`);
  if (report.boundViolations?.length > 0) {
    kinds.push(`bounds: ${report.boundViolations[0]}`);
  }
  if (report.sections === 0) kinds.push("no sections ran");
  if (kinds.length === 0) kinds.push(`violations ${report.violations}`);
  return kinds.join(", ").slice(0, 200);
}
