#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `createWebLocks("local")` side by side with the runtime's own
// `navigator.locks` (Deno 2.9, Node 24.5+), in one run, as ratios: the same
// request() calls, uncontended and with 100 contending tasks. Uses the built
// package (dist/).
//
//   node bench/web_locks.mjs [--quick]       (Node 24: test/node_matrix/node_modules/node24/bin/node)
//   deno run -A bench/web_locks.mjs [--quick]
//
// Each sample runs in a fresh process of the same runtime: a process that
// has used its native navigator.locks makes every later turn of its event
// loop slower (measured: our uncontended request went from 1.7 to 5.9 µs on
// Node 24 once the native one had run beside it), which would charge one
// peer for the other. Rounds alternate which peer goes first.
const isNode = typeof Deno === "undefined" && typeof Bun === "undefined";
const args = isNode ? process.argv.slice(2) : Deno.args;
const quick = args.includes("--quick");
const ROUNDS = quick ? 3 : 7;
const UNCONTENDED = quick ? 20_000 : 100_000;
const TASKS = 100;
/** Rounds each sample's process runs before the one it measures. */
const WARMUPS = 2;
const PER_TASK = quick ? 100 : 500;
const OURS = 'unilock createWebLocks("local")';
const MICRO = 'unilock createWebLocks("local", { callbackIn: "microtask" })';
const NATIVE = "native navigator.locks";

const noop = () => {};

async function uncontended(locks) {
  const start = performance.now();
  for (let i = 0; i < UNCONTENDED; i++) await locks.request("u", noop);
  return (performance.now() - start) / UNCONTENDED;
}

async function contended(locks) {
  let inside = 0, overlaps = 0;
  const section = () => {
    if (++inside !== 1) overlaps++;
    inside--;
  };
  const task = async () => {
    for (let i = 0; i < PER_TASK; i++) await locks.request("c", section);
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: TASKS }, task));
  if (overlaps > 0) throw new Error(`${overlaps} overlapping sections`);
  return (performance.now() - start) / (TASKS * PER_TASK);
}

const cases = { uncontended, contended };

/** In a child: one peer, one case, a warm-up and one sample, on stdout. */
async function sample(peer, which) {
  const { createWebLocks } = await import(
    isNode ? "unilock" : "../dist/mod.js"
  );
  const locks = peer === NATIVE ? globalThis.navigator.locks : createWebLocks(
    "local",
    peer === MICRO ? { callbackIn: "microtask" } : {},
  );
  // Steady state, for every peer alike: the first rounds in a fresh process
  // include the JIT's warm-up (measured, contended on Node 24: 9.7 and
  // 10.6 µs per handoff, then 1.2 to 1.5 µs from the third round on).
  for (let w = 0; w < WARMUPS; w++) await cases[which](locks);
  console.log(JSON.stringify(await cases[which](locks)));
}

/** Runs one sample in a fresh process of this runtime. */
async function child(peer, which) {
  const argv = [
    ...(isNode ? [] : ["run", "-A"]),
    new URL(import.meta.url).pathname,
    "--peer",
    peer,
    "--case",
    which,
    ...(quick ? ["--quick"] : []),
  ];
  let out;
  if (isNode) {
    const { execFileSync } = await import("node:child_process");
    out = execFileSync(process.execPath, argv, { encoding: "utf8" });
  } else {
    const result = await new Deno.Command(Deno.execPath(), { args: argv })
      .output();
    if (!result.success) {
      throw new Error(new TextDecoder().decode(result.stderr));
    }
    out = new TextDecoder().decode(result.stdout);
  }
  return Number(out.trim().split("\n").pop());
}

function median(values) {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

const peerArg = args.indexOf("--peer");
if (peerArg >= 0) {
  await sample(args[peerArg + 1], args[args.indexOf("--case") + 1]);
} else {
  const runtime = isNode
    ? `Node ${process.version}`
    : `Deno ${Deno.version.deno}`;
  const hasNative = globalThis.navigator?.locks !== undefined;
  const peers = hasNative ? [OURS, MICRO, NATIVE] : [OURS, MICRO];
  console.log(
    `Web Locks benchmark — ${runtime}, ${ROUNDS} rounds (a fresh process per sample), medians${
      hasNative ? "" : " (this runtime has no navigator.locks)"
    }`,
  );
  for (
    const [which, title] of [
      [
        "uncontended",
        `Uncontended request() (${
          UNCONTENDED.toLocaleString("en")
        } sequential)`,
      ],
      [
        "contended",
        `Contended handoff (${TASKS} tasks × ${PER_TASK} requests, one name)`,
      ],
    ]
  ) {
    const samples = Object.fromEntries(peers.map((p) => [p, []]));
    const ratios = { [OURS]: [], [MICRO]: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? peers : [...peers].reverse();
      const round = {};
      for (const peer of order) {
        round[peer] = await child(peer, which);
        samples[peer].push(round[peer]);
      }
      if (hasNative) {
        for (const peer of [OURS, MICRO]) {
          ratios[peer].push(round[NATIVE] / round[peer]);
        }
      }
    }
    console.log(
      `\n## ${title}\n| peer | per request | faster than native by (median of the rounds' ratios) |\n|---|---|---|`,
    );
    for (const peer of peers) {
      const ratio = hasNative && peer !== NATIVE
        ? `${median(ratios[peer]).toFixed(1)}×`
        : "—";
      console.log(
        `| ${peer} | ${
          (median(samples[peer]) * 1000).toFixed(2)
        } µs | ${ratio} |`,
      );
    }
  }
}
