// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

/**
 * @internal This thread's id, as far as the lock is concerned: each thread
 * loads this module anew, so each draws its own. A hint (for spinning, and
 * to name a guard's holder in errors); never relied on for exclusion.
 */
export const THREAD_ID: number = (Math.random() * 0x3fff_ffff | 0) + 1;
