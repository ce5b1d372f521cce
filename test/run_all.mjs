#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm test`: the whole suite on every runtime, then the package checks.
// Builds dist/ once, then runs the steps in two lanes at once (one per core:
// most steps wait on timers, sockets and child processes more than they
// compute), each step's output printed whole when it ends; then one closing
// line "N passed, N failed". `UNILOCK_TEST_LANES=1` runs them one by one.
// Usage: node test/run_all.mjs [--only node,workerd,node-matrix,deno,bun,checks,consumer,chaos]
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { NODE_MATRIX, nodeBinary } from "./_node_matrix.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const results = join(root, ".test-results");
rmSync(results, { recursive: true, force: true });
mkdirSync(results, { recursive: true });

const onlyArg = process.argv.indexOf("--only");
const only = onlyArg === -1
  ? undefined
  : new Set(process.argv[onlyArg + 1]?.split(","));
const wanted = (group) => only === undefined || only.has(group);
const LANES = Number(process.env.UNILOCK_TEST_LANES ?? 2);
if (LANES !== 1 && LANES !== 2) {
  throw new RangeError(
    `UNILOCK_TEST_LANES must be 1 or 2: current value is ${process.env.UNILOCK_TEST_LANES}`,
  );
}

const env = {
  ...process.env,
  NO_COLOR: "1",
  FORCE_COLOR: "0",
  WRANGLER_SEND_METRICS: "false",
  // dist/ is built once, before the lanes: a step that rebuilt it (tsdown
  // empties it first) would pull it from under the other lane's processes.
  UNILOCK_DIST_BUILT: "1",
};

/**
 * Runs a command; resolves { code, output }. Its output is printed whole
 * when it ends (the other lane's would interleave with it), or as it comes
 * with one lane.
 */
