// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

/**
 * The base class of every error that a lock raises on purpose, so that one
 * `instanceof LockError` tells lock trouble apart from a failure inside the
 * critical section.
 *
 * @example Telling lock errors apart
 * ```ts
 * import { createLock, LockError } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const lock = createLock("local");
 * const lease = await lock.acquire();
 * const error = await lock.acquire({ timeoutMs: 0 }).catch((e) => e);
 * assert.ok(error instanceof LockError);
 * await lease.release();
 * ```
 */
export class LockError extends Error {
  /** The name of the lock this error is about. */
  readonly lockName: string;

  /**
   * Constructs a new instance.
   *
   * @param message The error message.
   * @param lockName The name of the lock the error is about.
   * @param options The `cause`, when another error led to this one.
   */
  constructor(message: string, lockName: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LockError";
    this.lockName = lockName;
  }
}

/**
 * Raised when `timeoutMs` passes before the lock could be acquired. Its `name`
 * is `"TimeoutError"`, the same as the `DOMException` that
 * `AbortSignal.timeout()` raises, so one `error.name === "TimeoutError"` check
 * catches both.
 *
 * @example Catching a timeout
 * ```ts
 * import { createLock, LockTimeoutError } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const lock = createLock("local", { name: "reports" });
 * const lease = await lock.acquire();
 * const error = await lock.acquire({ timeoutMs: 10 }).catch((e) => e);
 * assert.ok(error instanceof LockTimeoutError);
 * assert.equal(error.name, "TimeoutError");
 * assert.equal(error.timeoutMs, 10);
 * await lease.release();
 * ```
 */
