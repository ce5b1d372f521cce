// Copyright 2026 the unilock authors. MIT license.
// The guides' code blocks run on Deno (`deno test --doc --config
// test/docs/deno.json`), where workerd's module does not exist: a Worker's
// entry that re-exports `LockDurableObject` loads against this stand-in
// base class, so the block is type-checked and loaded like any other.
// Inside workerd the real class is used (test/workerd/).
export class DurableObject<Env = unknown> {
  protected ctx: unknown;
  protected env: Env;
  constructor(ctx: unknown, env: Env) {
    this.ctx = ctx;
    this.env = env;
  }
}
