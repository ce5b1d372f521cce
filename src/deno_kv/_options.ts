// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The options of a `deno-kv` lock or semaphore, checked once for
 * both: what the driver gets, and what the remote core gets.
 */

import { checkOptions, checkRange, show } from "../core/_validate.ts";
import { requireName } from "../remote/remote_lock.ts";
import type { DenoKvDriverOptions } from "./_driver.ts";
import type { DenoKvLike } from "./_kv.ts";
import { denoGlobal, UNSTABLE_KV_HINT } from "./_open.ts";
import type { DenoKvLockOptions } from "./deno_kv_lock.ts";

/** The checked options, split between the driver and the core. */
export interface CheckedDenoKvOptions {
  readonly driver: DenoKvDriverOptions;
  readonly lock: {
    readonly name: string;
    readonly leaseMs?: number;
    readonly requestTimeoutMs?: number;
  };
}

function isKv(value: unknown): value is DenoKvLike {
  const kv = value as DenoKvLike | null;
  return kv !== null && typeof kv === "object" &&
    typeof kv.getMany === "function" && typeof kv.list === "function" &&
    typeof kv.atomic === "function";
}

/**
 * Checks a deno-kv lock's (or semaphore's) options; throws a `TypeError` or
 * `RangeError` naming the option and its value.
 */
export function checkDenoKvOptions(
  options: DenoKvLockOptions | undefined,
  kind: "lock" | "semaphore",
): CheckedDenoKvOptions {
  const action = `create deno-kv ${kind}`;
  const range = (
    option: string,
    value: unknown,
    min: number,
    max: number,
    fallback: number,
  ): number => checkRange(action, option, value, min, max, fallback);
  checkOptions(action, options);
  const { name, kv, prefix = "unilock", leaseMs, requestTimeoutMs } = options ??
    {};
  const checked = requireName("deno-kv", name, kind);
  // A lone surrogate has no UTF-8 form: KV would store it as U+FFFD, so
  // two different names would share one lock.
  if (
    /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
      .test(checked)
  ) {
    throw new RangeError(
      `Cannot ${action} as 'name' must be well-formed Unicode (no lone surrogate): current value is ${
        show(checked)
      }`,
    );
  }
  if (typeof kv === "string") {
    if (kv.length === 0 || kv.length > 4096) {
      throw new RangeError(
        `Cannot ${action} as 'kv' must be a path of 1 to 4096 characters: current value is ${
          show(kv)
        }`,
      );
    }
    const deno = denoGlobal();
    if (deno !== undefined && typeof deno.openKv !== "function") {
      throw new TypeError(`Cannot ${action} as ${UNSTABLE_KV_HINT}`);
    }
  } else if (!isKv(kv)) {
    const pending =
      typeof (kv as unknown as { then?: unknown } | null)?.then ===
        "function";
    throw new TypeError(
      `Cannot ${action} as 'kv' must be a Deno.Kv (from Deno.openKv(), with --unstable-kv), an @deno/kv Kv, or a path to open${
        pending ? " (a promise was given: await Deno.openKv() first)" : ""
      }: current value is ${show(kv)}`,
    );
  }
  if (
    typeof prefix !== "string" || prefix.length === 0 || prefix.length > 64
  ) {
    throw new TypeError(
      `Cannot ${action} as 'prefix' must be a string of 1 to 64 characters: current value is ${
        show(prefix)
      }`,
    );
  }
  const waiterTtlMs = range(
    "waiterTtlMs",
    options?.waiterTtlMs,
    1_000,
    86_400_000,
    10_000,
  );
  const pollMs = range("pollMs", options?.pollMs, 1, 10_000, 25);
  return {
    driver: {
      name: checked,
      kv,
      prefix,
      waiterTtlMs,
      pollMs,
      semaphore: kind === "semaphore",
    },
    lock: {
      name: checked,
      ...(leaseMs === undefined ? {} : { leaseMs }),
      ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    },
  };
}
