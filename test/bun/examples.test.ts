// Copyright 2026 the unilock authors. MIT license.
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { refresh } from "../../examples/bun.ts";

test("examples/bun.ts skips a refresh that is already running", async () => {
  const results = await Promise.all([refresh(), refresh()]);
  expect(results.sort()).toEqual(["refreshed", "skipped"]);
  expect(await refresh()).toBe("refreshed");
});

test("The guide's await using block runs natively on Bun, as .ts and as .mjs", () => {
  const root = new URL("../../", import.meta.url).pathname;
  const guide = readFileSync(`${root}docs/getting-started.md`, "utf8");
  const at = guide.indexOf("runs this block on Node: await-using -->");
  expect(at).toBeGreaterThan(-1);
  const block = /```ts\n([\s\S]*?)\n```/.exec(guide.slice(at))![1]!;
  const dir = `${root}.test-results/bun_await_using_${process.pid}`;
  mkdirSync(dir, { recursive: true });
  for (const ext of ["ts", "mjs"]) {
    const file = `${dir}/block.${ext}`;
    writeFileSync(file, block);
    const run = Bun.spawnSync([process.execPath, file], { cwd: root });
    expect(run.stderr.toString()).toBe("");
    expect(run.stdout.toString()).toBe("holding, fence 1\nreleased: true\n");
  }
});
