// Copyright 2026 the unilock authors. MIT license.
// Runs inside workerd: the same suite as every other runtime.
import { test } from "vitest";
import { lockContract } from "../_contract.ts";
import { apiSuite } from "../_api.ts";
import { contractCanFailSuite } from "../_contract_can_fail.ts";
import { workerdBackends as backends } from "../_backends.ts";

apiSuite(test);
contractCanFailSuite(test);
for (const backend of backends) lockContract(test, backend);
