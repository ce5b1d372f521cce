// Copyright 2026 the unilock authors. MIT license.
// Runs inside workerd: the semaphore contract on local, the Durable Object
// by its binding (RPC), and upstash through @upstash/redis/cloudflare.
import { env } from "cloudflare:workers";
import { Redis } from "@upstash/redis/cloudflare";
import type { LockDurableObjectNamespace } from "../../mod.ts";
import { test } from "vitest";
import { semaphoreContract } from "../_semaphore_contract.ts";
import {
  durableObjectBackend,
  upstashBackend,
  workerdSemaphoreBackends,
} from "../_backends.ts";

const bindings = env as unknown as {
  UPSTASH_URL: string;
  UPSTASH_TOKEN: string;
  LOCKS: LockDurableObjectNamespace;
};
for (const backend of workerdSemaphoreBackends) {
  semaphoreContract(test, backend);
}
semaphoreContract(test, durableObjectBackend(bindings.LOCKS));
semaphoreContract(
  test,
  upstashBackend(
    new Redis({
      url: bindings.UPSTASH_URL,
      token: bindings.UPSTASH_TOKEN,
      enableTelemetry: false,
    }),
  ),
);
