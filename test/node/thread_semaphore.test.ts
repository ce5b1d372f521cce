// Copyright 2026 the unilock authors. MIT license.
// The thread semaphore across real worker threads on Node.
import { test } from "vitest";
import { threadSemaphoreSuite } from "../_thread_semaphore_suite.ts";

threadSemaphoreSuite((name, fn, timeoutMs) => test(name, fn, timeoutMs));
