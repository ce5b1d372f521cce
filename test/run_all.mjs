#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm test`: the whole suite on every runtime, then the package checks.
// Prints each runner's output, then one closing line "N passed, N failed".
// Usage: node test/run_all.mjs [--only node,workerd,node-matrix,deno,bun,checks,consumer,chaos]
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
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

const env = {
  ...process.env,
  NO_COLOR: "1",
  FORCE_COLOR: "0",
  WRANGLER_SEND_METRICS: "false",
};

/** Runs a command, echoing its output; resolves { code, output }. */
function run(command, args, extraEnv = {}) {
  return new Promise((resolve) => {
    console.log(`\n$ ${[command.replace(root + "/", ""), ...args].join(" ")}`);
    const child = spawn(command, args, {
      cwd: root,
      env: { ...env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const echo = (stream) => (chunk) => {
      output += chunk;
      stream.write(chunk);
    };
    child.stdout.on("data", echo(process.stdout));
    child.stderr.on("data", echo(process.stderr));
    child.on("error", (error) => resolve({ code: 127, output: String(error) }));
    child.on(
      "close",
      (code, signal) =>
        resolve({
          code: code ?? (signal ? 128 : 1),
          // Some runners colour their output even under NO_COLOR.
          // deno-lint-ignore no-control-regex
          output: output.replace(/\x1b\[[0-9;]*m/g, ""),
        }),
    );
  });
}

const tally = [];
const began = Date.now();
let lastRecord = began;
/** A step's result, and how long it took (since the step before it ended). */
function record(step, passed, failed, note = "") {
  const now = Date.now();
  tally.push({ step, passed, failed, note, seconds: (now - lastRecord) / 1e3 });
  lastRecord = now;
}

/** A runner that exits non-zero without reporting a failed test still counts as one failure. */
function settle(step, code, passed, failed) {
  if (passed === undefined || failed === undefined) {
    record(
      step,
      passed ?? 0,
      (failed ?? 0) + 1,
      `no test counts found (exit ${code})`,
    );
  } else if (code !== 0 && failed === 0) {
    record(step, passed, 1, `exit ${code} with no failed test`);
  } else if (passed + failed === 0) {
    record(step, 0, 1, "ran no test");
  } else {
    record(step, passed, failed);
  }
}

if (wanted("node") || wanted("workerd")) {
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
  let passed, failed;
  try {
    const report = JSON.parse(readFileSync(json, "utf8"));
    passed = report.numPassedTests;
    failed = report.numFailedTests + (report.numTotalTestSuites > 0 ? 0 : 1);
  } catch { /* counted as a failure by settle() */ }
  settle("vitest (Node + workerd)", code, passed, failed);
}

/** Runs vitest's Node project (`--project node`) with `node`; counts its tests. */
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

async function vitestNode(step, node, extraEnv) {
  const json = join(results, `vitest-${step.replace(/\W+/g, "-")}.json`);
  const { code } = await run(node, [
    join(root, "node_modules", "vitest", "vitest.mjs"),
    "run",
    "--project",
    "node",
    ...MATRIX_FILES,
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${json}`,
  ], extraEnv);
  let passed, failed;
  try {
    const report = JSON.parse(readFileSync(json, "utf8"));
    passed = report.numPassedTests;
    failed = report.numFailedTests + (report.numTotalTestSuites > 0 ? 0 : 1);
  } catch { /* counted as a failure by settle() */ }
  settle(step, code, passed, failed);
}

if (wanted("node-matrix")) {
  // The Node suites (contract, API, examples, upstash, the lock service's
  // HTTP client) on the other maintained Node lines, where WebSocket is a
  // global: the durable-object client's socket path is the default there.
  // Their `node` comes first on the PATH, so what the tests start (wrangler
  // dev, worker processes) runs on it too.
  for (const major of Object.keys(NODE_MATRIX)) {
    const step = `vitest (Node ${
      NODE_MATRIX[major]
    }, the contract suites and examples)`;
    let node;
    try {
      node = nodeBinary(major);
    } catch (error) {
      console.log(`\n${step}: ${error.message}`);
      record(step, 0, 1, error.message);
      continue;
    }
    await vitestNode(step, node, {
      PATH: `${dirname(node)}:${process.env.PATH ?? ""}`,
    });
  }
}

if (wanted("deno")) {
  const { code, output } = await run(bin("deno"), [
    "test",
    // All permissions: the thread tests load worker scripts, the upstash
    // tests run redis-server and a local HTTP bridge.
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
    code,
    m ? Number(m[1]) : undefined,
    m ? Number(m[2]) : undefined,
  );
}

if (wanted("bun")) {
  const { code, output } = await run(bin("bun"), ["test", "test/bun"]);
  const p = /^\s*(\d+) pass$/m.exec(output);
  const f = /^\s*(\d+) fail$/m.exec(output);
  settle(
    "bun test",
    code,
    p ? Number(p[1]) : undefined,
    f ? Number(f[1]) : undefined,
  );
}

if (wanted("checks")) {
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
    ["npm build (tsdown)", bin("tsdown"), []],
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
  for (const [step, command, args] of checks) {
    const { code } = await run(command, args);
    record(
      step,
      code === 0 ? 1 : 0,
      code === 0 ? 0 : 1,
      code === 0 ? "" : `exit ${code}`,
    );
  }
}

if (wanted("consumer")) {
  // The packed tarball installed into scratch projects and used as users do:
  // tsc under bundler and nodenext, the examples on every runtime, the lock
  // service template on wrangler dev.
  const { code, output } = await run(process.execPath, [
    "test/check_consumer.mjs",
  ]);
  const m = /^(\d+) passed, (\d+) failed$/m.exec(output);
  settle(
    "consumer check (the packed tarball from the outside)",
    code,
    m ? Number(m[1]) : undefined,
    m ? Number(m[2]) : undefined,
  );
}

if (wanted("chaos")) {
  // The mutual-exclusion checker, briefly, on every backend under faults
  // (`npm run chaos` is the full run). Runs the built package, so the build
  // comes first.
  await run(bin("tsdown"), ["--logLevel", "warn"]);
  const { code, output } = await run(process.execPath, [
    "test/chaos/run.mjs",
    "--quick",
  ]);
  const m = /^(\d+) passed, (\d+) failed$/m.exec(output);
  settle(
    "chaos --quick (every backend, every fault scenario)",
    code,
    m ? Number(m[1]) : undefined,
    m ? Number(m[2]) : undefined,
  );
  // The same fault scenarios with semaphores: over-admission is the violation.
  const sem = await run(process.execPath, [
    "test/chaos/semaphores.mjs",
    "--quick",
  ]);
  const ms = /^(\d+) passed, (\d+) failed$/m.exec(sem.output);
  settle(
    "chaos --quick, semaphores (every backend)",
    sem.code,
    ms ? Number(ms[1]) : undefined,
    ms ? Number(ms[2]) : undefined,
  );
}

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
