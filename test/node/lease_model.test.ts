// Copyright 2026 the unilock authors. MIT license.
/**
 * A model-based test (fast-check `commands`) of a lease's life against the
 * real distributed backends: redis-server behind the Upstash bridge, and the
 * Durable Object on `wrangler dev`, each reached through the chaos fault
 * proxy. Three clients (two sharing one lock instance, as `LockManager`
 * hands out) acquire, tryAcquire, extend (longer, shorter, and while a
 * renewal is in flight), wait for renewals, release, abort and time out,
 * while faults are aimed at single requests (delayed, dropped before or
 * after they ran, answered 500/502, hung, reordered).
 *
 * After every step, by the clients' beliefs (a holder is unlost until its
 * `lease.signal` aborts) and by the server's `query()`:
 * - no two unlost holders, ever (their belief intervals may not overlap by
 *   more than a timer's lateness);
 * - every holder that believes is held by the server (a loss the server
 *   knows of was signalled, within 300 ms);
 * - no lease is lost without a fault, a stalled event loop, or a request for
 *   its lock that took a third of the lease, to explain it;
 * - every acquisition settles within 2 s of its deadline (`timeoutMs` or its
 *   abort), every other call within 10 s;
 * - a lease nobody was handed (an acquire whose reply was lost) is gone from
 *   the server within 5 s, and a waiter nobody waits as is gone within 3 s
 *   (12 s after a fault).
 *
 * Bounded: about 60 s per backend; seeded (`LEASE_MODEL_SEED`, printed with
 * a replay command on failure). A replay repeats the commands, not the
 * timing of a shared machine.
 */
import fc from "fast-check";
import { afterAll, beforeAll, inject, test } from "vitest";
import { createLock, type Lease, type Lock } from "../../mod.ts";
import { startFaultProxy } from "../chaos/_fault_proxy.mjs";
import type { FaultProxy } from "../chaos/_fault_proxy.mjs";

const BUDGET_MS = Number(process.env.LEASE_MODEL_BUDGET_MS ?? 55_000);
const BASE_SEED = Number(process.env.LEASE_MODEL_SEED ?? 20261127);
/** How far past its deadline an acquisition may settle. */
const SETTLE_BOUND_MS = 2_000;
/** How long any other call may take. */
const CALL_BOUND_MS = 10_000;
/** How long a lease nobody was handed may stay on the server. */
const ORPHAN_BOUND_MS = 5_000;
/** How late a loss may be said (timers fire late on a loaded machine), beyond measured stalls. */
const LOSS_TOLERANCE_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stalls of this process's event loop over 60 ms: [from, to]. */
const lags: [number, number][] = [];
let lastTick = performance.now();
const monitor = setInterval(() => {
  const t = performance.now();
  if (t - lastTick > 60) lags.push([lastTick, t]);
  if (lags.length > 500) lags.shift();
  lastTick = t;
}, 20);
monitor.unref?.();

function lagWithin(from: number, to: number): number {
  let longest = 0;
  for (const [a, b] of lags) {
    if (b >= from && a <= to) longest = Math.max(longest, b - a);
  }
  return longest;
}

type Settled<T> =
  | { settled: false }
  | { settled: true; value?: T; error?: unknown };

function bounded<T>(promise: Promise<T>, ms: number): Promise<Settled<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ settled: false }), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve({ settled: true, value });
      },
      (error) => {
        clearTimeout(timer);
        resolve({ settled: true, error });
      },
    );
  });
}

const ACCEPTABLE = new Set([
  "TimeoutError",
  "AbortError",
  "LockBackendError",
  "LockLostError",
  "ModelAbort",
]);

interface Held {
  actor: number;
  lease: Lease;
  fence: number;
  leaseMs: number;
  /** The longest lease asked for (an extend whose reply was lost may have applied). */
  maxLeaseMs: number;
  grantedAt: number;
  /** When the holder stopped believing: its release() call or its signal. */
  endedAt: number | undefined;
  lostAt: number | undefined;
}

interface Pending {
  what: string;
  promise: Promise<Lease | undefined>;
  /** When it must have settled by, at the latest (its timeout or abort, plus the bound). */
  due: number;
  controller: AbortController;
  leaseMs: number;
  result: Settled<Lease | undefined> | undefined;
  settledAt: number | undefined;
}

