// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal A second client in its own process, for the Web Locks steps
 * that involve other clients. argv[2] is the manager's type and options as
 * JSON. Commands come on stdin, one JSON object a line; answers go to
 * stdout the same way: `{ ready, clientId }` first, then
 * `{ granted, name, fence }` when a held request's callback runs,
 * `{ settled, name, ok, error?, message? }` when it settles, and
 * `{ snapshot }` for a query.
 */
import { createWebLocks, type LockType } from "../../mod.ts";
import { createInterface } from "node:readline";
import process from "node:process";

const { type, options } = JSON.parse(process.argv[2]!) as {
  type: LockType;
  options: Record<string, unknown>;
};
const locks = createWebLocks(type, options as never);
const send = (message: object) =>
  process.stdout.write(`${JSON.stringify(message)}\n`);
const releases = new Map<string, () => void>();

createInterface({ input: process.stdin }).on("line", async (line) => {
  const command = JSON.parse(line) as { op: string; name?: string };
  const name = command.name!;
  switch (command.op) {
    case "hold":
      locks.request(name, (lock) => {
        send({ granted: true, name, fence: lock.fence });
        return new Promise<void>((resolve) => releases.set(name, resolve));
      }).then(
        () => send({ settled: true, name, ok: true }),
        (error: Error) =>
          send({
            settled: true,
            name,
            ok: false,
            error: error.name,
            message: error.message,
          }),
      );
      break;
    case "release":
      releases.get(name)?.();
      break;
    case "query":
      send({ snapshot: await locks.query() });
      break;
    case "exit":
      process.exit(0);
  }
});
send({ ready: true, clientId: locks.clientId });
