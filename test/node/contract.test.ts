// Copyright 2026 the unilock authors. MIT license.
import { Redis } from "@upstash/redis";
import { inject, test } from "vitest";
import { lockContract } from "../_contract.ts";
import { apiSuite } from "../_api.ts";
import { contractCanFailSuite } from "../_contract_can_fail.ts";
import { deadlockSuite } from "../_deadlock_suite.ts";
import { backends, lockServiceBackend, upstashBackend } from "../_backends.ts";
import { threadSuite } from "../_thread_suite.ts";
import { serviceSocketTests } from "../_service_socket.ts";

apiSuite(test, "node");
contractCanFailSuite(test);
for (const backend of backends) lockContract(test, backend);
const service = inject("lockService");
lockContract(test, lockServiceBackend(service.url, service.token));
// Node 20 has a WebSocket only with --experimental-websocket (Node 22: always).
serviceSocketTests(test, service);
const { url, token } = inject("upstash");
lockContract(
  test,
  upstashBackend(new Redis({ url, token, enableTelemetry: false })),
);
threadSuite(test);
deadlockSuite(test, ["local", "thread"]);

test("the suite runs on Node", () => {
  if (
    typeof process?.versions?.node !== "string" || "Bun" in globalThis ||
    "Deno" in globalThis
  ) {
    throw new Error("not Node");
  }
});
