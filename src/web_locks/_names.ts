// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal How a Web Locks resource name becomes a lock name. The Web Locks
 * API takes any string (the empty one too) but those starting with `-`; a
 * lock name is 1 to 512 well-formed characters. So the names a caller can
 * never request, those starting with `-`, carry the rest: `""` is `"-"`, and
 * a name too long or not well-formed (a lone surrogate has no UTF-8 form, so
 * two such names could share Redis keys or a URL) is `"-sha256:"` and the
 * SHA-256 of its UTF-16 code units, as is one starting with
 * `"\u0000unilock-"` (a thread lock table keeps its semaphores' state under
 * such names, and refuses them as lock names). Every other name is itself,
 * so that a Web Locks request and `createLock(type, { name })` share the
 * lock.
 */

import { MAX_NAME_LENGTH, RESERVED_NAME_PREFIX } from "../core/_validate.ts";
const LONE_SURROGATE =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The lock name of the resource name `name` (see the module doc). */
export function lockNameOf(name: string): string {
  if (name.length === 0) return "-";
  if (
    name.length <= MAX_NAME_LENGTH && !LONE_SURROGATE.test(name) &&
    !name.startsWith(RESERVED_NAME_PREFIX)
  ) {
    return name;
  }
  const bytes = new Uint8Array(name.length * 2);
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    bytes[2 * i] = unit & 0xff;
    bytes[2 * i + 1] = unit >>> 8;
  }
  return `-sha256:${sha256Hex(bytes)}`;
}

/**
 * `n` bits past the binary point of the cube (`root` 3) or square (2) root
 * of `prime`, read from an exact integer root so that no float rounding can
 * slip into SHA-256's constants.
 */
function rootFraction(prime: number, root: 2 | 3): number {
  const scaled = BigInt(prime) << BigInt(32 * root);
  // Integer Newton iteration from above: the floor of the root.
  let x = 1n << BigInt(Math.ceil((scaled.toString(2).length) / root) + 1);
  const r = BigInt(root);
  for (;;) {
    const next = ((r - 1n) * x + scaled / x ** (r - 1n)) / r;
    if (next >= x) break;
    x = next;
  }
  return Number(x & 0xffffffffn) >>> 0;
}

let K: Uint32Array | undefined;
let H0: Uint32Array | undefined;

function constants(): [Uint32Array, Uint32Array] {
  if (K === undefined || H0 === undefined) {
    const primes: number[] = [];
    for (let n = 2; primes.length < 64; n++) {
      if (primes.every((p) => n % p !== 0)) primes.push(n);
    }
    K = Uint32Array.from(primes, (p) => rootFraction(p, 3));
    H0 = Uint32Array.from(primes.slice(0, 8), (p) => rootFraction(p, 2));
  }
  return [K, H0];
}

/** SHA-256 (FIPS 180-4) of `data`, in lowercase hex: synchronous, small. */
export function sha256Hex(data: Uint8Array): string {
  const [k, h0] = constants();
  const bitLength = data.length * 8;
  const blocks = Math.ceil((data.length + 9) / 64);
  const padded = new Uint8Array(blocks * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLength / 2 ** 32));
  view.setUint32(padded.length - 4, bitLength >>> 0);
  const h = Uint32Array.from(h0);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < blocks; block++) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(block * 64 + t * 4);
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15]!, b = w[t - 2]!;
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h as unknown as number[];
    for (let t = 0; t < 64; t++) {
      const s1 = rotr(e!, 6) ^ rotr(e!, 11) ^ rotr(e!, 25);
      const ch = (e! & f!) ^ (~e! & g!);
      const t1 = (hh! + s1 + ch + k[t]! + w[t]!) >>> 0;
      const s0 = rotr(a!, 2) ^ rotr(a!, 13) ^ rotr(a!, 22);
      const maj = (a! & b!) ^ (a! & c!) ^ (b! & c!);
      const t2 = (s0 + maj) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d! + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0]! += a!;
    h[1]! += b!;
    h[2]! += c!;
    h[3]! += d!;
    h[4]! += e!;
    h[5]! += f!;
    h[6]! += g!;
    h[7]! += hh!;
  }
  return Array.from(h, (x) => x.toString(16).padStart(8, "0")).join("");
}
