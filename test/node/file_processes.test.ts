// Copyright 2026 the unilock authors. MIT license.
// The file lock across Node processes, and across a mix of Node, Deno and
// Bun processes on one lock. Node children load a bundle of the sources
// made here (Node 20 runs no TypeScript); Deno and Bun children the sources.
import { afterAll, test } from "vitest";
import { buildSync } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { fileProcessSuite } from "../_file_processes.ts";

const out = mkdtempSync(join(tmpdir(), "unilock-bundle-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));
const bundle = join(out, "unilock.mjs");
buildSync({
  entryPoints: [new URL("../../mod.ts", import.meta.url).pathname],
  bundle: true,
  format: "esm",
  platform: "node",
  outfile: bundle,
  logLevel: "error",
});
const bin = (name: string) =>
  new URL(`../../node_modules/.bin/${name}`, import.meta.url).pathname;
const sources = new URL("../../mod.ts", import.meta.url).href;
const node = {
  label: "Node",
  command: process.execPath,
  prefix: [],
  module: pathToFileURL(bundle).href,
};
const register = (name: string, fn: () => Promise<void>) =>
  test(name, fn, 180_000);

fileProcessSuite(register, [node]);
// One lock, three runtimes: the one source agrees with itself.
fileProcessSuite(
  (name, fn) => name.includes("4 processes") ? register(name, fn) : undefined,
  [node, {
    label: "Deno",
    command: bin("deno"),
    prefix: ["run", "-A"],
    module: sources,
  }, { label: "Bun", command: bin("bun"), prefix: [], module: sources }],
);
