// Copyright 2026 the unilock authors. MIT license.
// The file backend on Node: the lock and semaphore contracts and the Web
// Locks suite in a temporary directory, the hostile-input suite, and a
// directory this process's user cannot write.
import { afterAll, test } from "vitest";
import { buildSync } from "esbuild";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createLock } from "../../mod.ts";
import { lockContract } from "../_contract.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { fileBackend, fileWebLocks } from "../_backends.ts";
import { fileHostileSuite } from "../_file_hostile.ts";
import { fileSuite } from "../_file_suite.ts";
import { assert, assertThrows } from "../_assert.ts";

const dir = mkdtempSync(join(tmpdir(), "unilock-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

lockContract(test, fileBackend(dir));
semaphoreContract(test, fileBackend(dir));
webLocksConformance(test, fileWebLocks(dir));
fileHostileSuite(test);
fileSuite(test);

test("createLock(\"file\") names 'dir' when this process's user cannot write it", () => {
  const parent = mkdtempSync(join(tmpdir(), "unilock-readonly-"));
  try {
    const locked = join(parent, "locked");
    mkdirSync(locked);
    if (process.getuid?.() !== 0) {
      chmodSync(locked, 0o500);
      assertThrows(
        () => createLock("file", { name: "x", dir: locked }),
        TypeError,
        ["'dir'", "not writable"],
      );
      return;
    }
    // Root writes anywhere: ask as nobody, from a bundle nobody can read.
    chmodSync(parent, 0o755);
    chmodSync(locked, 0o755);
    const bundle = join(parent, "unilock.mjs");
    buildSync({
      entryPoints: [new URL("../../mod.ts", import.meta.url).pathname],
      bundle: true,
      format: "esm",
      platform: "node",
      outfile: bundle,
      logLevel: "error",
    });
    chmodSync(bundle, 0o644);
    const script = `
      const { createLock } = await import(${
      JSON.stringify(pathToFileURL(bundle).href)
    });
      try { createLock("file", { name: "x", dir: ${
      JSON.stringify(locked)
    } }); console.log("created"); }
      catch (e) { console.log(e.name + ": " + e.message); }`;
    const run = spawnSync(process.execPath, [
      "--input-type=module",
      "-e",
      script,
    ], {
      uid: 65534,
      gid: 65534,
      encoding: "utf8",
      cwd: "/",
    });
    const out = run.stdout.trim();
    assert(
      out.startsWith("TypeError: ") && out.includes("'dir'") &&
        out.includes("not writable"),
      `as nobody: ${out || run.stderr}`,
    );
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
