#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// Metrics, events and query(): lock events wired to a logger and to an
// OpenTelemetry-shaped meter in a few lines. unilock depends on neither: pass
// `metrics.getMeter("app")` from @opentelemetry/api, or anything of its shape.
//   node examples/observability.mjs      (after `npm run build`)
import { LockManager } from "unilock";

/**
 * Sends every event of `manager`'s locks to `meter` (a counter of grants by
 * outcome, histograms of wait and hold times) and the worrying ones to
 * `logger`. Returns the function that stops it.
 */
export function instrument(manager, { meter, logger = console }) {
  const outcomes = meter.createCounter("lock.acquisitions");
  const wait = meter.createHistogram("lock.wait.duration", { unit: "ms" });
  const hold = meter.createHistogram("lock.hold.duration", { unit: "ms" });
  return manager.subscribe((event) => {
    const attributes = { "lock.name": event.name, "lock.mode": event.mode };
    if (["grant", "busy", "timeout", "abort"].includes(event.type)) {
      outcomes.add(1, { ...attributes, "lock.outcome": event.type });
    }
    if (event.type === "grant" && event.waitMs !== undefined) {
      wait.record(event.waitMs, attributes);
    }
    if (event.holdMs !== undefined) hold.record(event.holdMs, attributes);
    if (event.type === "timeout" || event.type === "lost") {
      logger.warn(
        `lock ${event.name}: ${event.type} (owner ${event.owner ?? "?"})`,
      );
    }
  });
}

/** A stand-in for an OpenTelemetry meter that keeps what it is given. */
export function memoryMeter() {
  const points = [];
  const instrument = (name) => ({
    add: (value, attributes) => points.push({ name, value, attributes }),
    record: (value, attributes) => points.push({ name, value, attributes }),
  });
  return { points, createCounter: instrument, createHistogram: instrument };
}

/** Three jobs queue for a report lock; a fourth gives up waiting. */
export async function main() {
  const manager = new LockManager();
  const meter = memoryMeter();
  const warnings = [];
  const stop = instrument(manager, {
    meter,
    logger: { warn: (line) => warnings.push(line) },
  });
  const lock = manager.getOrCreateLock("nightly-report");
  const job = (owner, ms) =>
    lock.withLock(() => new Promise((r) => setTimeout(r, ms)), { owner });
  const first = job("job-1", 30);
  const second = job("job-2", 10);
  const third = job("job-3", 0);
  await new Promise((r) => setTimeout(r, 5));
  // Who holds, who waits: like navigator.locks.query().
  const snapshot = await manager.query();
  const late = lock.withLock(() => {}, { owner: "job-4", timeoutMs: 10 })
    .catch((error) => error.name);
  await Promise.all([first, second, third, late]);
  stop();
  return {
    snapshot,
    metrics: manager.metrics(),
    points: meter.points,
    warnings,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { snapshot, metrics, points, warnings } = await main();
  console.log("held", snapshot.held.map((h) => `${h.owner} #${h.fence}`));
  console.log("pending", snapshot.pending.map((p) => p.owner));
  console.log("warnings", warnings);
  console.log("points", points.length, "e.g.", points[0]);
  const { acquisitions, contended, timeouts, waitMs, holdMs } = metrics;
  console.log({ acquisitions, contended, timeouts, waitMs, holdMs });
}
