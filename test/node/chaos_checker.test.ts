// Copyright 2026 the unilock authors. MIT license.
/**
 * The chaos checker's steal rule, on records shaped as the full run's one
 * `upstash/steal` overlap: holder H (not yet told of a steal), a section B
 * granted while H still believed, no steal recorded between them, and the
 * thief's one recorded section starting just after B's. A steal whose grant
 * came back after its lease ran out is given back and stolen again within
 * the same acquisition: the lock was taken from H when the thief asked, and
 * free between the two steals. The checker must excuse H's belief from the
 * moment the steal was asked for, and still count an overlap no steal
 * explains.
 */
import { test } from "vitest";
import { assert, assertEquals } from "../_assert.ts";
// @ts-expect-error: plain JavaScript without declarations
import { check } from "../chaos/_checker.mjs";
// @ts-expect-error: plain JavaScript without declarations
import { R, WRITE } from "../chaos/_workload.mjs";

interface Section {
  fence: number;
  client: number;
  start: number;
  end: number;
  steal?: boolean;
  asked?: number;
  /** Its process stalled past its lease (a pause) while it was granted or held. */
  stalled?: boolean;
  write?: number;
}

/** One exclusive, unlost 900 ms lease's record, as a client sends it. */
function record(s: Section): number[] {
  const r: number[] = [];
  r[R.name] = 0;
  r[R.fence] = s.fence;
  r[R.client] = s.client;
  r[R.shared] = 0;
  r[R.start] = s.start;
  r[R.end] = s.end;
  r[R.lost] = 0;
  r[R.write] = s.write ?? WRITE.accepted;
  r[R.lostAt] = 0;
  r[R.method] = 0;
  r[R.slack] = 0;
  r[R.stalled] = s.stalled ? 1 : 0;
  r[R.extend] = 0;
  r[R.leaseMs] = 900;
  r[R.unexpected] = 0;
  r[R.stolen] = 0;
  r[R.steal] = s.steal ? 1 : 0;
  r[R.inForceMs] = 900;
  r[R.asked] = s.asked ?? s.start;
  return r;
}

function report(
  sections: Section[],
): { overlaps: number; fenceOrder: number } {
  const accepted = sections.filter((s) => s.write !== WRITE.rejected).length;
  return check({
    names: ["name"],
    results: [{ counts: {}, errors: [], records: sections.map(record) }],
    store: {
      name: { value: accepted, accepted, rejected: sections.length - accepted },
    },
  });
}

function overlaps(sections: Section[]): number {
  return report(sections).overlaps;
}

const holder = { fence: 10, client: 3, start: 1_000, end: 1_753 };
const next = { fence: 20, client: 100, start: 1_738, end: 1_760 };

test("check() excuses a holder's belief from when a steal was asked for, its grant given back and stolen again", () => {
  const thief = {
    fence: 30,
    client: 101,
    start: 1_738.3,
    end: 1_790,
    steal: true,
    asked: 1_100,
  };
  assert(
    overlaps([holder, next, thief]) === 0,
    "a holder whose lock a steal took (asked for 638 ms before the next grant) was counted as overlapping it",
  );
});

test("check() counts an overlap when the only steal came after both sections began", () => {
  const thief = { fence: 30, client: 101, start: 1_738.3, end: 1_790 };
  assert(
    overlaps([holder, next, { ...thief, steal: true }]) === 1,
    "two holders, no steal between them, went uncounted",
  );
  assert(overlaps([holder, next]) === 1, "two holders went uncounted");
});

// A thread's grant that arrived just before another task of its isolate
// busy-waited past the lease: the lease was reaped and granted again while
// the isolate stood still, and the first grant's section began after its
// successor's (the quick chaos run's one thread/paused-holder failure).
const reaped = {
  fence: 12,
  client: 4,
  start: 2_900,
  end: 2_910,
  stalled: true,
  write: WRITE.rejected,
};
const successor = { fence: 13, client: 5, start: 2_600, end: 2_640 };

test("check() leaves a section granted across a stall past its lease out of the fence order", () => {
  const { fenceOrder, overlaps } = report([successor, reaped]);
  assert(
    fenceOrder === 0 && overlaps === 0,
    `a section whose grant outlived its lease in a stalled isolate was counted: fence order ${fenceOrder}, overlaps ${overlaps}`,
  );
});

test("check() counts a section that began after its successor when no stall explains it", () => {
  const { fenceOrder } = report([successor, { ...reaped, stalled: false }]);
  assert(fenceOrder === 1, `fence order ${fenceOrder}, not 1`);
});

/** A 900 ms lease lost 100 ms in while its holder was healthy, as strict leases record it. */
function lostRecord(client: number): number[] {
  const r = record({ fence: 10, client, start: 1_000, end: 1_400 });
  r[R.lost] = 1;
  r[R.lostAt] = 1_100;
  r[R.unexpected] = 1;
  return r;
}

function lostCounts(
  client: number,
  slow: { lock: string; from: number; to: number; process?: number }[],
): { unexpectedLost: number; lostToSlowBackend: number } {
  return check({
    names: ["name"],
    results: [{
      counts: {},
      errors: [],
      records: [lostRecord(client)],
      slow,
    }],
    store: { name: { value: 1, accepted: 1, rejected: 0 } },
  });
}

test("check() excuses a lost lease by a slow call its own client process timed, and not by another process's", () => {
  // A grant that took 400 ms to reach process 2, whose task 3 held it.
  const call = { lock: "name", from: 550, to: 950 };
  const own = lostCounts(203, [{ ...call, process: 2 }]);
  assertEquals(own.unexpectedLost, 0);
  assertEquals(own.lostToSlowBackend, 1);
  const other = lostCounts(203, [{ ...call, process: 1 }]);
  assertEquals(other.unexpectedLost, 1);
  assertEquals(other.lostToSlowBackend, 0);
  // What the proxy timed (no process) may explain any client's loss.
  assertEquals(lostCounts(203, [call]).lostToSlowBackend, 1);
  // A call shorter than half a renewal's period (900 / 6 ms) explains nothing.
  const quick = lostCounts(203, [{ lock: "name", from: 900, to: 1_000 }]);
  assertEquals(quick.unexpectedLost, 1);
});