class Actor {
  held: Held | undefined;
  pending: Pending | undefined;
  constructor(readonly index: number, readonly lock: Lock) {}
}

/** Whether an actor waits, or holds a lease it believes in. */
function busy(a: Actor): boolean {
  return a.pending !== undefined ||
    (a.held !== undefined && a.held.endedAt === undefined);
}

/** One run's system: a lock name, its clients, and what the checks need. */
class World {
  readonly actors: Actor[];
  /** Every lease granted in this run, for the overlap check. */
  readonly leases: Held[] = [];
  readonly faults: number[] = [];
  readonly log: string[] = [];
  readonly orphanSince = new Map<number, number>();
  ghostSince: number | undefined;
  failure: string | undefined;

  constructor(
    readonly name: string,
    readonly proxy: FaultProxy,
    make: (name: string) => Lock,
    readonly observer: Lock,
  ) {
    const shared = make(name);
    // Actors 0 and 1 share one instance, as LockManager hands out.
    this.actors = [
      new Actor(0, shared),
      new Actor(1, shared),
      new Actor(2, make(name)),
    ];
  }

  fail(message: string): never {
    this.failure ??= message;
    throw new Error(
      `${message}\n  lock ${this.name}; steps:\n    ${this.log.join("\n    ")}`,
    );
  }

  faultSince(from: number): boolean {
    return this.faults.some((t) => t >= from);
  }

  /** Whether a request for this lock took `ms` or more within [from, to]. */
  slowBackend(from: number, to: number, ms: number): boolean {
    const origin = performance.timeOrigin;
    return this.proxy.slow().some((q) =>
      q.lock.includes(this.name) && q.to - origin >= from &&
      q.from - origin <= to && q.to - q.from >= ms
    );
  }

  /** Starts an acquisition (acquire or tryAcquire) for an idle actor. */
  start(
    actor: Actor,
    what: string,
    call: (signal: AbortSignal) => Promise<Lease | undefined>,
    deadlineMs: number,
    leaseMs: number,
  ): void {
    const controller = new AbortController();
    const asked = performance.now();
    const promise = call(controller.signal);
    const pending: Pending = {
      what,
      promise,
      due: asked + deadlineMs + SETTLE_BOUND_MS,
      controller,
      leaseMs,
      result: undefined,
      settledAt: undefined,
    };
    actor.pending = pending;
    promise.then(
      (value) => {
        pending.settledAt = performance.now();
        pending.result = { settled: true, value };
        if (value !== undefined) this.#hold(actor, value, leaseMs);
      },
      (error) => {
        pending.settledAt = performance.now();
        pending.result = { settled: true, error };
      },
    );
  }

