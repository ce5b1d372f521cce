// Copyright 2026 the unilock authors. MIT license.
// The README leads with withLock (it works everywhere) and says exactly what
// `await using` needs. Its two marked blocks are taken from the README as
// they are and run here on Node: as a plain .mjs, and compiled, under the
// TypeScript `lib` each needs. (deno test --doc runs them on Deno.)
import { test } from "vitest";
import { build } from "esbuild";
import ts from "typescript";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../_assert.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const scratch = join(root, ".test-results", `await_using_${process.pid}`);
mkdirSync(scratch, { recursive: true });
const nodeMajor = Number(process.versions.node.split(".")[0]);

/**
 * The ```ts block that follows its marker comment: the README's withLock
 * quick start, and the getting-started guide's `await using` example.
 */
function readmeBlock(marker: "with-lock" | "await-using"): string {
  const file = marker === "with-lock" ? "README.md" : "docs/getting-started.md";
  const text = readFileSync(join(root, file), "utf8");
  const at = text.indexOf(`runs this block on Node: ${marker} -->`);
  assert(at !== -1, `${file} has no block marked ${marker}`);
  const block = /```ts\n([\s\S]*?)\n```/.exec(text.slice(at));
  assert(block !== null, `${file} has no ts block after ${marker}`);
  return block[1]!;
}

/**
 * The block as one .mjs file (the package bundled in from its sources),
 * with its syntax kept (`esnext`) or compiled for Node 20 (`es2022`, as
 * tsc, esbuild and wrangler do below `esnext`).
 */
async function asMjs(code: string, target: "esnext" | "es2022") {
  const out = await build({
    stdin: { contents: code, loader: "ts", resolveDir: root },
    alias: { unilock: join(root, "mod.ts") },
    bundle: true,
    format: "esm",
    platform: "node",
    target,
    write: false,
    logLevel: "silent",
  });
  const file = join(scratch, `${target}_${crypto.randomUUID()}.mjs`);
  writeFileSync(file, out.outputFiles[0]!.text);
  return file;
}

function runNode(file: string) {
  const child = spawnSync(process.execPath, [file], {
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: child.status, stdout: child.stdout, stderr: child.stderr };
}

/**
 * TypeScript's errors for the blocks, as files of one program, under `lib`
 * ("unilock" resolves to the sources).
 */
function typeErrors(blocks: string[], lib: string[]): string[] {
  const files = blocks.map((code) => {
    const file = join(scratch, `block_${crypto.randomUUID()}.ts`);
    writeFileSync(file, code);
    return file;
  });
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: lib.map((l) => `lib.${l}.d.ts`),
    types: [],
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    paths: { unilock: [join(root, "mod.ts")] },
  });
  return ts.getPreEmitDiagnostics(program).map((d) =>
    `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`
  );
}

test("README's withLock quick start runs as a plain .mjs on this Node", async () => {
  const run = runNode(await asMjs(readmeBlock("with-lock"), "esnext"));
  assertEquals(run.code, 0, run.stderr);
  assert(run.stdout.includes("sold, 0 left (fence 3)"), run.stdout);
});

test("README's await using block: a SyntaxError as plain .mjs before Node 24, runs from Node 24", async () => {
  const file = await asMjs(readmeBlock("await-using"), "esnext");
  assert(
    /^\s*await using /m.test(readFileSync(file, "utf8")),
    "the bundle kept the syntax",
  );
  const run = runNode(file);
  if (nodeMajor < 24) {
    assert(run.code !== 0, `Node ${process.version} ran it`);
    assert(run.stderr.includes("SyntaxError"), run.stderr);
  } else {
    assertEquals(run.code, 0, run.stderr);
    assert(run.stdout.includes("released: true"), run.stdout);
  }
});

test("README's await using block runs on Node 20+ once compiled below esnext", async () => {
  const file = await asMjs(readmeBlock("await-using"), "es2022");
  assert(!/^\s*await using /m.test(readFileSync(file, "utf8")));
  const run = runNode(file);
  assertEquals(run.code, 0, run.stderr);
  assertEquals(run.stdout, "holding, fence 1\nreleased: true\n");
});

test(
  "README's blocks type-check with esnext.disposable in lib, and not without it",
  () => {
    const withLock = readmeBlock("with-lock");
    const awaitUsing = readmeBlock("await-using");
    assertEquals(
      typeErrors([withLock, awaitUsing], [
        "es2022",
        "dom",
        "esnext.disposable",
      ]),
      [],
    );
    // Without it, withLock alone fails too (a Lease is an AsyncDisposable:
    // TS2304 in unilock's types), and `await using` fails with TS2318.
    const bare = typeErrors([withLock], ["es2022", "dom"]);
    assert(bare.some((e) => e.includes("'AsyncDisposable'")), bare.join("\n"));
    const using = typeErrors([awaitUsing], ["es2022", "dom"]);
    assert(
      using.some((e) =>
        e.startsWith("TS2318") && e.includes("'AsyncDisposable'")
      ),
      using.join("\n"),
    );
  },
  120_000,
);
