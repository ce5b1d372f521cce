// Copyright 2026 the unilock authors. MIT license.
// Runs inside workerd: the same suite as every other runtime.
import { env } from "cloudflare:workers";
import { Redis } from "@upstash/redis/cloudflare";
import type { LockDurableObjectNamespace } from "../../mod.ts";
import { test } from "vitest";
import { lockContract } from "../_contract.ts";
import { apiSuite } from "../_api.ts";
import { contractCanFailSuite } from "../_contract_can_fail.ts";
import { deadlockSuite } from "../_deadlock_suite.ts";
import {
  durableObjectBackend,
  upstashBackend,
  workerdBackends as backends,
} from "../_backends.ts";

apiSuite(test, "workerd");
contractCanFailSuite(test);
deadlockSuite(test, ["local"]);
for (const backend of backends) lockContract(test, backend);
const bindings = env as unknown as {
  UPSTASH_URL: string;
  UPSTASH_TOKEN: string;
  LOCKS: LockDurableObjectNamespace;
};
lockContract(test, durableObjectBackend(bindings.LOCKS));
lockContract(
  test,
  upstashBackend(
    new Redis({
      url: bindings.UPSTASH_URL,
      token: bindings.UPSTASH_TOKEN,
      enableTelemetry: false,
    }),
  ),
);
