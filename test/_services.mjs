// Copyright 2026 the unilock authors. MIT license.
// @ts-self-types="./_services.d.mts"
/**
 * @internal The real backends, started for tests, benchmarks and the demo:
 * `redis-server` and the lock service on `wrangler dev` (local workerd with
 * the SQLite-backed Durable Object). Random ports below the ephemeral range,
 * stopped by pid. Plain JavaScript, so that Node 20 scripts can import it as
 * well as the TypeScript tests.
 */

import { spawn as spawnChild, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Every service process still running, stopped when this process exits: a
 * test file's own last step stops them, but a filtered run (`deno test
 * --filter`) skips that step, and its services outlived it (two
 * `wrangler dev` trees found left running, parent 1).
 */
const running = new Set();
let stopOnExit = false;
function spawn(...args) {
  const child = spawnChild(...args);
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (!stopOnExit) {
    stopOnExit = true;
    const stopAll = () => {
      for (const c of running) c.kill("SIGTERM");
    };
    process.once("exit", stopAll);
    // (Deno's test runner fires no "exit" on `process`, but "unload".)
    globalThis.addEventListener?.("unload", stopAll);
  }
  return child;
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** A port below the ephemeral range (32768+), where client sockets could collide. */
function randomPort() {
  return 10_000 + Math.floor(Math.random() * 20_000);
}

/** Calls `check` every `everyMs` until it is true or `tries` run out. */
async function until(check, tries, everyMs) {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Whether `redis-server` is on the PATH. */
export function hasRedisServer() {
  const found = spawnSync("redis-server", ["--version"]);
  return !found.error && found.status === 0;
}

export const REDIS_INSTALL_ADVICE =
  "install it with `sudo apt-get install -y redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)";

/**
 * Starts a `redis-server`; fails, saying how to install it, when it is
 * missing. Without persistence, unless `persist` asks for an append-only file
 * synced on every write (what a restart under chaos needs, as Upstash keeps
 * its data).
 */
export async function startRedis({ persist = false } = {}) {
  if (!hasRedisServer()) {
    throw new Error(
      `redis-server is not installed, and this needs a real Redis: ${REDIS_INSTALL_ADVICE}, then run it again`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "unilock-redis-"));
  const port = randomPort();
  let child;
  const start = async () => {
    child = spawn("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      persist ? "yes" : "no",
      "--appendfsync",
      "always",
      "--dir",
      dir,
    ], { stdio: "ignore" });
    if (await until(() => canConnect(port), 200, 25)) return;
    child.kill("SIGKILL");
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const stop = async (crash = false) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(crash ? "SIGKILL" : "SIGTERM");
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid;
    },
    stop,
    restart: async () => {
      await stop(true);
      await start();
    },
  };
}

/**
 * Starts the lock service with `wrangler dev` (a Node program, whichever
 * runtime asks). `restart()` stops it and starts it again on the same port
 * with the same state (a reset of every object, their storage kept).
 */
export async function startLockService() {
  const port = randomPort();
  const token = `svc_${crypto.randomUUID()}`;
  const persistTo = mkdtempSync(join(tmpdir(), "unilock-wrangler-"));
  const url = `http://127.0.0.1:${port}`;
  let child, log, exited;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const start = async () => {
    log = "";
    child = spawn("node", [
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
      persistTo,
      "--var",
      `UNILOCK_TOKEN:${token}`,
    ], {
      cwd: root,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    exited = new Promise((resolve) => child.once("exit", resolve));
    const up = await until(
      async () => {
        if (child.exitCode !== null) return true; // reported below
        try {
          const res = await fetch(`${url}/v1/health`);
          await res.body?.cancel();
          return res.status === 200;
        } catch {
          return false;
        }
      },
      240,
      250,
    );
    if (!up || child.exitCode !== null) {
      await stop();
      throw new Error(
        `wrangler dev did not start on port ${port}:\n${log.slice(-2000)}`,
      );
    }
  };
  await start();
  return {
    url,
    token,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}

/**
 * Starts the Upstash REST bridge in a process of its own (the built
 * `dist/_upstash_bridge_cli.js`), as Upstash is a server of its own: in the
 * caller's process it would share an event loop with the clients.
 */
export async function startBridgeProcess(redisUrl) {
  const token = `bridge_${crypto.randomUUID()}`;
  const cli = new URL("../dist/_upstash_bridge_cli.js", import.meta.url);
  const child = spawn(process.execPath, [
    cli.pathname,
    "--redis",
    redisUrl,
    "--port",
    "0",
    "--token",
    token,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise((resolve, reject) => {
    child.stdout.once(
      "data",
      (line) => resolve(/listening on (\S+)/.exec(String(line))?.[1]),
    );
    child.once("exit", () => reject(new Error("the bridge did not start")));
  });
  const call = async (path) => {
    const res = await fetch(`${url}/unilock-bridge/${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    return res.json();
  };
  const bridge = {
    url,
    token,
    stats: { requests: 0 },
    async refresh() {
      bridge.stats = await call("stats");
    },
    async resetStats() {
      bridge.stats = await call("reset-stats");
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
  return bridge;
}
