// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { LockOptions } from "./core/types.ts";
import { show } from "./core/_validate.ts";

/** The JavaScript runtimes unilock tells apart. */
export type Runtime =
  | "deno"
  | "bun"
  | "node"
  | "workerd"
  | "edge-light"
  | "browser"
  | "unknown";

/**
 * Which runtime this is, from its globals alone (no imports, no environment
 * reads): Deno, Bun, workerd (Cloudflare Workers), Node, Vercel's Edge
 * Runtime, a browser, or unknown.
 *
 * @example Detecting the runtime
 * ```ts
 * import { detectRuntime } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * assert.equal(detectRuntime(), "deno");
 * ```
 *
 * @returns The runtime's name.
 */
export function detectRuntime(): Runtime {
  const g = globalThis as Record<string, unknown> & {
    navigator?: { userAgent?: string };
    process?: { versions?: { node?: string } };
  };
  // Bun and Deno also define process.versions.node: ask them first.
  if (typeof g.Deno === "object" && g.Deno !== null) return "deno";
  if (typeof g.Bun === "object" && g.Bun !== null) return "bun";
  if (g.navigator?.userAgent === "Cloudflare-Workers") return "workerd";
  if (typeof g.EdgeRuntime === "string") return "edge-light";
  if (typeof g.process?.versions?.node === "string") return "node";
  if (typeof g.window === "object" && typeof g.document === "object") {
    return "browser";
  }
  return "unknown";
}

/** Options for `createLock("auto")` and {@linkcode describeLockTarget}. */
export interface AutoLockOptions extends LockOptions {
  /**
   * Where to look for a backend when no explicit backend option is given: a
   * Worker's `env` (bindings and vars), any object of variables, or
   * `"process"` for the process environment (read only when asked).
   *
   * @default {undefined} nothing is detected: a `local` lock
   */
  env?: Record<string, unknown> | "process";
}

/** What `createLock("auto")` chose, and why. */
export interface LockTarget {
  /** The lock type chosen. */
  type: "local" | "upstash" | "durable-object";
  /** Why, in a sentence. */
  reason: string;
  /** The runtime this runs on. */
  runtime: Runtime;
  /** The options the chosen type is created with (secrets left out of `reason`). */
  options: LockOptions;
}

function isNamespace(value: unknown): boolean {
  return value !== null && typeof value === "object" &&
    typeof (value as { idFromName?: unknown }).idFromName === "function" &&
    typeof (value as { get?: unknown }).get === "function";
}

function processEnv(): Record<string, unknown> {
  const p = (globalThis as { process?: { env?: Record<string, unknown> } })
    .process;
  if (p?.env === undefined) {
    throw new TypeError(
      `Cannot read env: "process" as this runtime (${detectRuntime()}) has no process environment; pass the variables as an object`,
    );
  }
  return p.env;
}

/**
 * Tells which lock type `createLock("auto", options)` builds and why.
 * Explicit backend options win (`namespace` or `url` + `token` →
 * `durable-object`, `redis` → `upstash`); then, only in the `env` given, a
 * Durable Object namespace binding (`LOCKS` first, else the only one) →
 * `durable-object`, then Upstash credentials (`UPSTASH_REDIS_REST_URL` and
 * `_TOKEN`, or `KV_REST_API_URL` and `_TOKEN`) → `upstash`; else `local`.
 *
 * @example Choosing from a Worker's env
 * ```ts
 * import { describeLockTarget } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const env = { UPSTASH_REDIS_REST_URL: "https://x.upstash.io", UPSTASH_REDIS_REST_TOKEN: "t" };
 * assert.equal(describeLockTarget({ name: "jobs", env }).type, "upstash");
 * assert.equal(describeLockTarget({ name: "jobs" }).type, "local");
 * ```
 *
 * @param options The lock's name, explicit backend options, and `env`.
 * @returns The type, the options it gets, the runtime and the reason.
 */
export function describeLockTarget(options?: AutoLockOptions): LockTarget {
  const runtime = detectRuntime();
  const { env, ...rest } = options ?? {};
  const base: LockOptions = { ...rest };
  if (rest.namespace !== undefined || rest.url !== undefined) {
    return {
      type: "durable-object",
      reason: rest.namespace !== undefined
        ? "the options give a Durable Object namespace"
        : "the options give the lock service's url",
      runtime,
      options: base,
    };
  }
  if (rest.redis !== undefined) {
    return {
      type: "upstash",
      reason: "the options give a Redis client or credentials",
      runtime,
      options: base,
    };
  }
  if (env === undefined) {
    return {
      type: "local",
      reason:
        "no backend options and no env to look in: a lock within this isolate",
      runtime,
      options: base,
    };
  }
  if (env !== "process" && (env === null || typeof env !== "object")) {
    throw new TypeError(
      `Cannot choose a lock type as 'env' must be an object or "process": current value is ${
        show(env)
      }`,
    );
  }
  const vars = env === "process" ? processEnv() : env;
  const namespaces = Object.keys(vars).filter((k) => isNamespace(vars[k]));
  const binding = namespaces.includes("LOCKS")
    ? "LOCKS"
    : namespaces.length === 1
    ? namespaces[0]
    : undefined;
  if (binding !== undefined) {
    return {
      type: "durable-object",
      reason: `env has the Durable Object namespace binding ${binding}`,
      runtime,
      options: { ...base, namespace: vars[binding] },
    };
  }
  for (const prefix of ["UPSTASH_REDIS_REST", "KV_REST_API"]) {
    const url = vars[`${prefix}_URL`], token = vars[`${prefix}_TOKEN`];
    if (typeof url === "string" && typeof token === "string") {
      return {
        type: "upstash",
        reason: `${
          env === "process" ? "the process environment" : "env"
        } has ${prefix}_URL and ${prefix}_TOKEN`,
        runtime,
        options: { ...base, redis: { url, token } },
      };
    }
  }
  return {
    type: "local",
    reason: `${
      env === "process" ? "the process environment" : "env"
    } has no LockDurableObject binding and no Upstash credentials${
      namespaces.length > 1
        ? ` (several namespace bindings, none named LOCKS: ${
          namespaces.join(", ")
        })`
        : ""
    }: a lock within this isolate`,
    runtime,
    options: base,
  };
}
