// Copyright 2026 the unilock authors. MIT license.
// The npm build: ESM and bundled declarations in dist/, from the same .ts
// sources that JSR publishes as they are.
import { defineConfig } from "tsdown";

/**
 * workerd's `DurableObject` base class, as far as the npm declarations need
 * it, in place of the import of `cloudflare:workers`: that module's types
 * exist only in Worker projects, so importing them broke every other
 * project that reads the declarations without `skipLibCheck`. The brand
 * (`Rpc.__DURABLE_OBJECT_BRAND` is the string "__DURABLE_OBJECT_BRAND" in
 * the Workers types) keeps `DurableObjectNamespace<LockDurableObject>`
 * typed in the Worker projects that have them.
 */
const DURABLE_OBJECT_BASE = `/**
 * The base class of Durable Objects (\`DurableObject\` from
 * \`cloudflare:workers\`), as far as these declarations need it.
 */
declare abstract class DurableObject {
  protected ctx: unknown;
  protected env: unknown;
  readonly __DURABLE_OBJECT_BRAND: never;
  constructor(ctx: unknown, env: unknown);
}`;

/**
 * Fits the build to npm: `@example`s import the package by its npm name
 * (editors show them on hover); no declaration imports `cloudflare:workers`;
 * and those that use `AsyncDisposable` (a `Lease` is one) bring its lib, which
 * a project compiling for ES2022 (a Worker's usual `lib`) lacks: it failed
 * with a TS2552 that named no line of its own.
 */
const npmDeclarations = {
  name: "unilock:npm-declarations",
  renderChunk(code: string, chunk: { fileName: string }): string | null {
    const named = code.replaceAll(
      /(from |import\()"@unilock\/unilock/g,
      '$1"unilock',
    );
    if (!chunk.fileName.endsWith(".d.ts")) return named;
    const out = named.replace(
      'import { DurableObject } from "cloudflare:workers";',
      DURABLE_OBJECT_BASE,
    );
    if (/(from |import\()"cloudflare:/.test(out)) {
      throw new Error(
        `${chunk.fileName} still imports cloudflare:workers: update tsdown.config.ts`,
      );
    }
    return /\bAsyncDisposable\b|Symbol\.asyncDispose/.test(out)
      ? `/// <reference lib="esnext.disposable" />\n${out}`
      : out;
  },
};

export default defineConfig({
  entry: {
    mod: "mod.ts",
    worker: "workers/worker.ts",
    durable_object: "workers/durable_object.ts",
    upstash_bridge: "src/upstash_bridge/upstash_bridge.ts",
    _upstash_bridge_cli: "src/upstash_bridge/_cli.ts",
    // A subpath per backend, so that a bundle loads only what it uses.
    local_lock: "src/local/local_lock.ts",
    thread: "src/thread/thread.ts",
    upstash_lock: "src/upstash/upstash_lock.ts",
    durable_object_lock: "src/durable_object/durable_object_lock.ts",
    durable_object_binding: "src/durable_object/durable_object_binding.ts",
    remote: "src/remote/remote.ts",
    // A subpath of its own, so that a bundle can load only this backend.
    deno_kv_lock: "src/deno_kv/deno_kv_lock.ts",
  },
  // node:* stays an import: the bridge and its CLI run on Node.
  // @deno/kv (a native module) is loaded at run time, only by a deno-kv
  // lock given a path on Node.
  deps: {
    neverBundle: [/^node:/, /^cloudflare:/, "@upstash/redis", "@deno/kv"],
  },
  format: "esm",
  platform: "neutral",
  target: "es2022",
  dts: true,
  outDir: "dist",
  clean: true,
  plugins: [npmDeclarations],
});
