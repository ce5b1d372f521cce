// Copyright 2026 the unilock authors. MIT license.
// The deno-kv lock on Bun, through @deno/kv (which asks for V8 codecs on
// Bun: the lock writes bytes only, so it needs none): the contract suite
// against a real KV file, the handle opened by the lock from a path; the
// semaphore contract and the Web Locks suite the same way.
import { test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ContractBackend, lockContract } from "../_contract.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { denoKvWebLocks } from "../_backends.ts";

const path = join(mkdtempSync(join(tmpdir(), "unilock-kv-")), "bun.sqlite3");
const backend: ContractBackend = {
  type: "deno-kv",
  quietMs: 60,
  options: () => ({ kv: path, prefix: `test-${crypto.randomUUID()}` }),
};
lockContract(test, backend);
semaphoreContract(test, backend);
webLocksConformance(test, denoKvWebLocks(path));
