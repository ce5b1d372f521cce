// Copyright 2026 the unilock authors. MIT license.
// Inside workerd, mod.ts loads with the file lock in it, and a file lock is
// refused at createLock: a Worker's file system is its isolate's own.
import { test } from "vitest";
import { createLock } from "../../mod.ts";
import { assertThrows } from "../_assert.ts";

test('createLock("file") refuses to run in a Worker, naming the lock type to use', () => {
  assertThrows(
    () => createLock("file", { name: "x", dir: "/tmp" }),
    TypeError,
    ["Cloudflare Worker", "durable-object"],
  );
});