function run(command, args, extraEnv = {}) {
  return new Promise((resolve) => {
    const title = `\n$ ${[command.replace(root + "/", ""), ...args].join(" ")}`;
    if (LANES === 1) console.log(title);
    const child = spawn(command, args, {
      cwd: root,
      env: { ...env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const echo = (stream) => (chunk) => {
      output += chunk;
      if (LANES === 1) stream.write(chunk);
    };
    child.stdout.on("data", echo(process.stdout));
    child.stderr.on("data", echo(process.stderr));
    const done = (code) => {
      if (LANES !== 1) process.stdout.write(`${title}\n${output}`);
      resolve({
        code,
        // Some runners colour their output even under NO_COLOR.
        // deno-lint-ignore no-control-regex
        output: output.replace(/\x1b\[[0-9;]*m/g, ""),
      });
    };
    child.on("error", (error) => {
      output += String(error);
      done(127);
    });
    child.on("close", (code, signal) => done(code ?? (signal ? 128 : 1)));
  });
}

const tally = [];
const began = Date.now();
/** A step's result, and how long it took since `since`. */
function record(step, since, passed, failed, note = "") {
  tally.push({
    step,
    passed,
    failed,
    note,
    seconds: (Date.now() - since) / 1e3,
  });
}

/** A runner that exits non-zero without reporting a failed test still counts as one failure. */
function settle(step, since, code, passed, failed, named = []) {
  const failures = [...new Set(named)];
  if (failures.length > 0 && failed > 0) {
    // CI shows the run's tail: the summary names what failed.
    const named = failures.slice(0, 4).join("; ").slice(0, 400);
    record(
      step,
      since,
      passed,
      failed,
      `${named}${
        failures.length > 4 ? `; and ${failures.length - 4} more` : ""
      }`,
    );
    return;
  }
  if (passed === undefined || failed === undefined) {
    record(
      step,
      since,
      passed ?? 0,
      (failed ?? 0) + 1,
      `no test counts found (exit ${code})`,
    );
  } else if (code !== 0 && failed === 0) {
    record(step, since, passed, 1, `exit ${code} with no failed test`);
  } else if (passed + failed === 0) {
    record(step, since, 0, 1, "ran no test");
  } else {
    record(step, since, passed, failed);
  }
}

/** The number a runner's summary line gave (group `i`), if it gave one. */
function count(match, i) {
  return match ? Number(match[i]) : undefined;
}

/** A vitest run's counts from its JSON report (undefined if it has none). */
function vitestCounts(json) {
  try {
    const report = JSON.parse(readFileSync(json, "utf8"));
    return [
      report.numPassedTests,
      report.numFailedTests + (report.numTotalTestSuites > 0 ? 0 : 1),
      report.testResults.flatMap((file) =>
        file.assertionResults.filter((t) => t.status === "failed").map((t) =>
          t.fullName
        ).concat(
          file.status === "failed" && file.assertionResults.length === 0
            ? [`${relative(root, file.name)}: ${file.message ?? "failed"}`]
            : [],
        )
      ),
    ];
  } catch {
    return [undefined, undefined]; // counted as a failure by settle()
  }
}

async function vitestMain() {
  const since = Date.now();
  const projects = ["node", "workerd"].filter(wanted).flatMap((
    p,
  ) => ["--project", p]);
  const json = join(results, "vitest.json");
  const { code } = await run(bin("vitest"), [
    "run",
    ...projects,
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${json}`,
  ]);
  settle("vitest (Node + workerd)", since, code, ...vitestCounts(json));
}

/**
 * What the other Node lines run: the suites run by the factory on every
 * backend (locks, semaphores, Web Locks), the examples, the upstash and lock
 * service tests. The long fault studies (the lease model, the adversarial
 * probes, exit timing) run once, on the machine's Node, above.
 */
const MATRIX_FILES = [
  "test/node/contract.test.ts",
  "test/node/examples.test.ts",
  "test/node/durable_object_http.test.ts",
  "test/node/acquire_all.test.ts",
  "test/node/await_using.test.ts",
  "test/node/semaphore.test.ts",
  "test/node/web_locks.test.ts",
  "test/upstash/",
];

/** Runs vitest's Node project (`--project node`) on one Node of the matrix. */
async function vitestNode(major) {
  const since = Date.now();
  const step = `vitest (Node ${
    NODE_MATRIX[major]
  }, the contract suites and examples)`;
  let node;
  try {
    node = nodeBinary(major);
  } catch (error) {
    console.log(`\n${step}: ${error.message}`);
    record(step, since, 0, 1, error.message);
    return;
  }
  const json = join(results, `vitest-node-${major}.json`);
  const { code } = await run(node, [
    join(root, "node_modules", "vitest", "vitest.mjs"),
    "run",
    "--project",
    "node",
    ...MATRIX_FILES,
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${json}`,
  ], { PATH: `${dirname(node)}:${process.env.PATH ?? ""}` });
  settle(step, since, code, ...vitestCounts(json));
}

async function denoTest() {
  const since = Date.now();
  const { code, output } = await run(bin("deno"), [
    "test",
    "-A",
    "--doc",
    "test/deno/",
    "mod.ts",
    "src/",
    "workers/",
  ]);
  const m = /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/
    .exec(output);
  settle(
    "deno test (with --doc)",
    since,
    code,
    count(m, 1),
    count(m, 2),
    // Deno lists the failed tests as "name => file:line:column".
    [...output.matchAll(/^(.+?) => \S+:\d+:\d+$/gm)].map((f) => f[1]),
  );
}

async function bunTest() {
  const since = Date.now();
  const { code, output } = await run(bin("bun"), [
    "test",
    // vitest's default bound (see vitest.config.ts), not bun's 5 s.
    "--timeout",
    "20000",
    "test/bun",
  ]);
  const p = /^\s*(\d+) pass$/m.exec(output);
  const f = /^\s*(\d+) fail$/m.exec(output);
  settle(
    "bun test",
    since,
    code,
    count(p, 1),
    count(f, 1),
    [...output.matchAll(/^\(fail\) (.+?)(?: \[[\d.]+m?s\])?$/gm)].map((f) =>
      f[1]
    ),
  );
}

/** A command that passes when it exits 0. */
async function check(step, command, args) {
  const since = Date.now();
  const { code, output } = await run(command, args);
  const failures = code === 0 ? [] : failedLines(output);
  record(
    step,
    since,
    code === 0 ? 1 : 0,
    code === 0 ? 0 : 1,
    code === 0
      ? ""
      : failures.length > 0
      ? `exit ${code}: ${failures.slice(0, 3).join("; ").slice(0, 400)}`
      : `exit ${code}`,
  );
}

async function packageChecks() {
  const checks = [
    ["deno check (with the type tests)", bin("deno"), [
      "check",
      "mod.ts",
      "src/",
      "workers/",
      "test/deno/",
      "test/types/",
    ]],
    ["deno lint", bin("deno"), ["lint"]],
    ["deno fmt --check", bin("deno"), ["fmt", "--check"]],
    ["deno publish --dry-run", bin("deno"), [
      "publish",
      "--dry-run",
      "--allow-dirty",
    ]],
    ["tsc --noEmit (strict, isolatedDeclarations)", bin("tsc"), ["-p", "."]],
    [
      "tsc type tests (test/types: what must compile, and what must not)",
      bin("tsc"),
      ["-p", "test/types"],
    ],
    ["publint (the npm package's exports and files)", bin("publint"), []],
    ["the demo (npm start) runs and proves no overlap", process.execPath, [
      "examples/demo.mjs",
    ]],
    [
      "attw (its types resolve for ESM consumers)",
      bin("attw"),
      ["--pack", ".", "--profile", "esm-only"],
    ],
    [
      "wrangler deploy --dry-run (the lock service builds)",
      bin("wrangler"),
      ["deploy", "--dry-run", "--outdir", ".test-results/wrangler-dist"],
    ],
    ["export maps agree", process.execPath, ["test/check_exports.mjs"]],
    [
      "bundle sizes through the subpaths (local <= 6 KiB, durable-object client with its object <= 12 KiB, gzip)",
      process.execPath,
      ["test/check_sizes.mjs"],
    ],
    [
      "API reference from the doc comments (deno doc --html, every entry point)",
      bin("deno"),
      [
        "doc",
        "--html",
        "--name=unilock",
        "--output=.test-results/api",
        ...Object.values(
          JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).exports,
        ),
      ],
    ],
    [
      // workers/durable_object.ts is left out: its public LockDurableObjectState
      // refers to a private SqlStorageLike (private-type-ref).
      "deno doc --lint (mod.ts, ./worker, ./upstash-bridge)",
      bin("deno"),
      [
        "doc",
        "--lint",
        "mod.ts",
        "workers/worker.ts",
        "src/upstash_bridge/upstash_bridge.ts",
      ],
    ],
    [
      "the guides' code blocks type-check and run (deno test --doc on the markdown)",
      bin("deno"),
      [
        "test",
        "--doc",
        "--import-map",
        "test/docs/import_map.json",
        "README.md",
        "ARCHITECTURE.md",
        "RELIABILITY.md",
        "docs/",
      ],
    ],
    ["the guides' relative links resolve", process.execPath, [
      "test/check_docs.mjs",
    ]],
  ];
  for (const [step, command, args] of checks) await check(step, command, args);
}

/**
 * A Node script that ends with one line "N passed, N failed" (the consumer
 * check, the chaos runners), counted by that line.
 */
async function closingLine(step, args) {
  const since = Date.now();
  const { code, output } = await run(process.execPath, args);
  const m = /^(\d+) passed, (\d+) failed$/m.exec(output);
  settle(
    step,
    since,
    code,
    count(m, 1),
    count(m, 2),
    failedLines(output),
  );
}

/** The chaos runners' "failed: …" lines, else the consumer check's FAIL lines. */
function failedLines(output) {
  const lines = (re) => [...output.matchAll(re)].map((f) => f[1].slice(0, 200));
  const chaos = lines(/^failed: (.+)$/gm);
  return chaos.length > 0 ? chaos : lines(/^FAIL (.+)$/gm);
}

const consumerCheck = () =>
  closingLine("consumer check (the packed tarball from the outside)", [
    "test/check_consumer.mjs",
  ]);

/** A quick chaos run (`script` with `args`). */
const chaos = (step, script, args) =>
  closingLine(step, [`test/chaos/${script}`, "--quick", ...args]);

// Each lane's steps, in order; the lanes are about as long (figures in
// RELIABILITY.md). The chaos run is split by backend between them: the
// HTTP backends' scenarios wait on their servers, the others on the CPU.
const lanes = [
  [
    wanted("node") || wanted("workerd") ? vitestMain : undefined,
    wanted("checks") ? packageChecks : undefined,
    wanted("consumer") ? consumerCheck : undefined,
    wanted("chaos")
      ? () =>
        chaos(
          "chaos --quick (upstash, durable-object: every fault scenario)",
          "run.mjs",
          ["--backend", "upstash,durable-object"],
        )
      : undefined,
  ],
  [
    ...Object.keys(NODE_MATRIX).map((major) =>
      wanted("node-matrix") ? () => vitestNode(major) : undefined
    ),
    wanted("deno") ? denoTest : undefined,
    wanted("bun") ? bunTest : undefined,
    wanted("chaos")
      ? () =>
        chaos(
          "chaos --quick (local, thread, file, deno-kv: every fault scenario)",
          "run.mjs",
          ["--backend", "local,thread,file,deno-kv"],
        )
      : undefined,
    // The same fault scenarios with semaphores: over-admission is the violation.
    wanted("chaos")
      ? () =>
        chaos("chaos --quick, semaphores (every backend)", "semaphores.mjs", [])
      : undefined,
  ],
].map((lane) => lane.filter((step) => step !== undefined));

// The build first, on its own: every later step that runs the package
// (the demo, the examples, the consumer check, chaos) reads dist/.
if (
  wanted("checks") || wanted("consumer") || wanted("chaos") || wanted("node")
) {
  await check("npm build (tsdown)", bin("tsdown"), []);
}
const runLane = async (steps) => {
  for (const step of steps) await step();
};
if (LANES === 1) await runLane(lanes.flat());
else await Promise.all(lanes.map(runLane));

console.log("\nSummary");
for (const { step, passed, failed, note, seconds } of tally) {
  console.log(
    `  ${failed ? "FAIL" : "ok  "} ${step}: ${passed} passed, ${failed} failed${
      note ? ` (${note})` : ""
    } [${Math.round(seconds)} s]`,
  );
}
console.log(`  in ${Math.round((Date.now() - began) / 1e3)} s`);
const passed = tally.reduce((n, t) => n + t.passed, 0);
const failed = tally.reduce((n, t) => n + t.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || tally.length === 0 ? 1 : 0;