  #hold(actor: Actor, lease: Lease, leaseMs: number): void {
    const held: Held = {
      actor: actor.index,
      lease,
      fence: lease.fence,
      leaseMs,
      maxLeaseMs: leaseMs,
      grantedAt: performance.now(),
      endedAt: undefined,
      lostAt: undefined,
    };
    const onLost = () => {
      held.lostAt = performance.now();
      held.endedAt ??= held.lostAt;
    };
    if (lease.signal.aborted) onLost();
    else lease.signal.addEventListener("abort", onLost, { once: true });
    this.leases.push(held);
    // The pending entry is cleared by the next check, which sees the lease.
    actor.held = held;
  }

  /** Abandons a call that never settled; what it brings later is given back. */
  abandon(promise: Promise<Lease | undefined>): void {
    promise.then((l) => l?.release().catch(() => {}), () => {});
  }

  /** The invariants, after every step. */
  async check(): Promise<void> {
    const now = performance.now();
    for (const actor of this.actors) {
      const p = actor.pending;
      if (p === undefined) continue;
      if (p.result !== undefined) {
        actor.pending = undefined;
        const error = (p.result as { error?: unknown }).error as
          | { name?: string }
          | undefined;
        if (error !== undefined && !ACCEPTABLE.has(String(error?.name))) {
          this.fail(`${p.what} rejected with an unexpected ${String(error)}`);
        }
        if (p.settledAt! > p.due) {
          this.fail(
            `${p.what} settled ${
              Math.round(p.settledAt! - p.due + SETTLE_BOUND_MS)
            } ms past its deadline`,
          );
        }
      } else if (now > p.due) {
        this.abandon(p.promise);
        actor.pending = undefined;
        this.fail(
          `${p.what} had not settled ${
            Math.round(now - p.due + SETTLE_BOUND_MS)
          } ms past its deadline`,
        );
      }
    }
    // No two unlost holders: belief intervals may not overlap.
    for (let i = 0; i < this.leases.length; i++) {
      for (let j = i + 1; j < this.leases.length; j++) {
        const a = this.leases[i]!, b = this.leases[j]!;
        const overlap = Math.min(a.endedAt ?? now, b.endedAt ?? now) -
          Math.max(a.grantedAt, b.grantedAt);
        const slack = LOSS_TOLERANCE_MS +
          lagWithin(Math.min(a.grantedAt, b.grantedAt), now);
        if (overlap > slack) {
          this.fail(
            `two unlost holders for ${
              Math.round(overlap)
            } ms: fence ${a.fence} (client ${a.actor}, ${
              a.lostAt === undefined ? "not lost" : "lost"
            }) and fence ${b.fence} (client ${b.actor}, ${
              b.lostAt === undefined ? "not lost" : "lost"
            })`,
          );
        }
      }
    }
    // Losses without a fault or a stall to explain them.
    for (const h of this.leases) {
      if (h.lostAt === undefined || h.lostAt < h.grantedAt) continue;
      const explained = this.faultSince(h.grantedAt - 2_000) ||
        lagWithin(h.grantedAt, h.lostAt) >= h.leaseMs / 3 ||
        this.slowBackend(h.grantedAt - h.leaseMs, h.lostAt, h.leaseMs / 3);
      if (!explained) {
        this.fail(
          `fence ${h.fence} (client ${h.actor}, lease ${h.leaseMs} ms) was lost ${
            Math.round(h.lostAt - h.grantedAt)
          } ms after its grant with no fault: ${
            String((h.lease.signal.reason as Error)?.message)
          }`,
        );
      }
    }
    // The server's view.
    const q = await bounded(this.observer.query(), CALL_BOUND_MS);
    if (!q.settled || q.value === undefined) {
      this.fail(
        `the observer's query() failed: ${String(q.settled && q.error)}`,
      );
    }
    const snapshot = q.value;
    const heldFences = snapshot.held.map((h) => h.fence);
    if (snapshot.held.length > 1) {
      this.fail(`the server lists ${snapshot.held.length} exclusive holders`);
    }
    const believers = this.leases.filter((h) =>
      h.endedAt === undefined && !h.lease.signal.aborted
    );
    for (const b of believers) {
      if (heldFences.includes(b.fence)) continue;
      // A loss the holder is told of at once is a race with the expiry.
      await sleep(300);
      if (b.endedAt === undefined && !b.lease.signal.aborted) {
        this.fail(
          `fence ${b.fence} (client ${b.actor}) believes in its lease, the server holds ${
            JSON.stringify(heldFences)
          }: a loss that was not signalled`,
        );
      }
    }
    const t = performance.now();
    const pendingAny = this.actors.some((a) => a.pending !== undefined);
    for (const fence of heldFences) {
      if (fence === undefined) continue;
      const known = this.leases.find((h) => h.fence === fence);
      if (known !== undefined) {
        // Released or lost, yet held: it may stay until its lease ends (a
        // release that could not get through).
        if (
          known.endedAt !== undefined &&
          t > known.endedAt + known.maxLeaseMs + SETTLE_BOUND_MS
        ) {
          this.fail(
            `fence ${fence} (client ${known.actor}) ended ${
              Math.round(t - known.endedAt)
            } ms ago and is still held, past its ${known.maxLeaseMs} ms lease`,
          );
        }
        continue;
      }
      if (pendingAny) continue; // a grant on its way
      const since = this.orphanSince.get(fence) ?? t;
      this.orphanSince.set(fence, since);
      if (t - since > ORPHAN_BOUND_MS) {
        this.fail(
          `fence ${fence} has been held for ${
            Math.round(t - since)
          } ms by nobody (an uncertain acquire not given back)`,
        );
      }
    }
    if (snapshot.pending.length > 0 && !pendingAny) {
      this.ghostSince ??= t;
      const bound = this.faultSince(t - 12_000) ? 12_000 : 3_000;
      if (t - this.ghostSince > bound) {
        this.fail(
          `${snapshot.pending.length} waiter(s) queued on the server ${
            Math.round(t - this.ghostSince)
          } ms after every client stopped waiting`,
        );
      }
    } else this.ghostSince = undefined;
  }

  /** Ends the run: aborts, releases, and waits out orphans and ghosts. */
  async finish(): Promise<void> {
    // Every acquisition must settle by its deadline, aborted or not.
    for (const actor of this.actors) {
      const p = actor.pending;
      if (p === undefined) continue;
      p.due = Math.min(p.due, performance.now() + SETTLE_BOUND_MS);
      p.controller.abort(
        Object.assign(new Error("model abort"), { name: "ModelAbort" }),
      );
    }
    for (const actor of this.actors) {
      const p = actor.pending;
      if (p === undefined) continue;
      await bounded(p.promise, Math.max(0, p.due - performance.now()) + 50);
    }
    await this.check().catch((e) => {
      throw e;
    });
    for (const actor of this.actors) {
      const held = actor.held;
      if (held !== undefined && held.endedAt === undefined) {
        held.endedAt = performance.now();
        const r = await bounded(held.lease.release(), CALL_BOUND_MS);
        if (!r.settled) {
          this.fail(
            `release(client ${actor.index}) did not settle in ${CALL_BOUND_MS} ms`,
          );
        }
      }
    }
    this.proxy.clear();
    // Orphans and ghosts must go within their bounds.
    const until = performance.now() + ORPHAN_BOUND_MS + 1_000;
    while (performance.now() < until) {
      for (const actor of this.actors) {
        if (actor.pending?.result !== undefined) actor.pending = undefined;
      }
      await this.check();
      const q = await this.observer.query();
      const unknown = q.held.filter((h) =>
        !this.leases.some((l) => l.fence === h.fence)
      );
      if (unknown.length === 0 && q.pending.length === 0) return;
      await sleep(250);
    }
  }
}

