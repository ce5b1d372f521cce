// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal A lock's state on disk, changed atomically by the file system's
 * own guarantees, with no lock file and nothing to wait out.
 *
 * The lock's directory holds numbered, immutable state files `v<N>`; the
 * highest number is the state. Beside them, `pending/` holds the changes in
 * flight. A change is a compare-and-swap:
 *
 * 1. read the highest state file, `v<N>` (the newest this process knows,
 *    else the highest a listing shows);
 * 2. write the new state to `pending/t<N>.<process>.<random>`, created with
 *    `O_CREAT|O_EXCL` under a name of its own: it also says "a change based
 *    on N is in flight";
 * 3. list the lock's directory: if the highest is no longer N, start over;
 * 4. `link()` the pending file to `v<N+1>`. `link` fails with `EEXIST` when
 *    the name exists, atomically, so of all the changes based on N exactly
 *    one succeeds; the others start over on the new state. The new name
 *    appears with its whole content (written and closed before the link), so
 *    no reader ever sees half a state: a crash before the link leaves only a
 *    pending file, which no reader reads.
 *
 * Old state files are removed (keeping the two below the highest), except
 * `v<N+1>` while a `pending/t<N>` file exists: that is what makes a change
 * whose process was stopped between steps 1 and 4 safe when it resumes. Its
 * link to `v<N+1>` either fails (the name exists), or succeeds because no
 * change was made since it read N (then its state is the truth), or — were
 * `v<N+1>` already gone — would make a file below the highest that readers
 * ignore, while it believed itself committed. Step 3 closes that last case.
 * A remover lists the lock's directory, then `pending/`, and removes
 * `v<N+1>` only if the first listing has it and the second has no `t<N>`.
 * If the first has it, `v<N+1>` was made before that listing, hence after
 * the stopped change's step 3 (which saw N as the highest), hence after its
 * `t<N>` was made; that file lasts until after the link, so it is in
 * `pending/` for the whole of the second listing, and a listing returns
 * every entry that exists all the while it runs (POSIX `readdir`). The
 * highest file is never removed (files are removed only below the highest a
 * listing saw), and numbers only grow.
 *
 * Stopped processes therefore never hold anything up, and no step needs a
 * clock: no lock file has to be judged stale. Pending files of processes
 * known to be dead are removed; an unreadable highest file (a machine that
 * crashed mid-write, since nothing is fsynced) is read past to the newest
 * readable one, whose fence counter is raised by one for each file read
 * past (a change grants at most one fence), so fences still rise. Changes
 * in flight live in their own directory so that a watcher of the lock's
 * directory hears one event per change (the new state file), not six.
 */

import { liveness, type System } from "./_system.ts";
import {
  copyState,
  emptyState,
  formatState,
  parseState,
  type State,
} from "./_state.ts";

/** A failure of the lock directory, with whether trying again can help. */
export class FileFault extends Error {
  /** Whether the same call may succeed if repeated. */
  readonly retryable: boolean;
  /** The file system's error code, if any. */
  readonly code: string | undefined;

  constructor(message: string, retryable: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "FileFault";
    this.retryable = retryable;
    this.code = (cause as { code?: string } | undefined)?.code;
  }
}

/** File system errors that a moment later may not recur. */
const TRANSIENT = new Set([
  "EAGAIN",
  "EBUSY",
  "EINTR",
  "EMFILE",
  "ENFILE",
  "ENOSPC",
  "EIO",
]);

/** Changes based on one state that may race before one gives up for now. */
const MAX_ATTEMPTS = 64;
/**
 * How long the attempts of one change or read may run before it gives the
 * event loop back (with a retryable fault the core repeats after a pause,
 * within the caller's deadline): the attempts run synchronously, so on a
 * file system that stalls (a saturated disk's journal) 64 of them would
 * keep every timer of the process — `timeoutMs`, `signal`, renewals of
 * other leases — waiting for them all.
 */
