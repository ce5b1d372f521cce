// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The `durable-object` backend as a driver of the remote-lock
 * core: each operation is one call to the lock's `LockDurableObject`, through
 * the namespace binding (RPC) or the lock service (HTTP, or the lock's
 * WebSocket). The object waits for the grant inside itself (a call waits up
 * to its cap and answers "wait"), so a waiter's call is its wake-up.
 */

import type { LockSnapshot } from "../core/types.ts";
import type { RemoteDriver } from "../remote/driver.ts";
import type { LockDurableObjectStub } from "./_protocol.ts";

type AcquireWith = (
  request: Parameters<LockDurableObjectStub["acquire"]>[0],
  signal?: AbortSignal,
  ordered?: (queued: boolean) => void,
  sent?: (at: number) => void,
) => ReturnType<LockDurableObjectStub["acquire"]>;

/**
 * The longest one acquire call waits in the object (which allows 25 s):
 * shorter, so that a call lost without a word (a restarted service behind a
 * proxy that keeps the connection) is noticed and repeated within about
 * 17 s, at the cost of one request per waiter per 15 s.
 */
const MAX_WAIT_MS = 15_000;

type StealWith = (
  request: Parameters<LockDurableObjectStub["steal"]>[0],
  signal?: AbortSignal,
  sent?: (at: number) => void,
) => ReturnType<LockDurableObjectStub["steal"]>;

/** The part of a `DurableObjectNamespace` binding the client uses. */
export interface LockDurableObjectNamespace {
  /** The id of the object for a name. */
  idFromName(name: string): unknown;
  /** A stub for an id. */
  get(id: never): unknown;
}

/** A stub whose calls may take a signal (the lock service's do). */
type Stub = {
  [K in keyof LockDurableObjectStub]: (
    ...args: [...Parameters<LockDurableObjectStub[K]>, AbortSignal?]
  ) => ReturnType<LockDurableObjectStub[K]>;
};

/**
 * The driver for the lock `name` in `namespace`. `target` names it in
 * errors (the service's URL, or the binding); `http` says the namespace is
 * the lock service's (_service_target.ts), whose stubs take a signal. The
 * driver does not import the HTTP client, so that a Worker using the binding
 * does not bundle it.
 */
