// Copyright 2026 the unilock authors. MIT license.
// The Web Locks conformance suite inside workerd: local, the Durable Object
// through its binding, and upstash through @upstash/redis/cloudflare.
import { env } from "cloudflare:workers";
import { Redis } from "@upstash/redis/cloudflare";
import type { LockDurableObjectNamespace } from "../../mod.ts";
import { test } from "vitest";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import {
  durableObjectWebLocks,
  upstashWebLocks,
  webLocksBackends,
} from "../_backends.ts";

const bindings = env as unknown as {
  UPSTASH_URL: string;
  UPSTASH_TOKEN: string;
  LOCKS: LockDurableObjectNamespace;
};
// workerd runs no threads.
for (const backend of webLocksBackends) {
  if (backend.type !== "thread") webLocksConformance(test, backend);
}
webLocksConformance(test, durableObjectWebLocks({ namespace: bindings.LOCKS }));
webLocksConformance(
  test,
  upstashWebLocks(
    new Redis({
      url: bindings.UPSTASH_URL,
      token: bindings.UPSTASH_TOKEN,
      enableTelemetry: false,
    }),
  ),
);
