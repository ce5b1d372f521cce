// Copyright 2026 the unilock authors. MIT license.
// One process of the file-lock part of `npm start`: takes the lock `rounds`
// times, and in each critical section does a read-modify-write of a counter
// file that only the lock keeps exact, appending its fence to a log. With
// `hold`, it takes the lock once and keeps it until it is killed.
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLock } from "unilock";

const { dir, work, rounds, hold } = JSON.parse(process.argv[2]);
const lock = createLock("file", { name: "shared-cache", dir });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (hold) {
  await lock.acquire();
  process.stdout.write("held\n");
  setInterval(() => {}, 1_000); // until SIGKILL
} else {
  const waits = [];
  for (let i = 0; i < rounds; i++) {
    const asked = performance.now();
    await lock.withLock(async (lease) => {
      waits.push(performance.now() - asked);
      const read = Number(readFileSync(join(work, "counter"), "utf8"));
      await sleep(3 + ((process.pid + i) % 5)); // a slow write
      writeFileSync(join(work, "counter"), String(read + 1));
      appendFileSync(join(work, "log"), `${lease.fence} ${process.pid}\n`);
    });
  }
  process.stdout.write(`${JSON.stringify({ pid: process.pid, waits })}\n`);
}
