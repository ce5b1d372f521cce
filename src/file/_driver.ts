// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The `file` backend as a driver of the remote-lock core: the
 * "server" is the lock's directory, and each operation is one atomic change
 * of its state file (`_store.ts`), done synchronously (a few system calls of
 * a few microseconds each on a local file system), so that no call is ever
 * in flight when the core gives up on it.
 *
 * A waiter is granted by its own call: a release only frees the lock, and
 * the file event of that change (or the 50 ms poll) wakes the waiters that
 * can now go, which then take it. So every lease is written by the call
 * whose send time the core reckons it from.
 */

import type { LockInfo, LockSnapshot } from "../core/types.ts";
import { queueKey } from "../core/_validate.ts";
import type {
  RemoteAcquireReply,
  RemoteDriver,
  RemoteWatch,
} from "../remote/driver.ts";
import { JUDGE_LIMIT, roomOf } from "./_room.ts";
import {
  blockers,
  capacityOf,
  dropHolder,
  dropWaiter,
  enqueue,
  grant,
  type Holder,
  holderOf,
  type Mode,
  permitsHeld,
  type State,
  STOLEN_KEPT,
  type Waiter,
  waiterOf,
} from "./_state.ts";
import { FileFault, StateStore } from "./_store.ts";
import type { System } from "./_system.ts";

/** The shortest lease, in ms. */
export const MIN_LEASE_MS = 100;

/** What the driver needs, checked by `FileLock`. */
export interface FileDriverOptions {
  readonly name: string;
  /** The lock's directory: inside the user's `dir`. */
  readonly path: string;
  /** The user's `dir`, resolved. */
  readonly dir: string;
  /** The lock's directory name in `dir`. */
  readonly entry: string;
  readonly waiterTtlMs: number;
  readonly sys: System;
}

