// Copyright 2026 the unilock authors. MIT license.
// Adversarial: the worker-thread backend on Bun (see the suite).
import { test } from "bun:test";
import { adversarialThreadSuite } from "../_adversarial_thread_suite.ts";

adversarialThreadSuite((name, fn, timeoutMs) => test(name, fn, timeoutMs));
