// Copyright 2026 the unilock authors. MIT license.
/**
 * The chaos checker's clock: every client process and thread records its
 * critical sections on `now()` from `test/chaos/_rng.mjs`, and the checker
 * compares sections of different processes, so every process must read the
 * same timeline, whatever Node made of its time origin.
 */
import { execFile } from "node:child_process";
import { test } from "vitest";
import { assert } from "../_assert.ts";
// @ts-expect-error: plain JavaScript without declarations
import { now } from "../chaos/_rng.mjs";

const rng = new URL("../chaos/_rng.mjs", import.meta.url).href;

/**
 * Runs a Node process whose `performance.timeOrigin` is `skewMs` late from
 * its start (as Node stamps it when the process is descheduled between its
 * two clock reads at startup); returns its `now()` just before it ends.
 */
function nowInSkewedProcess(skewMs: number): Promise<number> {
  const skew = `Object.defineProperty(performance, "timeOrigin", {
    value: performance.timeOrigin + ${skewMs}, configurable: true });`;
  const probe = `const { now } = await import(${JSON.stringify(rng)});
    console.log(now());`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        "--import",
        `data:text/javascript,${encodeURIComponent(skew)}`,
        "--input-type=module",
        "-e",
        probe,
      ],
      { timeout: 30_000 },
      (error, stdout) => {
        if (error) reject(error);
        else resolve(Number(stdout.trim()));
      },
    );
  });
}

test("now() puts a child process's moments between its start and end when its performance.timeOrigin is late", async () => {
  const before: number = now();
  // A minute late: the loaded machine's worst was 224 ms, and no process
  // start or exit takes a minute.
  const child = await nowInSkewedProcess(60_000);
  const after: number = now();
  assert(
    before <= child && child <= after,
    `the child's now() was ${
      child - before
    } ms past the test's before it started, and it had ended ${
      after - before
    } ms past it`,
  );
});
