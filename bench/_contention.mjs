// Copyright 2026 the unilock authors. MIT license.
// The measuring loops shared by the distributed-lock benchmarks. A peer is
// make(name) → acquire() → release(); `requests` counts what was sent:
// { reset(): Promise<void>, read(): Promise<number> }.

export const HOLD_MS = 10;

/** The label of the Web Locks facade's peer, in every distributed benchmark. */
export const WEB_LOCKS = "unilock through createWebLocks";

/**
 * A peer through the Web Locks facade: each contender its own manager
 * (`makeLocks()`), each acquisition one `request()` whose callback holds
 * the lock until the contender's release.
 */
export function webLocksPeer(makeLocks) {
  return (name) => {
    const locks = makeLocks();
    return () =>
      new Promise((acquired, failed) => {
        let letGo;
        const held = new Promise((r) => (letGo = r));
        const done = locks.request(name, () => {
          acquired(() => {
            letGo();
            return done;
          });
          return held;
        });
        done.catch(failed);
      });
  };
}

/**
 * The target row of the Web Locks facade (issue 14): no more requests per
 * acquisition than the core API's peer `unilock`, alone and with 10
 * contenders (`unc` and `ten` as `runScenarios` returns them).
 */
export function webLocksTarget(unc, ten) {
  const core = ten.unilock.perAcquisition;
  const facade = ten[WEB_LOCKS].perAcquisition;
  return [
    "Web Locks facade: no more requests per acquisition than the core API (uncontended; 10 contenders)",
    `${unc[WEB_LOCKS].toFixed(2)} against ${unc.unilock.toFixed(2)}; ${
      facade.toFixed(2)
    } against ${core.toFixed(2)}`,
    unc[WEB_LOCKS] <= unc.unilock && facade <= core + 0.05,
  ];
}

export function percentile(sorted, p) {
  return sorted.length
    ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
    : NaN;
}

/** Requests per acquire + release, after a warm-up pair. */
export async function uncontended(make, requests, n) {
  const acquire = make(`bench-${crypto.randomUUID()}`);
  await (await acquire())(); // warm-up (scripts, connections)
  await requests.reset();
  for (let i = 0; i < n; i++) await (await acquire())();
  return (await requests.read()) / n;
}

/**
 * `contenders` clients each take the lock `each` times and hold it HOLD_MS.
 * Returns requests per acquisition, utilization (hold time ÷ elapsed),
 * wake-up latency (a release to the next holder in another client) and the
 * overlaps seen (must be 0).
 */
export async function contended(make, requests, contenders, each) {
  const name = `bench-${crypto.randomUUID()}`;
  const acquires = Array.from({ length: contenders }, () => make(name));
  await (await acquires[0]())(); // warm-up
  await new Promise((r) => setTimeout(r, 50));
  await requests.reset();
  let held = 0, lastRelease = 0, lastHolder = -1, inside = 0, overlaps = 0;
  const wakes = [];
  const start = performance.now();
  await Promise.all(acquires.map(async (acquire, id) => {
    for (let i = 0; i < each; i++) {
      const release = await acquire();
      const got = performance.now();
      if (++inside > 1) overlaps++;
      if (lastHolder !== id && lastRelease > 0) wakes.push(got - lastRelease);
      await new Promise((r) => setTimeout(r, HOLD_MS));
      inside--;
      held += performance.now() - got;
      lastRelease = performance.now();
      lastHolder = id;
      await release();
    }
  }));
  const elapsed = performance.now() - start;
  const sent = await requests.read();
  wakes.sort((a, b) => a - b);
  return {
    perAcquisition: sent / (contenders * each),
    utilization: held / elapsed,
    p50: percentile(wakes, 0.5),
    p99: percentile(wakes, 0.99),
    overlaps,
  };
}

/**
 * Runs every peer through the three scenarios both distributed benchmarks
 * report (uncontended requests, 10 contenders, growth at 2/10/50), prints
 * their tables, and returns the first two for the targets.
 */
export async function runScenarios(peers, requests, { quick, settleMs = 0 }) {
  const contend = async (make, contenders, each) => {
    const result = await contended(make, requests, contenders, each);
    // Let what a run leaves open (idle wake-up streams) close first.
    if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
    return result;
  };
  console.log("\n## Requests per uncontended acquire + release");
  console.log("| lock | requests |\n|---|---|");
  const unc = {};
  for (const [label, make] of Object.entries(peers)) {
    unc[label] = await uncontended(make, requests, quick ? 20 : 100);
    console.log(`| ${label} | ${unc[label].toFixed(2)} |`);
  }
  console.log(`\n## 10 contenders, each holding ${HOLD_MS} ms`);
  console.log(
    "| lock | requests per acquisition | utilization | wake-up p50 | wake-up p99 | overlaps |\n|---|---|---|---|---|---|",
  );
  const ten = {};
  for (const [label, make] of Object.entries(peers)) {
    const r = ten[label] = await contend(make, 10, quick ? 3 : 10);
    console.log(
      `| ${label} | ${r.perAcquisition.toFixed(2)} | ${
        (r.utilization * 100).toFixed(0)
      }% | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${r.overlaps} |`,
    );
  }
  console.log("\n## Requests per acquisition as contention grows");
  const sizes = quick ? [[2, 5], [10, 3]] : [[2, 20], [10, 10], [50, 4]];
  console.log(
    `| lock | ${sizes.map(([c]) => `${c} contenders`).join(" | ")} |\n|---|${
      sizes.map(() => "---").join("|")
    }|`,
  );
  for (const [label, make] of Object.entries(peers)) {
    const cells = [];
    for (const [c, each] of sizes) {
      cells.push((await contend(make, c, each)).perAcquisition.toFixed(2));
    }
    console.log(`| ${label} | ${cells.join(" | ")} |`);
  }
  return { unc, ten };
}

/** Prints a targets table: [target, measured, met]. */
export function printTargets(issue, rows) {
  console.log(
    `\n## Targets (${issue})\n| target | measured | met |\n|---|---|---|`,
  );
  for (const [target, measured, met] of rows) {
    console.log(`| ${target} | ${measured} | ${met ? "yes" : "NO"} |`);
  }
}
