// Copyright 2026 the unilock authors. MIT license.
// The contract against the file backend on Node, in a temporary directory.
import { afterAll, test } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockContract } from "../_contract.ts";
import { fileBackend } from "../_backends.ts";

const dir = mkdtempSync(join(tmpdir(), "unilock-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

lockContract(test, fileBackend(dir));
