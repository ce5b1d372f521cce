#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Drives the random-termination trials (_thread_trials_child.mjs)
 * in child processes under a hard silence bound, so that a trial that wedges
 * its thread is counted, killed and skipped instead of hanging the run.
 *
 * Usage: node test/chaos/_thread_trials.mjs [--runtime node|deno|bun]
 *          [--lib <url of mod.js or mod.ts>] [--trials 200] [--contenders 1]
 *          [--seed n]
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const child = fileURLToPath(
  new URL("./_thread_trials_child.mjs", import.meta.url),
);
const root = fileURLToPath(new URL("../../", import.meta.url));

// The runtimes' own binaries, not npx: killing npx would leave them running.
const bin = (name) =>
  fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));

function command(runtime) {
  if (runtime === "deno") return [bin("deno"), ["run", "-A", child]];
  if (runtime === "bun") return [bin("bun"), [child]];
  return [process.execPath, [child]];
}

/**
 * Runs `trials` trials; returns how many granted, timed out and wedged, and
 * the times to acquire after the termination.
 */
export async function driveTrials({
  runtime = "node",
  lib,
  trials = 200,
  contenders = 1,
  seed = 18,
  silenceMs = 15_000,
}) {
  lib ??= new URL(
    runtime === "node" ? "../../dist/mod.js" : "../../mod.ts",
    import.meta.url,
  ).href;
  const result = { trials, ok: 0, timeout: 0, wedged: 0, ms: [], slow: [] };
  let next = 0;
  while (next < trials) {
    const [cmd, args] = command(runtime);
    const proc = spawn(cmd, [...args, lib, next, trials, seed, contenders], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so that a kill reaches whatever it started.
      detached: true,
    });
    let buffer = "", stderr = "";
    let timer, testing = false;
    const silent = () => {
      clearTimeout(timer);
      // While workers start, a generous bound (a runtime can be slow to
      // start a worker after many terminations); while the lock is tested,
      // silenceMs.
      timer = setTimeout(
        () => process.kill(-proc.pid, "SIGKILL"),
        testing ? silenceMs : 120_000,
      );
    };
    silent();
    proc.stdout.on("data", (chunk) => {
      silent();
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) !== -1) {
        const line = buffer.slice(0, nl);
        const [tag, index, outcome, ms] = line.split(" ");
        buffer = buffer.slice(nl + 1);
        if (tag === "S") {
          testing = true;
          silent();
        }
        if (tag !== "T") continue;
        testing = false;
        silent();
        if (Number(ms) > 1_500) result.slow.push(line);
        next = Number(index) + 1;
        result[outcome]++;
        result.ms.push(Number(ms));
      }
    });
    proc.stderr.on("data", (d) => (stderr += d));
    const [code, signal] = await new Promise((resolve) =>
      proc.once("exit", (c, s) => resolve([c, s]))
    );
    clearTimeout(timer);
    if (signal === "SIGKILL" && !testing) {
      // Its workers never started: the runtime's fault, not the lock's.
      result.startFailed = (result.startFailed ?? 0) + 1;
      next++;
    } else if (signal === "SIGKILL") {
      // Silent for silenceMs: the trial in progress wedged its thread.
      result.wedged++;
      result.slow.push(`wedged at trial ${next}: ${stderr.slice(-300)}`);
      next++;
    } else if (code !== 0 && next < trials) {
      throw new Error(`trial child exited ${code}: ${stderr.slice(-1000)}`);
    }
  }
  const sorted = [...result.ms].sort((a, b) => a - b);
  // Longer than any lease here (200 ms) could take: the dead worker held
  // the guard, and this thread took it over.
  result.tookOver = sorted.filter((ms) => ms >= 900).length;
  result.maxMs = sorted.at(-1) ?? 0;
  result.p50Ms = sorted[Math.floor(sorted.length / 2)] ?? 0;
  delete result.ms;
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (flag) => {
    const i = process.argv.indexOf(flag);
    return i === -1 ? undefined : process.argv[i + 1];
  };
  const result = await driveTrials({
    runtime: arg("--runtime"),
    lib: arg("--lib"),
    trials: Number(arg("--trials") ?? 200),
    contenders: Number(arg("--contenders") ?? 1),
    seed: Number(arg("--seed") ?? 18),
    silenceMs: Number(arg("--silence") ?? 15_000),
  });
  console.log(JSON.stringify(result));
}
