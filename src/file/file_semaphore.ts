// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { SemaphoreOptions } from "../core/types.ts";
import { RemoteSemaphore } from "../remote/remote_semaphore.ts";
import { openFileDriver } from "./_open.ts";
import type { FileLockOptions } from "./file_lock.ts";

/** Options for {@linkcode FileSemaphore}: a file lock's, plus `permits`. */
export interface FileSemaphoreOptions
  extends FileLockOptions, SemaphoreOptions {}

/**
 * A counting semaphore shared by the processes of one host through a
 * directory: the `file` semaphore type, with no server. The same state
 * file as the `file` lock of its name, whose one compare-and-swap admits
 * the head of the queue while the permits held plus its own fit the
 * capacity (nobody behind the head goes first, so a weighted request is
 * never passed by lighter ones). Every process of a name must give the same
 * `permits`; one that disagrees with the name's live holders and waiters is
 * refused with a `RangeError`, and the capacity changes once nobody holds
 * or waits. Leases are the lock's: renewed while held, freed at once when
 * their process dies, lost after `leaseMs` when it hangs.
 *
 * @example At most two builds at once on this machine
 * ```ts
 * import { createSemaphore } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "locks-"));
 * const builds = createSemaphore("file", { name: "builds", permits: 2, dir });
 * const lease = await builds.acquire();
 * assert.equal(await builds.available(), 1);
 * await lease.release();
 * assert.equal(await builds.available(), 2);
 * rmSync(dir, { recursive: true });
 * ```
 */
export class FileSemaphore extends RemoteSemaphore {
  /**
   * Constructs a new instance. Checks the options and `dir` now, as a file
   * lock does.
   *
   * @param options Name, capacity (`permits`), directory and timings.
   */
  constructor(options: FileSemaphoreOptions) {
    const { name, driver } = openFileDriver("semaphore", options);
    super(driver, {
      name,
      permits: options.permits,
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    });
  }
}
