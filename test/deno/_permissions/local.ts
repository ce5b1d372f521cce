// Copyright 2026 the unilock authors. MIT license.
// Run by ../permissions_test.ts with the Deno permissions the docs give.
import { createLock } from "@unilock/unilock";

await createLock("local").withLock(() => {});
console.log("ok local");
