// Copyright 2026 the unilock authors. MIT license.
/** @internal Starts `_worker.ts` as a real thread on Node, Deno or Bun. */

import type { Job } from "./_worker.ts";

export interface TestWorker {
  send(job: Job): void;
  /** The next message from the worker (errors it reports are thrown). */
  next(): Promise<Record<string, unknown>>;
  terminate(): Promise<void>;
}

let nodeBundle: Promise<string> | undefined;

/** Node 20 cannot run TypeScript in a worker: bundle the worker once. */
function bundleForNode(): Promise<string> {
  return nodeBundle ??= (async () => {
    const { build } = await import("esbuild");
    const { fileURLToPath } = await import("node:url");
    const path = await import("node:path");
    const here = path.dirname(fileURLToPath(import.meta.url));
    const outfile = path.join(
      here,
      "..",
      "..",
      ".test-results",
      `thread_worker_${process.pid}.mjs`,
    );
    await build({
      entryPoints: [path.join(here, "_worker.ts")],
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      outfile,
      logLevel: "error",
    });
    return outfile;
  })();
}

export async function spawnWorker(): Promise<TestWorker> {
  const inbox: Record<string, unknown>[] = [];
  const waiting: ((message: Record<string, unknown>) => void)[] = [];
  const deliver = (message: Record<string, unknown>) => {
    const take = waiting.shift();
    if (take) take(message);
    else inbox.push(message);
  };
  let send: (job: Job) => void;
  let terminate: () => Promise<void>;
  if ("Deno" in globalThis || "Bun" in globalThis) {
    const worker = new Worker(new URL("./_worker.ts", import.meta.url), {
      type: "module",
    });
    worker.onmessage = (event) => deliver(event.data);
    worker.onerror = (event) => {
      // Reported to the test instead of crashing the whole test module.
      event.preventDefault();
      deliver({ error: String(event.message) });
    };
    send = (job) => worker.postMessage(job);
    terminate = () => Promise.resolve(worker.terminate());
  } else {
    const { Worker: NodeWorker } = await import("node:worker_threads");
    const worker = new NodeWorker(await bundleForNode());
    worker.on("message", deliver);
    worker.on("error", (error) => deliver({ error: String(error) }));
    send = (job) => worker.postMessage(job);
    terminate = async () => void await worker.terminate();
  }
  const next = async () => {
    const message = inbox.shift() ??
      await new Promise<Record<string, unknown>>((resolve) =>
        waiting.push(resolve)
      );
    if ("error" in message) throw new Error(`worker: ${message.error}`);
    return message;
  };
  const ready = await next();
  if (ready.ready !== true) throw new Error("worker did not start");
  return { send, next, terminate };
}
