// Copyright 2026 the unilock authors. MIT license.
/** @internal The backends the contract suite runs against on every runtime. A new backend adds a line here. */

import type { ContractBackend } from "./_contract.ts";

export const backends: ContractBackend[] = [
  { type: "local", quietMs: 5 },
  { type: "thread", quietMs: 5 },
];

/** workerd runs no threads: the thread lock refuses to be created there. */
export const workerdBackends: ContractBackend[] = backends.filter((b) =>
  b.type !== "thread"
);
