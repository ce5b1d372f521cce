// Copyright 2026 the unilock authors. MIT license.
// The Deno permissions table of the README and docs/getting-started.md, row
// by row: each lock type run in a `deno run --no-prompt` of its own with the
// permissions the docs give (it works) and with less (it is refused), against
// a real redis-server behind the REST bridge and the lock service on
// `wrangler dev`, both started and stopped by this file.
import { assert } from "../_assert.ts";
import { startLockService, startRedis } from "../_services.mjs";
import { startUpstashBridge } from "../../src/upstash_bridge/upstash_bridge.ts";

const redis = await startRedis();
const bridge = await startUpstashBridge({ redisUrl: redis.url });
const service = await startLockService();
const hostPort = (url: string): string => new URL(url).host;
const root = new URL("../../", import.meta.url).pathname;

/** What `@upstash/redis` 1.39 reads even when given a url and a token. */
const SDK_ENV = "UPSTASH_DISABLE_TELEMETRY,UPSTASH_CONSOLE,VERCEL,AWS_REGION";
const CREDENTIALS = {
  UPSTASH_REDIS_REST_URL: bridge.url,
  UPSTASH_REDIS_REST_TOKEN: bridge.token,
};

async function run(
  script: string,
  flags: string[],
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ ok: boolean; out: string; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      ...flags,
      new URL(`./_permissions/${script}`, import.meta.url).pathname,
      ...args,
    ],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await child.output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { ok: code === 0, out: decode(stdout), err: decode(stderr) };
}

function assertRuns(
  result: { ok: boolean; out: string; err: string },
  line: string,
): void {
  assert(result.ok && result.out.includes(line), result.err || result.out);
}

function assertRefused(
  result: { ok: boolean; err: string },
  needs: RegExp,
): void {
  assert(!result.ok, "ran without the permission");
  assert(needs.test(result.err), result.err);
}

const options = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "local lock needs no permission on Deno",
  ...options,
  async fn() {
    assertRuns(await run("local.ts", []), "ok local");
  },
});

Deno.test({
  name:
    "thread lock needs --allow-read for its worker's modules on Deno, nothing else",
  ...options,
  async fn() {
    assertRefused(await run("thread.ts", []), /Requires read access/);
    assertRuns(await run("thread.ts", [`--allow-read=${root}`]), "ok thread");
  },
});

Deno.test({
  name:
    "upstash lock needs --allow-net to its host, and --allow-env only for credentials from the environment, on Deno",
  ...options,
  async fn() {
    const net = `--allow-net=${hostPort(bridge.url)}`;
    const creds = [bridge.url, bridge.token];
    // With a URL and token, the lock's own REST client reads no variable.
    assertRuns(await run("upstash.ts", [net], creds), "ok upstash");
    assertRefused(
      await run("upstash.ts", ["--allow-env"], creds),
      /Requires net access/,
    );
    // Credentials from the environment: those two names, nothing else.
    assertRuns(
      await run(
        "upstash.ts",
        [net, `--allow-env=UPSTASH_REDIS_REST_URL,UPSTASH_REDIS_REST_TOKEN`],
        [],
        CREDENTIALS,
      ),
      "ok upstash",
    );
    assertRefused(
      await run("upstash.ts", [net], [], CREDENTIALS),
      /Requires env access/,
    );
  },
});

Deno.test({
  name: 'auto with env: "process" needs unscoped --allow-env on Deno',
  ...options,
  async fn() {
    const net = `--allow-net=${hostPort(bridge.url)}`;
    const scoped =
      `--allow-env=${SDK_ENV},UPSTASH_REDIS_REST_URL,UPSTASH_REDIS_REST_TOKEN`;
    assertRefused(
      await run("auto_env.ts", [net, scoped], [], CREDENTIALS),
      /Requires env access/,
    );
    assertRuns(
      await run("auto_env.ts", [net, "--allow-env"], [], CREDENTIALS),
      "ok auto upstash",
    );
  },
});

Deno.test({
  name:
    "durable-object lock over HTTP needs --allow-net to the service on Deno",
  ...options,
  async fn() {
    const creds = [service.url, service.token];
    assertRefused(
      await run("durable_object.ts", [], creds),
      /Requires net access/,
    );
    assertRuns(
      await run(
        "durable_object.ts",
        [`--allow-net=${hostPort(service.url)}`],
        creds,
      ),
      "ok durable-object",
    );
  },
});

Deno.test({
  name:
    "deno-kv lock needs --allow-read and --allow-write for its KV file on Deno",
  ...options,
  async fn() {
    const file = `${await Deno.makeTempDir()}/permissions.sqlite3`;
    assertRefused(await run("deno_kv.ts", [], [file]), /Requires read access/);
    assertRefused(
      await run("deno_kv.ts", [`--allow-read=${file}`], [file]),
      /Requires write access/,
    );
    assertRuns(
      await run(
        "deno_kv.ts",
        [`--allow-read=${file}`, `--allow-write=${file}`],
        [file],
      ),
      "ok deno-kv",
    );
  },
});

Deno.test({
  name: "the permission tests' services stop",
  ...options,
  async fn() {
    await service.stop();
    await bridge.close();
    await redis.stop();
  },
});
