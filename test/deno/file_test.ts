// Copyright 2026 the unilock authors. MIT license.
// The contract against the file backend on Deno, in a temporary directory.
import { lockContract } from "../_contract.ts";
import { fileBackend } from "../_backends.ts";

const dir = Deno.makeTempDirSync({ prefix: "unilock-file-" });
lockContract((name, fn) => Deno.test(name, fn), fileBackend(dir));
Deno.test("the file backend's directory is removed", () => {
  Deno.removeSync(dir, { recursive: true });
});
