// Copyright 2026 the unilock authors. MIT license.
// The worker of thread.ts: takes the lock it is handed, then says so.
import { createLock } from "@unilock/unilock";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};
scope.onmessage = async (event) => {
  await createLock("thread", { handle: event.data }).withLock(() => {});
  scope.postMessage("done");
};
