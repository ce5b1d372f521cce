// Copyright 2026 the unilock authors. MIT license.
// The file lock across Bun processes (children run the sources).
import { test } from "bun:test";
import { fileProcessSuite } from "../_file_processes.ts";

fileProcessSuite((name, fn) => test(name, fn, 180_000), [{
  label: "Bun",
  command: process.execPath,
  prefix: [],
  module: new URL("../../mod.ts", import.meta.url).href,
}]);
