// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal `Deno.openKv(path)` for test processes that start side by side
 * on one new file: SQLite answers "database is locked" to an open that
 * meets another process creating the schema (seen on a loaded machine), so
 * the open is tried again for a few seconds, as a user's would be.
 */
export async function openKvRetrying(path: string): Promise<Deno.Kv> {
  for (let attempt = 0;; attempt++) {
    try {
      return await Deno.openKv(path);
    } catch (error) {
      const locked = error instanceof Error &&
        /database is (locked|busy)/i.test(error.message);
      if (!locked || attempt >= 100) throw error;
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 40));
    }
  }
}