// ---------------------------------------------------------------- commands

type Model = Record<string, never>;
type Cmd = fc.AsyncCommand<Model, World>;

abstract class Step implements Cmd {
  check(): boolean {
    return true;
  }
  async run(_m: Model, w: World): Promise<void> {
    w.log.push(`${this.toString()} @${Math.round(performance.now())}`);
    await this.act(w);
    // Let what the step started reach the server.
    await sleep(30);
    await w.check();
  }
  abstract act(w: World): Promise<void>;
  abstract toString(): string;
}

class Acquire extends Step {
  constructor(
    readonly actor: number,
    readonly leaseMs: number,
    readonly timeoutMs: number,
    readonly abortAfterMs: number | undefined,
  ) {
    super();
  }
  async act(w: World): Promise<void> {
    const a = w.actors[this.actor]!;
    if (busy(a)) return;
    w.start(
      a,
      this.toString(),
      (signal) => {
        if (this.abortAfterMs !== undefined) {
          const controller = new AbortController();
          setTimeout(
            () =>
              controller.abort(
                Object.assign(new Error("model abort"), { name: "ModelAbort" }),
              ),
            this.abortAfterMs,
          );
          signal = AbortSignal.any([signal, controller.signal]);
        }
        return a.lock.acquire({
          leaseMs: this.leaseMs,
          timeoutMs: this.timeoutMs,
          signal,
        });
      },
      Math.min(this.timeoutMs, this.abortAfterMs ?? Infinity),
      this.leaseMs,
    );
    await bounded(a.pending!.promise, 150);
  }
  toString(): string {
    return `acquire(client ${this.actor}, lease ${this.leaseMs}, timeout ${this.timeoutMs}${
      this.abortAfterMs === undefined ? "" : `, abort at ${this.abortAfterMs}`
    })`;
  }
}

