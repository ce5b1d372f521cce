// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * The Web Locks API (`navigator.locks`) over any lock type: a drop-in, faster
 * `navigator.locks` for one isolate (`local`), one shared by worker threads
 * (`thread`), or one whose names every client of a distributed backend
 * shares (`upstash`, `durable-object`). Written from the W3C spec
 * (https://w3c.github.io/web-locks/), step by step; "spec:" comments cite
 * the steps where they are easy to get wrong.
 *
 * @module
 */

import { LockLostError } from "../core/errors.ts";
import type {
  AcquireOptions,
  Lease,
  Lock,
  LockMode,
  LockSnapshot,
  LockType,
  LockTypes,
  WebLock,
  WebLockInfo,
  WebLockManager,
  WebLockManagerSnapshot,
  WebLockOptions,
} from "../core/types.ts";
import {
  checkLeaseMs,
  checkOptionKeys,
  checkOptions,
  show,
} from "../core/_validate.ts";
import {
  ThreadLockTable,
  type ThreadLockTableHandle,
} from "../thread/thread_lock_table.ts";
import type { UpstashLockOptions } from "../upstash/upstash_lock.ts";
import type { DurableObjectLockOptions } from "../durable_object/durable_object_lock.ts";
import type { AutoLockOptions } from "../lock_target.ts";
import { createLock } from "../create_lock.ts";
import { OPTION_KEYS } from "../_option_keys.ts";
import { convertRequest, quote } from "./_webidl.ts";
import { lockNameOf } from "./_names.ts";
import { inLaterTask, inMicrotask } from "./_task.ts";
import { type Listed, RequestList } from "./_request_list.ts";

/** Options every type of {@linkcode createWebLocks} takes. */
export interface WebLocksOptions {
  /**
   * This manager's id in `query()`: every `WebLockInfo` of its requests
   * carries it. 1 to 200 characters. Two managers should never share one.
   *
   * @default {crypto.randomUUID()}
   */
  clientId?: string;
  /**
   * When a granted request's callback runs. `"task"` is the spec's: in a
   * later task of the event loop, after every microtask of the requesting
   * task (an abort anywhere in that task still wins, and each callback's
   * microtasks run before the next callback starts). `"microtask"` runs it
   * in a microtask after `request()` returns instead: never inside
   * `request()`, and an abort in the same synchronous code still wins, but
   * not one after an `await`. It saves the hop to that later task per
   * request (on Node, Deno and Bun a tick queued once the microtask queue
   * is empty, with a turn of the event loop at least every millisecond;
   * elsewhere a turn each time).
   *
   * @default {"task"}
   */
  callbackIn?: "task" | "microtask";
}

/**
 * The lock types {@linkcode createWebLocks} knows, each with its options:
 * the type's own `createLock()` options but `name` (each request names its
 * lock), and {@linkcode WebLocksOptions}. A type registered with
 * `registerLockType` takes its `LockTypes` options the same way.
 */
export interface WebLocksTypes {
  /** Locks of one isolate, shared by every `local` manager in it. */
  local: WebLocksOptions;
  /** Locks in shared memory, shared by the worker threads given the table. */
  thread: WebLocksOptions & {
    /**
     * The table of named thread locks to share (or its `handle`, sent to a
     * worker by `postMessage`). At most its `maxLocks` names can ever be
     * requested through it.
     *
     * @default {new ThreadLockTable()} see `WebLocks.threads`
     */
    threads?: ThreadLockTable | ThreadLockTableHandle;
    /**
     * Each granted request's lease, renewed while its callback runs: a
     * worker terminated while it holds a lock lets it go after this long
     * (as a browser frees a closed tab's locks), where without it the lock
     * stays held until a request with `steal` takes it. A thread whose event
     * loop is blocked past it loses the lock too (`lock.signal` aborts).
     *
     * @default {undefined} no lease: held until released
     */
    leaseMs?: number;
  };
  /** Locks in Upstash Redis, shared by every client of the same Redis and prefix. */
  upstash: WebLocksOptions & Omit<UpstashLockOptions, "name">;
  /** Locks in Durable Objects, shared by every client of the same namespace. */
  "durable-object": WebLocksOptions & Omit<DurableObjectLockOptions, "name">;
  /** Whichever `describeLockTarget(options)` chooses. */
  auto: WebLocksOptions & Omit<AutoLockOptions, "name">;
}

/** The options of {@linkcode createWebLocks} for the lock type `T`. */
export type WebLocksOptionsOf<T extends LockType> = T extends
  keyof WebLocksTypes ? WebLocksTypes[T]
  : WebLocksOptions & Omit<LockTypes[T], "name">;

// ---------------------------------------------------------------- state

/** How many given-up owner labels an entry remembers for `query()`. */
const GONE_KEPT = 1_024;

/** The requests of one name, in one space (see `Space`). */
class Entry {
  readonly name: string;
  /**
   * The lock of the name on the backend; none in the `local` space, whose
   * entries are the locks themselves (their queue is `pending`).
   */
  readonly lock: Lock | undefined;
  /** Granted requests, in grant order (spec: the held lock set). */
  readonly held: RequestList<Request> = new RequestList();
  /** Requests not granted yet, in request order (spec: the queue). */
  readonly pending: RequestList<Request> = new RequestList();
  /** Leases with a lower fence were stolen (a steal's grant sets it). */
  stolenBelow = 0;
  /**
   * On a shared backend: this manager's requests by owner label, from the
   * request until the backend is done with it (its acquisition failed, or
   * its lease was released), so that `query()` can tell the backend's
   * answer what it does not know yet (see there).
   */
  readonly owners: Map<string, Request> | undefined;
  /**
   * Owner labels of requests this manager is done with that the backend may
   * still list (a cancel or release its snapshot predates): left out of
   * `query()` until a snapshot no longer lists them.
   */
  readonly gone: Set<string> | undefined;

  constructor(name: string, lock: Lock | undefined, placed: boolean) {
    this.name = name;
    this.lock = lock;
    this.owners = placed ? undefined : new Map();
    this.gone = placed ? undefined : new Set();
  }

  get idle(): boolean {
    return this.held.size === 0 && this.pending.size === 0;
  }

  /**
   * spec: "grantable", for the `local` space, the queue aside: no lock is
   * held, or only shared ones and `mode` is shared.
   */
  free(mode: LockMode): boolean {
    const first = this.held.head;
    return first === undefined ||
      (mode === "shared" && first.mode === "shared");
  }

  /** spec: process the lock request queue (the `local` space). */
  dispatch(): void {
    let next = this.pending.head;
    while (next !== undefined && this.free(next.mode)) {
      this.pending.delete(next);
      next.grantedHere();
      next = this.pending.head;
    }
  }
}

/** Where a manager's names live: one isolate's table, or its own. */
interface Space {
  /** Whether a request is in the queue as soon as its lock is called. */
  readonly placed: boolean;
  entry(name: string): Entry;
  entries(): Iterable<Entry>;
  /** Called when `entry` may have become idle. */
  settled(entry: Entry): void;
}

// The `local` space's fences: one counter for every name, since a name's
// entry may be dropped while idle and made again, and its fences must rise.
let localFence = 0;

/** How many idle names the isolate's table keeps before it drops them. */
const KEEP_IDLE = 1024;

/**
 * The `local` space: one per isolate, shared by every `local` manager, as a
 * browser's lock manager is shared by an origin's windows and workers. Its
 * entries are the locks: a request is granted, queued and handed over by
 * the steps of the spec on the entry's two lists, with no `Lock` between
 * (a contended handoff makes about a third less garbage than through a
 * `LocalLock`, the larger part of its cost).
 */
const isolate: Space = (() => {
  const entries = new Map<string, Entry>();
  return {
    placed: true,
    entry(name) {
      let entry = entries.get(name);
      if (entry === undefined) {
        entry = new Entry(name, undefined, true);
        entries.set(name, entry);
      }
      return entry;
    },
    entries: () => entries.values(),
    settled(entry) {
      // (Only the name's current entry: a request of an entry dropped
      // earlier settles late, and must not drop its successor, held.)
      if (
        entries.size > KEEP_IDLE && entry.idle &&
        entries.get(entry.name) === entry
      ) entries.delete(entry.name);
    },
  };
})();

/** A manager's own names on a thread table or a distributed backend. */
function ownSpace(make: (lockName: string) => Lock): Space {
  const entries = new Map<string, Entry>();
  return {
    placed: false,
    entry(name) {
      let entry = entries.get(name);
      if (entry === undefined) {
        entry = new Entry(name, make(lockNameOf(name)), false);
        entries.set(name, entry);
      }
      return entry;
    },
    entries: () => entries.values(),
    settled() {},
  };
}

// ---------------------------------------------------------------- requests

// One executor for every request's promise (it runs synchronously, so two
// module slots hand its functions over).
let capturedResolve: (value: unknown) => void = () => {};
let capturedReject: (reason: unknown) => void = () => {};
function capture(
  resolve: (value: unknown) => void,
  reject: (reason: unknown) => void,
): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

function abortError(message: string): DOMException {
  return new DOMException(message, "AbortError");
}

/** One `request()` (spec: a lock request, and then its lock). */
class Request implements Listed<Request> {
  readonly space: Space;
  readonly entry: Entry;
  readonly clientId: string;
  readonly mode: LockMode;
  readonly callback: (lock: WebLock | null) => unknown;
  readonly signal: AbortSignal | undefined;
  readonly owner: string | undefined;
  readonly steal: boolean;
  /** Where its callback runs: a later task, or a microtask (`callbackIn`). */
  readonly later: (request: Request, fn: (request: Request) => void) => void;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
  /** Its promise has settled (spec: the released promise). */
  settled = false;
  /** The callback was called (the signal no longer matters). */
  started = false;
  lease: Lease | undefined = undefined;
  fence = 0;
  /** When its grant reached this manager (performance.now()). */
  grantedAt = 0;
  prev: Request | undefined = undefined;
  next: Request | undefined = undefined;
  list: RequestList<Request> | undefined = undefined;
  #onLost: (() => void) | undefined = undefined;
  /** The `local` space's lock signal, made when first asked for. */
  #controller: AbortController | undefined = undefined;
  /** A steal took its lock (its signal aborts, now or when made). */
  #stolen = false;

  constructor(
    space: Space,
    entry: Entry,
    clientId: string,
    owner: string | undefined,
    mode: LockMode,
    steal: boolean,
    signal: AbortSignal | undefined,
    callback: (lock: WebLock | null) => unknown,
    later: (request: Request, fn: (request: Request) => void) => void,
  ) {
    this.later = later;
    this.space = space;
    this.entry = entry;
    this.clientId = clientId;
    this.owner = owner;
    this.mode = mode;
    this.steal = steal;
    this.signal = signal;
    this.callback = callback;
    this.resolve = capturedResolve;
    this.reject = capturedReject;
  }

  /** Settles the request's promise once. */
  end(ok: boolean, value: unknown): void {
    if (this.settled) return;
    this.settled = true;
    if (ok) this.resolve(value);
    else this.reject(value);
  }

  /**
   * spec: "signal to abort the request": the request leaves the queue and
   * its promise rejects with the signal's reason, even when the lock was
   * granted already but the callback has not been called (its task then
   * releases the lock instead).
   */
  handleEvent(): void {
    if (this.started || this.settled) return;
    // (On a shared backend the lock cancels it on the server; until then
    // `query()` leaves it out of the server's answer.)
    const left = this.entry.pending.delete(this);
    this.end(false, this.signal!.reason);
    // spec: the queue is processed again: shared requests behind an
    // exclusive one that left may now be granted.
    if (left && this.space.placed) this.entry.dispatch();
    this.space.settled(this.entry);
  }

  /**
   * Granted in the `local` space, by `request()` or by the handoff of the
   * request before it: held at once, the callback in a later task.
   */
  grantedHere(): void {
    this.entry.held.add(this);
    this.fence = ++localFence;
    this.later(this, runGranted);
  }

  /**
   * spec: steal the lock (the `local` space): every holder of the name
   * loses it at once, and this request goes ahead of the queue.
   */
  stealHere(): void {
    const entry = this.entry;
    const stolen = [...entry.held];
    for (const other of stolen) entry.held.delete(other);
    // The thief holds before anyone hears of the steal: a listener of a
    // stolen lock's signal that requests the name must find it taken.
    this.grantedHere();
    const message = stolenMessage(entry);
    for (const other of stolen) other.lost(message);
  }

  /** The granted lock's `signal`: it aborts when the lock is lost. */
  lockSignal(): AbortSignal {
    if (this.lease !== undefined) return this.lease.signal;
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      // (Asked for after a steal took it: aborted already.)
      if (this.#stolen) this.#abortLocal();
    }
    return this.#controller.signal;
  }

  #abortLocal(): void {
    this.#controller?.abort(
      new LockLostError(
        this.entry.name,
        "it was stolen (another request took the lock with steal)",
      ),
    );
  }

  /** The backend is done with it: `query()` need not correct for it. */
  forget(): void {
    const { owners, gone } = this.entry;
    if (gone === undefined) return;
    owners!.delete(this.owner!);
    gone.add(this.owner!);
    // Pruned by query(); without one, the oldest go (by then the backend
    // has long heard of them).
    if (gone.size > GONE_KEPT) gone.delete(gone.values().next().value!);
  }

  granted(lease: Lease | undefined): void {
    const entry = this.entry;
    entry.pending.delete(this);
    if (lease === undefined) {
      this.forget();
      // spec: ifAvailable and not grantable: the callback is called with
      // null in a later task, and the request is never queued.
      this.later(this, runWithNull);
      return;
    }
    // (With a lease: a thread table's or a distributed backend's grant.)
    this.lease = lease;
    this.fence = lease.fence;
    if (this.settled) {
      // Aborted between the grant and here: its callback task would only
      // release the lock (spec: process the lock request queue).
      this.release();
      return;
    }
    this.grantedAt = performance.now();
    if (lease.fence < entry.stolenBelow) {
      // A steal of this manager's took the lock after this grant was made
      // (its reply came later): the request rejects, and its callback never
      // runs. The lease is given back only to stop its renewals: the steal
      // ended it on the backend.
      this.signal?.removeEventListener("abort", this);
      this.end(false, abortError(stolenMessage(entry)));
      lease.release().catch(() => {});
      this.forget();
      this.space.settled(entry);
      return;
    }
    entry.held.add(this);
    // A lease of a shared backend can be lost (stolen by another client,
    // or not renewed in time): the request then rejects as if stolen.
    if (lease.signal.aborted) this.lostTo(lease.signal.reason);
    else {
      this.#onLost = () => this.lostTo(lease.signal.reason);
      lease.signal.addEventListener("abort", this.#onLost);
    }
    if (this.steal) {
      // spec: a steal rejects every held lock of the name with an
      // AbortError, at once (here: at its grant, which revoked them).
      entry.stolenBelow = lease.fence;
      for (const other of entry.held) {
        if (other !== this && other.lease!.fence < lease.fence) {
          other.lost(stolenMessage(entry));
        }
      }
    }
    // spec: the callback runs in a task queued on the event loop, which
    // checks the signal first.
    this.later(this, runGranted);
  }

  failed(error: unknown): void {
    this.entry.pending.delete(this);
    this.forget();
    this.signal?.removeEventListener("abort", this);
    this.space.settled(this.entry);
    if (this.settled) return;
    if (this.steal && error instanceof TypeError) {
      // The lock type cannot steal (the core refuses rather than queue).
      this.end(
        false,
        new DOMException(
          `Cannot request lock ${
            quote(this.entry.name)
          } with steal: ${error.message}`,
          "NotSupportedError",
        ),
      );
    } else this.end(false, error);
  }

  lostTo(reason: unknown): void {
    this.lost(
      reason instanceof LockLostError
        ? reason.message
        : `Lock ${quote(this.entry.name)} was lost`,
    );
  }

  /** spec: a held lock that a steal took: its promise rejects with an AbortError. */
  lost(message: string): void {
    this.entry.held.delete(this);
    if (this.lease === undefined) {
      this.#stolen = true;
      this.#abortLocal();
    }
    this.end(false, abortError(message));
  }

  /** The callback's promise settled (spec: the waiting promise). */
  finish(ok: boolean, value: unknown): void {
    // spec: release the lock, then resolve the released promise with the
    // waiting promise.
    const released = this.release();
    if (released === undefined) this.end(ok, value);
    else released.then(() => this.end(ok, value));
  }

  /** Gives the lock back; a promise only when the release is I/O. */
  release(): Promise<void> | undefined {
    const entry = this.entry;
    if (this.space.placed) {
      // (A stolen request is in no list: the thief's grant stands.)
      if (entry.held.delete(this)) entry.dispatch();
      this.space.settled(entry);
      return undefined;
    }
    entry.held.delete(this);
    const lease = this.lease!;
    if (this.#onLost !== undefined) {
      lease.signal.removeEventListener("abort", this.#onLost);
    }
    const done = lease.release();
    // A failed release ends by the lease's expiry on the backend (the lock
    // records it); the request's outcome is the callback's all the same.
    return done.catch(() => {}).then(() => this.forget());
  }
}

function stolenMessage(entry: Entry): string {
  return `Lock ${quote(entry.name)} was stolen by a request with steal`;
}

/** spec: the granted request's task: check the signal, call the callback. */
function runGranted(request: Request): void {
  const signal = request.signal;
  if (signal !== undefined) {
    if (signal.aborted) {
      request.release();
      return;
    }
    signal.removeEventListener("abort", request);
  }
  request.started = true;
  settleWith(request, new GrantedLock(request));
}

function runWithNull(request: Request): void {
  request.started = true;
  request.space.settled(request.entry);
  // spec: resolve the promise with the callback's result; no lock is held.
  let result: unknown;
  try {
    const callback = request.callback;
    result = callback(null);
  } catch (error) {
    request.end(false, error);
    return;
  }
  request.end(true, result);
}

/**
 * Calls the callback with `lock`; when the promise it returns settles
 * (WebIDL: a callback returning `Promise<any>` that throws returns a
 * rejected promise), the lock is released and the request settles alike.
 */
function settleWith(request: Request, lock: WebLock): void {
  let result: unknown;
  try {
    const callback = request.callback;
    result = callback(lock);
  } catch (error) {
    request.finish(false, error);
    return;
  }
  if (!isThenable(result)) {
    // Settled already: the lock is released now rather than a microtask
    // later (spec: the release runs on the lock task queue, in parallel).
    request.finish(true, result);
    return;
  }
  Promise.resolve(result).then(
    (value) => request.finish(true, value),
    (error) => request.finish(false, error),
  );
}

function isThenable(value: unknown): boolean {
  if (value === null) return false;
  const type = typeof value;
  return (type === "object" || type === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}

/** The `Lock` a callback gets. */
class GrantedLock implements WebLock {
  readonly name: string;
  readonly mode: LockMode;
  readonly fence: number;
  #request: Request;

  constructor(request: Request) {
    this.name = request.entry.name;
    this.mode = request.mode;
    this.fence = request.fence;
    this.#request = request;
  }

  get signal(): AbortSignal {
    return this.#request.lockSignal();
  }

  get [Symbol.toStringTag](): string {
    return "Lock";
  }
}

// ---------------------------------------------------------------- manager

function checkClientId(value: unknown): string {
  if (value === undefined) return crypto.randomUUID();
  if (typeof value !== "string" || value.length < 1 || value.length > 200) {
    throw new TypeError(
      `Cannot create web locks as 'clientId' must be a string of 1 to 200 characters: current value is ${
        show(value)
      }`,
    );
  }
  return value;
}

/** The owner label of a request: the client, and which of its requests. */
function ownerOf(clientId: string, n: number): string {
  return `${clientId}#${n}`;
}

/** The client of an owner label (see {@linkcode ownerOf}). */
function clientOf(owner: string | undefined): string {
  if (owner === undefined) return "";
  const at = owner.lastIndexOf("#");
  return at > 0 && /^\d+$/.test(owner.slice(at + 1))
    ? owner.slice(0, at)
    : owner;
}

/**
 * The Web Locks API's `LockManager` over a lock type: what
 * {@linkcode createWebLocks} returns. `request()` and `query()` behave as
 * the W3C spec says (names, options, errors as `DOMException`s, callbacks in
 * a later task, aborts, `ifAvailable`, `steal`); see `docs/web-locks.md`
 * for what differs from a browser's.
 *
 * @example A drop-in for `navigator.locks`
 * ```ts
 * import { createWebLocks } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const locks = createWebLocks("local");
 * const result = await locks.request("cache", async (lock) => {
 *   assert.equal(lock?.name, "cache");
 *   return 42;
 * });
 * assert.equal(result, 42);
 * ```
 */
export class WebLocks implements WebLockManager {
  /** This manager's `clientId` in `query()`. */
  readonly clientId: string;
  /** The lock type its locks are. */
  readonly type: string;
  /**
   * The `thread` type's table of named locks: send `threads.handle` to a
   * worker and pass it as `createWebLocks("thread", { threads: handle })`
   * there to share the names. Undefined for other types.
   */
  readonly threads: ThreadLockTable | undefined;
  #space: Space;
  /** The `thread` type's lease for each grant (`leaseMs`). */
  #leaseMs: number | undefined = undefined;
  #requests = 0;
  #later: (request: Request, fn: (request: Request) => void) => void;

  /** Whether `value` is a manager (a method called on something else is not). */
  static #is(value: unknown): value is WebLocks {
    return typeof value === "object" && value !== null && #space in value;
  }

  /**
   * Builds a manager; {@linkcode createWebLocks} is the same.
   *
   * @param type The lock type (default `"local"`).
   * @param options The type's options, without `name`, and `clientId`.
   */
  constructor(type: string = "local", options?: Record<string, unknown>) {
    const action = "create web locks";
    if (typeof type !== "string") {
      throw new TypeError(
        `Cannot ${action} as 'type' must be a string: current value is ${
          show(type)
        }`,
      );
    }
    checkOptions(action, options);
    const { clientId, callbackIn, ...rest } = options ?? {};
    this.clientId = checkClientId(clientId);
    if (
      callbackIn !== undefined && callbackIn !== "task" &&
      callbackIn !== "microtask"
    ) {
      throw new TypeError(
        `Cannot ${action} as 'callbackIn' must be "task" or "microtask": current value is ${
          show(callbackIn)
        }`,
      );
    }
    this.#later = callbackIn === "microtask" ? inMicrotask : inLaterTask;
    this.type = type;
    if ("name" in rest) {
      throw new TypeError(
        `Cannot ${action} as 'name' is not an option of web locks: each request names its lock`,
      );
    }
    if (type === "local") {
      checkOptionKeys(action, type, options, ["clientId", "callbackIn"]);
      this.threads = undefined;
      this.#space = isolate;
    } else if (type === "thread") {
      checkOptionKeys(action, type, options, [
        "clientId",
        "callbackIn",
        "threads",
        "leaseMs",
      ]);
      this.#leaseMs = checkLeaseMs(action, rest.leaseMs);
      const threads = rest.threads;
      const table = threads instanceof ThreadLockTable
        ? threads
        : new ThreadLockTable(
          threads === undefined
            ? undefined
            : { handle: threads as ThreadLockTableHandle },
        );
      this.threads = table;
      this.#space = ownSpace((lockName) => table.get(lockName));
    } else {
      const keys = (OPTION_KEYS as Record<string, readonly string[]>)[type];
      if (keys !== undefined) {
        checkOptionKeys(action, type, options, [
          "clientId",
          "callbackIn",
          ...keys.filter((k) => k !== "name"),
        ]);
      }
      // The options are checked now, with a name a request cannot use.
      createLock(type as LockType, { ...rest, name: "-" } as never);
      this.threads = undefined;
      this.#space = ownSpace((name) =>
        createLock(type as LockType, { ...rest, name } as never)
      );
    }
  }

  /**
   * Requests a lock (spec: `request(name, callback)` and `request(name,
   * options, callback)`): calls `callback` with it, in a later task, once
   * granted; releases it when the promise `callback` returns settles, and
   * settles as that promise did. Never throws: every error rejects.
   *
   * @example Shared, exclusive, and only if free
   * ```ts
   * import { createWebLocks } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const locks = createWebLocks();
   * await locks.request("db", { mode: "shared" }, async () => {
   *   const busy = await locks.request("db", { ifAvailable: true }, (lock) => lock);
   *   assert.equal(busy, null); // an exclusive request would have to wait
   * });
   * ```
   *
   * @typeParam T What `callback` returns.
   * @param name The resource name: any string not starting with `-`.
   * @param options `mode`, `ifAvailable`, `steal`, `signal`; or the callback.
   * @param callback Called with the lock (or `null`, see `ifAvailable`).
   * @returns What `callback` returned, once the lock is released.
   */
  request<T>(
    name: string,
    callback: (lock: WebLock) => T | PromiseLike<T>,
  ): Promise<T>;
  request<T>(
    name: string,
    options: WebLockOptions & { ifAvailable?: false | undefined },
    callback: (lock: WebLock) => T | PromiseLike<T>,
  ): Promise<T>;
  request<T>(
    name: string,
    options: WebLockOptions,
    callback: (lock: WebLock | null) => T | PromiseLike<T>,
  ): Promise<T>;
  request(_name: unknown, _options: unknown): Promise<unknown> {
    if (!WebLocks.#is(this)) {
      return Promise.reject(
        new TypeError("request() must be called on a WebLocks manager"),
      );
    }
    // The common call, request(name, callback), needs no conversion.
    if (
      arguments.length === 2 && typeof _name === "string" &&
      typeof _options === "function" && _name.charCodeAt(0) !== 45 // "-"
    ) {
      return this.#request(
        _name,
        "exclusive",
        false,
        false,
        undefined,
        _options as (lock: never) => unknown,
      );
    }
    let args;
    try {
      args = convertRequest(arguments);
    } catch (error) {
      return Promise.reject(error);
    }
    const { name, mode, ifAvailable, steal, signal, callback } = args;
    const action = () => `request lock ${quote(name)}`;
    // spec: the request() method steps, in order.
    if (name.startsWith("-")) {
      return Promise.reject(
        new DOMException(
          `Cannot ${action()} as names starting with "-" are reserved`,
          "NotSupportedError",
        ),
      );
    }
    if (steal && ifAvailable) {
      return Promise.reject(
        new DOMException(
          `Cannot ${action()} as 'steal' and 'ifAvailable' cannot both be true`,
          "NotSupportedError",
        ),
      );
    }
    if (steal && mode !== "exclusive") {
      return Promise.reject(
        new DOMException(
          `Cannot ${action()} as 'steal' needs mode "exclusive": current mode is "${mode}"`,
          "NotSupportedError",
        ),
      );
    }
    if (signal !== undefined && (steal || ifAvailable)) {
      return Promise.reject(
        new DOMException(
          `Cannot ${action()} as 'signal' cannot be given with ${
            steal ? "'steal'" : "'ifAvailable'"
          }`,
          "NotSupportedError",
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return this.#request(name, mode, ifAvailable, steal, signal, callback);
  }

  /** spec: request a lock. */
  #request(
    name: string,
    mode: LockMode,
    ifAvailable: boolean,
    steal: boolean,
    signal: AbortSignal | undefined,
    callback: (lock: never) => unknown,
  ): Promise<unknown> {
    const space = this.#space;
    let entry: Entry;
    try {
      entry = space.entry(name);
    } catch (error) {
      return Promise.reject(error);
    }
    const promise = new Promise<unknown>(capture);
    const owner = space.placed
      ? undefined
      : ownerOf(this.clientId, ++this.#requests);
    const request = new Request(
      space,
      entry,
      this.clientId,
      owner,
      mode,
      steal,
      signal,
      callback as (lock: WebLock | null) => unknown,
      this.#later,
    );
    // spec: the abort algorithm is added before the request is queued.
    signal?.addEventListener("abort", request);
    const lock = entry.lock!;
    let granted: Promise<Lease | undefined>;
    if (owner === undefined) {
      // The local space: the spec's steps on the entry itself, in this call.
      if (steal) request.stealHere();
      else if (entry.pending.size === 0 && entry.free(mode)) {
        request.grantedHere();
      } else if (ifAvailable) request.granted(undefined);
      else entry.pending.add(request);
      return promise;
    } else {
      entry.pending.add(request);
      entry.owners!.set(owner, request);
      const options: AcquireOptions = { mode, owner };
      if (this.#leaseMs !== undefined) options.leaseMs = this.#leaseMs;
      if (steal) options.steal = true;
      if (signal !== undefined) options.signal = signal;
      granted = ifAvailable ? lock.tryAcquire(options) : lock.acquire(options);
    }
    granted.then(
      (lease) => request.granted(lease),
      (error) => request.failed(error),
    );
    return promise;
  }

  /**
   * Who holds and who waits (spec: snapshot the lock state): held locks in
   * grant order and pending requests in request order, per name, each with
   * its name, mode and the `clientId` of its manager. `local` covers every
   * name of the isolate; the other types every name this manager has
   * requested (one backend request per name), with every client's holders
   * and waiters for them.
   *
   * @example Seeing a holder and a waiter
   * ```ts
   * import { createWebLocks } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const locks = createWebLocks("local");
   * let release = () => {};
   * const held = locks.request("q", () => new Promise<void>((r) => (release = r)));
   * const waiting = locks.request("q", { mode: "shared" }, () => {});
   * const { held: h, pending: p } = await locks.query();
   * assert.deepEqual(h.filter((i) => i.name === "q").map((i) => i.mode), ["exclusive"]);
   * assert.deepEqual(p.filter((i) => i.name === "q").map((i) => i.clientId), [locks.clientId]);
   * await new Promise((r) => setTimeout(r, 0)); // the callback runs in a later task
   * release();
   * await Promise.all([held, waiting]);
   * ```
   *
   * @returns The snapshot.
   */
  async query(): Promise<WebLockManagerSnapshot> {
    if (!WebLocks.#is(this)) {
      throw new TypeError("query() must be called on a WebLocks manager");
    }
    const space = this.#space;
    if (space.placed) {
      // Let grants already made reach their requests first (spec: this
      // snapshot is queued behind every request made before it).
      await undefined;
      const held: WebLockInfo[] = [], pending: WebLockInfo[] = [];
      for (const entry of space.entries()) {
        for (const r of entry.held) held.push(info(entry.name, r));
        for (const r of entry.pending) pending.push(info(entry.name, r));
      }
      return { held, pending };
    }
    // The backend answers for every client. Its answer is corrected by
    // what only this manager knows: spec: a snapshot is queued behind every
    // request made before it, so a request whose first call has not reached
    // the backend yet is pending already, and one that was aborted is gone
    // although the backend may not have heard of its cancel yet.
    const entries = [...space.entries()];
    const asked = performance.now();
    const snapshots: LockSnapshot[] = await Promise.all(
      entries.map((entry) => entry.lock!.query()),
    );
    const held: WebLockInfo[] = [], pending: WebLockInfo[] = [];
    snapshots.forEach((snapshot, i) => {
      const entry = entries[i]!;
      const name = entry.name;
      const seen = new Set<string>();
      const keep = (owner: string | undefined): boolean => {
        if (owner === undefined) return true;
        seen.add(owner);
        if (entry.gone!.has(owner)) return false;
        const request = entry.owners!.get(owner);
        // Settled and never granted: aborted (or failed); released: gone.
        return request === undefined ||
          !(request.settled && !entry.held.has(request));
      };
      for (const h of snapshot.held) {
        if (keep(h.owner)) {
          held.push({ name, mode: h.mode, clientId: clientOf(h.owner) });
        }
      }
      for (const p of snapshot.pending) {
        if (keep(p.owner)) {
          pending.push({ name, mode: p.mode, clientId: clientOf(p.owner) });
        }
      }
      for (const request of entry.pending) {
        if (!seen.has(request.owner!)) pending.push(info(name, request));
      }
      for (const owner of entry.gone!) {
        if (!seen.has(owner)) entry.gone!.delete(owner);
      }
      // Granted after the backend took its snapshot (its grant overtook the
      // snapshot's reply): held, though the backend's answer predates it. A
      // request granted before this query was sent and left out was lost
      // (stolen by another client, whose steal this manager hears of at
      // its next renewal): not held.
      for (const request of entry.held) {
        if (!seen.has(request.owner!) && request.grantedAt >= asked) {
          held.push(info(name, request));
        }
      }
    });
    return { held, pending };
  }

  /** `"LockManager"`, as `navigator.locks` reports. */
  get [Symbol.toStringTag](): string {
    return "LockManager";
  }
}

function info(name: string, request: Request): WebLockInfo {
  return { name, mode: request.mode, clientId: request.clientId };
}

/**
 * Builds a Web Locks API `LockManager` (the interface of `navigator.locks`)
 * over a lock type: `"local"` (the default) shares its names with every
 * `local` manager of the isolate; `"thread"` with the worker threads given
 * its table; `"upstash"` and `"durable-object"` with every client of the
 * backend. Code written for `navigator.locks` runs unchanged on it.
 *
 * @example Porting `navigator.locks` code to a distributed lock
 * ```ts ignore
 * import { createWebLocks } from "@unilock/unilock";
 *
 * // const locks = navigator.locks;
 * const locks = createWebLocks("upstash", { redis: Redis.fromEnv() });
 * await locks.request("invoices", async (lock) => {
 *   // one holder across every client of the Redis
 * });
 * ```
 *
 * @example One isolate
 * ```ts
 * import { createWebLocks } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const locks = createWebLocks();
 * const order: number[] = [];
 * await Promise.all([1, 2, 3].map((i) =>
 *   locks.request("jobs", async () => {
 *     order.push(i);
 *     await new Promise((r) => setTimeout(r, 1));
 *   })
 * ));
 * assert.deepEqual(order, [1, 2, 3]);
 * ```
 *
 * @typeParam T The lock type.
 * @param type The lock type.
 * @param options The type's `createLock()` options but `name`, and `clientId`.
 * @returns The manager.
 * @throws {TypeError} When the type is unknown or an option is not its own or invalid.
 * @throws {RangeError} When an option is out of range.
 */
export function createWebLocks<T extends LockType = "local">(
  type?: T,
  options?: WebLocksOptionsOf<NoInfer<T>>,
): WebLocks {
  return new WebLocks(type, options as Record<string, unknown> | undefined);
}
