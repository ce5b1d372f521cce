// Copyright 2026 the unilock authors. MIT license.
// Deno: import from JSR (`deno add jsr:@unilock/unilock`; this repository's
// deno.json maps the same specifier to its sources). Readers share, a writer
// waits for them, and what "auto" would choose here.
//   deno run examples/deno.ts
import { createLock, describeLockTarget } from "@unilock/unilock";

export async function main(): Promise<string[]> {
  const lock = createLock("local", { name: "config" });
  const log: string[] = [];
  const readers = [1, 2].map((n) =>
    lock.withLock(async () => {
      log.push(`reader ${n} in`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      log.push(`reader ${n} out`);
    }, { mode: "shared" })
  );
  const writer = lock.withLock(() => void log.push("writer"));
  await Promise.all([...readers, writer]);
  log.push(
    `auto → ${
      describeLockTarget({ name: "config" }).type
    } on ${describeLockTarget().runtime}`,
  );
  return log;
}

if (import.meta.main) { for (const line of await main()) console.log(line); }
