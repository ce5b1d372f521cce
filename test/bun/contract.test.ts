// Copyright 2026 the unilock authors. MIT license.
import { test } from "bun:test";
import { lockContract } from "../_contract.ts";
import { apiSuite } from "../_api.ts";
import { contractCanFailSuite } from "../_contract_can_fail.ts";
import { deadlockSuite } from "../_deadlock_suite.ts";
import { backends, semaphoreBackends } from "../_backends.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { threadSuite } from "../_thread_suite.ts";
import { assert } from "../_assert.ts";

test("the suite runs on Bun", () => {
  assert(typeof Bun === "object" && typeof Bun.version === "string");
});

apiSuite(test, "bun");
contractCanFailSuite(test);
for (const backend of backends) lockContract(test, backend);
for (const backend of semaphoreBackends) semaphoreContract(test, backend);
threadSuite(test);
deadlockSuite(test, ["local", "thread"]);
