#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// The npm package from the outside, as a user meets it: `npm pack`, the
// tarball installed into a scratch project in a temp dir (offline: the
// package has no dependencies; the few a user would add, @upstash/redis and
// @types/node, are linked from this checkout), then
//   - tsc --noEmit under moduleResolution bundler and nodenext, without
//     skipLibCheck, over user code and the type tests (test/types/),
//   - the editor's completions of createLock("upstash", { … }),
//   - the examples, by package name, on Node 20, 22 and 24, Deno and Bun,
//   - the lock service template: `wrangler types`, tsc over a Worker that
//     uses the generated Env, `wrangler deploy --dry-run`, and `wrangler dev`
//     with one acquire and release over HTTP.
// Prints one line per check, then "N passed, N failed".
// Usage: node test/check_consumer.mjs [--keep] (--keep leaves the temp dir)
import { spawn } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NODE_MATRIX, nodeBinary } from "./_node_matrix.mjs";
import {
  hasRedisServer,
  REDIS_INSTALL_ADVICE,
  startRedis,
} from "./_services.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const modules = join(root, "node_modules");
const keep = process.argv.includes("--keep");
const work = mkdtempSync(join(tmpdir(), "unilock-consumer-"));
const app = join(work, "app");
const service = join(app, "lock-service");

// npm run-script exports npm_* variables (the running project's prefix among
// them): a nested npm must not see them, or it acts on this checkout.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) =>
    !key.startsWith("npm_") || key === "npm_config_cache" ||
    key === "npm_config_registry"
  ),
);
const env = {
  ...cleanEnv,
  NO_COLOR: "1",
  FORCE_COLOR: "0",
  WRANGLER_SEND_METRICS: "false",
};

/**
 * Runs a command; resolves its output, or rejects with the output's tail.
 * `detached` puts it in a process group of its own (wrangler starts workerd).
 */
function exec(
  command,
  args,
  { cwd = app, timeoutMs = 120_000, extraEnv } = {},
) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch { /* gone */ }
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else {
        reject(
          new Error(
            `${command.replace(root + "/", "")} ${args.join(" ")} exited ${
              code ?? signal
            }:\n${output.slice(-3000)}`,
          ),
        );
      }
    });
  });
}

const results = [];
/** Runs one check; a check that throws failed, with its message. */
async function check(name, fn) {
  const started = performance.now();
  try {
    const note = await fn();
    const s = ((performance.now() - started) / 1000).toFixed(1);
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${s} s)${note ? `: ${note}` : ""}`);
    return true;
  } catch (error) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${error?.message ?? error}`);
    return false;
  }
}

const write = (file, text) => {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    typeof text === "string" ? text : JSON.stringify(text, null, 2),
  );
};
const tsc = (project, cwd = app) =>
  exec(process.execPath, [
    join(modules, "typescript", "bin", "tsc"),
    "-p",
    project,
  ], { cwd });
const wrangler = (args, options) =>
  exec(process.execPath, [
    join(modules, "wrangler", "bin", "wrangler.js"),
    ...args,
  ], {
    cwd: service,
    ...options,
  });
/** Copies a source file into the scratch project, importing the package by name. */
const copyAsUser = (from, to) =>
  write(
    to,
    readFileSync(join(root, from), "utf8")
      .replaceAll('"../../mod.ts"', '"unilock"')
      .replaceAll('"@unilock/unilock', '"unilock'),
  );

let tarball;
let packedFiles = [];

