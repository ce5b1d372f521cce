// Copyright 2026 the unilock authors. MIT license.
// The Web Locks conformance suite on Bun: local and thread here; upstash
// and the lock service in upstash.test.ts and service.test.ts.
import { test } from "bun:test";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { webLocksBackends } from "../_backends.ts";

for (const backend of webLocksBackends) webLocksConformance(test, backend);
