// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Type tests: what the compiler must accept and reject in
 * `createLock`, `LockManager` and `describeLockTarget`. Checked by `tsc` and
 * `deno check` (a line under `@ts-expect-error` that compiles is an error),
 * here against the sources and, by the consumer check, against the packed
 * package's declarations (which imports it as "unilock").
 */

import {
  createLock,
  describeLockTarget,
  LocalLock,
  type LocalLockOptions,
  type Lock,
  type LockDurableObjectNamespace,
  LockManager,
  type LockType,
  registerLockType,
  type UpstashLockOptions,
  type UpstashRedisLike,
} from "../../mod.ts";

/** True when A and B are the same type. */
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends
  (<X>() => X extends B ? 1 : 2) ? true : false;
/** Compiles only for `true`. */
function expectType<T extends true>(_proof?: T): void {}

declare const redis: UpstashRedisLike;
declare const namespace: LockDurableObjectNamespace;

// ---------------------------------------------------------------- accepted

createLock();
createLock("local");
createLock("local", { name: "a" });
createLock("thread", { name: "a", capacity: 8 });
createLock("upstash", {
  name: "a",
  redis: { url: "https://x.upstash.io", token: "t" },
  prefix: "app:",
  leaseMs: 5_000,
  waiterTtlMs: 10_000,
});
createLock("upstash", { name: "a", redis });
createLock("durable-object", { name: "a", namespace });
createLock("durable-object", { name: "a", url: "https://x", token: "t" });
createLock("auto", { name: "a", env: "process" });
createLock("auto", { name: "a", redis, prefix: "app:", leaseMs: 1_000 });
const lock: Lock = createLock("local");
void lock;

// What the editor completes `options` from: exactly the type's interface.
expectType<
  Equal<
    Parameters<typeof createLock<"upstash">>[1],
    UpstashLockOptions | undefined
  >
>();
expectType<
  Equal<Parameters<typeof createLock<"local">>[1], LocalLockOptions | undefined>
>();
// No index signature left: an unknown key is an unknown key.
expectType<Equal<keyof LocalLockOptions, "name">>();

// ---------------------------------------------------------------- rejected

// @ts-expect-error: a misspelled type
createLock("loacl");
// @ts-expect-error: not a type at all
createLock("redis", {});
// @ts-expect-error: a misspelled name
createLock("local", { nme: "a" });
// @ts-expect-error: a misspelled redis
createLock("upstash", { name: "a", reddis: redis });
// @ts-expect-error: url is a string
createLock("durable-object", { url: 42, token: "t" });
// @ts-expect-error: leaseMs is a number of milliseconds
createLock("upstash", { leaseMs: "5s" });
// @ts-expect-error: a local lock has no lease to configure
createLock("local", { leaseMs: 5_000 });
// @ts-expect-error: timeoutMs is an option of acquire()
createLock("local", { timeoutMs: 5_000 });
// @ts-expect-error: upstash has no namespace
createLock("upstash", { namespace });
// @ts-expect-error: env is an object or "process"
createLock("auto", { env: "prosess" });
// @ts-expect-error: the options are an object
createLock("local", "a");

// ------------------------------------------------------- a Worker's own Env

/** As `wrangler types` or the README writes it: an interface, no index signature. */
interface Env {
  LOCKS: LockDurableObjectNamespace;
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
}
declare const env: Env;
describeLockTarget({ name: "a", env });
createLock("auto", { name: "a", env });
createLock("durable-object", { name: "a", namespace: env.LOCKS });
new LockManager({ type: "auto", lockOptions: { env } });

// ------------------------------------------------------------- LockManager

const manager = new LockManager();
manager.getOrCreateLock("a");
manager.getOrCreateLock("a", "local", { name: "b" });
manager.getOrCreateLock("a", "upstash", { redis, prefix: "app:" });
// @ts-expect-error: a misspelled type
manager.getOrCreateLock("a", "loacl");
// @ts-expect-error: a misspelled option of the named type
manager.getOrCreateLock("a", "upstash", { reddis: redis });
// @ts-expect-error: without a type, the options are the manager's type's (local)
manager.getOrCreateLock("a", undefined, { redis });

const upstashManager = new LockManager({
  type: "upstash",
  lockOptions: { redis, prefix: "app:" },
});
upstashManager.getOrCreateLock("a", undefined, { leaseMs: 5_000 });
// @ts-expect-error: a local lock has no lease to configure
upstashManager.getOrCreateLock("a", "local", { leaseMs: 5_000 });
// @ts-expect-error: the manager's lockOptions are its type's
new LockManager({ type: "upstash", lockOptions: { url: "https://x" } });
// @ts-expect-error: a misspelled manager type
new LockManager({ type: "upstsh" });

// --------------------------------------- a registered type, declared by merging

interface MemoryLockOptions extends LocalLockOptions {
  /** How many holders at most. */
  size?: number;
}
declare module "../../mod.ts" {
  interface LockTypes {
    memory: MemoryLockOptions;
  }
}
registerLockType(
  "memory",
  (options) => {
    expectType<Equal<typeof options, MemoryLockOptions>>();
    return new LocalLock({ name: options.name ?? "memory" });
  },
  ["name", "size"],
);
createLock("memory", { name: "a", size: 2 });
manager.getOrCreateLock("m", "memory", { size: 2 });
// @ts-expect-error: a misspelled option of the registered type
createLock("memory", { sise: 2 });
const some: LockType = "memory";
void some;

// The options never choose the type: without one, it is the default.
// @ts-expect-error: createLock() without a type makes a local lock
createLock(undefined, { redis });