class TryAcquire extends Step {
  constructor(readonly actor: number, readonly leaseMs: number) {
    super();
  }
  async act(w: World): Promise<void> {
    const a = w.actors[this.actor]!;
    if (busy(a)) return;
    // No deadline of its own: bounded by the request's own timeout.
    w.start(
      a,
      this.toString(),
      () => a.lock.tryAcquire({ leaseMs: this.leaseMs }),
      CALL_BOUND_MS - SETTLE_BOUND_MS,
      this.leaseMs,
    );
    await bounded(a.pending!.promise, 150);
  }
  toString(): string {
    return `tryAcquire(client ${this.actor}, lease ${this.leaseMs})`;
  }
}

/** An acquire whose reply is lost after the server ran it, on a long lease. */
class UncertainAcquire extends Step {
  constructor(readonly actor: number, readonly kind: string) {
    super();
  }
  async act(w: World): Promise<void> {
    const a = w.actors[this.actor]!;
    if (busy(a)) return;
    w.proxy.inject({ kind: this.kind, op: "acquire", lock: w.name });
    w.start(
      a,
      this.toString(),
      (signal) => a.lock.acquire({ leaseMs: 10_000, timeoutMs: 1_000, signal }),
      1_000,
      10_000,
    );
    await bounded(a.pending!.promise, 1_500);
  }
  toString(): string {
    return `acquire(client ${this.actor}, lease 10000, timeout 1000) with its reply lost (${this.kind})`;
  }
}

class Extend extends Step {
  constructor(
    readonly actor: number,
    readonly factor: number,
    readonly duringRenewal: boolean,
  ) {
    super();
  }
  async act(w: World): Promise<void> {
    const h = w.actors[this.actor]!.held;
    if (h === undefined || h.endedAt !== undefined) return;
    const ms = Math.max(150, Math.round(h.leaseMs * this.factor));
    if (this.duringRenewal) {
      // Hold the next renewal back a little, and send the extend as soon as
      // the renewal is seen: the renewal reaches the server last.
      w.proxy.inject({
        kind: "delay",
        op: "extend",
        lock: w.name,
        delayMs: 150,
      });
      const seen = await w.proxy.next(
        { op: "extend", lock: w.name },
        h.leaseMs,
      );
      if (seen === undefined || h.endedAt !== undefined) {
        w.proxy.clear();
        return;
      }
      w.faults.push(performance.now());
    }
    h.maxLeaseMs = Math.max(h.maxLeaseMs, ms);
    const old = h.leaseMs;
    const sent = performance.now();
    const r = await bounded(h.lease.extend(ms), CALL_BOUND_MS);
    if (!r.settled) w.fail(`${this} did not settle in ${CALL_BOUND_MS} ms`);
    if (r.error !== undefined) {
      if (!ACCEPTABLE.has(String((r.error as Error)?.name))) {
        w.fail(`${this} rejected with an unexpected ${String(r.error)}`);
      }
      return;
    }
    h.leaseMs = ms;
    // Hold on as the holder now may: past where the old length would have
    // ended (a server that kept the old length lets the lease go meanwhile),
    // or, shortened, past the new length (which only renewals on the new
    // length keep).
    const until = ms > old
      ? sent + Math.min(ms - 200, old + 400)
      : sent + ms * 1.5;
    await sleep(Math.max(0, until - performance.now()));
  }
  toString(): string {
    return `extend(client ${this.actor}, ×${this.factor}${
      this.duringRenewal ? ", during a renewal" : ""
    })`;
  }
}

class WaitForRenewal extends Step {
  async act(w: World): Promise<void> {
    const longest = Math.max(
      500,
      ...w.leases.filter((h) => h.endedAt === undefined).map((h) => h.leaseMs),
    );
    await w.proxy.next({ op: "extend", lock: w.name }, longest);
    await sleep(50);
  }
  toString(): string {
    return "wait for a renewal";
  }
}

class Release extends Step {
  constructor(readonly actor: number) {
    super();
  }
  async act(w: World): Promise<void> {
    const a = w.actors[this.actor]!;
    const h = a.held;
    if (h === undefined || h.endedAt !== undefined) return;
    h.endedAt = performance.now();
    const r = await bounded(h.lease.release(), CALL_BOUND_MS);
    if (!r.settled) w.fail(`${this} did not settle in ${CALL_BOUND_MS} ms`);
    if (
      r.error !== undefined &&
      !ACCEPTABLE.has(String((r.error as Error)?.name))
    ) w.fail(`${this} rejected with an unexpected ${String(r.error)}`);
  }
  toString(): string {
    return `release(client ${this.actor})`;
  }
}

