// Copyright 2026 the unilock authors. MIT license.
// The Web Locks conformance suite on Deno: local and thread here; upstash
// and the lock service in upstash_test.ts and service_test.ts, which start
// them.
import { webLocksConformance } from "../_web_locks_conformance.ts";
import { webLocksBackends } from "../_backends.ts";

for (const backend of webLocksBackends) {
  webLocksConformance((name, fn) => Deno.test(name, fn), backend);
}
