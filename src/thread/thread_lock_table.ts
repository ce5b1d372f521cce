// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { LockError } from "../core/errors.ts";
import { ThreadLock } from "./thread_lock.ts";
import {
  checkName,
  checkOptions,
  RESERVED_NAME_PREFIX,
  show,
} from "../core/_validate.ts";
import { createGraphBuffer } from "./_shared_wait_for.ts";
import { Guard } from "./_guard.ts";
import {
  checkThreadSupport,
  regionBytes,
  ThreadState,
} from "./_thread_state.ts";

/** Options for {@linkcode ThreadLockTable}. */
export interface ThreadLockTableOptions {
  /**
   * The most named locks the table can hold. 1 to 4096.
   *
   * @default {64}
   */
  maxLocks?: number;
  /**
   * Slots per lock: waiting acquisitions plus shared holders with a lease,
   * across all threads. 1 to 65536.
   *
   * @default {64}
   */
  capacity?: number;
  /**
   * Bytes for the locks' names (UTF-8). 1 to 16 MiB.
   *
   * @default {maxLocks * 128}
   */
  nameBytes?: number;
  /**
   * A handle from another thread's `table.handle`: the new table is the same
   * table.
   *
   * @default {undefined} create a new table
   */
  handle?: ThreadLockTableHandle;
}

/**
 * What a worker needs to reach the same {@linkcode ThreadLockTable}: send it
 * with `postMessage`.
 */
export interface ThreadLockTableHandle {
  /** Always `"unilock/thread-lock-table"`. */
  readonly kind: "unilock/thread-lock-table";
  /** The layout version. */
  readonly version: 1;
  /** The shared memory holding the table. */
  readonly buffer: SharedArrayBuffer;
  /**
   * The shared memory of the wait-for graph that a `LockManager` uses to
   * detect deadlocks among threads (see `LockDeadlockError`).
   */
  readonly graph?: SharedArrayBuffer;
}

const TABLE_MAGIC = 0x554c_4b54; // "ULKT"
const HEADER_BYTES = 32, ENTRY_BYTES = 16;
const MAX_LOCKS = 1, CAPACITY = 2, GUARD = 3, COUNT = 4, NAME_BYTES = 5;
const ARENA_USED = 6;

function align8(n: number): number {
  return (n + 7) & ~7;
}

function hash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const byte of bytes) h = Math.imul(h ^ byte, 0x01000193);
  return h | 0;
}

const encoder = new TextEncoder();

function checkInteger(
  option: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < min ||
    value > max
  ) {
    throw new RangeError(
      `Cannot create thread lock table as '${option}' must be an integer from ${min} to ${max}: current value is ${
        show(value)
      }`,
    );
  }
  return value;
}

/**
 * Named `thread` locks in one piece of shared memory, so that every thread
 * asking for a name gets the same lock. A `LockManager` keeps one for its
 * `"thread"` locks; share it by sending `manager.threads.handle` to a worker
 * and passing it as `new LockManager({ threads: handle })` there.
 *
 * @example The same named lock in two threads
 * ```ts
 * import { ThreadLockTable } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const table = new ThreadLockTable();
 * // worker.postMessage(table.handle); in the worker:
 * const there = new ThreadLockTable({ handle: table.handle });
 * const lease = await table.get("db").acquire();
 * assert.equal(await there.get("db").tryAcquire(), undefined);
 * await lease.release();
 * ```
 */
export class ThreadLockTable {
  #handle: ThreadLockTableHandle;
  #i32: Int32Array;
  #bytes: Uint8Array;
  #maxLocks: number;
  #capacity: number;
  #arenaStart: number;
  #regionsStart: number;
  #guard: Guard;
  #cache = new Map<string, ThreadLock>();

