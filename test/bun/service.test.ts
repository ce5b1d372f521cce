// Copyright 2026 the unilock authors. MIT license.
// The contract against the durable-object lock over HTTP on Bun, through the
// lock service on `wrangler dev`, started and stopped by this file.
import { afterAll, test } from "bun:test";
import { lockContract } from "../_contract.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { durableObjectWebLocks, lockServiceBackend } from "../_backends.ts";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { startLockService } from "../_services.mjs";
import { serviceSocketTests } from "../_service_socket.ts";

const service = await startLockService();
afterAll(() => service.stop());

lockContract(test, lockServiceBackend(service.url, service.token));
semaphoreContract(test, lockServiceBackend(service.url, service.token));
webLocksConformance(
  test,
  durableObjectWebLocks({ url: service.url, token: service.token }),
);
serviceSocketTests(test, service);
