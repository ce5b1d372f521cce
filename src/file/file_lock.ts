// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { LockOptions } from "../core/types.ts";
import { RemoteLock } from "../remote/remote_lock.ts";
import { openFileDriver } from "./_open.ts";

/** Options for {@linkcode FileLock}. */
export interface FileLockOptions extends LockOptions {
  /**
   * The lock's name: every process that names it in the same `dir` shares
   * the lock. Required. 1 to 512 characters of well-formed Unicode; any
   * such name is safe (it is encoded into one file name inside `dir`).
   */
  name?: string;
  /**
   * The lock directory: an existing directory on a local file system that
   * every process sharing the lock can write, and no other user can
   * (`mkdir -m 700`). Each lock name gets a directory of its own inside it.
   * Required.
   */
  dir?: string;
  /**
   * The lease length when `acquire` is not given `leaseMs`; renewed every
   * third of it while held. A holder whose process died is freed at once
   * (its pid is gone); one that hangs (stopped, or its event loop blocked)
   * loses the lock this long after another process first saw its lease.
   * 100 ms to 24 days.
   *
   * @default {30000}
   */
  leaseMs?: number;
  /**
   * How long a waiter keeps its place in the queue once its process stops
   * asking (it hangs); one whose process died leaves at once. A waiting
   * process renews its place every third of it. 1 s to 1 day.
   *
   * @default {10000}
   */
  waiterTtlMs?: number;
}

/**
 * A lock shared by the processes of one host through a directory: the
 * `file` lock type, with no server. It runs on Node, Deno and Bun from one
 * source, for `cluster` workers, PM2 instances, CLI and build processes
 * sharing a cache, or servers forked per core.
 *
 * Each change of the lock is one atomic compare-and-swap on its directory
 * (a `link()` that fails when the name exists), so a process that crashes or
 * is stopped at any point never leaves the lock held or its state half
 * written. Waiters queue in FIFO order (by priority, then arrival) across
 * processes and are woken by file events (`fs.watch`), with a 50 ms poll
 * while they wait. A holder whose process dies is freed at once (its pid is
 * gone; its start time guards against a reused pid on Linux); one that hangs
 * loses the lock after `leaseMs`, and its `lease.signal` aborts when it
 * wakes. Fences strictly increase across restarts: they are kept in the
 * state and never fall below the clock in microseconds.
 *
 * Local file systems only (a network file system is refused where Linux
 * can tell). The node modules load only when a file lock is created, so
 * `mod.ts` still loads where there is no file system.
 *
 * @example Processes sharing a lock in a directory
 * ```ts
 * import { createLock } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "locks-"));
 * const lock = createLock("file", { name: "nightly-build", dir });
 * await lock.withLock(async (lease) => {
 *   assert.ok(lease.fence > 0); // write it beside the build's output
 *   assert.equal(await lock.isLocked(), true);
 * });
 * assert.equal(await lock.isLocked(), false);
 * rmSync(dir, { recursive: true });
 * ```
 */
export class FileLock extends RemoteLock {
  /**
   * Constructs a new instance. Checks the options and `dir` now, so that a
   * missing, unwritable or remote directory fails here rather than at the
   * first acquire.
   *
   * @param options Name, directory and timings.
   */
  constructor(options?: FileLockOptions) {
    const { name, driver } = openFileDriver("lock", options);
    super(driver, {
      name,
      ...(options?.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    });
  }
}
