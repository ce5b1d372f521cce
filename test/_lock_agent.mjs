// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A process that holds a lock of the serverless backends (`file`,
 * `deno-kv`) on command, for their adversarial tests
 * (test/node/adversarial_file.test.ts, adversarial_deno_kv.test.ts). It reads one JSON
 * command a line on stdin and answers one JSON line on stdout per command,
 * with the command's `id`:
 * `{ op: "acquire", options }` (answers the fence), `{ op: "extend", ms }`,
 * `{ op: "release" }`, `{ op: "lost" }` (whether the lease's signal
 * aborted). Usage: node _lock_agent.mjs '<json { module, type, lock }>'
 */
const config = JSON.parse(process.argv[2]);
const { createLock, createSemaphore } = await import(config.module);
const type = config.type ?? "file";
const lock = config.semaphore
  ? createSemaphore(type, config.lock)
  : createLock(type, config.lock);
let lease;
const say = (line) =>
  new Promise((resolve) =>
    process.stdout.write(`${JSON.stringify(line)}\n`, resolve)
  );
const run = async (cmd) => {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  try {
    return { ...(await ops(cmd)), ms: ms() };
  } catch (error) {
    throw Object.assign(error, { ms: ms() });
  }
};
const ops = async (cmd) => {
  switch (cmd.op) {
    case "acquire":
      lease = await lock.acquire(cmd.options ?? {});
      return { fence: lease.fence };
    case "extend":
      await lease.extend(cmd.ms);
      return { ok: true };
    case "release":
      await lease.release();
      return { ok: true };
    case "lost":
      return { lost: lease.signal.aborted };
    case "exit":
      process.exit(0);
  }
  throw new Error(`unknown op ${cmd.op}`);
};
let buffer = "";
process.stdin.on("data", (chunk) => {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf("\n")) !== -1) {
    const cmd = JSON.parse(buffer.slice(0, nl));
    buffer = buffer.slice(nl + 1);
    run(cmd).then(
      (result) => say({ id: cmd.id, ...result }),
      (error) =>
        say({
          id: cmd.id,
          error: error?.name ?? String(error),
          message: String(error?.message),
          ms: error?.ms,
        }),
    );
  }
});
await say({ ready: true, pid: process.pid });
