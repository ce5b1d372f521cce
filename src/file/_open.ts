// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal What a file lock and a file semaphore check of their options
 * before they exist: the name, `waiterTtlMs`, and `dir` (it exists, is
 * writable here and by nobody else, and is on a local file system as far
 * as the platform can tell); then the driver of the name's directory.
 */

import { checkOptions, show } from "../core/_validate.ts";
import type { RemoteDriver } from "../remote/driver.ts";
import { requireName } from "../remote/remote_lock.ts";
import { fileDriver } from "./_driver.ts";
import { hasLoneSurrogate, lockDirName } from "./_names.ts";
import { getSystem, type System } from "./_system.ts";

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

/** The options both file types check here. */
interface FileOptions {
  name?: string;
  dir?: string;
  waiterTtlMs?: number;
}

/**
 * Checks a file lock's or semaphore's options and `dir` now; the driver of
 * the name's directory in `dir`.
 */
export function openFileDriver(
  kind: "lock" | "semaphore",
  options: FileOptions | undefined,
): { name: string; driver: RemoteDriver } {
  const action = `create file ${kind}`;
  checkOptions(action, options);
  const { name, dir, waiterTtlMs = 10_000 } = options ?? {};
  const checked = requireName("file", name, kind);
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
  return {
    name: checked,
    driver: fileDriver({
      name: checked,
      dir: resolved,
      entry,
      path: sys.path.join(resolved, entry),
      waiterTtlMs,
      sys,
    }),
  };
}
