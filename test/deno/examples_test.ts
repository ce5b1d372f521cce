// Copyright 2026 the unilock authors. MIT license.
import { main } from "../../examples/deno.ts";

Deno.test("examples/deno.ts lets readers share and the writer follow", async () => {
  const log = await main();
  if (log.indexOf("writer") < log.lastIndexOf("reader 2 out")) {
    throw new Error(`the writer entered among readers: ${log}`);
  }
  if (log.at(-1) !== "auto → local on deno") {
    throw new Error(String(log.at(-1)));
  }
});
