// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { UpstashLockOptions } from "./upstash/upstash_lock.ts";
import type { DurableObjectLockOptions } from "./durable_object/durable_object_lock.ts";
import type { FileLockOptions } from "./file/file_lock.ts";
import { checkOptionKeys, checkOptions, show } from "./core/_validate.ts";
import { OPTION_KEYS } from "./_option_keys.ts";

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

/**
 * Options for `createLock("auto")` and {@linkcode describeLockTarget}: `env`,
 * and the options of the types it may choose. The chosen type gets those of
 * its own (the others do not apply to it).
 */
export interface AutoLockOptions
  extends UpstashLockOptions, DurableObjectLockOptions, FileLockOptions {
  /**
   * Where to look for a backend when no explicit backend option is given: a
   * Worker's `env` (bindings and vars; your `Env` interface as it is), any
   * object of variables, or `"process"` for the process environment (read
   * only when asked).
   *
   * @default {undefined} nothing is detected: a `local` lock
   */
  env?: object | "process";
  /**
   * What to do when `env` holds no backend at all: `"local"` picks a lock
   * within this isolate (right for tests and single-instance deployments);
   * `"throw"` makes a deployment that must coordinate across instances fail
   * at once instead of silently excluding nothing beyond its own isolate.
   * Partial or ambiguous configuration (a URL without its token, several
   * namespace bindings and none named `LOCKS`) always throws.
   *
   * @default {"local"}
   */
  fallback?: "local" | "throw";
}

/** What `createLock("auto")` chose, and why. */
export interface LockTarget {
  /** The lock type chosen. */
  type: "local" | "upstash" | "durable-object" | "file";
  /** Why, in a sentence. */
  reason: string;
  /** The runtime this runs on. */
  runtime: Runtime;
  /**
   * The options the chosen type is created with: those of the given ones
   * that are its own, and what was found in `env` (secrets are left out of
   * `reason`).
   */
  options: Omit<AutoLockOptions, "env">;
}

/** The given options that are options of `type`. */
function own(
  type: LockTarget["type"],
  options: Record<string, unknown>,
): Record<string, unknown> {
  const keys = OPTION_KEYS[type];
  return Object.fromEntries(
    Object.entries(options).filter(([key]) => keys.includes(key)),
  );
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
 * `durable-object`, `redis` → `upstash`, `dir` → `file`); then, only in the `env` given, a
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
  const action = "choose a lock type";
  checkOptions(action, options);
  checkOptionKeys(action, "auto", options, OPTION_KEYS.auto);
  const runtime = detectRuntime();
  const { env, fallback = "local", ...given } = (options ?? {}) as
    & { env?: unknown; fallback?: unknown }
    & Record<string, unknown>;
  if (fallback !== "local" && fallback !== "throw") {
    throw new TypeError(
      `Cannot ${action} as 'fallback' must be "local" or "throw": current value is ${
        show(fallback)
      }`,
    );
  }
  const target = (
    type: LockTarget["type"],
    reason: string,
    found?: Record<string, unknown>,
  ): LockTarget => ({
    type,
    reason,
    runtime,
    options: { ...own(type, given), ...found },
  });
  if (given.namespace !== undefined || given.url !== undefined) {
    return target(
      "durable-object",
      given.namespace !== undefined
        ? "the options give a Durable Object namespace"
        : "the options give the lock service's url",
    );
  }
  if (given.redis !== undefined) {
    return target("upstash", "the options give a Redis client or credentials");
  }
  // Only when asked: nothing can tell that the processes share a host.
  if (given.dir !== undefined) {
    return target("file", "the options give a lock directory");
  }
  /** No backend found: a local lock, unless the deployment demands one. */
  const none = (reason: string): LockTarget => {
    if (fallback === "throw") {
      throw new TypeError(
        `Cannot ${action} as no distributed backend was found and 'fallback' is "throw": ${reason}`,
      );
    }
    return target("local", `${reason}: a lock within this isolate`);
  };
  if (env === undefined) {
    return none("no backend options and no env to look in");
  }
  if (env !== "process" && (env === null || typeof env !== "object")) {
    throw new TypeError(
      `Cannot ${action} as 'env' must be an object or "process": current value is ${
        show(env)
      }`,
    );
  }
  const vars = env === "process"
    ? processEnv()
    : env as Record<string, unknown>;
  const namespaces = Object.keys(vars).filter((k) => isNamespace(vars[k]));
  const where = env === "process" ? "the process environment" : "env";
  if (namespaces.length > 1 && !namespaces.includes("LOCKS")) {
    // Ambiguous: guessing could put two deployments on different objects.
    throw new TypeError(
      `Cannot ${action} as ${where} has several Durable Object namespace bindings and none named LOCKS (${
        namespaces.join(", ")
      }): name the LockDurableObject binding LOCKS, or pass 'namespace'`,
    );
  }
  const binding = namespaces.includes("LOCKS") ? "LOCKS" : namespaces[0];
  if (binding !== undefined) {
    return target(
      "durable-object",
      `env has the Durable Object namespace binding ${binding}`,
      { namespace: vars[binding] },
    );
  }
  for (const prefix of ["UPSTASH_REDIS_REST", "KV_REST_API"]) {
    const url = vars[`${prefix}_URL`], token = vars[`${prefix}_TOKEN`];
    if (typeof url === "string" && typeof token === "string") {
      return target(
        "upstash",
        `${where} has ${prefix}_URL and ${prefix}_TOKEN`,
        { redis: { url, token } },
      );
    }
    // Half a configuration is a mistake, not "no backend": fail closed.
    if (url !== undefined || token !== undefined) {
      const missing = url === undefined ? `${prefix}_URL` : `${prefix}_TOKEN`;
      const bad = url !== undefined && typeof url !== "string"
        ? `${prefix}_URL`
        : token !== undefined && typeof token !== "string"
        ? `${prefix}_TOKEN`
        : undefined;
      throw new TypeError(
        bad !== undefined
          ? `Cannot ${action} as ${bad} in ${where} must be a string`
          : `Cannot ${action} as ${where} has ${
            missing.endsWith("_URL") ? `${prefix}_TOKEN` : `${prefix}_URL`
          } but not ${missing}: set both, or neither for a local lock`,
      );
    }
  }
  return none(
    `${where} has no LockDurableObject binding and no Upstash credentials`,
  );
}
