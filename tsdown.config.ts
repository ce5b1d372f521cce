// Copyright 2026 the unilock authors. MIT license.
// The npm build: ESM and bundled declarations in dist/, from the same .ts
// sources that JSR publishes as they are.
import { defineConfig } from "tsdown";

export default defineConfig({
  entry: {
    mod: "mod.ts",
    worker: "workers/worker.ts",
    durable_object: "workers/durable_object.ts",
    upstash_bridge: "src/upstash_bridge/upstash_bridge.ts",
    _upstash_bridge_cli: "src/upstash_bridge/_cli.ts",
  },
  // node:* stays an import: the bridge and its CLI run on Node.
  deps: { neverBundle: [/^node:/, /^cloudflare:/, "@upstash/redis"] },
  format: "esm",
  platform: "neutral",
  target: "es2022",
  dts: true,
  outDir: "dist",
  clean: true,
});
