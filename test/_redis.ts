// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Starts a real `redis-server` for a test run: random port, no
 * persistence, stopped by its pid. Fails (never skips) when redis-server is
 * missing, saying how to install it.
 */

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Stops the server (SIGKILL when `crash`, as a crash would). */
  stop(crash?: boolean): Promise<void>;
  /** Starts it again on the same port, empty (a restart loses what was not persisted). */
  restart(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export async function startRedis(): Promise<RedisServer> {
  const found = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (found.error || found.status !== 0) {
    throw new Error(
      "redis-server is not installed, and the upstash tests need a real Redis: " +
        "install it with `sudo apt-get install -y redis-server` (Debian/Ubuntu) " +
        "or `brew install redis` (macOS), then run the tests again",
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "unilock-redis-"));
  // Below the ephemeral range (32768+), where client sockets could collide.
  const port = 10_000 + Math.floor(Math.random() * 20_000);
  let child: ReturnType<typeof spawn>;
  const start = async () => {
    child = spawn("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ], { stdio: "ignore" });
    for (let i = 0; i < 200; i++) {
      if (await canConnect(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGKILL");
    throw new Error(`redis-server did not start on port ${port}`);
  };
  await start();
  const stop = async (crash = false) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(crash ? "SIGKILL" : "SIGTERM");
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid!;
    },
    stop: async (crash) => {
      await stop(crash);
    },
    restart: async () => {
      await stop(true);
      await start();
    },
  } as RedisServer & { stop(crash?: boolean): Promise<void> };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
