// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The part of a Deno KV handle the `deno-kv` lock uses: a
 * `Deno.Kv` (from `Deno.openKv()`) and the `@deno/kv` package's `Kv` both
 * have it. Written here rather than taken from either, so that the lock
 * builds on every runtime without their types.
 */

/** A Deno KV key, as far as the lock writes one. */
export type DenoKvKey =
  readonly (string | number | bigint | boolean | Uint8Array)[];

/** One entry read from Deno KV. */
export interface DenoKvEntryLike {
  /** The entry's key (any key part, as read). */
  readonly key: readonly unknown[];
  /** The value; `null` when the key does not exist. */
  readonly value: unknown;
  /** The versionstamp; `null` when the key does not exist. */
  readonly versionstamp: string | null;
}

/** An atomic operation of Deno KV (`kv.atomic()`). */
export interface DenoKvAtomicLike {
  /** Fails the commit unless `key` has `versionstamp` (`null`: absent). */
  check(
    ...checks: { key: DenoKvKey; versionstamp: string | null }[]
  ): DenoKvAtomicLike;
  /** Sets `key`; `expireIn` lets the database delete it, no sooner. */
  set(
    key: DenoKvKey,
    value: unknown,
    options?: { expireIn?: number },
  ): DenoKvAtomicLike;
  /** Deletes `key`. */
  delete(key: DenoKvKey): DenoKvAtomicLike;
  /** Applies all or nothing; `ok: false` when a check failed. */
  commit(): Promise<{ ok: boolean }>;
}

/**
 * A Deno KV database handle: `Deno.Kv` on Deno (from `Deno.openKv()`,
 * which needs `--unstable-kv`), or `@deno/kv`'s `openKv()` on Node.
 */
export interface DenoKvLike {
  /** Reads several keys at once, consistently. */
  getMany(keys: readonly DenoKvKey[]): Promise<readonly DenoKvEntryLike[]>;
  /** Lists the entries under a prefix, in key order. */
  list(
    selector: { prefix: DenoKvKey },
    options?: { limit?: number },
  ): AsyncIterable<DenoKvEntryLike>;
  /** Starts an atomic operation. */
  atomic(): DenoKvAtomicLike;
  /**
   * Streams the latest entries of `keys` whenever one changes (optional:
   * without it, waiters only poll).
   */
  watch?(
    keys: readonly DenoKvKey[],
  ): ReadableStream<readonly DenoKvEntryLike[]>;
}

/** A failure of a KV request, which says whether asking again may help. */
export class DenoKvRequestError extends Error {
  /** Whether the call is worth repeating. */
  readonly retryable: boolean;

  constructor(message: string, retryable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = "DenoKvRequestError";
    this.retryable = retryable;
  }
}
