// Copyright 2026 the unilock authors. MIT license.
// The contract against the durable-object lock over HTTP on Deno: the lock
// service on `wrangler dev` (local workerd, real SQLite Durable Object),
// started and stopped by this file.
import { lockContract } from "../_contract.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { durableObjectWebLocks, lockServiceBackend } from "../_backends.ts";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { startLockService } from "../_services.mjs";
import { serviceSocketTests } from "../_service_socket.ts";

const service = await startLockService();

lockContract(
  (name, fn) =>
    Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false }),
  lockServiceBackend(service.url, service.token),
);

semaphoreContract(
  (name, fn) =>
    Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false }),
  lockServiceBackend(service.url, service.token),
);
webLocksConformance(
  (name, fn) =>
    Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false }),
  durableObjectWebLocks({ url: service.url, token: service.token }),
);

serviceSocketTests(
  (name, fn) =>
    Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false }),
  service,
);

Deno.test({
  name: "the lock service stops",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => service.stop(),
});
