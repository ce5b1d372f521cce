// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { LockOptions } from "../core/types.ts";
import { checkOptions, show } from "../core/_validate.ts";
import { RemoteLock, requireName } from "../remote/remote_lock.ts";
import { fileDriver } from "./_driver.ts";
import { hasLoneSurrogate, lockDirName } from "./_names.ts";
import { getSystem, type System } from "./_system.ts";

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

/** Linux `statfs` magic numbers of file systems the lock refuses. */
const REMOTE_FILE_SYSTEMS = new Map<number, string>([
  [0x6969, "NFS"],
  [0x517b, "SMB"],
  [0xff534d42, "CIFS"],
  [0xfe534d42, "SMB2"],
  [0x73757245, "Coda"],
  [0x5346414f, "AFS"],
  [0x6b414653, "AFS"],
  [0x00c36400, "Ceph"],
  [0x01021997, "9P"],
  [0x65735546, "FUSE"],
  [0x564c, "NCP"],
  [0x01161970, "GFS2"],
  [0x7461636f, "OCFS2"],
  [0x0bd00bd0, "Lustre"],
  [0x786f4256, "VirtualBox shared folder"],
  [0x20030528, "OrangeFS"],
]);

/** Directories this process has written a probe file to. */
const probed = new Set<string>();

/**
 * Checks `dir` now: it exists, is a directory this process can write, no
 * other user can (unless the sticky bit protects what is in it), and is on
 * a local file system as far as the platform can tell.
 */
function checkDir(action: string, sys: System, dir: unknown): string {
  if (typeof dir !== "string" || dir.length === 0 || dir.includes("\0")) {
    throw new TypeError(
      `Cannot ${action} as 'dir' must be the path of an existing directory: current value is ${
        show(dir)
      }`,
    );
  }
  const resolved = sys.path.resolve(dir);
  const { fs } = sys;
  const refuse = (why: string, cause?: unknown): never => {
    throw new TypeError(
      `Cannot ${action} as 'dir' ${why}: current value is ${show(dir)}`,
      cause === undefined ? undefined : { cause },
    );
  };
  if (sys.platform === "win32" && /^[\\/]{2}/.test(resolved)) {
    refuse(
      "is a network share (a UNC path): file locks need a local file system",
    );
  }
  let stats;
  try {
    stats = fs.statSync(resolved);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") {
      refuse(
        `does not exist (create it first, readable and writable only by the processes' user: mkdir -m 700 ${resolved})`,
        error,
      );
    }
    if (code === "ENOTDIR") {
      refuse("has a file where a directory should be", error);
    }
    refuse(denied(error, resolved), error);
  }
  if (!stats!.isDirectory()) refuse("is not a directory");
  if (!probed.has(resolved)) {
    // A file made and removed, once per directory and process: the one
    // honest test of writing (ACLs, read-only mounts, Deno's permissions).
    const probe = sys.path.join(
      resolved,
      `.unilock-probe-${sys.self.pid}-${Math.random().toString(36).slice(2)}`,
    );
    try {
      fs.closeSync(fs.openSync(probe, "wx", 0o600));
    } catch (error) {
      refuse(
        `is not writable by this process (${denied(error, resolved)})`,
        error,
      );
    }
    try {
      fs.unlinkSync(probe);
    } catch { /* it was made: writable; removed by whoever can */ }
    probed.add(resolved);
  }
  if (
    sys.uid !== undefined && (stats!.mode & 0o022) !== 0 &&
    (stats!.mode & 0o1000) === 0
  ) {
    refuse(
      `is writable by other users (mode ${
        (stats!.mode & 0o777).toString(8)
      }) without the sticky bit: another user could replace a lock's files and take or steal it; use a directory made with mkdir -m 700`,
    );
  }
  if (sys.platform === "linux" && sys.fs.statfsSync !== undefined) {
    let type: number | undefined;
    try {
      type = Number(sys.fs.statfsSync(resolved).type);
    } catch { /* no statfs: nothing to detect */ }
    const remote = type === undefined
      ? undefined
      : REMOTE_FILE_SYSTEMS.get(type >>> 0);
    if (remote !== undefined) {
      refuse(
        `is on a ${remote} file system: file locks need a local file system, whose link(), rename() and directory listings are atomic and whose changes every process sees at once (a network file system may cache listings, lose a reply to link(), and cannot tell whether a process on another host lives)`,
      );
    }
  }
  return resolved;
}

function denied(error: unknown, dir: string): string {
  const e = error as { code?: string; name?: string; message?: string };
  if (e?.name === "NotCapable" || e?.name === "PermissionDenied") {
    return `Deno refused access; run with --allow-read=${dir} --allow-write=${dir}`;
  }
  return e?.message ?? String(error);
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
    const action = "create file lock";
    checkOptions(action, options);
    const { name, dir, leaseMs, waiterTtlMs = 10_000 } = options ?? {};
    const checked = requireName("file", name);
    if (hasLoneSurrogate(checked)) {
      throw new RangeError(
        `Cannot ${action} as 'name' must be well-formed Unicode (no lone surrogate): current value is ${
          show(checked)
        }`,
      );
    }
    if (
      typeof waiterTtlMs !== "number" ||
      !(waiterTtlMs >= 1_000 && waiterTtlMs <= 86_400_000)
    ) {
      throw new RangeError(
        `Cannot ${action} as 'waiterTtlMs' must be a number from 1000 to 86400000: current value is ${
          show(waiterTtlMs)
        }`,
      );
    }
    const sys = getSystem(action);
    const resolved = checkDir(action, sys, dir);
    const entry = lockDirName(checked, sys.sha256);
    super(
      fileDriver({
        name: checked,
        dir: resolved,
        entry,
        path: sys.path.join(resolved, entry),
        waiterTtlMs,
        sys,
      }),
      {
        name: checked,
        ...(leaseMs === undefined ? {} : { leaseMs }),
      },
    );
  }
}
