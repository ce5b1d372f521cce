// The lock service Worker: its HTTP handler, and the Durable Object class it
// binds (Cloudflare requires the class to be exported from the main module).
export { default } from "unilock/worker";
export { LockDurableObject } from "unilock/durable-object";
