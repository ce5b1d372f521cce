// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The worker side of test/node/adversarial_thread.test.ts: each
 * message is the body of an async function, run with the library, the
 * shared-memory internals (to play a thread that dies inside the
 * bookkeeping), the message's data and a scratch object that lives as long
 * as the worker. Its result is the answer.
 */

import * as lib from "../../mod.ts";
import { ThreadState } from "../../src/thread/_thread_state.ts";
import { SemaphoreState } from "../../src/thread/_semaphore_state.ts";
import { parentPort } from "./_port.ts";

const port = await parentPort();
const scratch: Record<string, unknown> = {};
const internals = { ThreadState, SemaphoreState };
// deno-lint-ignore no-explicit-any
const AsyncFunction = (async () => {}).constructor as any;

port.addEventListener("message", (event: MessageEvent) => {
  const { code, data } = event.data as { code: string; data: unknown };
  const post = (m: unknown) => port.postMessage(m);
  Promise.resolve()
    .then(() =>
      new AsyncFunction("lib", "internals", "data", "g", "post", code)(
        lib,
        internals,
        data,
        scratch,
        post,
      )
    )
    .then(
      (result) => port.postMessage({ result }),
      (error) => port.postMessage({ error: String(error?.stack ?? error) }),
    );
});
port.postMessage({ ready: true });
