// Copyright 2026 the unilock authors. MIT license.
// The thread semaphore across real worker threads on Bun.
import { test } from "bun:test";
import { threadSemaphoreSuite } from "../_thread_semaphore_suite.ts";

threadSemaphoreSuite(test);
