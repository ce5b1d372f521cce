// Copyright 2026 the unilock authors. MIT license.
// vitest global setup: a real redis-server and the REST bridge in front of
// it, for both the Node and the workerd projects, and the lock service on
// `wrangler dev` for the Node project's HTTP client; stopped at the end.
import type { TestProject } from "vitest/node";
import { startUpstashBridge } from "../../src/upstash_bridge/upstash_bridge.ts";
import { startLockService, startRedis } from "../_services.mjs";

export default async function setup(project: TestProject) {
  const redis = await startRedis();
  const bridge = await startUpstashBridge({ redisUrl: redis.url });
  project.provide("upstash", { url: bridge.url, token: bridge.token });
  const service = await startLockService();
  project.provide("lockService", { url: service.url, token: service.token });
  return async () => {
    await service.stop();
    await bridge.close();
    await redis.stop();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    upstash: { url: string; token: string };
    lockService: { url: string; token: string };
  }
}
