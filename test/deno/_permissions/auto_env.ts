// Copyright 2026 the unilock authors. MIT license.
// Run by ../permissions_test.ts: "auto" looking through the process
// environment (which holds Upstash credentials).
import { createLock } from "@unilock/unilock";

const lock = createLock("auto", {
  name: `perm-${crypto.randomUUID()}`,
  env: "process",
});
await lock.withLock(() => {});
console.log(`ok auto ${lock.type}`);
