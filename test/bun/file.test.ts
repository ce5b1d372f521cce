// Copyright 2026 the unilock authors. MIT license.
// The file backend on Bun: the contract in a temporary directory, the
// semaphore contract, the Web Locks suite and the hostile-input suite.
import { afterAll, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockContract } from "../_contract.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { fileBackend, fileWebLocks } from "../_backends.ts";
import { fileHostileSuite } from "../_file_hostile.ts";
import { fileSuite } from "../_file_suite.ts";

const dir = mkdtempSync(join(tmpdir(), "unilock-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

lockContract(test, fileBackend(dir));
semaphoreContract(test, fileBackend(dir));
webLocksConformance(test, fileWebLocks(dir));
fileHostileSuite(test);
fileSuite(test);
