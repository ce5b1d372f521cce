// Copyright 2026 the unilock authors. MIT license.
// The contract against the upstash backend on Bun: a real redis-server and
// the REST bridge, started and stopped by this file.
import { Redis } from "@upstash/redis";
import { afterAll, test } from "bun:test";
import { lockContract } from "../_contract.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { upstashBackend, upstashWebLocks } from "../_backends.ts";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { startRedis } from "../_services.mjs";
import { startUpstashBridge } from "../../src/upstash_bridge/upstash_bridge.ts";

const redis = await startRedis();
const bridge = await startUpstashBridge({ redisUrl: redis.url });
afterAll(async () => {
  // Let idle wake-up streams close on their own first (they linger 1 s).
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  await bridge.close();
  await redis.stop();
});

const client = new Redis({
  url: bridge.url,
  token: bridge.token,
  enableTelemetry: false,
});
lockContract(test, upstashBackend(client));
semaphoreContract(test, upstashBackend(client));
webLocksConformance(test, upstashWebLocks(client));
