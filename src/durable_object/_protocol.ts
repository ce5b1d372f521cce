// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The lock service's wire protocol, defined once: the paths, the
 * request and reply bodies, the socket messages, the status codes, the
 * limits and the checks of each. The Durable Object (workers/durable_object.ts),
 * the HTTP service (workers/worker.ts) and the HTTP client (_lock_service.ts)
 * all import it, so the two ends cannot drift apart; docs/http-api.md
 * describes it for other languages. It must load on every runtime: no
 * `cloudflare:workers` here.
 */

import type { LockMode } from "../core/types.ts";
import { MAX_PERMITS } from "../core/types.ts";
import { show } from "../core/_validate.ts";

// ---------------------------------------------------------------- paths

/** The protocol's version, the first segment of every path. */
export const API_VERSION = "v1";

/** The health check's path (no auth). */
export const HEALTH_PATH = "/v1/health";

/** What a lock's calls are named, on a path or in a socket message. */
export type LockOp =
  | "acquire"
  | "release"
  | "extend"
  | "cancel"
  | "status"
  | "query"
  | "steal";

/** Every {@linkcode LockOp}, in the order errors list them. */
export const LOCK_OPS: readonly LockOp[] = [
  "acquire",
  "release",
  "extend",
  "cancel",
  "status",
  "query",
  "steal",
];

/** The ops that carry a JSON body (`POST`); the others are `GET`. */
export function hasBody(op: LockOp): boolean {
  return op !== "status" && op !== "query";
}

/**
 * A lock's path for `op` (`status` is the lock's own path), or its socket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lockPath } from "./_protocol.ts";
 * assert.equal(lockPath("a/b", "release"), "/v1/locks/a%2Fb/release");
 * assert.equal(lockPath("a", "status"), "/v1/locks/a");
 * ```
 */
export function lockPath(name: string, op: LockOp | "socket"): string {
  const base = `/${API_VERSION}/locks/${encodeURIComponent(name)}`;
  return op === "status" ? base : `${base}/${op}`;
}

const LOCK_ROUTE =
  /^\/v1\/locks\/([^/]+)(?:\/(acquire|release|extend|cancel|query|steal|socket))?$/;

/**
 * Reads a lock path: the name still percent-encoded (decode it with
 * {@linkcode checkLockName}) and the op, or undefined for no lock route.
 */
export function parseLockPath(
  path: string,
): { encodedName: string; op: LockOp | "socket" } | undefined {
  const match = LOCK_ROUTE.exec(path);
  if (match === null) return undefined;
  return {
    encodedName: match[1]!,
    op: (match[2] ?? "status") as LockOp | "socket",
  };
}

// ---------------------------------------------------------------- auth

/** The WebSocket subprotocol of the lock service. */
export const SOCKET_PROTOCOL = "unilock.v1";

/**
 * A client that cannot set headers (a browser's `WebSocket`) offers the
 * secret as the subprotocol `unilock.bearer.<base64url of the secret>`.
 */
export const BEARER_PROTOCOL_PREFIX = "unilock.bearer.";

// ---------------------------------------------------------------- limits

/** The longest HTTP body the service reads, in UTF-8 bytes. */
export const MAX_BODY_BYTES = 4096;
/** The longest socket message the object reads, in UTF-8 bytes. */
export const MAX_MESSAGE_BYTES = 4096;
/** A token's length, in characters (UTF-16 code units). */
export const TOKEN_LENGTH = { min: 8, max: 128 } as const;
/** An owner label's length, in characters. */
export const OWNER_LENGTH = { min: 1, max: 256 } as const;
/** A lock name's length, in characters, once percent-decoded. */
export const NAME_LENGTH = { min: 1, max: 512 } as const;
/** A lease's length, in ms (up to 24 days). */
export const LEASE_MS = { min: 100, max: 2_073_600_000 } as const;
/** The `waitMs` an acquire may ask for; the object caps it at {@linkcode MAX_WAIT_MS}. */
export const WAIT_MS = { min: 0, max: 2_147_483_647 } as const;
/** A waiter's priority. */
export const PRIORITY = { min: -100, max: 100 } as const;
/** A semaphore request's `permits` and `capacity`. */
export const PERMITS: { readonly min: 1; readonly max: number } = {
  min: 1,
  max: MAX_PERMITS,
};
/** The longest one acquire call waits; clients call again with the same token. */
export const MAX_WAIT_MS = 25_000;
/**
 * How many tokens (waiting or holding) one socket may have at once; an
 * acquire past it answers {@linkcode STATUS.tooManyCalls}.
 */
