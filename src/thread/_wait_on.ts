// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/** @internal Sleeping on a shared-memory word without blocking the event loop. */

interface WaitAsyncResult {
  async: boolean;
  value: Promise<"ok" | "timed-out"> | "not-equal" | "timed-out";
}
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
  timeout?: number,
) => WaitAsyncResult;

const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/**
 * How this runtime waits for a `thread` lock: `"Atomics.waitAsync"` (a
 * notify from any thread wakes the waiter at once) or `"polling"` (re-checks
 * on a timer backing off from 1 ms to 16 ms, where `Atomics.waitAsync` is
 * missing).
 *
 * @example Which strategy this runtime uses
 * ```ts
 * import { WAIT_STRATEGY } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * assert.ok(["Atomics.waitAsync", "polling"].includes(WAIT_STRATEGY));
 * ```
 */
export const WAIT_STRATEGY: "Atomics.waitAsync" | "polling" =
  typeof waitAsync === "function" ? "Atomics.waitAsync" : "polling";

// setTimeout's longest delay; a longer wait simply wakes and sleeps again.
const MAX_DELAY_MS = 2_147_483_647;

/** A waiter's handle to cut its sleep short from its own thread. */
export interface Sleeper {
  wake: (() => void) | undefined;
  polls: number;
}

function noop(): void {}

/**
 * Resolves when `array[index]` may no longer be `value`: on a notify from any
 * thread, after `timeoutMs`, or when `sleeper.wake()` is called. Returns
 * `undefined` when the word already differs. Spurious wake-ups are allowed;
 * callers re-check.
 *
 * A timer is always armed, for two reasons: it bounds the sleep, and it keeps
 * the event loop alive, which a pending `Atomics.waitAsync` alone does not on
 * every runtime (Deno would consider the loop idle and end the program).
 */
export function waitOn(
  array: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
  sleeper: Sleeper,
): Promise<void> | undefined {
  let delayMs = Math.min(timeoutMs, MAX_DELAY_MS);
  let notified: Promise<unknown> | undefined;
  if (waitAsync !== undefined) {
    const result = waitAsync(array, index, value, delayMs);
    if (!result.async) return undefined;
    notified = result.value as Promise<unknown>;
  } else {
    if (Atomics.load(array, index) !== value) return undefined;
    delayMs = Math.min(delayMs, 2 ** Math.min(sleeper.polls++, 4));
  }
  return new Promise<void>((resolve) => {
    let settled = false;
    const timer = setTimeout(done, delayMs);
    function done(): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sleeper.wake = undefined;
      resolve();
    }
    sleeper.wake = done;
    notified?.then(done, noop);
  });
}