export function durableObjectDriver(
  name: string,
  namespace: LockDurableObjectNamespace,
  target: string,
  http: boolean,
): RemoteDriver {
  let stub: Stub | undefined;
  /** Tokens the object has queued (their calls need no place in order). */
  const queued = new Set<string>();
  const object = (): Stub =>
    stub ??= namespace.get(namespace.idFromName(name) as never) as Stub;
  /** One call; a stub whose call failed is replaced (it may be broken). */
  /**
   * One call; a stub whose call failed is replaced (it may be broken), but
   * not for a call its caller gave up on: that says nothing of the stub, and
   * replacing it would close the socket other callers wait on.
   */
  const call = async <T>(
    signal: AbortSignal,
    fn: (s: Stub) => Promise<T>,
  ): Promise<T> => {
    const used = object();
    try {
      return await fn(used);
    } catch (error) {
      if (stub === used && !signal.aborted) stub = undefined;
      throw error;
    }
  };
  /**
   * The arguments only the lock service's client takes (an RPC stub would
   * try to send them to the object, and cannot serialize a signal).
   */
  const local = (signal: AbortSignal): [] | [AbortSignal] =>
    http ? [signal] : [];
  return {
    type: "durable-object",
    target,
    minLeaseMs: 100,
    maxWaitMs: MAX_WAIT_MS,
    semaphores: true,
    async acquire(request, signal, ordered) {
      const { token, mode, leaseMs, join, priority, owner, capacity } = request;
      // Only a token's first call needs to find its place in order.
      const first = !queued.has(token);
      /**
       * When the call that answered went out (the lease runs from then):
       * stamped here, and again by the lock service as it sends.
       */
      let sentAt = 0;
      const sent = (at: number) => void (sentAt = at);
      const ask = (waitMs: number, inOrder?: (queued: boolean) => void) =>
        call(signal, (s) => {
          const body = {
            token,
            mode,
            leaseMs,
            waitMs,
            priority,
            ...(owner === undefined ? {} : { owner }),
            ...(capacity === undefined
              ? {}
              : { permits: request.permits ?? 1, capacity }),
          };
          sent(performance.now());
          return http
            ? (s.acquire as AcquireWith)(body, signal, inOrder, sent)
            : (s.acquire as AcquireWith)(body);
        });
      // The object queues a call that may wait; one that may not is
      // answered "busy" without queueing.
      const waitMs = join ? Math.max(1, request.waitMs) : 0;
      let reply;
      if (!first || waitMs <= 1) reply = await ask(waitMs);
      else if (http) {
        reply = await ask(waitMs, ordered);
      } else {
        // Over RPC, a first short call says when it is queued (in order).
        reply = await ask(1);
        if (!reply.ok && reply.reason === "wait") {
          queued.add(token);
          ordered(true);
          reply = await ask(waitMs);
        }
      }
      if (!reply.ok && reply.reason === "wait") queued.add(token);
      else queued.delete(token);
      if (reply.ok) {
        return {
          state: "granted",
          fence: reply.fence,
          leaseMs: reply.leaseMs,
          waited: reply.waited === true,
          sentAt,
        };
      }
      switch (reply.reason as string) {
        case "capacity":
          return {
            state: "capacity",
            capacity: (reply as { capacity: number }).capacity,
          };
        case "busy":
          return { state: "busy" };
        case "wait":
          // The call hit its cap: call again at once, keeping the place.
          return { state: "queued", retryMs: 0 };
        case "cancelled":
        case "gone":
          return { state: "gone" };
        default:
          throw new Error(`malformed reply to acquire: ${show(reply)}`);
      }
    },
    async steal(request, signal) {
      const { token, leaseMs, priority, owner } = request;
      const body = {
        token,
        mode: "exclusive" as const,
        leaseMs,
        waitMs: 0,
        priority,
        ...(owner === undefined ? {} : { owner }),
      };
      let sentAt = performance.now();
      const reply = await call(
        signal,
        (s) =>
          http
            ? (s.steal as StealWith)(body, signal, (at) => sentAt = at)
            : s.steal(body),
      );
      if (reply?.ok === true && typeof reply.fence === "number") {
        return {
          state: "granted",
          fence: reply.fence,
          leaseMs: reply.leaseMs,
          sentAt,
        };
      }
      if (reply?.ok === false && reply.reason === "gone") {
        return { state: "gone" };
      }
      throw new Error(`malformed reply to steal: ${show(reply)}`);
    },
    async release(token, signal) {
      return (await call(signal, (s) => s.release(token, ...local(signal))))
        .released;
    },
    async extend(token, leaseMs, seq, signal) {
      const reply = await call(
        signal,
        (s) => s.extend(token, leaseMs, seq, ...local(signal)),
      );
      // An object that does not say how long the lease now runs set it to
      // `leaseMs` from the call's arrival.
      if (reply.ok !== true) {
        return { held: false, leaseMs: 0, stolen: reply.stolen === true };
      }
      return { held: true, leaseMs: reply.leaseMs ?? leaseMs };
    },
    async status(signal) {
      const reply = await call(signal, (s) => s.status(...local(signal)));
      if (
        reply === null || typeof reply !== "object" ||
        typeof reply.holders !== "number"
      ) throw new Error(`malformed reply to status: ${show(reply)}`);
      return reply;
    },
    async query(signal): Promise<LockSnapshot> {
      const reply = await call(signal, (s) => s.query(...local(signal)));
      if (
        reply === null || typeof reply !== "object" ||
        !Array.isArray(reply.held) || !Array.isArray(reply.pending)
      ) throw new Error(`malformed reply to query: ${show(reply)}`);
      const entry = (
        e: {
          mode: "exclusive" | "shared";
          fence?: number;
          ageMs: number;
          owner?: string;
          permits?: number;
        },
      ) => ({
        name,
        mode: e.mode,
        owner: e.owner,
        fence: e.fence,
        ageMs: e.ageMs,
        ...(e.permits === undefined ? {} : { permits: e.permits }),
      });
      return { held: reply.held.map(entry), pending: reply.pending.map(entry) };
    },
    retryable(error) {
      // A rejected argument or refused auth is final; a network failure
      // (fetch's TypeError), a reset object, a 5xx or a closed socket is
      // worth another try, except an object that says it is overloaded.
      const e = error as { overloaded?: boolean; remote?: boolean };
      if (e?.overloaded) return false;
      // The object refused the call's arguments (over RPC).
      if (error instanceof TypeError && e.remote === true) return false;
      // The lock service's answer (a ServiceError, with its HTTP status).
      if (http && typeof (error as { status?: unknown })?.status === "number") {
        return (error as { status: number }).status >= 500;
      }
      return true;
    },
  };
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 200) ?? String(value);
  } catch {
    return String(value);
  }
}
