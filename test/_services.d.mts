// Copyright 2026 the unilock authors. MIT license.
// Types of _services.mjs.

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Stops the server (SIGKILL when `crash`, as a crash would). */
  stop(crash?: boolean): Promise<void>;
  /** Starts it again on the same port (a restart loses what was not persisted). */
  restart(): Promise<void>;
}

export interface LockService {
  readonly url: string;
  readonly token: string;
  stop(): Promise<void>;
  /** Stops it and starts it again on the same port with the same state. */
  restart(): Promise<void>;
}

export function hasRedisServer(): boolean;
export const REDIS_INSTALL_ADVICE: string;
export function startRedis(
  options?: { persist?: boolean },
): Promise<RedisServer>;
export function startLockService(): Promise<LockService>;

export interface BridgeProcess {
  readonly url: string;
  readonly token: string;
  stats: Record<string, number>;
  refresh(): Promise<void>;
  resetStats(): Promise<void>;
  close(): Promise<void>;
}
export function startBridgeProcess(redisUrl: string): Promise<BridgeProcess>;
