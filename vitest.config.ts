// Copyright 2026 the unilock authors. MIT license.
// Two projects run the same contract suite: on Node, and inside workerd
// through the Workers pool (configured from the top-level wrangler.toml).
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

// Examples import the package by name, as users do; tests run them against
// the sources.
const alias = {
  "unilock/durable-object":
    new URL("./workers/durable_object.ts", import.meta.url)
      .pathname,
  "unilock/upstash-bridge":
    new URL("./src/upstash_bridge/upstash_bridge.ts", import.meta.url)
      .pathname,
  "unilock/deno-kv":
    new URL("./src/deno_kv/deno_kv_lock.ts", import.meta.url).pathname,
  unilock: new URL("./mod.ts", import.meta.url).pathname,
};

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
        },
      },
    ],
  },
});
