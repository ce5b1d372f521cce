// Copyright 2026 the unilock authors. MIT license.
// The lock service Worker as wrangler.toml deploys it: the HTTP handler and
// the Durable Object class it binds (Cloudflare requires the class to be
// exported from the Worker's main module).
export { default } from "./worker.ts";
export { LockDurableObject } from "./durable_object.ts";