export const MAX_SOCKET_TOKENS = 1024;
/**
 * How long the object remembers a token it released or cancelled (a
 * tombstone), and answers a late acquire for it `"gone"`: 120 s, longer
 * than one call's longest wait (25 s) and silence bound (2 s) plus a
 * client's retries of it (3 more of those, 81 s). A client must not send
 * a call for a token later than this after it released or cancelled it.
 */
export const TOMBSTONE_MS = 120_000;

// ---------------------------------------------------------------- status

/** The HTTP statuses of the service (a socket error answer carries one too). */
export const STATUS = {
  /** Every answer of a call the object made, even "busy" or "gone". */
  ok: 200,
  /** A field is missing or wrong; `error` names it. */
  badRequest: 400,
  /** No or a wrong bearer secret. */
  unauthorized: 401,
  /** No such route. */
  notFound: 404,
  /** The wrong method for the route. */
  methodNotAllowed: 405,
  /** A body or message larger than its limit. */
  tooLarge: 413,
  /** A body that is not `application/json`. */
  unsupportedType: 415,
  /** `/socket` without a WebSocket upgrade. */
  upgradeRequired: 426,
  /** A socket with {@linkcode MAX_SOCKET_TOKENS} tokens already. */
  tooManyCalls: 429,
  /** The service is misconfigured, or the object failed: retry by token. */
  unavailable: 503,
} as const;

/** A call the service or object refused, with the status to answer. */
export class ProtocolError extends TypeError {
  /** The HTTP status (or socket answer status) for this refusal. */
  readonly status: number;

  /**
   * @param status One of {@linkcode STATUS}.
   * @param message What is wrong, naming the field.
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "TypeError";
    this.status = status;
  }
}

// ---------------------------------------------------------------- requests

/** The body of `acquire` (and the RPC argument). */
export interface AcquireRequest {
  /** The client-made token that names this acquisition (and its lease). */
  token: string;
  /** `"exclusive"` or `"shared"`. @default {"exclusive"} */
  mode: LockMode;
  /** The lease length, in ms. */
  leaseMs: number;
  /** How long this call may wait, in ms; capped at {@linkcode MAX_WAIT_MS}. @default {0} */
  waitMs: number;
  /**
   * Where the waiter queues: an integer from -100 to 100, higher first, aged
   * so that nobody starves (the queue is ordered by `ticket - priority * 10`;
   * see `AcquireOptions.priority`). Only the first call that queues counts.
   * @default {0}
   */
  priority?: number;
  /** Who is acquiring, as a label shown by `query()`: 1 to 256 characters. */
  owner?: string;
  /**
   * A semaphore's request: how many permits it takes, 1 to `capacity`
   * (with `capacity`; `mode` is then `"shared"`, its default). Without it, a
   * lock's request: exclusive holds all of an unbounded capacity, shared 1.
   * The head of the queue is admitted while the permits held plus its own
   * fit the capacity; nobody behind it goes first.
   */
  permits?: number;
  /**
   * With `permits`: the semaphore's capacity, 1 to 10^9, the same on every
   * request for the name. One that disagrees with the name's holders and
   * waiters is answered `{ ok: false, reason: "capacity", capacity }` (0:
   * they hold it as a lock); a name takes a new capacity only while nobody
   * holds or waits for it.
   */
  capacity?: number;
}

/** The body of `extend` (the RPC takes its fields as arguments). */
export interface ExtendRequest {
  /** The lease's token. */
  token: string;
  /** The lease ends this long after the call reaches the object. */
  leaseMs: number;
  /**
   * Orders a lease's extends and renewals: a call whose `seq` is not higher
   * than one already applied for the token changes nothing. Without it
   * (older clients), every call applies.
   */
  seq?: number;
}

function fieldError(name: string, expected: string, value: unknown): never {
  throw new ProtocolError(
    STATUS.badRequest,
    `'${name}' must be ${expected}: current value is ${
      value === undefined ? "missing" : show(value)
    }`,
  );
}

function lengthIn(
  name: string,
  value: unknown,
  { min, max }: { min: number; max: number },
): string {
  if (typeof value !== "string" || value.length < min || value.length > max) {
    fieldError(name, `a string of ${min} to ${max} characters`, value);
  }
  return value;
}

function numberIn(
  name: string,
  value: unknown,
  { min, max }: { min: number; max: number },
  what = "a number of ms",
): number {
  if (typeof value !== "number" || !(value >= min && value <= max)) {
    fieldError(name, `${what} from ${min} to ${max}`, value);
  }
  return value;
}

/** Checks a token: a string of 8 to 128 characters. */
export function checkToken(value: unknown): string {
  return lengthIn("token", value, TOKEN_LENGTH);
}

/** Checks the body (or argument) of a call that takes only a token. */
export function checkTokenRequest(body: unknown): { token: string } {
  return { token: checkToken(asObject(body).token) };
}

function asObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ProtocolError(
      STATUS.badRequest,
      "The body must be a JSON object",
    );
  }
  return body as Record<string, unknown>;
}

