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
  dropHolder,
  dropWaiter,
  enqueue,
  grant,
  holderOf,
  type Mode,
  type State,
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

  return {
    type: "file",
    target: path,
    minLeaseMs: MIN_LEASE_MS,

    // deno-lint-ignore require-await
    async acquire(request): Promise<RemoteAcquireReply> {
      const { token, leaseMs, join, priority, owner } = request;
      if (room.buried(token)) return { state: "gone" };
      const mode: Mode = request.mode === "shared" ? "s" : "x";
      const sent = performance.now();
      const lease = Math.ceil(leaseMs);
      // Set by the attempt that committed (the change may run again).
      let outcome = "busy" as "granted" | "queued" | "beat" | "busy" | "held";
      const reply = change((s, now): {
        result: RemoteAcquireReply;
        changed: boolean;
      } => {
        let changed = room.expire(s, now);
        const held = holderOf(s, token);
        if (held !== undefined) {
          // Granted by an earlier call whose answer went missing.
          outcome = "held";
          return {
            result: {
              state: "granted",
              fence: held.f,
              leaseMs: room.left(token, held.l),
              waited: held.w === 1,
            },
            changed,
          };
        }
        const queued = waiterOf(s, token);
        const key = queued?.k ?? queueKey(s.ticket + 1, priority);
        let blocking = blockers(s, mode, key, join, token);
        if (
          blocking.length > 0 &&
          room.reapDead(s, blocking.slice(0, JUDGE_LIMIT))
        ) {
          changed = true;
          blocking = blockers(s, mode, key, join, token);
        }
        if (blocking.length === 0) {
          const h = grant(s, {
            t: token,
            m: mode,
            l: lease,
            i: self,
            o: owner ?? queued?.o,
            waited: queued !== undefined,
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
          return { result: { held: false, leaseMs: 0 }, changed };
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
      return { holders: s.holders.length, waiters: s.waiters.length };
    },

    // deno-lint-ignore require-await
    async query(): Promise<LockSnapshot> {
      const s = view(true);
      const wall = Date.now();
      const info = (
        e: { m: Mode; a: number; o?: string },
        fence: number | undefined,
      ): LockInfo => ({
        name,
        mode: e.m === "x" ? "exclusive" : "shared",
        owner: e.o,
        fence,
        ageMs: Math.max(0, wall - e.a),
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
