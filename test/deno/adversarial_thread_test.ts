// Copyright 2026 the unilock authors. MIT license.
// Adversarial: the worker-thread backend on Deno (see the suite).
import { adversarialThreadSuite } from "../_adversarial_thread_suite.ts";

adversarialThreadSuite((name, fn) => Deno.test(name, fn));
