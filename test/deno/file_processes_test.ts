// Copyright 2026 the unilock authors. MIT license.
// The file lock across Deno processes (children run the sources).
import { fileProcessSuite } from "../_file_processes.ts";

fileProcessSuite((name, fn) => Deno.test(name, fn), [{
  label: "Deno",
  command: Deno.execPath(),
  prefix: ["run", "-A"],
  module: new URL("../../mod.ts", import.meta.url).href,
}]);
