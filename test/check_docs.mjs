#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// Every relative link in the README, ARCHITECTURE.md, RELIABILITY.md and
// docs/ must lead somewhere: to a file that exists and, with a #fragment, to
// a heading of that file (GitHub's anchor rules). Guides move; links rot
// silently otherwise. Exits 1 listing every broken link.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pages = [
  "README.md",
  "ARCHITECTURE.md",
  "RELIABILITY.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
].filter((page) => existsSync(join(root, page)));

/** The page's text outside fenced code blocks and inline code spans. */
function prose(text) {
  let fenced = false;
  return text.split("\n").map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return "";
    }
    return fenced ? "" : line.replace(/`[^`]*`/g, "``");
  }).join("\n");
}

/** GitHub's anchors for a page's headings (duplicates get -1, -2, …). */
function anchors(text) {
  const seen = new Map();
  const found = new Set();
  let fenced = false;
  for (const line of text.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = m[1]
      .toLowerCase()
      .replace(/<[^>]*>/g, "")
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    found.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return found;
}

const problems = [];
let links = 0;
for (const page of pages) {
  const text = readFileSync(join(root, page), "utf8");
  for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
    links++;
    const [path, fragment] = target.split("#");
    const file = path === ""
      ? join(root, page)
      : join(root, dirname(page), path);
    if (!existsSync(file)) {
      problems.push(`${page}: ${target} (no such file)`);
      continue;
    }
    if (fragment !== undefined && file.endsWith(".md")) {
      if (!anchors(readFileSync(file, "utf8")).has(fragment)) {
        problems.push(
          `${page}: ${target} (no heading #${fragment} in ${
            relative(root, file)
          })`,
        );
      }
    }
  }
}

// An example checked by `deno test --doc` must be able to fail: console.assert
// only prints, so an example asserting with it passes whatever it finds.
const sources = (dir) =>
  readdirSync(join(root, dir), { recursive: true })
    .filter((f) => /\.(ts|mts|mjs|js)$/.test(f))
    .map((f) => join(dir, f));
for (
  const file of [...pages, "mod.ts", ...sources("src"), ...sources("workers")]
) {
  const text = readFileSync(join(root, file), "utf8");
  if (text.includes("console.assert(")) {
    problems.push(
      `${file}: an example uses console.assert, which cannot fail (use node:assert)`,
    );
  }
}

if (problems.length > 0) {
  console.error(
    `Broken links or examples that cannot fail:\n  ${problems.join("\n  ")}`,
  );
  process.exitCode = 1;
} else {
  console.log(`${links} relative links in ${pages.length} pages resolve`);
}
