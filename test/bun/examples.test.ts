// Copyright 2026 the unilock authors. MIT license.
import { expect, test } from "bun:test";
import { refresh } from "../../examples/bun.ts";

test("examples/bun.ts skips a refresh that is already running", async () => {
  const results = await Promise.all([refresh(), refresh()]);
  expect(results.sort()).toEqual(["refreshed", "skipped"]);
  expect(await refresh()).toBe("refreshed");
});