/**
 * Checks an acquire's body, filling in the defaults; throws a
 * {@linkcode ProtocolError} naming the first bad field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkAcquireRequest } from "./_protocol.ts";
 * const request = checkAcquireRequest({ token: "tok_12345678", leaseMs: 500 });
 * assert.equal(request.mode, "exclusive");
 * assert.equal(request.waitMs, 0);
 * ```
 */
export function checkAcquireRequest(body: unknown): AcquireRequest {
  const b = asObject(body);
  const token = checkToken(b.token);
  const semaphore = b.capacity !== undefined || b.permits !== undefined;
  const mode = b.mode ?? (semaphore ? "shared" : "exclusive");
  if (mode !== "exclusive" && mode !== "shared") {
    fieldError("mode", `"exclusive" or "shared"`, mode);
  }
  let counted: { permits: number; capacity: number } | undefined;
  if (semaphore) {
    const capacity = countIn("capacity", b.capacity, PERMITS.max);
    const permits = countIn("permits", b.permits, capacity);
    if (mode !== "shared") {
      fieldError("mode", `"shared" for a semaphore request`, mode);
    }
    counted = { permits, capacity };
  }
  const leaseMs = numberIn("leaseMs", b.leaseMs, LEASE_MS);
  const waitMs = b.waitMs === undefined
    ? 0
    : numberIn("waitMs", b.waitMs, WAIT_MS);
  const priority = b.priority ?? 0;
  if (
    !Number.isInteger(priority) || (priority as number) < PRIORITY.min ||
    (priority as number) > PRIORITY.max
  ) {
    fieldError(
      "priority",
      `an integer from ${PRIORITY.min} to ${PRIORITY.max}`,
      priority,
    );
  }
  const owner = b.owner === undefined
    ? undefined
    : lengthIn("owner", b.owner, OWNER_LENGTH);
  return {
    token,
    mode,
    leaseMs,
    waitMs,
    priority: priority as number,
    ...(owner === undefined ? {} : { owner }),
    ...counted,
  };
}

function countIn(name: string, value: unknown, max: number): number {
  if (
    !Number.isInteger(value) || (value as number) < 1 || (value as number) > max
  ) {
    fieldError(name, `an integer from 1 to ${max}`, value);
  }
  return value as number;
}

