// Copyright 2026 the unilock authors. MIT license.
// Two projects run the same contract suite: on Node, and inside workerd
// through the Workers pool (configured from the top-level wrangler.toml).
import { readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

// Examples import the package by name, as users do; tests run them against
// the sources.
// Every subpath export of deno.json, longest first (a key also matches as a
// prefix), then the package itself.
const denoJson = JSON.parse(
  readFileSync(new URL("./deno.json", import.meta.url), "utf8"),
) as { exports: Record<string, string> };
const alias = Object.fromEntries(
  Object.entries(denoJson.exports)
    .filter(([key]) => key !== ".")
    .sort(([a], [b]) => b.length - a.length)
    .map(([key, file]) => [
      `unilock${key.slice(1)}`,
      new URL(file, import.meta.url).pathname,
    ])
    .concat([["unilock", new URL("./mod.ts", import.meta.url).pathname]]),
);

// A test's own bound, where it names none: generous, so that a loaded
// machine (npm test runs two lanes at once on 2 cores) cannot fail a test
// that would pass, while a hang still fails it.
const TEST_TIMEOUT_MS = 20_000;

export default defineConfig({
  resolve: { alias },
  test: {
    globalSetup: ["./test/upstash/global_setup.ts"],
    projects: [
      {
        resolve: { alias },
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts", "test/upstash/**/*.test.ts"],
          environment: "node",
          testTimeout: TEST_TIMEOUT_MS,
        },
      },
      {
        resolve: { alias },
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                UPSTASH_URL: inject("upstash").url,
                UPSTASH_TOKEN: inject("upstash").token,
                UNILOCK_TOKEN: "workerd-test-secret",
              },
            },
          })),
        ],
        test: {
          name: "workerd",
          include: ["test/workerd/**/*.test.ts"],
          testTimeout: TEST_TIMEOUT_MS,
        },
      },
    ],
  },
});
