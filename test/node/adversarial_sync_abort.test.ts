// Found by review of ee14ea7 (an open turn skips the bounded wait, so the first
// driver call is sent synchronously inside acquire()). An acquire aborted
// synchronously right after acquire() used to send nothing; now its first
// call has already opened the lock's WebSocket (the upgrade carries the
// acquire). The abort drops the pending call in LockService#expect and
// schedules #closeWhenIdle while #socket is still undefined (a no-op); the
// socket then opens (onopen sets #socket, schedules nothing), and the
// object's answer to the dropped call is discarded by #answer's early
// `if (call === undefined) return` before its #closeWhenIdle. Nothing ever
// closes the socket: it stays open and keeps the process alive.
// The same happens, before ee14ea7 too, to an abort while the socket opens
// (the second case below); ee14ea7 makes it reachable from the most
// ordinary abort pattern, and a process that aborts at once no longer exits.
import { WebSocket as UndiciWebSocket } from "undici";
import { join } from "node:path";
import { afterAll, beforeAll, inject, test } from "vitest";
import { createLock, createWebLocks } from "../../mod.ts";
import { assert, delay } from "../_assert.ts";
import { randomName } from "../_contract.ts";
import { bundleChild, timeExitAfter } from "./_exit_timing.ts";

const service = inject("lockService");
const sockets: WebSocket[] = [];
let saved: unknown;
beforeAll(() => {
  saved = (globalThis as { WebSocket?: unknown }).WebSocket;
  class Tracked extends (UndiciWebSocket as unknown as typeof WebSocket) {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this as unknown as WebSocket);
    }
  }
  (globalThis as { WebSocket?: unknown }).WebSocket = Tracked;
});
afterAll(() => {
  for (const s of sockets) s.close();
  (globalThis as { WebSocket?: unknown }).WebSocket = saved;
});

for (const later of [false, true]) {
  test(
    `DurableObjectLock.acquire() leaves no socket open when aborted ${
      later ? "while its socket opens" : "synchronously after the call"
    }`,
    async () => {
      const lock = createLock("durable-object", {
        name: randomName("syncabort"),
        ...service,
      });
      const controller = new AbortController();
      const before = sockets.length;
      const pending = lock.acquire({ signal: controller.signal });
      const inside = sockets.length - before;
      if (later) await delay(2);
      controller.abort(new Error("changed my mind"));
      const outcome = await pending.then(() => "granted", (e) => e);
      assert(outcome instanceof Error, `acquire gave ${String(outcome)}`);
      await delay(3_000); // well past IDLE_MS (1 s)
      const sent = sockets.length - before;
      const open = sockets.slice(before).filter((s) =>
        s.readyState === 1
      ).length;
      assert(
        open === 0,
        `${open} socket(s) still open 3 s after the aborted acquire settled (${sent} opened, ${inside} inside acquire())`,
      );
      assert(!(await lock.isLocked()), "the lock is held");
    },
    20_000,
  );
}

test(
  'createWebLocks("durable-object").request() leaves no socket open when aborted in the same task',
  async () => {
    const locks = createWebLocks("durable-object", { ...service });
    const controller = new AbortController();
    const before = sockets.length;
    const pending = locks.request(
      randomName("wlabort"),
      { signal: controller.signal },
      () => "ran",
    );
    controller.abort(new Error("changed my mind"));
    const outcome = await pending.then((v) => v, (e) => e);
    assert(outcome instanceof Error, `request gave ${String(outcome)}`);
    await delay(3_000);
    const open = sockets.slice(before).filter((s) => s.readyState === 1).length;
    assert(
      open === 0,
      `${open} socket(s) still open 3 s after the aborted request settled`,
    );
  },
  20_000,
);

const root = new URL("../../", import.meta.url).pathname;
const CHILD = `
import { createLock } from "${root}mod.ts";
const [url, token] = globalThis.Deno?.args ?? process.argv.slice(2);
const lock = createLock("durable-object", { name: "exit-" + crypto.randomUUID(), url, token });
const controller = new AbortController();
const pending = lock.acquire({ signal: controller.signal });
controller.abort(new Error("changed my mind"));
await pending.catch(() => {});
console.log("settled");
`;

test(
  "DurableObjectLock.acquire() lets a Deno process exit soon after when aborted at once",
  async () => {
    const { ms, killed, code, output } = await timeExitAfter(
      join(root, "node_modules/.bin/deno"),
      ["run", "-A", await bundleChild(CHILD), service.url, service.token],
      "settled",
      15_000,
    );
    assert(!Number.isNaN(ms), `the child exited ${code}: ${output}`);
    assert(
      !killed && ms < 3_000,
      killed
        ? "the process was still alive 15 s after it started (killed)"
        : `the process exited ${Math.round(ms)} ms after its acquire settled`,
    );
  },
  30_000,
);