class Abort extends Step {
  constructor(readonly actor: number) {
    super();
  }
  async act(w: World): Promise<void> {
    const p = w.actors[this.actor]!.pending;
    if (p === undefined || p.result !== undefined) return;
    p.due = Math.min(p.due, performance.now() + SETTLE_BOUND_MS);
    p.controller.abort(
      Object.assign(new Error("model abort"), { name: "ModelAbort" }),
    );
    await bounded(p.promise, 200);
  }
  toString(): string {
    return `abort(client ${this.actor})`;
  }
}

class Sleep extends Step {
  constructor(readonly ms: number) {
    super();
  }
  async act(): Promise<void> {
    await sleep(this.ms);
  }
  toString(): string {
    return `sleep(${this.ms})`;
  }
}

class Fault extends Step {
  constructor(
    readonly kind: string,
    readonly op: string,
    readonly count: number,
    readonly delayMs: number,
  ) {
    super();
  }
  act(w: World): Promise<void> {
    w.proxy.inject({
      kind: this.kind,
      // Upstash's cancel has release's arguments: one name for both.
      op: this.op === "cancel" ? ["cancel", "release"] : this.op,
      lock: w.name,
      count: this.count,
      delayMs: this.delayMs,
    });
    return Promise.resolve();
  }
  toString(): string {
    return `fault(${this.kind} ×${this.count} on the next ${this.op}${
      this.kind === "delay" ? ` by ${this.delayMs} ms` : ""
    })`;
  }
}

/**
 * Step kinds left out (`LEASE_MODEL_SKIP=uncertain,fault`): while a known
 * defect is open, the others can still be looked for. Kinds: acquire,
 * tryAcquire, uncertain, extend (longer), shorten, renewal, release, abort,
 * sleep, fault.
 */
const SKIP = new Set(
  (process.env.LEASE_MODEL_SKIP ?? "").split(",").filter(Boolean),
);

/** How often each step kind is drawn: holding, extending and faults most. */
const WEIGHTS: Record<string, number> = {
  acquire: 5,
  tryAcquire: 2,
  uncertain: 1,
  extend: 3,
  shorten: 2,
  renewal: 2,
  release: 4,
  abort: 2,
  sleep: 2,
  fault: 4,
};

const actor = fc.integer({ min: 0, max: 2 });
const leaseMs = fc.integer({ min: 300, max: 1_500 });
const commands = Object.entries({
  acquire: fc.tuple(
    actor,
    leaseMs,
    fc.integer({ min: 0, max: 2_500 }),
    fc.option(fc.integer({ min: 0, max: 1_000 }), { freq: 3 }),
  ).map(([a, l, t, ab]) => new Acquire(a, l, t, ab ?? undefined)),
  tryAcquire: fc.tuple(actor, leaseMs).map(([a, l]) => new TryAcquire(a, l)),
  uncertain: fc.tuple(
    actor,
    fc.constantFrom("error-after-run", "drop-response"),
  ).map(([a, k]) => new UncertainAcquire(a, k)),
  extend: fc.tuple(actor, fc.constantFrom(2, 4), fc.boolean()).map((
    [a, f, r],
  ) => new Extend(a, f, r)),
  shorten: fc.tuple(actor, fc.constantFrom(0.2, 0.5), fc.boolean()).map((
    [a, f, r],
  ) => new Extend(a, f, r)),
  renewal: fc.constant(new WaitForRenewal()),
  release: actor.map((a) => new Release(a)),
  abort: actor.map((a) => new Abort(a)),
  sleep: fc.integer({ min: 50, max: 1_500 }).map((ms) => new Sleep(ms)),
  fault: fc.tuple(
    fc.constantFrom(
      "delay",
      "drop-request",
      "drop-response",
      "error-after-run",
      "status-500",
      "hang",
      "hang-after-run",
      "reorder",
    ),
    fc.constantFrom("acquire", "extend", "release", "cancel"),
    fc.integer({ min: 1, max: 3 }),
    fc.integer({ min: 50, max: 400 }),
  ).map(([k, op, n, d]) => new Fault(k, op, n, d)),
}).filter(([kind]) => !SKIP.has(kind)).map(([kind, arbitrary]) => ({
  arbitrary: arbitrary as fc.Arbitrary<Cmd>,
  weight: WEIGHTS[kind] ?? 1,
}));

