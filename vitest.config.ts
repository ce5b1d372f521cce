// Copyright 2026 the unilock authors. MIT license.
// Two projects run the same contract suite: on Node, and inside workerd
// through the Workers pool (configured from the top-level wrangler.toml).
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

export default defineConfig({
  test: {
    globalSetup: ["./test/upstash/global_setup.ts"],
    projects: [
      {
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts", "test/upstash/**/*.test.ts"],
          environment: "node",
        },
      },
      {
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
