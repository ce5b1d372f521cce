// Copyright 2026 the unilock authors. MIT license.
// What the tests of "a process exits once no lock is held" share: a child
// script bundled into one ESM file (so that every runtime runs the same
// code), and the time from its marker line to its exit.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";

/** `source` (TypeScript importing the repository's mod.ts) as one ESM file. */
export async function bundleChild(source: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "unilock-exit-"));
  const entry = join(dir, "child.ts");
  writeFileSync(entry, source);
  const outfile = join(dir, "child.mjs");
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: "neutral",
    format: "esm",
    outfile,
    external: ["node:*", "@upstash/redis", "cloudflare:*"],
    logLevel: "error",
  });
  return outfile;
}

/** How a child ended, timed from its marker. */
export interface ExitTiming {
  /** Milliseconds from the marker to the exit; NaN when it never printed it. */
  readonly ms: number;
  /** Its exit code (null when killed). */
  readonly code: number | null;
  /** Whether it was still running after `killMs` and was killed. */
  readonly killed: boolean;
  /** Its stdout and stderr. */
  readonly output: string;
}

/** Runs `command`, timing from the stdout chunk that holds `marker` to the exit. */
export function timeExitAfter(
  command: string,
  args: string[],
  marker: string,
  killMs: number,
): Promise<ExitTiming> {
  return new Promise((resolve) => {
    const proc = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let marked = 0, output = "";
    const killer = setTimeout(() => proc.kill("SIGKILL"), killMs);
    proc.stdout.on("data", (d) => {
      output += d;
      if (marked === 0 && String(d).includes(marker)) {
        marked = performance.now();
      }
    });
    proc.stderr.on("data", (d) => (output += d));
    proc.on("exit", (code, signal) => {
      clearTimeout(killer);
      resolve({
        ms: marked === 0 ? NaN : performance.now() - marked,
        code,
        killed: signal === "SIGKILL",
        output,
      });
    });
  });
}
