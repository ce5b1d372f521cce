// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A test worker's line to the thread that started it: Node's
 * `parentPort`, or the worker's global scope on Deno and Bun.
 */

/** What the test workers use of their port. */
export interface Port {
  addEventListener(type: "message", fn: (event: MessageEvent) => void): void;
  postMessage(data: unknown): void;
}

/** This worker's port. */
export async function parentPort(): Promise<Port> {
  const g = globalThis as { process?: { versions?: { node?: string } } };
  if (
    typeof g.process?.versions?.node === "string" && !("Deno" in globalThis) &&
    !("Bun" in globalThis)
  ) {
    const { parentPort } = await import("node:worker_threads");
    return parentPort as unknown as Port;
  }
  return globalThis as unknown as Port;
}
