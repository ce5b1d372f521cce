// Copyright 2026 the unilock authors. MIT license.
// The file backend on Deno: the contract in a temporary directory, the
// semaphore contract, the Web Locks suite and the hostile-input suite.
import { lockContract } from "../_contract.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { fileBackend, fileWebLocks } from "../_backends.ts";
import { fileHostileSuite } from "../_file_hostile.ts";
import { fileSuite } from "../_file_suite.ts";

const dir = Deno.makeTempDirSync({ prefix: "unilock-file-" });
lockContract((name, fn) => Deno.test(name, fn), fileBackend(dir));
semaphoreContract((name, fn) => Deno.test(name, fn), fileBackend(dir));
webLocksConformance((name, fn) => Deno.test(name, fn), fileWebLocks(dir));
fileHostileSuite((name, fn) => Deno.test(name, fn));
fileSuite((name, fn) => Deno.test(name, fn));
Deno.test("the file backend's directory is removed", () => {
  Deno.removeSync(dir, { recursive: true });
});
