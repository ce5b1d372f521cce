// Copyright 2026 the unilock authors. MIT license.
import { lockContract } from "../_contract.ts";
import { apiSuite } from "../_api.ts";
import { contractCanFailSuite } from "../_contract_can_fail.ts";
import { deadlockSuite } from "../_deadlock_suite.ts";
import { backends, semaphoreBackends } from "../_backends.ts";
import { semaphoreContract } from "../_semaphore_contract.ts";
import { threadSuite } from "../_thread_suite.ts";

const test = (name: string, fn: () => Promise<void>) => Deno.test(name, fn);
apiSuite(test, "deno");
contractCanFailSuite(test);
for (const backend of backends) lockContract(test, backend);
for (const backend of semaphoreBackends) semaphoreContract(test, backend);
threadSuite((name, fn) => Deno.test(name, fn));
deadlockSuite(test, ["local", "thread"]);

Deno.test("the suite runs on Deno", () => {
  if (typeof Deno.version?.deno !== "string") throw new Error("not Deno");
});
