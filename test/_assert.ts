// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Assertions for the contract suite. Written here, not imported
 * from a test framework, so the one suite runs unchanged under vitest,
 * workerd, `deno test` and `bun test`.
 */

export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function format(value: unknown): string {
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(
      typeof value === "object" && value !== null
        ? JSON.stringify(value)
        : value,
    );
  } catch {
    return String(value);
  }
}

export function assert(
  condition: unknown,
  message = "Expected a truthy value",
): asserts condition {
  if (!condition) throw new AssertionError(message);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (
    typeof a !== "object" || typeof b !== "object" || a === null || b === null
  ) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    deepEqual(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
    )
  );
}

export function assertEquals<T>(
  actual: T,
  expected: T,
  message?: string,
): void {
  if (!deepEqual(actual, expected)) {
    throw new AssertionError(
      `${message ? message + ": " : ""}expected ${format(expected)}, got ${
        format(actual)
      }`,
    );
  }
}

// deno-lint-ignore no-explicit-any
type ErrorClass = abstract new (...args: any[]) => Error;

/** Awaits `promise` and checks that it rejects with `ErrorClass` whose message contains every string in `includes`. */
export async function assertRejects(
  promise: Promise<unknown> | (() => unknown),
  ErrorClass?: ErrorClass,
  includes: string[] = [],
): Promise<Error> {
  let error: unknown;
  let rejected = false;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (e) {
    rejected = true;
    error = e;
  }
  if (!rejected) throw new AssertionError("Expected a rejection, got none");
  if (ErrorClass && !(error instanceof ErrorClass)) {
    throw new AssertionError(
      `Expected ${ErrorClass.name}, got ${
        (error as Error)?.name ?? typeof error
      }: ${(error as Error)?.message}`,
    );
  }
  const message = String((error as Error)?.message);
  for (const part of includes) {
    if (!message.includes(part)) {
      throw new AssertionError(
        `Expected the error message to contain ${format(part)}, got ${
          format(message)
        }`,
      );
    }
  }
  return error as Error;
}

/** Throws synchronously? Checks that `fn` throws `ErrorClass` mentioning every string in `includes`. */
export function assertThrows(
  fn: () => unknown,
  ErrorClass: ErrorClass,
  includes: string[] = [],
): Error {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ErrorClass)) {
      throw new AssertionError(
        `Expected ${ErrorClass.name}, got ${(error as Error)?.name}: ${
          (error as Error)?.message
        }`,
      );
    }
    for (const part of includes) {
      if (!error.message.includes(part)) {
        throw new AssertionError(
          `Expected the error message to contain ${format(part)}, got ${
            format(error.message)
          }`,
        );
      }
    }
    return error;
  }
  throw new AssertionError(`Expected ${ErrorClass.name} to be thrown`);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Whether a tracked promise settles within `ms`: for an outcome that must
 * come, on a loaded machine later than a fixed pause would allow (an
 * aborted distributed acquisition's rejection waits for its cancel).
 */
export async function settlesWithin(
  tracked: { readonly promise: Promise<unknown> },
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    tracked.promise.then(() => true, () => true),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}

/** Tracks whether a promise has settled, without awaiting it. */
export function track<T>(promise: Promise<T>): {
  readonly settled: boolean;
  readonly value: T | undefined;
  readonly error: unknown;
  readonly promise: Promise<T>;
} {
  const state = {
    settled: false,
    value: undefined as T | undefined,
    error: undefined as unknown,
    promise,
  };
  promise.then(
    (value) => {
      state.settled = true;
      state.value = value;
    },
    (error) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}
