// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal What the `file` lock needs of its runtime: the file system, a
 * hash and paths (`node:fs`, `node:crypto`, `node:path`, which Node, Deno and
 * Bun all have), and who this process is, so that other processes can tell
 * whether it still lives.
 *
 * The modules come from `process.getBuiltinModule()` (Node 20.16, Deno 2,
 * Bun 1.1), synchronously and only when a file lock is created: nothing here
 * imports `node:*`, so `mod.ts` still loads in browsers and workerd (whose
 * bundlers would try to resolve even a dynamic `import("node:fs")`).
 *
 * A process is named by its host, its kernel's boot, its pid namespace, its
 * pid and its start time. Another process can judge it only on the same
 * host, boot and pid namespace (elsewhere a pid means nothing); on Linux it
 * reads `/proc/<pid>/stat`, whose start time (field 22, clock ticks since
 * boot) tells a reused pid from the process that had it. Without `/proc`
 * (macOS, Windows) it asks `process.kill(pid, 0)`, which cannot tell a
 * reused pid: a dead holder whose pid was reused looks alive, and is freed by
 * its lease running out instead (later, never wrongly).
 */

/** The parts of `node:fs` the lock uses (declared here: no `node:*` types). */
export interface Fs {
  readdirSync(path: string): string[];
  readFileSync(path: string, encoding: "utf8"): string;
  writeFileSync(fd: number, data: string): void;
  openSync(path: string, flags: string, mode?: number): number;
  closeSync(fd: number): void;
  linkSync(existing: string, path: string): void;
  unlinkSync(path: string): void;
  mkdirSync(path: string, options: { mode: number }): unknown;
  lstatSync(path: string): FsStats;
  statSync(path: string): FsStats;
  readlinkSync(path: string): string;
  statfsSync?(path: string): { type: number | bigint };
  watch(
    path: string,
    listener: (event: string, filename: string | null) => void,
  ): FsWatcher;
}

