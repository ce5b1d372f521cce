// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A chaos client process's backend calls, timed where its leases
 * are reckoned: from the send in this process to the answer's arrival here.
 * The fault proxy times each call between itself and the backend; on a
 * loaded machine the hops between the client and the proxy (whose process
 * waits for a core too) can take as long, and a grant that spent half its
 * lease on its way here leaves its holder half a lease. A lease lost so is
 * lost to a slow backend, as the checker counts it, not to the client.
 *
 * Every `fetch` and every WebSocket call of the process is timed. A
 * long-poll's wait in the server's queue is left out: a grant's answer says
 * how long its lease runs from the call's arrival (the length asked for plus
 * the wait), so the wait is that less the length asked for. An Upstash grant
 * pushed on a wake-up stream is timed the same way, from the send of the
 * acquire call it names: the push says how long the lease runs from that
 * call's arrival.
 */
import { now } from "./_rng.mjs";

/**
 * A call this slow is kept (here and by the fault proxy): the checker
 * excuses a loss by a call of a sixth of the lease in force, and a lease may
 * be shortened to 100 ms, lost to a call of 17.
 */
export const SLOW_MS = 10;

/** How many are kept, the first ones (the report must stay small). */
const KEPT = 20_000;

/**
 * How long a call waited in the server's queue, by its answer: none for a
 * call that may not wait; for a long-poll that was granted, its lease's
 * length past the length asked for (a grant's lease runs from the call's
 * arrival); undefined for any other answer to a long-poll (still waiting,
 * cancelled: it may have waited all along).
 */
export function queueWaitMs(asked, answer) {
  if (!(Number(asked?.waitMs) > 0)) return 0;
  if (answer?.ok !== true || typeof answer.leaseMs !== "number") {
    return undefined;
  }
  return Math.max(0, answer.leaseMs - Number(asked.leaseMs));
}

/**
 * Starts timing this process's calls to the backend; returns the slow ones
 * so far as `{ lock, from, to, process }` by the shared clock. `names` are
 * the scenario's lock names: a call is put to those its URL or body names,
 * or to all of them. `process` is the client process's index: only its own
 * leases are reckoned from its calls, so only theirs can they explain.
 */
export function timeBackendCalls(names, process) {
  const slow = [];
  const every = names.join(" ");
  const locksOf = (text) => {
    const named = names.filter((n) => text.includes(n));
    return named.length === 0 ? every : named.join(" ");
  };
  /** Keeps a call that took long, less what it `waited` in the queue. */
  const keep = (lock, from, waited) => {
    const to = now();
    if (waited === undefined || to - from - waited < SLOW_MS) return;
    if (slow.length < KEPT) {
      slow.push({ lock, from: from + waited, to, process });
    }
  };
  const parse = (text) => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };

  /**
   * Upstash acquire calls by "token call": when each was sent, its lease,
   * its lock (a grant pushed later names its call).
   */
  const acquires = new Map();
  const noteAcquire = (command, from, lock) => {
    // ["EVALSHA" | "EVAL", script, numkeys, ...keys, token, mode, lease, …, call]
    if (!Array.isArray(command) || !/^EVAL/i.test(String(command[0]))) return;
    const args = command.slice(3 + Number(command[2]));
    const call = Number(args[8]);
    if (!Number.isInteger(call) || call <= 0) return;
    acquires.set(`${args[0]} ${call}`, {
      from,
      leaseMs: Number(args[2]),
      lock,
    });
    if (acquires.size > KEPT) acquires.delete(acquires.keys().next().value);
  };
  /** Reads a wake-up stream's pushes: "message,<channel>,token fence runMs call". */
  const readPushes = async (stream) => {
    const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += value;
        let nl;
        while ((nl = buffer.indexOf("\n")) !== -1) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line.startsWith("data: message,")) continue;
          const parts = line.split(" ");
          const call = parts.pop();
          const runMs = Number(parts.pop());
          parts.pop(); // the fence
          const key = `${parts.join(" ").split(",").pop()} ${call}`;
          const asked = acquires.get(key);
          if (asked === undefined) continue;
          acquires.delete(key);
          // The lease runs runMs from the named call's arrival: what is past
          // the length asked for, it waited in the queue.
          keep(asked.lock, asked.from, Math.max(0, runMs - asked.leaseMs));
        }
      }
    } catch { /* the stream was closed */ }
  };

  const fetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const from = now();
    const url = String(input instanceof Request ? input.url : input);
    const body = typeof init?.body === "string" ? init.body : "";
    // A stream (a subscription) is not a call: it lasts as long as it is
    // used; the grants pushed on it are timed.
    if (/subscribe|text\/event-stream/.test(url + JSON.stringify(init ?? {}))) {
      const response = await fetch(input, init);
      if (response.body === null) return response;
      const [mine, theirs] = response.body.tee();
      void readPushes(theirs);
      return new Response(mine, response);
    }
    const lock = locksOf(decodeURIComponent(url) + body);
    const asked = parse(body);
    noteAcquire(asked, from, lock);
    const response = await fetch(input, init);
    void response.clone().text().then(
      (text) => keep(lock, from, queueWaitMs(asked, parse(text))),
      () => {},
    );
    return response;
  };

  const Socket = globalThis.WebSocket;
  if (typeof Socket === "function") {
    globalThis.WebSocket = class extends Socket {
      /** Calls on their way, by id: when each was sent, and what it asked. */
      #calls = new Map();
      #lock;
      constructor(url, protocols) {
        super(url, protocols);
        const href = decodeURIComponent(String(url));
        this.#lock = locksOf(href);
        // The upgrade carries a first call.
        const first = parse(new URL(String(url)).searchParams.get("call"));
        if (first?.id !== undefined) {
          this.#calls.set(first.id, { from: now(), asked: first });
        }
        // Before the client's own handler, which is set after construction.
        this.addEventListener("message", (event) => {
          const answer = parse(String(event.data));
          const call = this.#calls.get(answer?.id);
          if (call === undefined) return;
          this.#calls.delete(answer.id);
          keep(this.#lock, call.from, queueWaitMs(call.asked, answer));
        });
      }
      send(data) {
        const asked = parse(String(data));
        if (asked?.id !== undefined) {
          this.#calls.set(asked.id, { from: now(), asked });
        }
        super.send(data);
      }
    };
  }
  return () => slow;
}
