// Copyright 2026 the unilock authors. MIT license.
// The deno-kv lock on Bun, through @deno/kv (which asks for V8 codecs on
// Bun: the lock writes bytes only, so it needs none): the contract suite
// against a real KV file, the handle opened by the lock from a path.
import { test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockContract } from "../_contract.ts";

const path = join(mkdtempSync(join(tmpdir(), "unilock-kv-")), "bun.sqlite3");
lockContract(test, {
  type: "deno-kv",
  quietMs: 60,
  // Not yet: the deno-kv driver has no steal operation.
  steal: false,
  options: () => ({ kv: path, prefix: `test-${crypto.randomUUID()}` }),
});
