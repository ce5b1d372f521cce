// Copyright 2026 the unilock authors. MIT license.
// What tsc (the npm build's declarations) needs to know of workerd's module;
// workerd and wrangler provide the real one.
declare module "cloudflare:workers" {
  export class DurableObject<Env = unknown> {
    constructor(ctx: unknown, env: Env);
    protected ctx: unknown;
    protected env: Env;
  }
}
