// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal Lets a timer run without keeping the process alive (Node, Bun
 * and Deno 2 timers have `unref()`; a browser's are numbers, and there is
 * no process to keep).
 *
 * @example
 * ```ts
 * import { unref } from "./_unref.ts";
 * const timer = setTimeout(() => {}, 60_000);
 * unref(timer); // the process may exit before it fires
 * clearTimeout(timer);
 * ```
 */
export function unref(timer: unknown): void {
  (timer as { unref?(): void } | undefined)?.unref?.();
}
