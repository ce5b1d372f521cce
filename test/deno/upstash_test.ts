// Copyright 2026 the unilock authors. MIT license.
// The contract against the upstash backend on Deno: a real redis-server and
// the REST bridge, both started (and stopped) by this file, and the npm
// @upstash/redis client as a Deno user would import it.
import { Redis } from "@upstash/redis";
import { lockContract } from "../_contract.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { upstashBackend, upstashWebLocks } from "../_backends.ts";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { startRedis } from "../_services.mjs";
import { startUpstashBridge } from "../../src/upstash_bridge/upstash_bridge.ts";

const redis = await startRedis();
const bridge = await startUpstashBridge({ redisUrl: redis.url });
const client = new Redis({
  url: bridge.url,
  token: bridge.token,
  enableTelemetry: false,
});

// HTTP keep-alive sockets and the wake-up stream outlive single tests by
// design, so Deno's per-test op and resource sanitizers stay off here.
const denoTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
lockContract(denoTest, upstashBackend(client));
semaphoreContract(denoTest, upstashBackend(client));
webLocksConformance(denoTest, upstashWebLocks(client));

Deno.test({
  name:
    "unilock-upstash-bridge (the CLI) serves the Upstash REST API for local Redis",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cli = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../src/upstash_bridge/_cli.ts", import.meta.url).pathname,
        "--redis",
        redis.url,
        "--port",
        "0",
        "--token",
        "cli-token",
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const reader = cli.stdout.getReader();
      const { value } = await reader.read();
      reader.releaseLock();
      const url = /listening on (\S+)/.exec(new TextDecoder().decode(value))
        ?.[1];
      if (url === undefined) throw new Error("the CLI printed no URL");
      const res = await fetch(url, {
        method: "POST",
        headers: { authorization: "Bearer cli-token" },
        body: JSON.stringify(["PING"]),
      });
      const body = await res.json();
      if (res.status !== 200 || body.result !== "PONG") {
        throw new Error(
          `unexpected answer ${res.status} ${JSON.stringify(body)}`,
        );
      }
    } finally {
      cli.kill("SIGTERM");
      await cli.status;
      await cli.stdout.cancel().catch(() => {});
    }
  },
});

Deno.test({
  name: "the upstash test servers stop",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Let idle wake-up streams close on their own first (they linger 1 s).
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await bridge.close();
    await redis.stop();
  },
});
