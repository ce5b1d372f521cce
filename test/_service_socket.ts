// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The lock service client's WebSocket transport, on runtimes with
 * a `WebSocket` global (Deno, Bun, Node 22+): a wait and its grant travel on
 * the waiter's socket, and each acquire and release is still one request.
 */

import { createLock } from "../mod.ts";
import { assertEquals } from "./_assert.ts";

/** Every request the client sends: fetches, upgrades, socket messages. */
async function counted<T>(
  fn: () => Promise<T>,
): Promise<{ fetches: number; upgrades: number; messages: number }> {
  const sent = { fetches: 0, upgrades: 0, messages: 0 };
  const realFetch = globalThis.fetch;
  const RealWebSocket = globalThis.WebSocket as typeof WebSocket | undefined;
  globalThis.fetch = ((...args: Parameters<typeof fetch>) => {
    sent.fetches++;
    return realFetch(...args);
  }) as typeof fetch;
  if (RealWebSocket !== undefined) {
    globalThis.WebSocket = class extends RealWebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        sent.upgrades++;
        super(...args);
      }
      override send(data: string) {
        sent.messages++;
        super.send(data);
      }
    } as typeof WebSocket;
  }
  try {
    await fn();
  } finally {
    globalThis.fetch = realFetch;
    if (RealWebSocket !== undefined) globalThis.WebSocket = RealWebSocket;
  }
  return sent;
}

/** Registers the transport's tests with a runtime's `test`. */
export function serviceSocketTests(
  test: (name: string, fn: () => Promise<void>) => void,
  service: { url: string; token: string },
): void {
  // Node 20 has a WebSocket only with --experimental-websocket: without one,
  // the client long-polls, still one request per acquire and per release.
  const socket = typeof globalThis.WebSocket === "function";
  test(
    `DurableObjectLock over the service waits on ${
      socket ? "a WebSocket" : "a long-poll when the runtime has no WebSocket"
    }, one request per acquire and per release`,
    async () => {
      const name = `socket-${crypto.randomUUID()}`;
      const options = { name, url: service.url, token: service.token };
      const a = createLock("durable-object", options);
      const b = createLock("durable-object", options);
      let polls = 0;
      const sent = await counted(async () => {
        const first = await a.acquire();
        const waiting = b.acquire();
        while ((await statusOf()).waiters === 0) {
          await new Promise((r) => setTimeout(r, 5));
        }
        await first.release();
        const second = await waiting;
        assertEquals(second.fence > first.fence, true, "fence rises");
        await second.release();
      });
      // With sockets: both acquires opened one (their upgrades carried the
      // acquire), both releases were messages, and the test's own polls were
      // the only fetches. Without: two acquires and two releases, all fetches,
      // and the waiter's first call is a 1 ms one whose "wait" answer says it
      // is queued (HTTP requests may overtake each other; the next acquire
      // of the same lock object queues behind it only then).
      assertEquals(
        sent,
        socket
          ? { fetches: polls, upgrades: 2, messages: 2 }
          : { fetches: polls + 5, upgrades: 0, messages: 0 },
        "requests sent",
      );
      async function statusOf(): Promise<{ waiters: number }> {
        polls++;
        const response = await fetch(
          `${service.url}/v1/locks/${encodeURIComponent(name)}`,
          { headers: { authorization: `Bearer ${service.token}` } },
        );
        return await response.json();
      }
    },
  );
}