export class LockTimeoutError extends LockError {
  /** How long the caller was willing to wait, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Constructs a new instance.
   *
   * @param lockName The name of the lock that was not acquired in time.
   * @param timeoutMs How long the caller waited, in milliseconds.
   */
  constructor(lockName: string, timeoutMs: number) {
    super(
      `Cannot acquire lock "${lockName}": timed out after ${timeoutMs}ms`,
      lockName,
    );
    this.name = "TimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The reason `lease.signal` aborts with when a lease is lost: it expired, or
 * the backend no longer knows this holder. Work guarded by a lost lease must
 * stop, and writes must carry the lease's fence so that storage can refuse a
 * stale holder.
 *
 * @example Checking why a lease ended
 * ```ts
 * import { LockLostError } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const error = new LockLostError("jobs", "lease expired");
 * assert.equal(error.message, 'Lock "jobs" was lost: lease expired');
 * ```
 */
export class LockLostError extends LockError {
  /**
   * Constructs a new instance.
   *
   * @param lockName The name of the lock whose lease was lost.
   * @param detail Why the lease was lost.
   * @param options The `cause`, when a backend error led to the loss.
   */
  constructor(lockName: string, detail: string, options?: ErrorOptions) {
    super(`Lock "${lockName}" was lost: ${detail}`, lockName, options);
    this.name = "LockLostError";
  }
}

/**
 * Raised by `lease.extend()` once the lease has been released: a released
 * lease cannot be brought back, acquire the lock again instead.
 *
 * @example Extending after release
 * ```ts
 * import { createLock, LockReleasedError } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const lease = await createLock("local").acquire();
 * await lease.release();
 * await assert.rejects(lease.extend(), LockReleasedError);
 * ```
 */
export class LockReleasedError extends LockError {
  /**
   * Constructs a new instance.
   *
   * @param lockName The name of the lock whose lease was already released.
   * @param operation What was attempted on the released lease.
   */
  constructor(lockName: string, operation: string) {
    super(
      `Cannot ${operation} lock "${lockName}": the lease was already released`,
      lockName,
    );
    this.name = "LockReleasedError";
  }
}

/**
 * Raised when a backend cannot be reached or answers something unexpected.
 * The original failure is in `cause`. A backend error never means the lock
 * was granted.
 *
 * @example Wrapping a transport failure
 * ```ts
 * import { LockBackendError } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const cause = new Error("ECONNREFUSED");
 * const error = new LockBackendError("jobs", "redis unreachable", { cause });
 * assert.equal(error.cause, cause);
 * ```
 */
export class LockBackendError extends LockError {
  /**
   * Constructs a new instance.
   *
   * @param lockName The name of the lock the failed call was for.
   * @param detail What went wrong.
   * @param options The underlying error, as `cause`.
   */
  constructor(lockName: string, detail: string, options?: ErrorOptions) {
    super(`Lock "${lockName}" backend failed: ${detail}`, lockName, options);
    this.name = "LockBackendError";
  }
}

/** One edge of a wait-for cycle: `owner` waits for `lockName`, held by `holder`. */
export interface DeadlockEdge {
  /** The owner label that waits. */
  readonly owner: string;
  /** The lock it waits for. */
  readonly lockName: string;
  /** The owner label that holds that lock. */
  readonly holder: string;
}

/**
 * Raised instead of waiting when an acquisition with an `owner` label would
 * close a cycle of owners each waiting for a lock the next one holds: none
 * of them could ever go on. Only the acquisition that would close the cycle
 * is rejected; the others keep waiting, and go on once the rejected owner
 * gives up what it holds. `cycle` starts with the rejected request. An owner
 * asking again for a lock it holds (and cannot share) is a cycle of one.
 *
 * @example Two owners taking two locks in opposite orders
 * ```ts
 * import { LockDeadlockError, LockManager } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const manager = new LockManager();
 * const x = manager.getOrCreateLock("x");
 * const y = manager.getOrCreateLock("y");
 * const a = await x.acquire({ owner: "A" });
 * const b = await y.acquire({ owner: "B" });
 * const aWaits = y.acquire({ owner: "A" }); // A waits for B
 * const error = await x.acquire({ owner: "B" }).catch((e) => e);
 * assert.ok(error instanceof LockDeadlockError);
 * assert.equal(
 *   error.message,
 *   'Cannot acquire lock "x": deadlock: owner B waits for "x" held by A, A waits for "y" held by B',
 * );
 * await b.release(); // B gives up, so A goes on
 * await (await aWaits).release();
 * await a.release();
 * ```
 */
export class LockDeadlockError extends LockError {
  /** The cycle, starting with the rejected request. */
  readonly cycle: readonly DeadlockEdge[];

  /**
   * Constructs a new instance.
   *
   * @param cycle The wait-for cycle, starting with the rejected request.
   */
  constructor(cycle: readonly DeadlockEdge[]) {
    const first = cycle[0]!;
    const steps = cycle.map((edge, i) =>
      `${
        i === 0 ? "owner " : ""
      }${edge.owner} waits for "${edge.lockName}" held by ${edge.holder}`
    );
    super(
      `Cannot acquire lock "${first.lockName}": deadlock: ${steps.join(", ")}`,
      first.lockName,
    );
    this.name = "LockDeadlockError";
    this.cycle = cycle;
  }
}

/**
 * Raised by a semaphore when `timeoutMs` passes before its permits could be
 * acquired: a {@linkcode LockTimeoutError} whose message speaks of the
 * semaphore.
 *
 * @example Catching a semaphore's timeout
 * ```ts
 * import { createSemaphore, SemaphoreTimeoutError } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const sem = createSemaphore("local", { name: "exports", permits: 1 });
 * const lease = await sem.acquire();
 * const error = await sem.acquire({ timeoutMs: 10 }).catch((e) => e);
 * assert.ok(error instanceof SemaphoreTimeoutError);
 * assert.equal(error.message, 'Cannot acquire semaphore "exports": timed out after 10ms');
 * await lease.release();
 * ```
 */
export class SemaphoreTimeoutError extends LockTimeoutError {
  /**
   * Constructs a new instance.
   *
   * @param semaphoreName The name of the semaphore whose permits were not
   * acquired in time.
   * @param timeoutMs How long the caller waited, in milliseconds.
   */
  constructor(semaphoreName: string, timeoutMs: number) {
    super(semaphoreName, timeoutMs);
    this.message =
      `Cannot acquire semaphore "${semaphoreName}": timed out after ${timeoutMs}ms`;
  }
}
