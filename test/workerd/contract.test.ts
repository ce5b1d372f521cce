// Copyright 2026 the unilock authors. MIT license.
// Runs inside workerd: the same suite as every other runtime.
import { test } from "vitest";
import { lockContract } from "../_contract.ts";
import { apiSuite } from "../_api.ts";
import { backends } from "../_backends.ts";

apiSuite(test);
for (const backend of backends) lockContract(test, backend);
