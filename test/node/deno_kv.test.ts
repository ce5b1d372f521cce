// Copyright 2026 the unilock authors. MIT license.
// The deno-kv lock on Node, through the @deno/kv package (its native SQLite
// build): the contract suite against a real KV file.
import { openKv } from "@deno/kv";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "vitest";
import { lockContract } from "../_contract.ts";
import { denoKvBackend } from "../_backends.ts";

const dir = mkdtempSync(join(tmpdir(), "unilock-kv-"));
const kv = await openKv(join(dir, "contract.sqlite3"));
lockContract(test, denoKvBackend(kv));
