// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Child processes that hold locks on command (`_lock_agent.mjs`),
 * for the adversarial tests of the serverless backends. They load a bundle
 * of the sources made once per test file, under the repository (so that a
 * deno-kv child finds `@deno/kv` in node_modules).
 */
import { buildSync } from "esbuild";
import { spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const AGENT = join(root, "test", "_lock_agent.mjs");

/** One child process holding a lock on command. */
export interface Agent {
  /** The spawned process (the wrapper, if any). */
  readonly pid: number;
  /** Sends a command; resolves with its answer (an `error` field if it threw). */
  call(cmd: object, ms?: number): Promise<Record<string, unknown>>;
  /** Sends a command without waiting for its answer. */
  send(cmd: object): void;
  signal(name: NodeJS.Signals): void;
}

/** Starts agents of lock type `type`; `stopAll` kills every one by its pid. */
export function lockAgents(type: "file" | "deno-kv"): {
  /** `wrap`: a command the agent runs under, such as strace. */
  agent(
    lock: object,
    semaphore?: boolean,
    wrap?: readonly string[],
  ): Promise<Agent>;
  stopAll(): void;
  /** Kills every agent and removes the bundle (call it in `afterAll`). */
  dispose(): void;
} {
  const scratch = join(
    root,
    ".test-results",
    `adversarial_${type}_${process.pid}_${Math.random().toString(36).slice(2)}`,
  );
  mkdirSync(scratch, { recursive: true });
  const bundle = join(scratch, "unilock.mjs");
  buildSync({
    entryPoints: [join(root, "mod.ts")],
    bundle: true,
    format: "esm",
    platform: "node",
    outfile: bundle,
    external: ["@deno/kv"],
    logLevel: "error",
  });
  const started: Agent[] = [];

  async function agent(
    lock: object,
    semaphore = false,
    wrap: readonly string[] = [],
  ): Promise<Agent> {
    const command = [
      ...wrap,
      process.execPath,
      AGENT,
      JSON.stringify({
        module: pathToFileURL(bundle).href,
        type,
        lock,
        semaphore,
      }),
    ];
    const child = spawn(command[0]!, command.slice(1), {
      stdio: ["pipe", "pipe", "inherit"],
      cwd: scratch,
    });
    // The agent itself (under `wrap`, a child of the wrapper), by its pid.
    let own: number | undefined;
    const replies = new Map<number, (r: Record<string, unknown>) => void>();
    let ready!: () => void;
    const up = new Promise<void>((r) => (ready = r));
    let buffer = "";
    child.stdout!.on("data", (chunk) => {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) !== -1) {
        const line = JSON.parse(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        if (line.ready) {
          own = line.pid;
          ready();
        } else replies.get(line.id)?.(line);
      }
    });
    child.stdin!.on("error", () => {}); // written to after it was killed
    let next = 0;
    const send = (cmd: object, id = ++next) =>
      void child.stdin!.write(`${JSON.stringify({ ...cmd, id })}\n`);
    const a: Agent = {
      pid: child.pid!,
      call(cmd, ms = 20_000) {
        const id = ++next;
        return new Promise((resolve, reject) => {
          const timer = setTimeout(
            () =>
              reject(new Error(`agent: no answer to ${JSON.stringify(cmd)}`)),
            ms,
          );
          replies.set(id, (r) => {
            clearTimeout(timer);
            resolve(r);
          });
          send(cmd, id);
        });
      },
      send: (cmd) => send(cmd),
      signal(name) {
        for (const pid of new Set([own ?? child.pid!, child.pid!])) {
          try {
            process.kill(pid, name);
          } catch { /* exited */ }
        }
      },
    };
    started.push(a);
    await up;
    return a;
  }

  function stopAll(): void {
    for (const a of started.splice(0)) a.signal("SIGKILL");
  }

  return {
    agent,
    stopAll,
    dispose() {
      stopAll();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