const packed = await check(
  "npm pack: the tarball holds the build, the template, README and LICENSE, and no sources",
  async () => {
    // (npm test builds dist/ once, before its steps run side by side.)
    if (process.env.UNILOCK_DIST_BUILT !== "1") {
      await exec(join(modules, ".bin", "tsdown"), ["--logLevel", "warn"], {
        cwd: root,
      });
    }
    const out = await exec("npm", [
      "pack",
      "--json",
      "--pack-destination",
      work,
    ], {
      cwd: root,
    });
    const [info] = JSON.parse(out.slice(out.indexOf("[")));
    tarball = join(work, info.filename);
    packedFiles = info.files.map((f) => f.path);
    const missing = [
      "package.json",
      "README.md",
      "LICENSE",
      "dist/mod.js",
      "dist/mod.d.ts",
      "dist/durable_object.js",
      "dist/durable_object.d.ts",
      "dist/worker.js",
      "dist/worker.d.ts",
      "dist/upstash_bridge.d.ts",
      "dist/_upstash_bridge_cli.js",
      "templates/lock-service/wrangler.toml",
      "templates/lock-service/index.ts",
    ].filter((f) => !packedFiles.includes(f));
    const stray = packedFiles.filter((f) =>
      /^(src|test|workers|bench)\//.test(f) || f === "mod.ts"
    );
    if (missing.length || stray.length) {
      throw new Error(
        `missing ${missing.join(", ") || "-"}; stray ${
          stray.join(", ") || "-"
        }`,
      );
    }
    return `${info.filename}, ${packedFiles.length} files, ${
      (info.size / 1024).toFixed(0)
    } KiB`;
  },
);

