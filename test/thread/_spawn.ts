// Copyright 2026 the unilock authors. MIT license.
/** @internal Starts `_worker.ts` as a real thread on Node, Deno or Bun. */

import type { Job } from "./_worker.ts";

export interface TestWorker {
  send(job: Job | Record<string, unknown>): void;
  /** The next message from the worker (errors it reports are thrown). */
  next(): Promise<Record<string, unknown>>;
  terminate(): Promise<void>;
}

const nodeBundles = new Map<string, Promise<string>>();

/** Node 20 cannot run TypeScript in a worker: bundle each worker once. */
function bundleForNode(script: string): Promise<string> {
  let bundle = nodeBundles.get(script);
  if (bundle === undefined) nodeBundles.set(script, bundle = build(script));
  return bundle;
}

function build(script: string): Promise<string> {
  return (async () => {
    const { build } = await import("esbuild");
    const { fileURLToPath } = await import("node:url");
    const path = await import("node:path");
    const here = path.dirname(fileURLToPath(import.meta.url));
    const outfile = path.join(
      here,
      "..",
      "..",
      ".test-results",
      `${script.replace(/\W/g, "_")}_${process.pid}.mjs`,
    );
    await build({
      entryPoints: [path.join(here, script)],
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

/** Starts `script` (a file beside this one), by default `_worker.ts`. */
export async function spawnWorker(
  script: string = "_worker.ts",
): Promise<TestWorker> {
  const inbox: Record<string, unknown>[] = [];
  const waiting: ((message: Record<string, unknown>) => void)[] = [];
  const deliver = (message: Record<string, unknown>) => {
    const take = waiting.shift();
    if (take) take(message);
    else inbox.push(message);
  };
  let send: (job: Job | Record<string, unknown>) => void;
  let terminate: () => Promise<void>;
  if ("Deno" in globalThis || "Bun" in globalThis) {
    const worker = new Worker(new URL(`./${script}`, import.meta.url), {
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
    const worker = new NodeWorker(await bundleForNode(script));
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