const ATTEMPTS_MS = 100;
/** How often at most the temporary files of dead processes are looked for. */
const SWEEP_MS = 1_000;

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

/** A state read from the directory. */
export interface Snapshot {
  /** The highest file's number (0: none yet). */
  readonly version: number;
  /** The newest readable state (empty when none is). */
  readonly state: State;
}

/** What a change function returns: its result, and whether it changed the state. */
export interface Change<R> {
  readonly result: R;
  readonly changed: boolean;
}

const VERSION = /^v([1-9][0-9]{0,14})$/;
/** The highest state number that `VERSION` reads. */
const MAX_VERSION = 999_999_999_999_999;
/** Old state files are removed once this many have gathered. */
const COLLECT_AT = 4;
const TEMP =
  /^t([0-9]{1,15})\.([0-9a-f]{8})\.([0-9a-f]{8})\.([0-9a-f]{8})\.([0-9]{1,10})\.([0-9]{1,15})\.[0-9a-z]+$/;

interface Listing {
  max: number;
  versions: number[];
}

/** One lock's state directory. */
export class StateStore {
  readonly #sys: System;
  /** The lock's directory. */
  readonly path: string;
  /** Its changes in flight. */
  readonly #pending: string;
  /** Its parent: the user's `dir`. */
  readonly #parent: string;
  #ready = false;
  #tag: string;
  #tags: { host: string; boot: string; ns: string };
  #lastSweep = -Infinity;
  /** The highest state file this process knows exists. */
  #latest = 0;
  /**
   * The state of one state file, parsed (they never change), and which file
   * it was: a lock directory removed and made again numbers its files from
   * v1 anew, so a number alone does not name the same state.
   */
  #cached: { version: number; state: State; file: string } | undefined;

  constructor(sys: System, parent: string, name: string) {
    this.#sys = sys;
    this.#parent = parent;
    this.path = sys.path.join(parent, name);
    this.#pending = sys.path.join(this.path, "pending");
    const { host, boot, ns, pid, start } = sys.self;
    const h = (s: string) => s === "" ? "00000000" : sys.sha256(s).slice(0, 8);
    this.#tags = { host: h(host), boot: h(boot), ns: h(ns) };
    this.#tag =
      `${this.#tags.host}.${this.#tags.boot}.${this.#tags.ns}.${pid}.${start}`;
  }

  /** Makes the lock's directory (mode 0700) and checks that it is ours. */
  #prepare(): void {
    if (this.#ready) return;
    const fs = this.#sys.fs;
    try {
      fs.mkdirSync(this.path, { mode: 0o700 });
    } catch (error) {
      const code = codeOf(error);
      if (code !== "EEXIST") {
        throw code === "ENOENT"
          ? new FileFault(
            `the lock directory ${this.#parent} no longer exists`,
            false,
            error,
          )
          : fault(`cannot create ${this.path}`, error);
      }
    }
    let stats;
    try {
      stats = fs.lstatSync(this.path);
    } catch (error) {
      throw fault(`cannot inspect ${this.path}`, error);
    }
    if (stats.isSymbolicLink() || !stats.isDirectory()) {
      throw new FileFault(
        `${this.path} is not a directory of this lock (a symbolic link or a file is in its place): remove it`,
        false,
      );
    }
    const uid = this.#sys.uid;
    if (uid !== undefined && stats.uid !== uid) {
      throw new FileFault(
        `${this.path} belongs to user ${stats.uid}, not to this process's user ${uid}: another user could take or steal this lock`,
        false,
      );
    }
    if (uid !== undefined && (stats.mode & 0o022) !== 0) {
      throw new FileFault(
        `${this.path} is writable by other users (mode ${
          (stats.mode & 0o777).toString(8)
        }): another user could take or steal this lock; make it 0700`,
        false,
      );
    }
    try {
      fs.mkdirSync(this.#pending, { mode: 0o700 });
    } catch (error) {
      if (codeOf(error) !== "EEXIST") {
        throw fault(`cannot create ${this.#pending}`, error);
      }
      // Inside a directory only this user can write: only it could have
      // put something else there.
      if (!fs.lstatSync(this.#pending).isDirectory()) {
        throw new FileFault(
          `${this.#pending} is not a directory: remove it`,
          false,
        );
      }
    }
    this.#ready = true;
  }

  /**
   * The lock's directory was removed under us: made again (its fences go on
   * from the clock), or the error that `dir` itself is gone.
   */
  #vanished(): void {
    this.#ready = false;
    this.#latest = 0;
    this.#cached = undefined;
    this.#prepare();
  }

  /**
   * Which file `path` is now (inode, size, modification time), or undefined
   * when it is gone. A state file never changes, so the same answer means
   * the same content; another means it was removed and another made.
   */
  #fileId(path: string): string | undefined {
    try {
      const s = this.#sys.fs.lstatSync(path);
      return `${s.ino}/${s.size}/${s.mtimeMs}`;
    } catch (error) {
      if (codeOf(error) === "ENOENT") return undefined;
      throw fault(`cannot inspect ${path}`, error);
    }
  }