  /**
   * Creates a table in new shared memory, or opens one from a handle.
   *
   * @param options Sizes, or a handle.
   */
  constructor(options?: ThreadLockTableOptions) {
    checkOptions("create thread lock table", options);
    checkThreadSupport("create thread lock table");
    const handle = options?.handle;
    if (handle !== undefined) {
      const buffer = (handle as Partial<ThreadLockTableHandle> | null)?.buffer;
      if (
        handle === null || typeof handle !== "object" ||
        handle.kind !== "unilock/thread-lock-table" || handle.version !== 1 ||
        !(buffer instanceof SharedArrayBuffer) ||
        (handle.graph !== undefined &&
          !(handle.graph instanceof SharedArrayBuffer)) ||
        buffer.byteLength < HEADER_BYTES ||
        Atomics.load(new Int32Array(buffer, 0, 1), 0) !== TABLE_MAGIC
      ) {
        throw new TypeError(
          `Cannot open thread lock table as 'handle' is not a table handle made in this process: current value is ${
            show(handle)
          }`,
        );
      }
      this.#handle = handle;
    } else {
      const maxLocks = checkInteger(
        "maxLocks",
        options?.maxLocks ?? 64,
        1,
        4096,
      );
      const capacity = checkInteger(
        "capacity",
        options?.capacity ?? 64,
        1,
        65536,
      );
      const nameBytes = checkInteger(
        "nameBytes",
        options?.nameBytes ?? maxLocks * 128,
        1,
        16 * 1024 * 1024,
      );
      const arenaStart = HEADER_BYTES + maxLocks * ENTRY_BYTES;
      const regionsStart = align8(arenaStart + nameBytes);
      const buffer = new SharedArrayBuffer(
        regionsStart + maxLocks * regionBytes(capacity),
      );
      const i32 = new Int32Array(buffer);
      i32[MAX_LOCKS] = maxLocks;
      i32[CAPACITY] = capacity;
      i32[NAME_BYTES] = nameBytes;
      Atomics.store(i32, 0, TABLE_MAGIC);
      this.#handle = {
        kind: "unilock/thread-lock-table",
        version: 1,
        buffer,
        graph: createGraphBuffer(),
      };
    }
    const buffer = this.#handle.buffer;
    this.#i32 = new Int32Array(buffer);
    this.#bytes = new Uint8Array(buffer);
    this.#maxLocks = this.#i32[MAX_LOCKS]!;
    this.#capacity = this.#i32[CAPACITY]!;
    this.#arenaStart = HEADER_BYTES + this.#maxLocks * ENTRY_BYTES;
    this.#regionsStart = align8(this.#arenaStart + this.#i32[NAME_BYTES]!);
    this.#guard = new Guard(this.#i32, GUARD, () => this.#repair());
  }

  /** The handle to send to another thread with `postMessage`. */
  get handle(): ThreadLockTableHandle {
    return this.#handle;
  }

  /**
   * The lock named `name`, created in shared memory on first use by any
   * thread.
   *
   * @example Getting a lock by name
   * ```ts
   * import { ThreadLockTable } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const table = new ThreadLockTable({ maxLocks: 8 });
   * assert.equal(table.get("a"), table.get("a"));
   * assert.deepEqual(table.names(), ["a"]);
   * ```
   *
   * @param name The lock's name: 1 to 512 characters.
   * @returns The same lock for the same name, in every thread.
   * @throws {LockError} When the table has no room for another lock or name.
   */
  get(name: string): ThreadLock {
    const cached = this.#cache.get(name);
    if (cached !== undefined) return cached;
    checkName("get thread lock", name);
    if (name.startsWith(RESERVED_NAME_PREFIX)) {
      // A semaphore's entries hold its queue and its counts: a lock there
      // would read (or steal) the semaphore's memory as a lock's.
      throw new TypeError(
        `Cannot get thread lock as names starting with ${
          JSON.stringify(RESERVED_NAME_PREFIX)
        } are reserved for the table's semaphores: current value is ${
          show(name)
        }`,
      );
    }
    const lock = ThreadLock.fromRegion(
      name,
      this.#handle.buffer,
      this.#entry(name, ThreadState.format),
    );
    this.#cache.set(name, lock);
    return lock;
  }

  /**
   * @internal The region of entry `name` for another primitive kept in the
   * table (a thread semaphore's permits, see thread_semaphore.ts): `format`
   * writes it when the entry is made, in place of a lock's layout.
   */
  region(
    name: string,
    format: (
      buffer: SharedArrayBuffer,
      byteOffset: number,
      bytes: number,
    ) => void,
  ): { buffer: SharedArrayBuffer; byteOffset: number; bytes: number } {
    return {
      buffer: this.#handle.buffer,
      byteOffset: this.#entry(
        name,
        (buffer, byteOffset) =>
          format(buffer, byteOffset, regionBytes(this.#capacity)),
      ),
      bytes: regionBytes(this.#capacity),
    };
  }

  /** The byte offset of entry `name`'s region, made on first use. */
  #entry(
    name: string,
    format: (
      buffer: SharedArrayBuffer,
      byteOffset: number,
      capacity: number,
    ) => void,
  ): number {
    const encoded = encoder.encode(name);
    const h = hash(encoded);
    // Entries are written once and published by the count, so a lookup
    // needs no guard; only adding one does.
    const seen = Atomics.load(this.#i32, COUNT);
    let index = this.#find(encoded, h, 0, seen);
    if (index < 0) {
      this.#guard.take();
      try {
        const count = this.#i32[COUNT]!;
        index = this.#find(encoded, h, seen, count);
        if (index < 0) index = this.#add(name, encoded, h, format);
      } finally {
        this.#guard.release();
      }
    }
    return this.#regionsStart + index * regionBytes(this.#capacity);
  }

  /**
   * The names of the locks in the table, in creation order.
   *
   * @returns Every name any thread has asked for.
   */
  names(): string[] {
    const i32 = this.#i32;
    const decoder = new TextDecoder();
    const names: string[] = [];
    for (let i = 0, count = Atomics.load(i32, COUNT); i < count; i++) {
      const e = (HEADER_BYTES + i * ENTRY_BYTES) >> 2;
      const offset = i32[e + 1]!, length = i32[e + 2]!;
      // A copy: TextDecoder refuses views of shared memory in browsers.
      names.push(decoder.decode(this.#bytes.slice(offset, offset + length)));
    }
    return names;
  }

  #find(encoded: Uint8Array, h: number, from: number, to: number): number {
    const i32 = this.#i32, bytes = this.#bytes;
    for (let i = from; i < to; i++) {
      const e = (HEADER_BYTES + i * ENTRY_BYTES) >> 2;
      if (i32[e] !== h || i32[e + 2] !== encoded.length) continue;
      const offset = i32[e + 1]!;
      let same = true;
      for (let k = 0; k < encoded.length; k++) {
        if (bytes[offset + k] !== encoded[k]) {
          same = false;
          break;
        }
      }
      if (same) return i;
    }
    return -1;
  }

  #add(
    name: string,
    encoded: Uint8Array,
    h: number,
    format: (
      buffer: SharedArrayBuffer,
      byteOffset: number,
      capacity: number,
    ) => void,
  ): number {
    const i32 = this.#i32;
    const index = i32[COUNT]!;
    const used = i32[ARENA_USED]!;
    if (index >= this.#maxLocks) {
      throw new LockError(
        `Cannot create thread lock "${name}": the table holds its maximum of ${this.#maxLocks} locks; create it with a larger 'maxLocks'`,
        name,
      );
    }
    if (used + encoded.length > i32[NAME_BYTES]!) {
      throw new LockError(
        `Cannot create thread lock "${name}": the table's ${
          i32[NAME_BYTES]
        } bytes for names are used up; create it with a larger 'nameBytes'`,
        name,
      );
    }
    const offset = this.#arenaStart + used;
    // In an order that a thread dying at any point leaves harmless: the
    // name and the region (constant time: its memory is still zero) before
    // the entry, the entry before the count that publishes it, and the
    // arena's end last (the repair recomputes it from the entries).
    this.#bytes.set(encoded, offset);
    format(
      this.#handle.buffer,
      this.#regionsStart + index * regionBytes(this.#capacity),
      this.#capacity,
    );
    const e = (HEADER_BYTES + index * ENTRY_BYTES) >> 2;
    i32[e] = h;
    i32[e + 1] = offset;
    i32[e + 2] = encoded.length;
    Atomics.store(i32, COUNT, index + 1);
    i32[ARENA_USED] = used + encoded.length;
    return index;
  }

  /** After a thread died holding the guard: the arena ends where the last entry's name does. */
  #repair(): void {
    const i32 = this.#i32, count = i32[COUNT]!;
    if (count === 0) {
      i32[ARENA_USED] = 0;
      return;
    }
    const e = (HEADER_BYTES + (count - 1) * ENTRY_BYTES) >> 2;
    i32[ARENA_USED] = i32[e + 1]! + i32[e + 2]! - this.#arenaStart;
  }
}
