// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal What `RemoteSemaphore` reaches of `RemoteLock`'s private state:
 * a semaphore is a remote lock whose every request carries its permits and
 * its capacity, so it has the core's one life cycle (deadlines, uncertain
 * outcomes, wake-ups, leases, renewal, release retries, recording) rather
 * than a second copy. Filled in by `RemoteLock`'s static block.
 */

import type { Lease } from "../core/types.ts";
import type { Recorder } from "../core/_recorder.ts";
import type { CheckedSemaphoreOptions } from "../core/_validate.ts";
import type { RemoteDriver, RemoteStatus } from "./driver.ts";
import type { RemoteLock, RemoteLockOptions } from "./remote_lock.ts";

export const remoteInternals: {
  /** A remote lock whose requests take permits of `capacity`. */
  create: (
    driver: RemoteDriver,
    options: RemoteLockOptions,
    capacity: number,
    refusal: (theirs: number) => Error,
  ) => RemoteLock;
  /** Acquires `checked.permits`, in line across all clients. */
  acquire: (
    lock: RemoteLock,
    checked: CheckedSemaphoreOptions,
  ) => Promise<Lease>;
  /** Only if free now; undefined when busy. */
  tryAcquire: (
    lock: RemoteLock,
    checked: CheckedSemaphoreOptions,
  ) => Promise<Lease | undefined>;
  /** The server's `status`, with its retries and deadline. */
  status: (lock: RemoteLock) => Promise<RemoteStatus>;
  /** The lock's recorder. */
  recorder: (lock: RemoteLock) => Recorder;
} = {} as never;