/** Checks an extend's body; `seq` is optional. */
export function checkExtendRequest(body: unknown): ExtendRequest {
  const b = asObject(body);
  const token = checkToken(b.token);
  const leaseMs = numberIn("leaseMs", b.leaseMs, LEASE_MS);
  if (b.seq === undefined) return { token, leaseMs };
  if (!Number.isSafeInteger(b.seq) || (b.seq as number) < 0) {
    fieldError("seq", "a non-negative integer", b.seq);
  }
  return { token, leaseMs, seq: b.seq as number };
}

/**
 * Decodes and checks a lock name from a path segment.
 *
 * @throws {ProtocolError} 400 for bad percent-encoding or a bad length.
 */
export function checkLockName(encoded: string): string {
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    throw new ProtocolError(
      STATUS.badRequest,
      "'name' is not valid percent-encoding",
    );
  }
  if (name.length < NAME_LENGTH.min || name.length > NAME_LENGTH.max) {
    throw new ProtocolError(
      STATUS.badRequest,
      `'name' must be ${NAME_LENGTH.min} to ${NAME_LENGTH.max} characters: current length is ${name.length}`,
    );
  }
  return name;
}

// ---------------------------------------------------------------- sizes

/**
 * The UTF-8 length of `text`, counted without encoding it (a lone surrogate
 * counts as the 3 bytes of U+FFFD, as `TextEncoder` writes it).
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (
      unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length &&
      (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Whether `text` is longer than `maxBytes` in UTF-8, deciding by its
 * UTF-16 length alone where that settles it (a code unit is 1 to 3 bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { overBytes } from "./_protocol.ts";
 * assert.ok(overBytes("€".repeat(2000), 4096)); // 6000 bytes
 * assert.ok(!overBytes("e".repeat(4096), 4096));
 * ```
 */
export function overBytes(text: string, maxBytes: number): boolean {
  if (text.length > maxBytes) return true;
  if (text.length * 3 <= maxBytes) return false;
  return utf8Length(text) > maxBytes;
}

// ---------------------------------------------------------------- replies

/** The answer of `acquire`. */
export type AcquireReply =
  | {
    ok: true;
    /** The lease's fencing token: rises with every grant of the lock. */
    fence: number;
    /**
     * How long the lease runs, counted from when this call reached the
     * object: a client reckons its lease from when it sent the call, so a
     * late reply cannot make it believe in a lease that already ended.
     */
    leaseMs: number;
    /** True when the grant came from the queue (the caller waited). */
    waited?: boolean;
  }
  | {
    ok: false;
    /**
     * busy: not granted and not queued (`waitMs: 0`); wait: still queued,
     * call again with the same token (the call's wait ended); cancelled:
     * taken out of the queue while this call waited.
     */
    reason: "busy" | "wait" | "cancelled";
    /** When the first holder's lease ends, in ms from now (0 if unknown). */
    retryAfterMs: number;
  }
  | {
    ok: false;
    /**
     * The token was released or cancelled (within {@linkcode TOMBSTONE_MS})
     * before this call arrived: a late or replayed call, never granted.
     */
    reason: "gone";
  }
  | {
    ok: false;
    /**
     * Refused, not queued: the name's holders and waiters have another
     * capacity than the request's (`0`: they hold it as a lock).
     */
    reason: "capacity";
    /** Their capacity. */
    capacity: number;
  };

/** The answer of `release`. */
export interface ReleaseReply {
  /** Whether this call ended a lease (false: not held, or released already). */
  released: boolean;
}

/** The answer of `extend`. */
export interface ExtendReply {
  /** Whether the lease is held (false: expired, released, never granted). */
  ok: boolean;
  /**
   * How long the lease runs after this call reached the object: the new
   * length, or what stands when a call with a higher `seq` was applied
   * first; 0 when not held. Always sent by this object; a service deployed
   * before it answers `{ ok }` alone (and ignores `seq`): its lease then
   * runs the `leaseMs` asked for, from the call's arrival.
   */
  leaseMs?: number;
  /**
   * With `ok: false`: true when the lease was stolen (a `steal` took the
   * lock from it). Sent only then.
   */
  stolen?: boolean;
}

