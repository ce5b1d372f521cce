// Copyright 2026 the unilock authors. MIT license.
/**
 * Hostile input, property-based (fast-check): lock names, option values of
 * every wrong type and range, and HTTP lock service requests. Each gets a
 * clear error (a TypeError or RangeError naming the option, or a 4xx with a
 * JSON error naming the field) and leaves every lock usable.
 */
import { openKv } from "@deno/kv";
import { Redis } from "@upstash/redis";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, inject, test } from "vitest";
import {
  createLock,
  type Lock,
  type LockOptions,
  LockTimeoutError,
} from "../../mod.ts";
import { assert, assertEquals } from "../_assert.ts";

const service = inject("lockService");
const upstash = inject("upstash");
const redis = new Redis({ ...upstash, enableTelemetry: false });
const kv = await openKv(
  join(mkdtempSync(join(tmpdir(), "unilock-hostile-")), "kv.sqlite3"),
);
const fileDir = mkdtempSync(join(tmpdir(), "unilock-hostile-"));
afterAll(() => rmSync(fileDir, { recursive: true, force: true }));

/** Each backend, with the options it needs besides the name. */
const targets: {
  type: string;
  runs: number;
  options: () => LockOptions;
  /**
   * A deadline this short (ms) may pass during the first request, even on
   * a free lock: the acquisition then times out, which is no bad option.
   */
  slowMs?: number;
}[] = [
  { type: "local", runs: 300, options: () => ({}) },
  { type: "thread", runs: 150, options: () => ({}) },
  {
    type: "upstash",
    runs: 60,
    options: () => ({ redis, prefix: `hostile:${crypto.randomUUID()}:` }),
  },
  { type: "file", runs: 150, options: () => ({ dir: fileDir }) },
  {
    type: "durable-object",
    runs: 40,
    options: () => ({ url: service.url, token: service.token }),
  },
  {
    type: "deno-kv",
    runs: 60,
    options: () => ({ kv, prefix: `hostile-${crypto.randomUUID()}` }),
    // A commit to a KV file waits for the disk.
    slowMs: 100,
  },
];

/** Names a user (or an attacker) might pass. */
const names: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom(
    "",
    "../",
    "../../etc/passwd",
    "*",
    "?",
    "[a-z]*",
    "{slot}",
    "a\u0000b",
    "\r\nDEL x\r\n",
    " ",
    "%2e%2e%2f",
    "\uD800",
    "🔒".repeat(100),
    "x".repeat(512),
    "x".repeat(513),
  ),
  fc.anything(),
);

/** Values for a numeric option: good ones, edge ones and wrong types. */
const msValues: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -10, max: 100_000 }),
  fc.double(),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 2 ** 31, 2 ** 53, 1e300),
  fc.anything(),
);

const acquireOptions: fc.Arbitrary<Record<string, unknown>> = fc.record({
  timeoutMs: msValues,
  leaseMs: msValues,
  mode: fc.oneof(
    fc.constantFrom("exclusive", "shared", "EXCLUSIVE", ""),
    fc.anything(),
  ),
  signal: fc.oneof(fc.constant(new AbortController().signal), fc.anything()),
}, { requiredKeys: [] });

/** The error is a TypeError or RangeError that names one of `options`. */
function namesAnOption(error: unknown, options: string[]): boolean {
  if (!(error instanceof TypeError || error instanceof RangeError)) {
    return false;
  }
  return options.some((o) => error.message.includes(`'${o}'`));
}

function render(value: unknown): string {
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

/** The lock is free and works: a lease is granted at once and released. */
async function usable(lock: Lock): Promise<void> {
  const lease = await lock.tryAcquire();
  assert(lease !== undefined, `lock "${lock.name}" was left held`);
  assert(Number.isSafeInteger(lease.fence) && lease.fence > 0);
  await lease.release();
}

for (const target of targets) {
  test(
    `createLock("${target.type}") names a bad name and keeps good ones apart when the name is hostile`,
    async () => {
      await fc.assert(
        fc.asyncProperty(names, names, async (a, b) => {
          const made: Lock[] = [];
          for (const name of [a, b]) {
            try {
              made.push(createLock(target.type, { ...target.options(), name }));
            } catch (error) {
              assert(
                namesAnOption(error, ["name", "options"]),
                `unclear error for name ${render(name)}: ${error}`,
              );
            }
          }
          if (made.length === 2 && made[0]!.name !== made[1]!.name) {
            // Two different names are two locks: no escaping, globbing or
            // truncation may make them collide.
            const [x, y] = made as [Lock, Lock];
            const first = await x.tryAcquire();
            const second = await y.tryAcquire();
            assert(
              first !== undefined && second !== undefined,
              "names collided",
            );
            await first.release();
            await second.release();
          }
          for (const lock of made) await usable(lock);
        }),
        {
          numRuns: target.runs,
          // The names most likely to break a backend, every run.
          examples: [
            ["\uD800", "\uDC00"],
            ["a*", "ab"],
            ["[a]", "a"],
            ["a/b", "a%2Fb"],
            ["x".repeat(512), "x".repeat(511)],
            ["a\u0000b", "a"],
            ["{k}", "k"],
            // Dot segments a URL normalizes away (the lock service's path).
            [".", ".."],
            ["%2e", "..."],
          ],
        },
      );
    },
    120_000,
  );

  test(
    `${target.type} lock.acquire() rejects a bad option by name and stays usable when options are hostile`,
    async () => {
      const lock = createLock(target.type, {
        ...target.options(),
        name: `hostile-${crypto.randomUUID()}`,
      });
      await fc.assert(
        fc.asyncProperty(acquireOptions, async (options) => {
          let lease;
          try {
            lease = await lock.acquire(options as never);
          } catch (error) {
            const t = options.timeoutMs;
            const slow = error instanceof LockTimeoutError &&
              typeof t === "number" && t < (target.slowMs ?? 0);
            assert(
              slow ||
                namesAnOption(error, [...Object.keys(options), "options"]),
              `unclear error for ${
                JSON.stringify(Object.keys(options))
              }: ${error}`,
            );
          }
          await lease?.release();
          await usable(lock);
        }),
        { numRuns: target.runs },
      );
    },
    120_000,
  );
}

test("createLock() rejects option objects of the wrong type by name when options are hostile", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(
        "local",
        "thread",
        "upstash",
        "durable-object",
        "deno-kv",
      ),
      fc.anything(),
      (type, options) => {
        try {
          createLock(type, options as never);
        } catch (error) {
          assert(
            error instanceof TypeError || error instanceof RangeError,
            `${type}: ${error}`,
          );
          assert(/'[a-zA-Z]+'/.test(error.message), `${type}: ${error}`);
        }
      },
    ),
    { numRuns: 500 },
  );
});

