// Copyright 2026 the unilock authors. MIT license.
import { Redis } from "@upstash/redis";
import { inject, test } from "vitest";
import { webLocksConformance } from "../_web_locks_conformance.ts";
import {
  durableObjectWebLocks,
  upstashWebLocks,
  webLocksBackends,
} from "../_backends.ts";

for (const backend of webLocksBackends) webLocksConformance(test, backend);
webLocksConformance(test, durableObjectWebLocks(inject("lockService")));
const { url, token } = inject("upstash");
webLocksConformance(
  test,
  upstashWebLocks(new Redis({ url, token, enableTelemetry: false })),
);
