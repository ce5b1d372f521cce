#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `createWebLocks("local")` side by side with the runtime's own
// `navigator.locks` (Deno 2.9, Node 24.5+), in one run, as ratios: the same
// request() calls, uncontended and with 100 contending tasks. Uses the built
// package (dist/).
//
//   node bench/web_locks.mjs [--quick]       (Node 24: test/node_matrix/…/node24/bin/node)
//   deno run -A bench/web_locks.mjs [--quick]
const isNode = typeof Deno === "undefined" && typeof Bun === "undefined";
const { createWebLocks } = await import(isNode ? "unilock" : "../dist/mod.js");

const args = isNode ? process.argv.slice(2) : Deno.args;
const quick = args.includes("--quick");
const ROUNDS = quick ? 3 : 7;
const UNCONTENDED = quick ? 20_000 : 100_000;
const TASKS = 100;
const PER_TASK = quick ? 100 : 500;

const runtime = isNode
  ? `Node ${process.version}`
  : `Deno ${Deno.version.deno}`;
const native = globalThis.navigator?.locks;
const peers = { 'unilock createWebLocks("local")': createWebLocks("local") };
if (native !== undefined) peers["native navigator.locks"] = native;

const noop = () => {};
let names = 0;

async function uncontended(locks) {
  const name = `u-${++names}`;
  const start = performance.now();
  for (let i = 0; i < UNCONTENDED; i++) await locks.request(name, noop);
  return (performance.now() - start) / UNCONTENDED;
}

async function contended(locks) {
  const name = `c-${++names}`;
  let inside = 0, overlaps = 0;
  const section = () => {
    if (++inside !== 1) overlaps++;
    inside--;
  };
  const task = async () => {
    for (let i = 0; i < PER_TASK; i++) await locks.request(name, section);
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: TASKS }, task));
  const ms = (performance.now() - start) / (TASKS * PER_TASK);
  if (overlaps > 0) throw new Error(`${overlaps} overlapping sections`);
  return ms;
}

function median(values) {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

async function measure(fn, locks) {
  await fn(locks); // warm-up
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(await fn(locks));
  return median(samples);
}

const us = (ms) => `${(ms * 1000).toFixed(2)} µs`;
console.log(
  `Web Locks benchmark — ${runtime}, ${ROUNDS} rounds, median${
    native === undefined ? " (this runtime has no navigator.locks)" : ""
  }`,
);
for (
  const [title, fn] of [
    [
      `Uncontended request() (${UNCONTENDED.toLocaleString("en")} sequential)`,
      uncontended,
    ],
    [
      `Contended handoff (${TASKS} tasks × ${PER_TASK} requests, one name)`,
      contended,
    ],
  ]
) {
  const results = {};
  // Interleaved rounds would favour neither; one peer after the other keeps
  // each one's JIT state its own.
  for (const [label, locks] of Object.entries(peers)) {
    results[label] = await measure(fn, locks);
  }
  const ours = results['unilock createWebLocks("local")'];
  console.log(
    `\n## ${title}\n| peer | per request | unilock is faster by |\n|---|---|---|`,
  );
  for (const [label, ms] of Object.entries(results)) {
    console.log(`| ${label} | ${us(ms)} | ${(ms / ours).toFixed(1)}× |`);
  }
}