await check(
  'the npm declarations: @examples import "unilock", none imports cloudflare:workers',
  () => {
    const dts = packedFiles.filter((f) => f.endsWith(".d.ts"));
    for (const file of dts) {
      const text = readFileSync(join(root, file), "utf8");
      if (/(from |import\()"@unilock\/unilock/.test(text)) {
        throw new Error(`${file} imports the JSR name in an example`);
      }
      if (/(from |import\()"cloudflare:/.test(text)) {
        throw new Error(`${file} imports cloudflare:workers`);
      }
    }
    const examples = readFileSync(join(root, "dist/mod.d.ts"), "utf8")
      .match(/from "unilock"/g)?.length ?? 0;
    if (examples < 10) {
      throw new Error(`only ${examples} examples import "unilock"`);
    }
    return `${dts.length} files, ${examples} examples`;
  },
);

const installed = packed &&
  await check(
    "npm install of the tarball into a scratch project (offline)",
    async () => {
      write(join(app, "package.json"), {
        name: "consumer-app",
        version: "1.0.0",
        private: true,
        type: "module",
        dependencies: { unilock: `file:${tarball}` },
      });
      await exec("npm", [
        "install",
        "--offline",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
      ], { timeoutMs: 180_000 });
      // What a user adds beside it, from this checkout (their versions pinned here).
      for (const dep of ["@upstash/redis", "@types/node"]) {
        mkdirSync(dirname(join(app, "node_modules", dep)), { recursive: true });
        symlinkSync(join(modules, dep), join(app, "node_modules", dep), "dir");
      }
      const version = JSON.parse(
        readFileSync(join(app, "node_modules/unilock/package.json"), "utf8"),
      ).version;
      return `unilock ${version}`;
    },
  );

if (installed) {
  copyAsUser("test/consumer/usage.ts", join(app, "src/usage.ts"));
  copyAsUser("test/types/create_lock.ts", join(app, "src/types_test.ts"));
  const base = {
    target: "ES2022",
    lib: ["ES2022"],
    types: ["node"],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
  };
  for (
    const [resolution, options] of [
      ["bundler", {
        module: "ESNext",
        moduleResolution: "Bundler",
        exactOptionalPropertyTypes: true,
      }],
      ["nodenext", { module: "NodeNext", moduleResolution: "NodeNext" }],
    ]
  ) {
    write(join(app, `tsconfig.${resolution}.json`), {
      compilerOptions: { ...base, ...options },
      include: ["src"],
    });
    await check(
      `tsc --noEmit, moduleResolution ${resolution}, no skipLibCheck: user code and the type tests`,
      () => tsc(`tsconfig.${resolution}.json`),
    );
  }

  await check(
    'the editor completes createLock("upstash", { … }) with UpstashLockOptions',
    async () => {
      const ts =
        (await import(join(modules, "typescript", "lib", "typescript.js")))
          .default;
      const file = join(app, "src", "complete.ts");
      const text =
        `import { createLock } from "unilock";\ncreateLock("upstash", {  });\ncreateLock("");\n`;
      const parsed = ts.getParsedCommandLineOfConfigFile(
        join(app, "tsconfig.bundler.json"),
        {},
        { ...ts.sys, onUnRecoverableConfigFileDiagnostic() {} },
      );
      const service = ts.createLanguageService({
        getScriptFileNames: () => [file],
        getScriptVersion: () => "1",
        getScriptSnapshot: (f) =>
          ts.ScriptSnapshot.fromString(
            f === file ? text : ts.sys.readFile(f) ?? "",
          ),
        getCurrentDirectory: () => app,
        getCompilationSettings: () => parsed.options,
        getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
        fileExists: (f) => f === file || ts.sys.fileExists(f),
        readFile: (f) => (f === file ? text : ts.sys.readFile(f)),
        readDirectory: ts.sys.readDirectory,
        directoryExists: ts.sys.directoryExists,
        getDirectories: ts.sys.getDirectories,
      });
      const names = (at) =>
        service.getCompletionsAtPosition(file, at, {})?.entries
          .filter((e) => e.kind !== "keyword").map((e) => e.name).sort() ?? [];
      const options = names(text.indexOf("{  }") + 2);
      const types = names(text.indexOf('("")') + 2);
      const want = [
        "leaseMs",
        "name",
        "prefix",
        "redis",
        "requestTimeoutMs",
        "waiterTtlMs",
      ];
      if (options.join() !== want.join()) {
        throw new Error(
          `options completed: ${options.join(", ")}; expected ${
            want.join(", ")
          }`,
        );
      }
      for (
        const type of ["auto", "durable-object", "local", "thread", "upstash"]
      ) {
        if (!types.includes(type)) {
          throw new Error(`types completed: ${types.join(", ")}`);
        }
      }
      return `options ${options.join(", ")}; types ${types.join(", ")}`;
    },
  );

  // The examples by package name, with Upstash's on the packed bridge CLI
  // in front of a real redis-server.
  for (
    const file of [
      "node.mjs",
      "coordination.mjs",
      "observability.mjs",
      "upstash_function.mjs",
      "bun.ts",
      "deno.ts",
    ]
  ) {
    copyAsUser(`examples/${file}`, join(app, "examples", file));
  }
  copyAsUser(
    "test/consumer/run_examples.mjs",
    join(app, "examples", "run.mjs"),
  );
  copyAsUser(
    "test/consumer/service_client.mjs",
    join(app, "service_client.mjs"),
  );
  let redis, bridge, upstash = {};
  const upstashUp = await check(
    "the packed unilock-upstash-bridge starts in front of redis-server",
    async () => {
      if (!hasRedisServer()) {
        throw new Error(`redis-server is missing: ${REDIS_INSTALL_ADVICE}`);
      }
      redis = await startRedis();
      const token = `consumer_${crypto.randomUUID()}`;
      bridge = spawn(
        join(app, "node_modules", ".bin", "unilock-upstash-bridge"),
        [
          "--redis",
          redis.url,
          "--port",
          "0",
          "--token",
          token,
        ],
        { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] },
      );
      const url = await new Promise((resolve, reject) => {
        let out = "";
        bridge.stdout.on("data", (d) => {
          out += d;
          const m = /listening on (\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        bridge.once(
          "exit",
          (code) => reject(new Error(`the bridge exited ${code}: ${out}`)),
        );
      });
      upstash = {
        UPSTASH_REDIS_REST_URL: url,
        UPSTASH_REDIS_REST_TOKEN: token,
      };
      return url;
    },
  );
  const runtimes = [[`Node ${process.versions.node}`, process.execPath, []]];
  for (const major of Object.keys(NODE_MATRIX)) {
    let bin;
    try {
      bin = nodeBinary(major);
    } catch (error) {
      await check(`examples on Node ${NODE_MATRIX[major]}`, () => {
        throw error;
      });
      continue;
    }
    runtimes.push([`Node ${NODE_MATRIX[major]}`, bin, []]);
  }
  runtimes.push(["Deno", join(modules, ".bin", "deno"), ["run", "-A"]]);
  runtimes.push(["Bun", join(modules, ".bin", "bun"), ["run"]]);
  for (const [label, bin, args] of runtimes) {
    await check(
      `examples by package name on ${label}${
        upstashUp ? "" : " (without upstash)"
      }`,
      async () =>
        (await exec(bin, [...args, "examples/run.mjs"], { extraEnv: upstash }))
          .trim().split("\n").pop(),
    );
  }
  if (bridge && bridge.exitCode === null) {
    const exited = new Promise((r) => bridge.once("exit", r));
    bridge.kill("SIGTERM");
    await exited;
  }
  await redis?.stop();

  // The lock service, deployed from the user's project by the template.
  const copied = await check(
    "the template copied from node_modules/unilock/templates/lock-service; wrangler types",
    async () => {
      cpSync(
        join(app, "node_modules/unilock/templates/lock-service"),
        service,
        {
          recursive: true,
        },
      );
      await wrangler(["types"], { timeoutMs: 120_000 });
      const generated = readFileSync(
        join(service, "worker-configuration.d.ts"),
        "utf8",
      );
      const line = /LOCKS: [^;]+;/.exec(generated)?.[0];
      if (!line?.includes("LockDurableObject")) {
        throw new Error(
          `the generated Env does not type LOCKS by the class: ${line}`,
        );
      }
      return line;
    },
  );
  if (copied) {
    copyAsUser("test/consumer/worker_guard.ts", join(service, "guard.ts"));
    copyAsUser("examples/worker.ts", join(service, "example_worker.ts"));
    write(join(service, "tsconfig.json"), {
      compilerOptions: {
        target: "ES2022",
        module: "ESNext",
        moduleResolution: "Bundler",
        // A Worker's usual lib: AsyncDisposable comes from the package.
        lib: ["ES2022"],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
      },
      include: ["*.ts"],
    });
    await check(
      "tsc --noEmit of the template and a Worker on wrangler's generated Env (no skipLibCheck)",
      () => tsc("tsconfig.json", service),
    );
    await check("wrangler deploy --dry-run of the template", async () => {
      const out = await wrangler([
        "deploy",
        "--dry-run",
        "--outdir",
        join(work, "bundle"),
      ]);
      if (!/LockDurableObject/.test(out)) throw new Error(out.slice(-1000));
      return /Total Upload: [^\n]+/.exec(out)?.[0];
    });
    await check(
      "wrangler dev of the template: one acquire and release over HTTP through the packed client",
      async () => {
        const port = 10_000 + Math.floor(Math.random() * 20_000);
        const token = `consumer_${crypto.randomUUID()}`;
        const child = spawn(process.execPath, [
          join(modules, "wrangler", "bin", "wrangler.js"),
          "dev",
          "--local",
          "--ip",
          "127.0.0.1",
          "--port",
          String(port),
          "--inspector-port",
          "0",
          "--persist-to",
          join(work, "state"),
          "--var",
          `UNILOCK_TOKEN:${token}`,
        ], {
          cwd: service,
          env,
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        });
        let log = "";
        child.stdout.on("data", (d) => (log += d));
        child.stderr.on("data", (d) => (log += d));
        const exited = new Promise((r) => child.once("exit", r));
        const url = `http://127.0.0.1:${port}`;
        try {
          let up = false;
          for (let i = 0; i < 240 && !up && child.exitCode === null; i++) {
            try {
              const res = await fetch(`${url}/v1/health`);
              await res.body?.cancel();
              up = res.status === 200;
            } catch {
              await new Promise((r) => setTimeout(r, 250));
            }
          }
          if (!up) {
            throw new Error(`wrangler dev did not start:\n${log.slice(-2000)}`);
          }
          return (await exec(process.execPath, [
            join(app, "service_client.mjs"),
            url,
            token,
          ], { timeoutMs: 60_000 })).trim();
        } finally {
          try {
            process.kill(-child.pid, "SIGTERM");
          } catch { /* gone */ }
          const timer = setTimeout(() => {
            try {
              process.kill(-child.pid, "SIGKILL");
            } catch { /* gone */ }
          }, 5_000);
          await exited;
          clearTimeout(timer);
        }
      },
    );
  }
}

if (keep) console.log(`left ${work}`);
else rmSync(work, { recursive: true, force: true });
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exitCode = results.length > 0 && passed === results.length ? 0 : 1;
