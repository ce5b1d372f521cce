// Copyright 2026 the unilock authors. MIT license.
// Types of _fault_proxy.mjs.

export const FAULT_KINDS: string[];
export const ALL_FAULT_KINDS: string[];

/** What a request asks, and of which lock. */
export interface RequestInfo {
  op: string;
  lock: string;
  ops?: string[];
  upgrade?: boolean;
}

export function classify(
  method: string,
  url: string,
  body: Uint8Array,
  shas?: Map<string, string>,
): RequestInfo;

export interface FaultProxyOptions {
  seed: number;
  rate: number;
  kinds: string[];
  delayMs?: number;
  ops?: string[];
  messages?: boolean;
  scripts?: Record<string, string>;
  onFault?: (kind: string, info: RequestInfo) => void;
}

export interface FaultRule {
  kind: string;
  op?: string | string[];
  lock?: string;
  count?: number;
  delayMs?: number;
}

export interface FaultProxy {
  readonly url: string;
  stats(): {
    requests: number;
    injected: Record<string, number>;
    ops: Record<string, number>;
  };
  slow(): { lock: string; from: number; to: number }[];
  calm(): void;
  inject(rule: FaultRule): void;
  clear(): void;
  next(
    match: { op?: string | string[]; lock?: string },
    timeoutMs?: number,
  ): Promise<RequestInfo | undefined>;
  close(): Promise<void>;
}

export function startFaultProxy(
  targetUrl: string,
  faults: FaultProxyOptions,
): Promise<FaultProxy>;
