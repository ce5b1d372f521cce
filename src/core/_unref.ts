// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal Lets a timer run without keeping the process alive: Node and Bun
 * timers have `unref()`; Deno's are numbers, unref'd by `Deno.unrefTimer`
 * (a bare `timer.unref?.()` does nothing there, so a Deno process holding a
 * lease stayed alive on its renewal timer).
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
  if (typeof timer === "object" && timer !== null && "unref" in timer) {
    (timer as { unref(): void }).unref();
  } else if (typeof timer === "number") {
    (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno
      ?.unrefTimer?.(timer);
  }
}
