// Copyright 2026 the unilock authors. MIT license.
// The deno-kv lock on Deno: the contract suite against a real KV file.
import { lockContract } from "../_contract.ts";
import { denoKvBackend } from "../_backends.ts";

const dir = await Deno.makeTempDir({ prefix: "unilock-kv-" });
const kv = await Deno.openKv(`${dir}/contract.sqlite3`);
const test = (name: string, fn: () => Promise<void>) => Deno.test({ name, fn });
lockContract(test, denoKvBackend(kv));
