// Copyright 2026 the unilock authors. MIT license.
// Run by ../deno_kv_test.ts without --unstable-kv (and without the
// project's config, which enables it): prints the error a user gets.
import { createLock } from "../../../mod.ts";

try {
  createLock("deno-kv", { name: "x", kv: "./never-opened.sqlite3" });
  console.log("created");
} catch (error) {
  console.log(`${(error as Error).name}: ${(error as Error).message}`);
}