/** The file driver for one lock name. */
export function fileDriver(options: FileDriverOptions): RemoteDriver {
  const { name, path, dir, entry, waiterTtlMs: ttl, sys } = options;
  const room = roomOf(sys, path, () => new StateStore(sys, dir, entry));
  const store = room.store;
  const self = sys.self;

  /** One atomic change, then the wake-ups it brings in this process. */
  const change = <R>(
    fn: (state: State, now: number) => { result: R; changed: boolean },
  ): R => {
    const { result, state } = store.update((s) => {
      const now = performance.now();
      room.observe(s, now);
      return fn(s, now);
    });
    room.observe(state, performance.now());
    // Another lock object of this process may wait for what this freed.
    room.wake(state);
    return result;
  };

  /**
   * The state now, without the dead: `query()` judges every entry,
   * `status()` (isLocked, often called) the holders and the first waiters.
   */
  const view = (all: boolean): State =>
    change((s, now) => {
      const changed = room.expire(s, now);
      const suspects = [
        ...s.holders,
        ...(all ? s.waiters : s.waiters.slice(0, JUDGE_LIMIT)),
      ];
      return { result: s, changed: room.reapDead(s, suspects) || changed };
    });

  /**
   * Whether a request of `capacity` (0: a lock's) disagrees with the name's
   * holders and waiters: their capacity, once the dead among them are gone
   * (a crashed client of an old capacity must not hold the name to it).
   */
  const mismatch = (
    s: State,
    capacity: number,
  ): { theirs: number | undefined; reaped: boolean } => {
    let current = capacityOf(s);
    if (current === undefined || current === capacity) {
      return { theirs: undefined, reaped: false };
    }
    // Judged anew: a process that died a moment ago must not make a
    // refusal (which is final, not retried) of a name that is free.
    const reaped = room.reapDead(s, [...s.holders, ...s.waiters], true);
    if (reaped) current = capacityOf(s);
    return {
      theirs: current === undefined || current === capacity
        ? undefined
        : current,
      reaped,
    };
  };

  /**
   * Whom an acquisition judges by their process: every holder in its way
   * (one liveness check per process, however many leases it holds: a dead
   * holder granted after many live ones must not keep its permits), and
   * the first waiters before it.
   */
  const suspects = (blocking: readonly (Holder | Waiter)[]) => {
    const holders = blocking.filter((e): e is Holder => "f" in e);
    return [
      ...holders,
      ...blocking.filter((e) => !("f" in e)).slice(0, JUDGE_LIMIT),
    ];
  };

  /** A lease's grant reply, as its own earlier call left it. */
  const regrant = (
    token: string,
    held: { f: number; l: number; w: 0 | 1 },
  ): RemoteAcquireReply => ({
    state: "granted",
    fence: held.f,
    leaseMs: room.left(token, held.l),
    waited: held.w === 1,
  });

  return {
    type: "file",
    target: path,
    minLeaseMs: MIN_LEASE_MS,
    semaphores: true,

    // deno-lint-ignore require-await
    async acquire(request): Promise<RemoteAcquireReply> {
      const { token, leaseMs, join, priority, owner, permits } = request;
      const capacity = permits === undefined ? 0 : request.capacity ?? 0;
      // A semaphore's entries carry their permits and capacity.
      const weight = permits === undefined ? {} : { p: permits, c: capacity };
      if (room.buried(token)) return { state: "gone" };
      const mode: Mode = request.mode === "shared" ? "s" : "x";
      const sent = performance.now();
      const lease = Math.ceil(leaseMs);
      // Set by the attempt that committed (the change may run again).
      let outcome = "busy" as
        | "granted"
        | "queued"
        | "beat"
        | "busy"
        | "held"
        | "capacity";
      const reply = change((s, now): {
        result: RemoteAcquireReply;
        changed: boolean;
      } => {
        let changed = room.expire(s, now);
        const held = holderOf(s, token);
        if (held !== undefined) {
          // Granted by an earlier call whose answer went missing.
          outcome = "held";
          return { result: regrant(token, held), changed };
        }
        const refused = mismatch(s, capacity);
        changed ||= refused.reaped;
        const theirs = refused.theirs;
        if (theirs !== undefined) {
          outcome = "capacity";
          return {
            result: { state: "capacity", capacity: theirs },
            changed,
          };
        }
        const queued = waiterOf(s, token);
        const key = queued?.k ?? queueKey(s.ticket + 1, priority);
        let blocking = blockers(s, mode, key, join, token, permits);
        if (blocking.length > 0 && room.reapDead(s, suspects(blocking))) {
          changed = true;
          blocking = blockers(s, mode, key, join, token, permits);
        }
        if (blocking.length === 0) {
          const h = grant(s, {
            t: token,
            m: mode,
            l: lease,
            i: self,
            o: owner ?? queued?.o,
            waited: queued !== undefined,
            ...weight,
          }, Date.now());
          outcome = "granted";
          return {
            result: {
              state: "granted",
              fence: h.f,
              leaseMs: lease,
              waited: queued !== undefined,
            },
            changed: true,
          };
        }
        if (!join) {
          outcome = "busy";
          return { result: { state: "busy" }, changed };
        }
        const retryMs = Math.max(1, Math.floor(ttl / 3));
        if (queued !== undefined) {
          if (room.beatDue(token, ttl, now)) {
            queued.r++;
            outcome = "beat";
            changed = true;
          } else outcome = "queued";
          return { result: { state: "queued", retryMs }, changed };
        }
        s.ticket++;
        const waiter = {
          t: token,
          m: mode,
          k: key,
          l: lease,
          r: 0,
          e: ttl,
          a: Math.floor(Date.now()),
          i: self,
          ...weight,
        };
        enqueue(s, owner === undefined ? waiter : { ...waiter, o: owner });
        outcome = "beat";
        return { result: { state: "queued", retryMs }, changed: true };
      });
      if (outcome === "granted") room.wrote(token, sent);
      else if (outcome === "beat") room.beat(token, sent);
      return reply;
    },

    // deno-lint-ignore require-await
    async steal(request): Promise<RemoteAcquireReply> {
      const { token, leaseMs, owner } = request;
      if (room.buried(token)) return { state: "gone" };
      const sent = performance.now();
      const lease = Math.ceil(leaseMs);
      let granted = false;
      const reply = change((s, now): {
        result: RemoteAcquireReply;
        changed: boolean;
      } => {
        const changed = room.expire(s, now);
        const held = holderOf(s, token);
        // Granted by an earlier call whose answer went missing: nobody is
        // revoked again.
        if (held !== undefined) {
          return { result: regrant(token, held), changed };
        }
        const refused = mismatch(s, 0);
        const theirs = refused.theirs;
        if (theirs !== undefined) {
          return {
            result: { state: "capacity", capacity: theirs },
            changed: changed || refused.reaped,
          };
        }
        // Every holder's lease ends in this one change; their tokens are
        // kept so that their renewals say why. The waiters keep their places.
        s.stolen = [...s.stolen, ...s.holders.map((h) => h.t)].slice(
          -STOLEN_KEPT,
        );
        s.holders = [];
        const h = grant(s, {
          t: token,
          m: "x",
          l: lease,
          i: self,
          o: owner,
          waited: false,
        }, Date.now());
        granted = true;
        return {
          result: { state: "granted", fence: h.f, leaseMs: lease },
          changed: true,
        };
      });
      if (granted) room.wrote(token, sent);
      return reply;
    },

    // deno-lint-ignore require-await
    async release(token): Promise<boolean> {
      room.bury(token);
      return change((s, now) => {
        const changed = room.expire(s, now);
        if (dropHolder(s, token)) return { result: true, changed: true };
        return { result: false, changed: dropWaiter(s, token) || changed };
      });
    },

    // deno-lint-ignore require-await
    async extend(token, leaseMs, seq) {
      const sent = performance.now();
      const ms = Math.ceil(leaseMs);
      let applied = false;
      const reply = change((s, now) => {
        const changed = room.expire(s, now);
        const h = holderOf(s, token);
        if (h === undefined) {
          const stolen = s.stolen.includes(token);
          return {
            result: stolen
              ? { held: false, stolen, leaseMs: 0 }
              : { held: false, leaseMs: 0 },
            changed,
          };
        }
        // A late call changes nothing: it answers what stands.
        if (seq <= h.q) {
          return {
            result: { held: true, leaseMs: room.left(token, h.l) },
            changed,
          };
        }
        h.q = seq;
        h.l = ms;
        applied = true;
        return { result: { held: true, leaseMs: ms }, changed: true };
      });
      if (applied) room.wrote(token, sent);
      return reply;
    },

    // deno-lint-ignore require-await
    async cancel(token) {
      room.bury(token);
      return change((s, now) => {
        const changed = room.expire(s, now);
        if (holderOf(s, token) !== undefined) {
          return { result: "held" as const, changed };
        }
        return {
          result: "cancelled" as const,
          changed: dropWaiter(s, token) || changed,
        };
      });
    },

    // deno-lint-ignore require-await
    async status() {
      const s = view(false);
      const capacity = capacityOf(s) ?? 0;
      // A lock's status stays as it was: a semaphore's adds its permits.
      return capacity === 0
        ? { holders: s.holders.length, waiters: s.waiters.length }
        : {
          holders: s.holders.length,
          waiters: s.waiters.length,
          permits: permitsHeld(s),
          capacity,
        };
    },

    // deno-lint-ignore require-await
    async query(): Promise<LockSnapshot> {
      const s = view(true);
      const wall = Date.now();
      const info = (
        e: { m: Mode; a: number; o?: string; p?: number },
        fence: number | undefined,
      ): LockInfo => ({
        name,
        mode: e.m === "x" ? "exclusive" : "shared",
        owner: e.o,
        fence,
        ageMs: Math.max(0, wall - e.a),
        // A semaphore's entries say their permits; a lock's stay as they were.
        ...(e.p === undefined ? {} : { permits: e.p }),
      });
      return {
        held: [...s.holders].sort((a, b) => a.f - b.f).map((h) => info(h, h.f)),
        pending: s.waiters.map((w) => info(w, undefined)),
      };
    },

    watch(token, onWake): RemoteWatch {
      const registration = room.register(token, () => onWake(undefined));
      return {
        get listening(): boolean {
          return registration.listening();
        },
        listen: () => Promise.resolve(registration.listen()),
        stop: () => registration.stop(),
      };
    },

    retryable(error: unknown): boolean {
      return error instanceof FileFault ? error.retryable : true;
    },
  };
}
