// Copyright 2026 the unilock authors. MIT license.
// Run by ../file_permissions_test.ts with the Deno permissions the docs give:
// takes a file lock in the directory given, and says whether this process
// can tell a dead process from a live one (which needs /proc).
import { createLock } from "@unilock/unilock";
import { getSystem } from "../../../src/file/_system.ts";

const dir = Deno.args[0]!; // given by the test
await createLock("file", { name: "permissions", dir }).withLock(() => {});
console.log(`ok file, judges processes: ${getSystem("test").procfs}`);
