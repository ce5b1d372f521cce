// Copyright 2026 the unilock authors. MIT license.
// ../deno_kv_test.ts's probe of denoland/deno #21640: watches a key of the
// KV file and prints every value it sees, for `ms` milliseconds.
//
// Usage: deno run -A watch_probe.ts <path> <ms>
const [path, ms] = Deno.args;
const kv = await Deno.openKv(path!);
const reader = kv.watch([["probe"]]).getReader();
const seen: unknown[] = [];
const stop = setTimeout(() => reader.cancel(), Number(ms));
console.log("watching");
while (true) {
  const { done, value } = await reader.read();
  if (done) break;
  seen.push(value[0].value);
}
clearTimeout(stop);
console.log(JSON.stringify(seen));
kv.close();
