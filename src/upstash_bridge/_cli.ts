#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npx unilock-upstash-bridge --redis redis://127.0.0.1:6379 [--port 8079]
// [--token T] [--host 127.0.0.1]`: an Upstash-compatible REST endpoint in
// front of local Redis, for developing against @upstash/redis offline.
import process from "node:process";
import { startUpstashBridge } from "./upstash_bridge.ts";

const args = process.argv.slice(2);
function option(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? undefined : args[i + 1];
}
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    "Usage: unilock-upstash-bridge [--redis redis://127.0.0.1:6379] [--port 8079] [--token TOKEN] [--host 127.0.0.1]",
  );
  process.exit(0);
}
const port = Number(option("port") ?? 8079);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(
    `--port must be an integer from 0 to 65535: got ${option("port")}`,
  );
  process.exit(2);
}
const bridge = await startUpstashBridge({
  redisUrl: option("redis") ?? "redis://127.0.0.1:6379",
  port,
  host: option("host") ?? "127.0.0.1",
  ...(option("token") === undefined ? {} : { token: option("token")! }),
});
console.log(`Upstash REST bridge listening on ${bridge.url}
  UPSTASH_REDIS_REST_URL=${bridge.url}
  UPSTASH_REDIS_REST_TOKEN=${bridge.token}`);
const stop = () => bridge.close().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
