// Copyright 2026 the unilock authors. MIT license.
// What a Node project writes with unilock, type-checked by the consumer
// check against the packed package (no skipLibCheck) under `bundler` and
// `nodenext`. Every entry point is imported, the Worker ones included: their
// declarations must load outside a Worker project.
import {
  createLock,
  describeLockTarget,
  type Lease,
  LockManager,
  LockTimeoutError,
  type UpstashLockOptions,
  withLock,
} from "unilock";
import {
  LockDurableObject,
  type LockDurableObjectState,
} from "unilock/durable-object";
import worker, { type LockServiceEnv } from "unilock/worker";
import { startUpstashBridge } from "unilock/upstash-bridge";

const options: UpstashLockOptions = {
  name: "nightly-report",
  redis: { url: "https://x.upstash.io", token: "t" },
  leaseMs: 30_000,
};
const lock = createLock("upstash", options);

export async function job(): Promise<number> {
  try {
    return await withLock(lock, (lease: Lease) => lease.fence, {
      timeoutMs: 5_000,
    });
  } catch (error) {
    if (error instanceof LockTimeoutError) return -1;
    throw error;
  }
}

export const manager: LockManager<"auto"> = new LockManager({
  type: "auto",
  lockOptions: { env: "process" },
});
export const chosen: string = describeLockTarget({ name: "x" }).type;
export type ServiceEnv = LockServiceEnv;
export type State = LockDurableObjectState;
export const service: typeof worker = worker;
export const objectClass: typeof LockDurableObject = LockDurableObject;
export const bridge: typeof startUpstashBridge = startUpstashBridge;
