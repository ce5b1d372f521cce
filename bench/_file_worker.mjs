// Copyright 2026 the unilock authors. MIT license.
// One contending process of bench/file.mjs: takes one lock `rounds` times,
// holding it `holdMs` each time, and reports when each hold began and ended
// (on one timeline for every process of the host), and the
// CPU time it spent meanwhile.
//
// Usage: node _file_worker.mjs '<json: lock, dir, name, rounds, holdMs, module, options>'
const config = JSON.parse(process.argv[2]);
// The system's monotonic clock, one in every process (each process's
// timeOrigin is paired with it at start, and a start slowed by a loaded
// machine can pair them milliseconds apart).
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let acquire;
if (config.lock === "unilock") {
  const { createLock } = await import(config.module);
  const lock = createLock("file", { name: config.name, dir: config.dir });
  acquire = async () => {
    const lease = await lock.acquire();
    return () => lease.release();
  };
} else {
  const { default: lockfile } = await import(config.module);
  const file = `${config.dir}/${config.name}`;
  acquire = () => lockfile.lock(file, config.options);
}

// Warm up (modules, the lock's directory, the file system's caches).
for (let i = 0; i < 3; i++) await (await acquire())();
process.stdout.write("ready\n");
await new Promise((resolve) => process.stdin.once("data", resolve));
const holds = [];
const cpu = process.cpuUsage();
for (let i = 0; i < config.rounds; i++) {
  const release = await acquire();
  const start = now();
  await sleep(config.holdMs);
  const end = now();
  holds.push([start, end]);
  await release();
}
const used = process.cpuUsage(cpu);
process.stdout.write(
  `done ${
    JSON.stringify({ holds, cpuMs: (used.user + used.system) / 1000 })
  }\n`,
);
process.exit(0);