/** The answer of `cancel`. */
export interface CancelReply {
  /** True when the token had been granted first: release it then. */
  held: boolean;
}

/** The answer of `status` (`GET /v1/locks/{name}`). */
export interface StatusReply {
  /** How many leases hold the lock now. */
  holders: number;
  /** How many waiters queue (including those between calls). */
  waiters: number;
  /**
   * While a semaphore's requests hold or wait for the name: the permits
   * held. Absent for a lock's, or an idle name.
   */
  permits?: number;
  /** With `permits`: the capacity of the semaphore's holders and waiters. */
  capacity?: number;
}

/** One held or pending request in a {@linkcode QueryReply}. */
export interface QueryEntry {
  /** `"exclusive"` or `"shared"`. */
  mode: LockMode;
  /** The lease's fence; held entries only. */
  fence?: number;
  /** How long it has been held or pending, in ms, by the object's clock. */
  ageMs: number;
  /** The acquisition's owner label, if it gave one. */
  owner?: string;
  /** A semaphore's entry: the permits it holds or needs. */
  permits?: number;
}

/** The answer of `query`. */
export interface QueryReply {
  /** The leases that hold the lock, by fence. */
  held: QueryEntry[];
  /** The waiters, in queue order. */
  pending: QueryEntry[];
}

/** Each op's answer. */
export interface Replies {
  acquire: AcquireReply;
  steal: AcquireReply;
  release: ReleaseReply;
  extend: ExtendReply;
  cancel: CancelReply;
  status: StatusReply;
  query: QueryReply;
}

/** The body of every HTTP answer that is not 200. */
export interface ErrorReply {
  /** What went wrong, naming the field. */
  error: string;
  /** Present when the same call, repeated by its token, may succeed. */
  retryable?: true;
}

