// Copyright 2026 the unilock authors. MIT license.
// The measuring loop of the distributed semaphore benchmarks. A peer is
// make(name) → acquire() → release(), one client per contender;
// `requests` counts what was sent: { reset(): Promise<void>, read(): Promise<number> }.

/**
 * `contenders` clients share a semaphore of `capacity` permits; each takes
 * one permit `each` times and holds it `holdMs`. Returns requests per
 * acquisition, permit utilization (permit-time held ÷ capacity × elapsed),
 * the most permits seen out at once (at most `capacity`) and how often
 * more were out than that (must be 0), and the median handoff: from a
 * holder letting go of its permit to the next one taken.
 */
export async function semaphoreContended(
  make,
  requests,
  { contenders = 10, capacity = 3, each = 10, holdMs = 10 } = {},
) {
  const name = `bench-sem-${crypto.randomUUID()}`;
  const acquires = Array.from({ length: contenders }, () => make(name));
  await (await acquires[0]())(); // warm-up (scripts, connections)
  await new Promise((r) => setTimeout(r, 50));
  await requests.reset();
  let held = 0, inUse = 0, most = 0, over = 0;
  // When each permit was let go and when one was next taken: the handoff.
  const freed = [], gaps = [];
  const start = performance.now();
  await Promise.all(acquires.map(async (acquire) => {
    for (let i = 0; i < each; i++) {
      const release = await acquire();
      const got = performance.now();
      if (freed.length > 0) gaps.push(got - freed.shift());
      most = Math.max(most, ++inUse);
      if (inUse > capacity) over++;
      await new Promise((r) => setTimeout(r, holdMs));
      inUse--;
      const done = performance.now();
      held += done - got;
      freed.push(done);
      await release();
    }
  }));
  const elapsed = performance.now() - start;
  const sent = await requests.read();
  gaps.sort((a, b) => a - b);
  return {
    perAcquisition: sent / (contenders * each),
    handoffP50: gaps[gaps.length >> 1] ?? 0,
    utilization: held / (capacity * elapsed),
    most,
    over,
  };
}

/** Prints one row per peer of the 10-on-3 table; returns the results. */
export async function printSemaphoreTable(peers, requests, options) {
  const { contenders = 10, capacity = 3, holdMs = 10, settleMs = 0 } = options;
  console.log(
    `\n## ${contenders} clients on ${capacity} permits, each holding one ${holdMs} ms`,
  );
  console.log(
    "| semaphore | requests per acquisition | permit utilization | handoff p50 | most permits out | over-admissions |\n|---|---|---|---|---|---|",
  );
  const results = {};
  for (const [label, make] of Object.entries(peers)) {
    const r = results[label] = await semaphoreContended(
      make,
      requests,
      options,
    );
    console.log(
      `| ${label} | ${r.perAcquisition.toFixed(2)} | ${
        (r.utilization * 100).toFixed(0)
      }% | ${r.handoffP50.toFixed(1)} ms | ${r.most} | ${r.over} |`,
    );
    if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
  }
  return results;
}