  /** The cached state, if it is of `version` and still that file's. */
  #fromCache(version: number): State | undefined {
    const cached = this.#cached;
    if (cached?.version !== version) return undefined;
    if (this.#fileId(`${this.path}/v${version}`) !== cached.file) {
      this.#cached = undefined;
      return undefined;
    }
    return copyState(cached.state);
  }

  #list(): Listing {
    let names: string[];
    try {
      names = this.#sys.fs.readdirSync(this.path);
    } catch (error) {
      if (codeOf(error) === "ENOENT" && this.#ready) {
        this.#vanished();
        return this.#list();
      }
      throw fault(`cannot list ${this.path}`, error);
    }
    const listing: Listing = { max: 0, versions: [] };
    for (const name of names) {
      const v = VERSION.exec(name);
      if (v === null) continue;
      const n = Number(v[1]);
      listing.versions.push(n);
      if (n > listing.max) listing.max = n;
    }
    if (listing.max < this.#latest) {
      // The highest never goes down: the directory was made anew (removed
      // by someone else), and what this process knew of it is void.
      this.#latest = 0;
      this.#cached = undefined;
    }
    return listing;
  }

  /** The newest readable state of a listing, or undefined to list again. */
  #load(listing: Listing): State | undefined {
    const versions = [...listing.versions].sort((a, b) => b - a);
    for (const v of versions) {
      const cached = this.#fromCache(v);
      if (cached !== undefined) {
        cached.fence += listing.max - v;
        return cached;
      }
      // Which file this is, taken before it is read: if another replaces it
      // in between, the next look finds another file and reads it again.
      const file = this.#fileId(`${this.path}/v${v}`);
      if (file === undefined) return undefined;
      let text: string;
      try {
        text = this.#sys.fs.readFileSync(`${this.path}/v${v}`, "utf8");
      } catch (error) {
        // Removed since the listing: a newer state exists; list again
        // (reading past it could find a far older file that a change in
        // flight keeps).
        if (codeOf(error) === "ENOENT") return undefined;
        throw fault(`cannot read ${this.path}/v${v}`, error);
      }
      const state = parseState(text);
      if (state === undefined) continue;
      if (v === listing.max) {
        this.#cached = { version: v, state: copyState(state), file };
      }
      // Each unreadable newer file may have granted one fence more.
      state.fence += listing.max - v;
      return state;
    }
    return emptyState();
  }

  /** The highest state file this process knows exists. */
  get latest(): number {
    return this.#latest;
  }

  #saw(version: number): void {
    if (version > this.#latest) this.#latest = version;
  }

  /**
   * Notes that state file `v<version>` exists (a file event said so), so
   * that the next change starts from it rather than from an older one that
   * step 3 would refuse.
   */
  hint(version: number): void {
    this.#saw(version);
  }

  /**
   * The state in file `v<version>` (a copy), or undefined when it is gone
   * or unreadable. State files never change, so the last one read or
   * written is kept parsed.
   */
  #exact(version: number): State | undefined {
    const cached = this.#fromCache(version);
    if (cached !== undefined) return cached;
    const file = this.#fileId(`${this.path}/v${version}`);
    if (file === undefined) return undefined;
    let text: string;
    try {
      text = this.#sys.fs.readFileSync(`${this.path}/v${version}`, "utf8");
    } catch (error) {
      if (codeOf(error) === "ENOENT") return undefined;
      throw fault(`cannot read ${this.path}/v${version}`, error);
    }
    const state = parseState(text);
    if (state === undefined) return undefined;
    this.#cached = { version, state: copyState(state), file };
    return state;
  }

  /**
   * The state now (one listing and one read); or, given the number of a
   * state file just announced, that file's state, which may already have
   * been followed by another (for waking waiters, never for deciding).
   */
  read(announced?: number): Snapshot {
    this.#prepare();
    if (announced !== undefined) {
      const state = this.#exact(announced);
      if (state !== undefined) {
        this.#saw(announced);
        return { version: announced, state };
      }
    }
    const started = performance.now();
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      if (i > 0 && performance.now() - started > ATTEMPTS_MS) break;
      const listing = this.#list();
      const state = this.#load(listing);
      if (state !== undefined) {
        this.#saw(listing.max);
        return { version: listing.max, state };
      }
    }
    throw busy(this.path, started);
  }

  /**
   * Applies `fn` to the state atomically: `fn` gets a fresh copy on each
   * attempt (so it must only compute), and when it says it changed the
   * state, the change is committed or `fn` runs again on the newer state.
   */
  update<R>(
    fn: (state: State) => Change<R>,
  ): { result: R; state: State; version: number } {
    this.#prepare();
    const fs = this.#sys.fs;
    const started = performance.now();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (attempt > 0 && performance.now() - started > ATTEMPTS_MS) break;
      // The first try starts from the newest state file this process knows
      // (no listing): the listing of step 3 proves it is still the highest
      // before anything is committed on it.
      let base = attempt === 0 ? this.#latest : 0;
      let state = base > 0 ? this.#exact(base) : undefined;
      let guessed = state !== undefined;
      if (state === undefined) {
        const first = this.#list();
        base = first.max;
        state = this.#load(first);
        if (state === undefined) continue;
        guessed = false;
      }
      const { result, changed } = fn(state);
      if (!changed) {
        // An answer from a known file stands only if it is the highest.
        if (guessed && this.#list().max !== base) continue;
        this.#saw(base);
        return { result, state, version: base };
      }
      if (base >= MAX_VERSION) {
        // Its successor would be a name no listing reads: a change nobody
        // sees, so every later one would grant again.
        throw new FileFault(
          `${this.path} has reached the highest state number, v${base} (a file put there by hand?): remove the lock's directory`,
          false,
        );
      }
      const text = formatState(state);
      const temp = `${this.#pending}/t${base}.${this.#tag}.${random()}`;
      let fd: number;
      try {
        fd = fs.openSync(temp, "wx", 0o600);
      } catch (error) {
        if (codeOf(error) !== "ENOENT") {
          throw fault(`cannot create ${temp}`, error);
        }
        this.#vanished();
        continue;
      }
      try {
        try {
          fs.writeFileSync(fd, text);
        } finally {
          fs.closeSync(fd);
        }
      } catch (error) {
        remove(fs, temp);
        throw fault(`cannot write ${temp}`, error);
      }
      let second: Listing;
      let file: string | undefined;
      try {
        // The file it becomes, by its pending name (its own; the state
        // file's name may be another's by the time it is looked at).
        file = this.#fileId(temp);
        second = this.#list();
      } catch (error) {
        remove(fs, temp);
        throw error;
      }
      if (second.max !== base) {
        remove(fs, temp);
        this.#saw(second.max);
        continue;
      }
      try {
        fs.linkSync(temp, `${this.path}/v${base + 1}`);
      } catch (error) {
        remove(fs, temp);
        if (codeOf(error) === "EEXIST") continue;
        if (codeOf(error) === "EPERM" || codeOf(error) === "ENOTSUP") {
          throw new FileFault(
            `the file system of ${this.path} does not support hard links, which the file lock needs (use a local file system such as ext4, xfs, btrfs, tmpfs, APFS or NTFS)`,
            false,
            error,
          );
        }
        throw fault(`cannot link ${temp}`, error);
      }
      // Committed: nothing after this may throw (the change stands).
      remove(fs, temp);
      this.#saw(base + 1);
      this.#cached = file === undefined
        ? undefined
        : { version: base + 1, state: copyState(state), file };
      this.#collect(second, base);
      return { result, state, version: base + 1 };
    }
    throw busy(this.path, started);
  }

  /**
   * Removes what commits left behind: state files two or more below the new
   * highest (once a few have gathered), unless a change based on the one
   * before is in flight; and now and then the pending files of dead
   * processes. `listing` is of the lock's directory, taken before the
   * listing of `pending/` made here (the order the proof needs).
   */
  #collect(listing: Listing, base: number): void {
    const fs = this.#sys.fs;
    const old = listing.versions.filter((v) => v < base - 1);
    const now = performance.now();
    const sweep = now - this.#lastSweep >= SWEEP_MS;
    if (old.length < COLLECT_AT && !sweep) return;
    let pending: string[];
    try {
      pending = fs.readdirSync(this.#pending);
    } catch {
      return; // the next commit tries again
    }
    const inFlight = new Set<number>();
    for (const name of pending) {
      const t = TEMP.exec(name);
      if (t !== null) inFlight.add(Number(t[1]));
    }
    for (const v of old) {
      if (!inFlight.has(v - 1)) remove(fs, `${this.path}/v${v}`);
    }
    if (!sweep) return;
    this.#lastSweep = now;
    for (const name of pending) {
      if (this.#deadTemp(name)) remove(fs, `${this.#pending}/${name}`);
    }
  }

  /** Whether a pending file's process is known to be dead. */
  #deadTemp(name: string): boolean {
    const t = TEMP.exec(name);
    if (t === null) return false;
    const [, , host, boot, ns, pid, start] = t;
    const mine = this.#tags;
    if (host !== mine.host || host === "00000000") return false;
    const { self } = this.#sys;
    // Hashes stand in for the names: compare them as liveness() compares.
    return liveness(this.#sys, {
      host: self.host,
      boot: boot === mine.boot
        ? self.boot
        : boot === "00000000"
        ? ""
        : `~${boot}`,
      ns: ns === mine.ns ? self.ns : `~${ns}`,
      pid: Number(pid),
      start: Number(start),
    }) === false;
  }
}

function random(): string {
  return Math.floor(Math.random() * 2 ** 48).toString(36);
}

function remove(fs: System["fs"], file: string): void {
  try {
    fs.unlinkSync(file);
  } catch { /* gone already, or for the next one to remove */ }
}

function fault(what: string, error: unknown): FileFault {
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const hint = code === "EACCES" || code === "EPERM"
    ? " (no permission: the lock directory must be writable by this process; on Deno, --allow-read and --allow-write for it)"
    : code === "EROFS"
    ? " (the file system is read-only)"
    : "";
  return new FileFault(
    `${what}: ${message}${hint}`,
    code !== undefined && TRANSIENT.has(code),
    error,
  );
}

function busy(path: string, started: number): FileFault {
  const ms = Math.round(performance.now() - started);
  return new FileFault(
    ms > ATTEMPTS_MS
      ? `${path} changed under every attempt for ${ms} ms (heavy contention, or a slow file system)`
      : `${path} changed under every one of ${MAX_ATTEMPTS} attempts (heavy contention)`,
    true,
  );
}
