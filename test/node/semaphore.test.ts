// Copyright 2026 the unilock authors. MIT license.
// The semaphore contract on Node: local, the lock service over HTTP, and
// upstash through the REST bridge in front of a real redis-server.
import { Redis } from "@upstash/redis";
import { inject, test } from "vitest";
import { semaphoreContract } from "../_semaphore_contract.ts";
import {
  lockServiceBackend,
  semaphoreBackends,
  upstashBackend,
} from "../_backends.ts";

for (const backend of semaphoreBackends) semaphoreContract(test, backend);
const service = inject("lockService");
semaphoreContract(test, lockServiceBackend(service.url, service.token));
const { url, token } = inject("upstash");
semaphoreContract(
  test,
  upstashBackend(new Redis({ url, token, enableTelemetry: false })),
);
