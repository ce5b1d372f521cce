// Copyright 2026 the unilock authors. MIT license.
// The file lock's row of the Deno permissions table (docs/file.md,
// docs/getting-started.md): run in a `deno run --no-prompt` of its own with
// the permissions the docs give (it works, judging no process by /proc,
// which Deno grants only with --allow-all), with --allow-all (it judges
// them), and without write access (refused at createLock, naming the flags).
import { assert } from "../_assert.ts";

const script = new URL("./_permissions/file.ts", import.meta.url).pathname;

async function run(flags: string[], dir: string) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, script, dir],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { ok: code === 0, out: decode(stdout), err: decode(stderr) };
}

Deno.test("file lock needs --allow-read=<dir> and --allow-write=<dir> on Deno, and --allow-all to judge processes by /proc", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "unilock-perm-" });
  try {
    const scoped = await run(
      [`--allow-read=${dir}`, `--allow-write=${dir}`],
      dir,
    );
    assert(scoped.ok, scoped.err);
    // Deno 1.43+ grants /proc only with --allow-all (CVE-2024-34346): then
    // a crashed holder is freed by its lease alone.
    assert(scoped.out.includes("ok file, judges processes: false"), scoped.out);
    const all = await run(["--allow-all"], dir);
    assert(all.ok, all.err);
    assert(all.out.includes("ok file, judges processes: true"), all.out);
    const readOnly = await run([`--allow-read=${dir}`], dir);
    assert(!readOnly.ok, "ran without --allow-write");
    assert(
      readOnly.err.includes(
        `'dir' is not writable by this process (Deno refused access; run with --allow-read=${dir} --allow-write=${dir})`,
      ),
      readOnly.err,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