/** The parts of `fs.Stats` the lock uses. */
export interface FsStats {
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  mode: number;
  uid: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** The parts of `fs.FSWatcher` the lock uses. */
export interface FsWatcher {
  close(): void;
  on(event: "error", listener: (error: unknown) => void): unknown;
  unref?(): unknown;
}

interface Path {
  resolve(...paths: string[]): string;
  join(...paths: string[]): string;
}

interface Crypto {
  createHash(algorithm: string): {
    update(data: string): { digest(encoding: "hex"): string };
  };
}

interface Os {
  hostname(): string;
}

interface ProcessLike {
  pid?: number;
  platform?: string;
  getuid?: () => number;
  kill?: (pid: number, signal: number) => unknown;
  getBuiltinModule?: (id: string) => unknown;
}

/** The runtime's modules and this process's identity. */
export interface System {
  readonly fs: Fs;
  readonly path: Path;
  readonly sha256: (text: string) => string;
  readonly platform: string;
  /** The user id, where the platform has one (not on Windows). */
  readonly uid: number | undefined;
  /** This process. */
  readonly self: Identity;
  /** Whether `/proc` answers for other processes (Linux). */
  readonly procfs: boolean;
  /** Whether the runtime is Deno (whose watchers cannot be unref'd). */
  readonly deno: boolean;
  /** Whether process `pid` of this host, boot and pid namespace lives. */
  alive(pid: number, start: number): boolean | undefined;
}

/** Who a process is, as its lock entries record it. */
export interface Identity {
  /** The host name ("" when unknown: then nobody judges the process). */
  readonly host: string;
  /** The kernel's boot id (Linux), "" elsewhere. */
  readonly boot: string;
  /** The pid namespace (Linux), "" elsewhere. */
  readonly ns: string;
  readonly pid: number;
  /** Its start time in clock ticks since boot (Linux), 0 elsewhere. */
  readonly start: number;
}

let system: System | undefined;

function processObject(): ProcessLike | undefined {
  return (globalThis as { process?: ProcessLike }).process;
}

/** The `process.getBuiltinModule` of this runtime, if it has one. */
export function builtins(): ((id: string) => unknown) | undefined {
  const p = processObject();
  return typeof p?.getBuiltinModule === "function"
    ? p.getBuiltinModule.bind(p)
    : undefined;
}

/** The fields of a `/proc/<pid>/stat` after the command (from field 3 on). */
function statFields(text: string): string[] | undefined {
  // The command (field 2) may hold spaces and parentheses: it ends at the last ')'.
  const close = text.lastIndexOf(")");
  return close === -1 ? undefined : text.slice(close + 2).split(" ");
}

function attempt<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

/**
 * The runtime's modules and this process's identity, made once; throws a
 * `TypeError` where the runtime has no `node:fs`.
 */
export function getSystem(action: string): System {
  if (system !== undefined) return system;
  // workerd has a node:fs of its own, in memory and per isolate: a lock
  // there would exclude nothing.
  if (
    (globalThis as { navigator?: { userAgent?: string } }).navigator
      ?.userAgent === "Cloudflare-Workers"
  ) {
    throw new TypeError(
      `Cannot ${action} in a Cloudflare Worker: its file system is the isolate's own; use the durable-object lock type`,
    );
  }
  const load = builtins();
  const p = processObject();
  const fs = load?.("node:fs") as Fs | undefined;
  const path = load?.("node:path") as Path | undefined;
  const crypto = load?.("node:crypto") as Crypto | undefined;
  if (fs === undefined || path === undefined || crypto === undefined) {
    throw new TypeError(
      `Cannot ${action} as this runtime has no file system (process.getBuiltinModule("node:fs")): file locks run on Node 20.16 or later, Deno 2 and Bun, for processes on one host`,
    );
  }
  const platform = p?.platform ?? "unknown";
  const pid = p?.pid ?? 0;
  const read = (file: string) =>
    attempt(() => fs.readFileSync(file, "utf8"), "");
  const own = platform === "linux"
    ? statFields(read("/proc/self/stat"))
    : undefined;
  const procfs = own !== undefined && own.length > 19;
  const start = procfs ? Number(own![19]) : 0;
  const host = (procfs ? read("/proc/sys/kernel/hostname").trim() : "") ||
    attempt(() => (load!("node:os") as Os).hostname(), "");
  const self: Identity = {
    host,
    boot: procfs ? read("/proc/sys/kernel/random/boot_id").trim() : "",
    ns: procfs ? attempt(() => fs.readlinkSync("/proc/self/ns/pid"), "") : "",
    pid,
    start: Number.isSafeInteger(start) ? start : 0,
  };
  // The effective uid, from /proc where it is (Deno asks --allow-sys for
  // process.getuid()).
  const status = procfs
    ? /^Uid:\s+\d+\s+(\d+)/m.exec(read("/proc/self/status"))
    : null;
  const uid = status !== null
    ? Number(status[1])
    : attempt(() => p?.getuid?.(), undefined);
  const alive = (other: number, otherStart: number): boolean | undefined => {
    // Our own pid: this process, unless an earlier one had it.
    if (other === pid) return otherStart === 0 || otherStart === self.start;
    if (procfs) {
      let text: string;
      try {
        text = fs.readFileSync(`/proc/${other}/stat`, "utf8");
      } catch (error) {
        return (error as { code?: string }).code === "ENOENT"
          ? false
          : undefined;
      }
      const fields = statFields(text);
      if (fields === undefined || fields.length <= 19) return undefined;
      // A zombie has exited: only its parent has yet to reap it.
      if (fields[0] === "Z" || fields[0] === "X") return false;
      return otherStart === 0 || Number(fields[19]) === otherStart;
    }
    try {
      p?.kill?.(other, 0);
      return true;
    } catch (error) {
      const code = (error as { code?: string }).code;
      return code === "ESRCH" ? false : code === "EPERM" ? true : undefined;
    }
  };
  return system = {
    fs,
    path,
    sha256: (text) => crypto.createHash("sha256").update(text).digest("hex"),
    platform,
    uid: typeof uid === "number" ? uid : undefined,
    self,
    procfs,
    deno: typeof (globalThis as { Deno?: unknown }).Deno === "object",
    alive,
  };
}

/**
 * Whether the process `entry` names is alive: `true`, `false` (it exited, or
 * its pid now names another process, or it ran in an earlier boot of this
 * host), or `undefined` when this process cannot tell (another host, another
 * pid namespace, or no way to ask): then only its lease can free its place.
 */
export function liveness(sys: System, entry: Identity): boolean | undefined {
  const me = sys.self;
  if (me.host === "" || entry.host !== me.host) return undefined;
  if (me.boot !== "" && entry.boot !== "" && entry.boot !== me.boot) {
    return false;
  }
  if (entry.boot !== me.boot || entry.ns !== me.ns) return undefined;
  if (!(entry.pid > 0)) return undefined;
  return sys.alive(entry.pid, entry.start);
}