/** A socket error answer: an {@linkcode ErrorReply} with its id and status. */
export interface SocketErrorAnswer extends ErrorReply {
  /** The call's id, when the object could read it. */
  id?: unknown;
  /** One of {@linkcode STATUS}. */
  status: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isMs = (v: unknown) =>
  typeof v === "number" && Number.isFinite(v) && v >= 0;
const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isFence = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
const isMode = (v: unknown) => v === "exclusive" || v === "shared";

function isEntry(v: unknown, held: boolean): boolean {
  return isRecord(v) && isMode(v.mode) && isMs(v.ageMs) &&
    (held ? isFence(v.fence) : v.fence === undefined) &&
    (v.owner === undefined || typeof v.owner === "string") &&
    (v.permits === undefined || isFence(v.permits));
}

const replyChecks: { [K in LockOp]: (v: Record<string, unknown>) => boolean } =
  {
    // A steal is answered as an acquire is.
    steal: (v) => replyChecks.acquire(v),
    acquire: (v) =>
      v.ok === true
        ? isFence(v.fence) && typeof v.leaseMs === "number" &&
          Number.isFinite(v.leaseMs) &&
          (v.waited === undefined || typeof v.waited === "boolean")
        : v.ok === false &&
          (v.reason === "gone" ||
            (v.reason === "capacity" && isCount(v.capacity)) ||
            ((v.reason === "busy" || v.reason === "wait" ||
              v.reason === "cancelled") && isMs(v.retryAfterMs))),
    release: (v) => typeof v.released === "boolean",
    extend: (v) =>
      typeof v.ok === "boolean" &&
      (v.leaseMs === undefined ||
        (isMs(v.leaseMs) && (v.ok || v.leaseMs === 0))) &&
      (v.stolen === undefined || typeof v.stolen === "boolean"),
    cancel: (v) => typeof v.held === "boolean",
    status: (v) =>
      isCount(v.holders) && isCount(v.waiters) &&
      (v.permits === undefined || isCount(v.permits)) &&
      (v.capacity === undefined || isCount(v.capacity)),
    query: (v) =>
      Array.isArray(v.held) && Array.isArray(v.pending) &&
      v.held.every((e) => isEntry(e, true)) &&
      v.pending.every((e) => isEntry(e, false)),
  };

/**
 * Whether `reply` is a well-formed answer of `op` (what a client accepts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isReply } from "./_protocol.ts";
 * assert.ok(isReply("acquire", { ok: false, reason: "gone" }));
 * // An extension granted without the lease it runs to is malformed.
 * assert.ok(!isReply("extend", { ok: "yes" }));
 * ```
 */
export function isReply<K extends LockOp>(
  op: K,
  reply: unknown,
): reply is Replies[K] {
  return isRecord(reply) && Object.hasOwn(replyChecks, op) &&
    replyChecks[op](reply);
}

/**
 * Returns `reply` as `op`'s answer, or throws naming what came instead.
 *
 * @throws {Error} "malformed reply" for anything {@linkcode isReply} refuses.
 */
export function readReply<K extends LockOp>(op: K, reply: unknown): Replies[K] {
  if (isReply(op, reply)) return reply;
  let text: string;
  try {
    text = JSON.stringify(reply)?.slice(0, 300) ?? String(reply);
  } catch {
    text = String(reply);
  }
  throw new Error(`malformed ${op} reply: ${text}`);
}

/** Whether a socket answer is an error answer (`{ id?, status, error }`). */
export function isSocketError(answer: unknown): answer is SocketErrorAnswer {
  return isRecord(answer) && typeof answer.error === "string" &&
    typeof answer.status === "number";
}

// ---------------------------------------------------------------- socket

/**
 * One call on a lock's socket, as JSON text: `{ id, op, ...body }` with the
 * fields of the op's HTTP body. The answer is `{ id, ...reply }`, or a
 * {@linkcode SocketErrorAnswer}; answers come in any order, matched by `id`.
 * Put `id` first: an oversize message is answered without being parsed, and
 * its answer carries the id only if the message starts with it.
 */
export type SocketCall =
  & { id: number }
  & (
    | ({ op: "acquire" | "steal" } & Partial<AcquireRequest> & {
      token: string;
    })
    | ({ op: "release" | "cancel"; token: string })
    | ({ op: "extend" } & ExtendRequest)
    | { op: "status" | "query" }
  );

const LEADING_ID = /^\s*\{\s*"id"\s*:\s*(-?\d{1,15})\s*[,}]/;

/** The numeric id a socket message starts with, read without parsing it. */
export function leadingId(message: string): number | undefined {
  const match = LEADING_ID.exec(message.slice(0, 64));
  return match === null ? undefined : Number(match[1]);
}

// ---------------------------------------------------------------- RPC

/**
 * The RPC surface of `LockDurableObject` (entry `./durable-object`): the
 * same calls as the HTTP API, the same checks, the same answers.
 */
export interface LockDurableObjectStub {
  /** Grants, or queues and waits (at most 25 s per call). */
  acquire(request: {
    token: string;
    mode: LockMode;
    leaseMs: number;
    waitMs: number;
    priority?: number;
    owner?: string;
    permits?: number;
    capacity?: number;
  }): Promise<AcquireReply>;
  /**
   * Takes the lock at once (exclusive): every holder's lease ends, marked
   * stolen, and the token is granted ahead of the waiters. Idempotent by
   * token. Objects deployed before it have no such method.
   */
  steal(request: {
    token: string;
    mode: LockMode;
    leaseMs: number;
    waitMs: number;
    priority?: number;
    owner?: string;
  }): Promise<AcquireReply>;
  /** Ends a lease or a waiter and remembers its token; idempotent. */
  release(token: string): Promise<ReleaseReply>;
  /** Sets a lease to end `leaseMs` after the call arrives (see `seq`). */
  extend(token: string, leaseMs: number, seq?: number): Promise<ExtendReply>;
  /** Leaves the queue and remembers the token; `held` if it was granted. */
  cancel(token: string): Promise<CancelReply>;
  /** Holders and waiters now. */
  status(): Promise<StatusReply>;
  /** Held leases (by fence) and waiters (in queue order), by the object's clock. */
  query(): Promise<QueryReply>;
}
