// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal Opening Deno KV by path, for a lock given `kv: "path"`: with
 * `Deno.openKv` on Deno, with the `@deno/kv` package elsewhere (loaded only
 * then: it is an optional peer dependency with a native module, and
 * `mod.ts` must load on every runtime without it). One handle per path per
 * process, shared by every lock given that path; it is never closed (an
 * open handle does not keep a process alive).
 */

import type { DenoKvLike } from "./_kv.ts";
import { DenoKvRequestError } from "./_kv.ts";

/** What a user on Deno without the flag is told (at createLock). */
export const UNSTABLE_KV_HINT =
  'Deno.openKv is not available: run Deno with --unstable-kv (Deno 2.x still needs it), or add "unstable": ["kv"] to deno.json';

interface DenoGlobal {
  version?: { deno?: string };
  openKv?: (path?: string) => Promise<unknown>;
}

/** The `Deno` namespace when this is Deno. */
export function denoGlobal(): DenoGlobal | undefined {
  const deno = (globalThis as { Deno?: DenoGlobal }).Deno;
  return typeof deno?.version?.deno === "string" ? deno : undefined;
}

interface Opened {
  handle: Promise<DenoKvLike>;
  /** The file it opened (device and inode), when the path is a local file. */
  file: string | undefined;
  /** The path, resolved when it was opened. */
  resolved: string | undefined;
}

const opened = new Map<string, Opened>();

interface NodeFs {
  statSync(path: string): { dev: number; ino: number };
}
interface NodePath {
  resolve(path: string): string;
}

/** What nodeModules() found (null: nothing), once it looked. */
let found: { fs: NodeFs; path: NodePath } | null | undefined;

/**
 * `node:fs` and `node:path` (Node, Deno 2, Bun), without importing them;
 * looked up once, as every operation of a lock given a path stats its file.
 */
function nodeModules(): { fs: NodeFs; path: NodePath } | undefined {
  if (found === undefined) {
    const p = (globalThis as {
      process?: { getBuiltinModule?: (id: string) => unknown };
    }).process;
    const fs = typeof p?.getBuiltinModule === "function"
      ? p.getBuiltinModule("node:fs") as NodeFs | undefined
      : undefined;
    const path = fs === undefined
      ? undefined
      : p!.getBuiltinModule!("node:path") as NodePath | undefined;
    found = fs === undefined || path === undefined ? null : { fs, path };
  }
  return found ?? undefined;
}

/** Whether `path` names a local file (not `:memory:`, not a KV Connect URL). */
function isLocalFile(path: string): boolean {
  return path !== "" && path !== ":memory:" && !/^[a-z][a-z0-9+.-]*:\/\//i
    .test(path);
}

/** Which file `resolved` is now, or undefined when it is gone or unknown. */
function fileOf(resolved: string | undefined): string | undefined {
  if (resolved === undefined) return undefined;
  try {
    const s = nodeModules()!.fs.statSync(resolved);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * The process's handle of the KV database at `path`, opened at the first
 * call (a failed open is tried again by the next call). A local file that
 * was deleted or replaced since (a cleanup script, a hand) is opened anew:
 * the old handle still reads and writes the deleted file, which every
 * other process that opens the path no longer sees, so a holder renewing
 * there would hold for ever beside the holders of the new file.
 */
export function openKvAt(path: string): Promise<DenoKvLike> {
  let entry = opened.get(path);
  if (entry !== undefined && entry.file !== undefined) {
    if (fileOf(entry.resolved) !== entry.file) entry = undefined;
  }
  if (entry === undefined) {
    const modules = isLocalFile(path) ? nodeModules() : undefined;
    const resolved = modules?.path.resolve(path);
    const made: Opened = {
      handle: open(resolved ?? path),
      file: undefined,
      resolved,
    };
    entry = made;
    opened.set(path, made);
    made.handle.then(
      () => {
        made.file = fileOf(resolved);
      },
      () => {
        if (opened.get(path) === made) opened.delete(path);
      },
    );
  }
  return entry.handle;
}

function refuseV8(): never {
  throw new TypeError(
    "this Deno KV handle was opened by a unilock lock, which writes bytes only: open your own for other values",
  );
}

async function open(path: string): Promise<DenoKvLike> {
  const deno = denoGlobal();
  if (deno !== undefined) {
    if (typeof deno.openKv !== "function") {
      throw new DenoKvRequestError(UNSTABLE_KV_HINT, false);
    }
    return await deno.openKv(path) as DenoKvLike;
  }
  // Not a literal: bundlers must leave the native package to the runtime.
  const specifier = "@deno/kv";
  let mod: {
    openKv?: (path?: string, options?: object) => Promise<unknown>;
  };
  try {
    mod = await import(specifier);
  } catch (error) {
    throw new DenoKvRequestError(
      `the @deno/kv package could not be loaded (it is an optional peer dependency: npm install @deno/kv): ${
        error instanceof Error ? error.message : String(error)
      }`,
      false,
      { cause: error },
    );
  }
  if (typeof mod.openKv !== "function") {
    throw new DenoKvRequestError(
      "the @deno/kv package has no openKv(): is it @deno/kv?",
      false,
    );
  }
  try {
    // Bun's v8.serialize is not V8's, so @deno/kv asks for codecs there.
    // The lock writes only bytes, which need none: these are never called.
    const bun = "Bun" in globalThis
      ? { encodeV8: refuseV8, decodeV8: refuseV8 }
      : undefined;
    return await mod.openKv(path, bun) as DenoKvLike;
  } catch (error) {
    // Bun, a missing native build, a path that cannot be opened: none of
    // them goes away by asking again.
    throw new DenoKvRequestError(
      `@deno/kv could not open ${JSON.stringify(path)}: ${
        error instanceof Error ? error.message : String(error)
      }`,
      false,
      { cause: error },
    );
  }
}
