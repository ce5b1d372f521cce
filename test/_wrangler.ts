// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Starts the lock service with `wrangler dev` (local workerd, the
 * real SQLite-backed Durable Object) on a random port, for tests and
 * benchmarks; stopped by its pid.
 */

import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface LockService {
  readonly url: string;
  readonly token: string;
  stop(): Promise<void>;
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export async function startLockService(): Promise<LockService> {
  const port = 10_000 + Math.floor(Math.random() * 20_000);
  const token = `svc_${crypto.randomUUID()}`;
  const state = mkdtempSync(join(tmpdir(), "unilock-wrangler-"));
  // wrangler is a Node program, whichever runtime runs the tests.
  const child = spawn("node", [
    join(root, "node_modules", "wrangler", "bin", "wrangler.js"),
    "dev",
    "--local",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    "0",
    "--persist-to",
    state,
    "--var",
    `UNILOCK_TOKEN:${token}`,
  ], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => resolve())
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  for (let i = 0; i < 240; i++) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`${url}/v1/health`);
      await res.body?.cancel();
      if (res.status === 200) return { url, token, stop };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(
    `wrangler dev did not start on port ${port}:\n${log.slice(-2000)}`,
  );
}