// --------------------------------------------------------- the lock service

const fuzzNames = ["fuzz-a", "fuzz-b/c", "fuzz-ü"].map((n) =>
  `${n}-${crypto.randomUUID()}`
);

const bodies: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.string({ maxLength: 64 }),
  fc.json({ maxDepth: 2 }),
  fc.record({
    token: fc.oneof(
      fc.constant(`tk_${crypto.randomUUID()}`),
      fc.string({ maxLength: 200 }),
      fc.anything(),
    ),
    leaseMs: msValues,
    waitMs: fc.oneof(fc.constant(0), msValues),
    mode: fc.oneof(fc.constantFrom("exclusive", "shared"), fc.anything()),
  }, { requiredKeys: [] }).map((o) => {
    try {
      return JSON.stringify(o);
    } catch {
      return "{}"; // a BigInt in the body: send an empty object instead
    }
  }),
  fc.constant("x".repeat(5_000)),
  fc.constant(JSON.stringify({ token: "y".repeat(4_100) })),
);

test(
  "the lock service answers hostile requests with a 4xx naming the problem and leaves locks usable",
  async () => {
    const granted: { path: string; token: string }[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...fuzzNames),
        fc.constantFrom("acquire", "release", "extend", "cancel", "", "nope"),
        fc.constantFrom("GET", "POST", "PUT", "DELETE"),
        fc.constantFrom(
          `Bearer ${service.token}`,
          `Bearer ${service.token}`,
          `bearer ${service.token}`,
          `Bearer ${service.token}x`,
          "Bearer ",
          "Basic dXNlcjpwYXNz",
          undefined,
        ),
        fc.constantFrom("application/json", "text/plain", "", undefined),
        bodies,
        async (name, op, method, auth, contentType, body) => {
          const path = `/v1/locks/${encodeURIComponent(name)}${
            op ? `/${op}` : ""
          }`;
          const headers: Record<string, string> = {};
          if (auth !== undefined) headers.authorization = auth;
          if (contentType !== undefined) headers["content-type"] = contentType;
          const res = await fetch(service.url + path, {
            method,
            headers,
            body: method === "GET" ? undefined : body,
          });
          const reply = await res.json() as Record<string, unknown>;
          assert(
            [200, 400, 401, 404, 405, 413, 415].includes(res.status),
            `${method} ${path} ${body?.slice(0, 80)} -> ${res.status} ${
              JSON.stringify(reply)
            }`,
          );
          if (res.status !== 200) {
            assertEquals(typeof reply.error, "string");
          }
          if (res.status === 400) {
            assert(
              /'[a-zA-Z]+'|JSON/.test(reply.error as string),
              `a 400 that names nothing: ${reply.error}`,
            );
          }
          if (auth !== `Bearer ${service.token}`) {
            assert(res.status === 401 || res.status === 404, "auth bypassed");
          }
          if (op === "acquire" && reply.ok === true) {
            granted.push({ path, token: JSON.parse(body!).token });
          }
          // Whatever was granted is given back, so the next request finds the
          // lock as a user would.
          while (granted.length > 0) {
            const g = granted.pop()!;
            await (await fetch(
              service.url + g.path.replace(/acquire$/, "release"),
              {
                method: "POST",
                headers: {
                  authorization: `Bearer ${service.token}`,
                  "content-type": "application/json",
                },
                body: JSON.stringify({ token: g.token }),
              },
            )).body?.cancel();
          }
        },
      ),
      { numRuns: 150 },
    );
    for (const name of fuzzNames) {
      await usable(
        createLock("durable-object", {
          name,
          url: service.url,
          token: service.token,
        }),
      );
    }
  },
  120_000,
);
