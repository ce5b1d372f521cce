#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// The three descriptions of the public surface must agree: deno.json's
// exports (JSR), package.json's exports (npm) with the tsdown entries that
// build them, and mod.ts, which re-exports every public file under src/.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const read = (file) => readFileSync(join(root, file), "utf8");
const problems = [];

const deno = JSON.parse(read("deno.json"));
const pkg = JSON.parse(read("package.json"));
const denoKeys = Object.keys(deno.exports).sort();
const npmKeys = Object.keys(pkg.exports).filter((k) => k !== "./package.json")
  .sort();
if (denoKeys.join() !== npmKeys.join()) {
  problems.push(
    `deno.json exports ${denoKeys} differ from package.json exports ${npmKeys}`,
  );
}
for (const [key, file] of Object.entries(deno.exports)) {
  if (!existsSync(join(root, file))) {
    problems.push(`deno.json export ${key} points at missing ${file}`);
  }
  if (
    deno.imports?.[key === "." ? deno.name : `${deno.name}${key.slice(1)}`] !==
      file
  ) {
    problems.push(
      `deno.json imports does not map ${deno.name}${
        key.slice(1)
      } to ${file} (doc examples import it)`,
    );
  }
  const entry = pkg.exports[key];
  if (entry === undefined) continue;
  const base = file.replace(/^.*\//, "").replace(/\.ts$/, "");
  for (
    const [condition, out] of [["types", `./dist/${base}.d.ts`], [
      "default",
      `./dist/${base}.js`,
    ]]
  ) {
    if (entry[condition] !== out) {
      problems.push(
        `package.json export ${key}.${condition} is ${
          entry[condition]
        }, expected ${out}`,
      );
    }
  }
}
const tsdown = read("tsdown.config.ts");
for (const file of Object.values(deno.exports)) {
  if (!tsdown.includes(`"${file.replace(/^\.\//, "")}"`)) {
    problems.push(`tsdown.config.ts does not build ${file}`);
  }
}
const mod = read("mod.ts");
const subpaths = new Set(
  Object.values(deno.exports).map((f) => f.replace(/^\.\//, "")),
);
for (
  const file of readdirSync(join(root, "src"), { recursive: true })
    .map((f) => String(f).replaceAll("\\", "/"))
) {
  const base = file.replace(/^.*\//, "");
  if (
    base.startsWith("_") || !base.endsWith(".ts") || base.endsWith("_test.ts")
  ) continue;
  // Every public file is reachable: from mod.ts, or as an entry point.
  if (
    !mod.includes(`export * from "./src/${file}";`) &&
    !subpaths.has(`src/${file}`)
  ) {
    problems.push(`src/${file} is neither exported by mod.ts nor an entry`);
  }
}
for (const [bin, target] of Object.entries(pkg.bin ?? {})) {
  const base = target.replace(/^.*\//, "").replace(/\.js$/, "");
  if (!tsdown.includes(`${base}:`)) {
    problems.push(`bin ${bin} (${target}) is not built by tsdown.config.ts`);
  }
}
// mod.ts must load on every runtime: nothing in its static import graph may
// import a backend's SDK or a platform module (dynamic import() is fine).
const seen = new Set();
const pending = ["mod.ts"];
while (pending.length > 0) {
  const file = pending.pop();
  if (seen.has(file)) continue;
  seen.add(file);
  const text = read(file);
  for (
    const m of text.matchAll(/^(?:import|export)\b[^;]*?"([^"]+)"\s*;/gms)
  ) {
    const spec = m[1];
    if (spec.startsWith(".")) {
      pending.push(join(dirname(file), spec).replace(/^\.\//, ""));
    } else if (
      spec.startsWith("@upstash/") || spec.startsWith("@deno/") ||
      spec.startsWith("cloudflare:") || spec.startsWith("node:")
    ) {
      problems.push(
        `${file} statically imports ${spec}, reachable from mod.ts`,
      );
    }
  }
}
if (pkg.version !== deno.version) {
  problems.push(`versions differ: npm ${pkg.version}, JSR ${deno.version}`);
}
if (pkg.license !== deno.license) {
  problems.push(`licenses differ: npm ${pkg.license}, JSR ${deno.license}`);
}
for (const [name, version] of Object.entries(pkg.devDependencies ?? {})) {
  if (!/^\d+\.\d+\.\d+/.test(version)) {
    problems.push(`devDependency ${name} is not pinned: ${version}`);
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`export check: ${problem}`);
  process.exit(1);
}
console.log(
  `export check: ${denoKeys.length} entry points agree across deno.json, package.json, tsdown and mod.ts; mod.ts's ${seen.size} modules import no SDK or platform module`,
);
