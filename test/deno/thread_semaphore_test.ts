// Copyright 2026 the unilock authors. MIT license.
// The thread semaphore across real worker threads on Deno.
import { threadSemaphoreSuite } from "../_thread_semaphore_suite.ts";

threadSemaphoreSuite((name, fn) => Deno.test(name, fn));