// ---------------------------------------------------------------- backends

const upstash = inject("upstash");
const service = inject("lockService");

const backends = [
  {
    type: "upstash",
    url: upstash.url,
    make: (url: string) => (name: string) =>
      createLock("upstash", { name, redis: { url, token: upstash.token } }),
  },
  {
    type: "durable-object",
    url: service.url,
    make: (url: string) => (name: string) =>
      createLock("durable-object", { name, url, token: service.token }),
  },
];

const proxies: FaultProxy[] = [];
let faultLog: ((kind: string, lock: string) => void) | undefined;

/**
 * The Upstash scripts by operation (ACQUIRE → "acquire"), so that the proxy
 * tells requests apart by SHA-1 (release from cancel); without them it goes
 * by the scripts' arguments.
 */
async function upstashScripts(): Promise<Record<string, string>> {
  try {
    const module = await import("../../src/upstash/_scripts.ts") as Record<
      string,
      unknown
    >;
    return Object.fromEntries(
      Object.entries(module).filter(([, v]) =>
        typeof v === "string" && v.includes("redis.call")
      ).map(([k, v]) => [k.toLowerCase(), v as string]),
    );
  } catch {
    return {};
  }
}

beforeAll(async () => {
  for (const b of backends) {
    proxies.push(
      await startFaultProxy(b.url, {
        seed: 1,
        rate: 0,
        kinds: [],
        ...(b.type === "upstash" ? { scripts: await upstashScripts() } : {}),
        onFault: (kind, info) => faultLog?.(kind, info.lock),
      }),
    );
  }
});

afterAll(async () => {
  for (const p of proxies) await p.close();
});

for (const [i, backend] of backends.entries()) {
  test(
    `lease model (${backend.type}): no two unlost holders, every loss signalled, every call bounded, under aimed faults`,
    async () => {
      const proxy = proxies[i]!;
      const viaProxy = backend.make(proxy.url);
      const direct = backend.make(backend.url);
      const seed = BASE_SEED + i;
      const stop = performance.now() + BUDGET_MS;
      let runs = 0;
      let steps = 0;
      let current: World | undefined;
      faultLog = (_kind, lock) => {
        if (current !== undefined && lock.includes(current.name)) {
          current.faults.push(performance.now());
        }
      };
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.commands([fc.oneof(...commands)], {
              maxCommands: 20,
              size: "max",
            }),
            async (cmds) => {
              // The budget: once spent, the remaining runs pass at once.
              if (performance.now() > stop) return;
              runs++;
              const name = `model-${backend.type}-${crypto.randomUUID()}`;
              const world = new World(name, proxy, viaProxy, direct(name));
              current = world;
              await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds);
              steps += world.log.length;
              await world.finish();
            },
          ),
          { seed, numRuns: 1_000, endOnFailure: true },
        );
      } catch (error) {
        throw new Error(
          `${
            (error as Error).message
          }\n\nReplay: LEASE_MODEL_SEED=${BASE_SEED} npx vitest run --project node test/node/lease_model.test.ts (the ${backend.type} run's seed is ${seed}; timing does not replay)`,
          { cause: error },
        );
      } finally {
        current = undefined;
        proxy.clear();
      }
      console.log(
        `lease model (${backend.type}): ${runs} runs, ${steps} steps, ${
          JSON.stringify(proxy.stats().injected)
        } injected`,
      );
      // The proxy must have recognised what it was asked to aim at.
      const ops = proxy.stats().ops;
      for (const op of ["acquire", "extend", "release"]) {
        if (!(ops[op]! > 0)) {
          throw new Error(
            `the fault proxy classified no ${op} request (${
              JSON.stringify(ops)
            }): its classify() no longer knows this backend's requests`,
          );
        }
      }
    },
    BUDGET_MS + 60_000,
  );
}
