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

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/**
 * Prints one row per peer of the 10-on-3 table; returns the results. Each
 * peer first runs the workload once unmeasured (its code compiled, its
 * connections open, as in a process that has been serving a while), then
 * `rounds` times; a row gives the medians and the spread of utilization.
 * The most permits out and the over-admissions are over every round.
 */
export async function printSemaphoreTable(peers, requests, options) {
  const {
    contenders = 10,
    capacity = 3,
    holdMs = 10,
    settleMs = 0,
    rounds = 1,
  } = options;
  console.log(
    `\n## ${contenders} clients on ${capacity} permits, each holding one ${holdMs} ms${
      rounds > 1 ? ` (median of ${rounds} rounds after a warm-up round)` : ""
    }`,
  );
  console.log(
    "| semaphore | requests per acquisition | permit utilization | utilization per round | handoff p50 | most permits out | over-admissions |\n|---|---|---|---|---|---|---|",
  );
  const results = {};
  for (const [label, make] of Object.entries(peers)) {
    const runs = [];
    for (let round = rounds > 1 ? -1 : 0; round < rounds; round++) {
      const r = await semaphoreContended(make, requests, options);
      if (round >= 0) runs.push(r);
      if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
    }
    const r = results[label] = {
      perAcquisition: median(runs.map((x) => x.perAcquisition)),
      handoffP50: median(runs.map((x) => x.handoffP50)),
      utilization: median(runs.map((x) => x.utilization)),
      utilizations: runs.map((x) => x.utilization),
      most: Math.max(...runs.map((x) => x.most)),
      over: runs.reduce((sum, x) => sum + x.over, 0),
    };
    console.log(
      `| ${label} | ${r.perAcquisition.toFixed(2)} | ${
        (r.utilization * 100).toFixed(0)
      }% | ${r.utilizations.map((u) => (u * 100).toFixed(0)).join(", ")} | ${
        r.handoffP50.toFixed(1)
      } ms | ${r.most} | ${r.over} |`,
    );
  }
  return results;
}
