// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Hostile input to the file lock, on Node, Deno and Bun: names
 * that are path traversals, reserved device names, very long or unusual
 * Unicode (each one lock of its own, and nothing written outside `dir`), and
 * a `dir` that is missing, a file, shared with other users, hijacked by a
 * symbolic link, or removed while in use (each a clear error).
 */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLock, LockBackendError } from "../mod.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertThrows,
} from "./_assert.ts";
import type { RegisterTest } from "./_contract.ts";

/** Names that a careless encoding would turn into other paths or collisions. */
export const HOSTILE_NAMES: readonly string[] = [
  "..",
  ".",
  "../../etc/passwd",
  "..\\..\\windows\\system32",
  "/absolute",
  "a/b",
  "a%2Fb",
  "a\\b",
  "a\u0000b",
  "CON",
  "con",
  "nul.txt",
  "COM1",
  "LPT9.log",
  "AUX",
  "lock-x",
  "x",
  "X",
  "Jobs",
  "jobs",
  " trailing space ",
  "trailing dot.",
  '*?<>|:"',
  "\r\n",
  "~",
  "%7E",
  "é", // NFC
  "e\u0301", // NFD: another name, another lock
  "🔒".repeat(128), // 512 UTF-16 units, 512 UTF-8 bytes
  "x".repeat(512),
  "x".repeat(511),
  "ﷺ".repeat(300),
  "\u202Eevil\u202C",
];

/** Every file and directory under `root`, relative, depth first. */
function walk(root: string, prefix = ""): string[] {
  const out: string[] = [];
  for (
    const entry of readdirSync(join(root, prefix), { withFileTypes: true })
  ) {
    const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    out.push(rel);
    if (entry.isDirectory()) out.push(...walk(root, rel));
  }
  return out;
}

export function fileHostileSuite(test: RegisterTest): void {
  test('createLock("file") gives each hostile name a lock of its own and writes nothing outside dir', async () => {
    const parent = mkdtempSync(join(tmpdir(), "unilock-hostile-"));
    try {
      const dir = join(parent, "locks");
      mkdirSync(dir, { mode: 0o700 });
      const leases = [];
      for (const name of HOSTILE_NAMES) {
        const lock = createLock("file", { name, dir });
        const lease = await lock.tryAcquire();
        assert(lease !== undefined, `name ${JSON.stringify(name)} collided`);
        leases.push(lease);
      }
      // All held at once: no two names share a lock.
      for (const lease of leases) await lease.release();
      assertEquals(readdirSync(parent), ["locks"]);
      const entries = readdirSync(dir);
      assertEquals(entries.length, HOSTILE_NAMES.length);
      for (const entry of entries) {
        assert(
          /^lock-(?:[a-z0-9_~-]|%[0-9A-F]{2})+$/.test(entry),
          `entry ${entry}`,
        );
        assert(entry.length <= 200, `entry of ${entry.length} bytes`);
      }
      // dir/lock-…/v<N> and an empty dir/lock-…/pending/, nothing else.
      for (const path of walk(dir)) {
        const parts = path.split("/");
        assert(parts.length <= 2, `written at ${path}`);
        if (parts.length === 2) {
          assert(/^v\d+$|^pending$/.test(parts[1]!), path);
        }
      }
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  test("createLock(\"file\") rejects a name with a lone surrogate, naming 'name'", () => {
    const dir = mkdtempSync(join(tmpdir(), "unilock-hostile-"));
    try {
      for (const name of ["\uD800", "a\uDC00b"]) {
        assertThrows(() => createLock("file", { name, dir }), RangeError, [
          "'name'",
          "lone surrogate",
        ]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return Promise.resolve();
  });

  test("createLock(\"file\") names 'dir' when it is missing, not a string, not a directory, or open to other users", () => {
    const parent = mkdtempSync(join(tmpdir(), "unilock-hostile-"));
    try {
      const make = (dir: unknown) => () =>
        createLock("file", { name: "x", dir } as never);
      for (const dir of [undefined, "", 42, null, "a\u0000b"]) {
        assertThrows(make(dir), TypeError, ["'dir'"]);
      }
      assertThrows(make(join(parent, "missing")), TypeError, [
        "'dir'",
        "does not exist",
        "mkdir -m 700",
      ]);
      writeFileSync(join(parent, "file"), "");
      assertThrows(make(join(parent, "file")), TypeError, [
        "'dir'",
        "not a directory",
      ]);
      assertThrows(make(join(parent, "file", "sub")), TypeError, [
        "'dir'",
        "a file where a directory should be",
      ]);
      const open = join(parent, "open");
      mkdirSync(open);
      chmodSync(open, 0o777);
      assertThrows(make(open), TypeError, [
        "'dir'",
        "writable by other users",
        "777",
      ]);
      // The sticky bit (as on /tmp) keeps others from renaming what is ours.
      chmodSync(open, 0o1777);
      make(open)();
      assertThrows(
        () => createLock("file", { name: "x", dir: parent, waiterTtlMs: 5 }),
        RangeError,
        ["'waiterTtlMs'", "5"],
      );
      assertThrows(
        () =>
          createLock("file", { name: "x", dir: parent, dirr: "/" } as never),
        TypeError,
        ["'dirr'", "'dir'"],
      );
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
    return Promise.resolve();
  });

  test("FileLock refuses a lock directory replaced by a symbolic link, a file, or one open to other users, and writes nothing through it", async () => {
    const parent = mkdtempSync(join(tmpdir(), "unilock-hostile-"));
    try {
      const dir = join(parent, "locks");
      const elsewhere = join(parent, "elsewhere");
      mkdirSync(dir, { mode: 0o700 });
      mkdirSync(elsewhere, { mode: 0o700 });
      const linked = createLock("file", { name: "linked", dir });
      symlinkSync(elsewhere, join(dir, "lock-linked"));
      await assertRejects(() => linked.acquire(), LockBackendError, [
        "symbolic link",
      ]);
      assertEquals(readdirSync(elsewhere), []);
      writeFileSync(join(dir, "lock-file"), "");
      await assertRejects(
        () => createLock("file", { name: "file", dir }).tryAcquire(),
        LockBackendError,
        ["not a directory of this lock"],
      );
      mkdirSync(join(dir, "lock-open"));
      chmodSync(join(dir, "lock-open"), 0o777);
      await assertRejects(
        () => createLock("file", { name: "open", dir }).isLocked(),
        LockBackendError,
        ["writable by other users"],
      );
      assertEquals(readdirSync(join(dir, "lock-open")), []);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  test("FileLock fails with a LockBackendError, not a grant or a hang, when dir is removed while in use", async () => {
    const parent = mkdtempSync(join(tmpdir(), "unilock-hostile-"));
    try {
      const dir = join(parent, "locks");
      mkdirSync(dir, { mode: 0o700 });
      const lock = createLock("file", { name: "gone", dir });
      await (await lock.acquire()).release();
      rmSync(dir, { recursive: true });
      await assertRejects(
        () => lock.acquire({ timeoutMs: 5_000 }),
        LockBackendError,
        ["no longer exists"],
      );
      // Made again, the lock works again (its fences go on from the clock).
      mkdirSync(dir, { mode: 0o700 });
      const lease = await lock.acquire({ timeoutMs: 5_000 });
      await lease.release();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
}
