// HMAC (RFC 2104) with a per-key precomputed state. Large inputs go to node:crypto's createHmac;
// for small inputs the object setup (~1.5-2 µs) dominates, so SHA-1 and SHA-256 (FIPS 180-4) are
// run here in JS from the cached ipad/opad midstates: only the message blocks and one outer block
// are hashed. SHA has no secret-indexed table lookups, so the JS path is not a timing side channel.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type HmacHash = 'md5' | 'sha1' | 'sha256' | 'sha384';

// Largest message (bytes) hashed in JS; above it one native HMAC call is cheaper (measured on
// Node 20 x86-64 with SHA-NI: crossover around 0.5-1 KiB for both SHA-1 and SHA-256).
const JS_MAX = 320;

const BLOCK = 64;
const scratch = new Uint8Array(JS_MAX + 2 * BLOCK);
const W = new Int32Array(80);

const SHA1_IV = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
const SHA256_IV = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
// FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K256 = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

function sha1Blocks(h: Int32Array, buf: Uint8Array, nblocks: number): void {
  let h0 = h[0]!, h1 = h[1]!, h2 = h[2]!, h3 = h[3]!, h4 = h[4]!;
  for (let b = 0, off = 0; b < nblocks; b++, off += BLOCK) {
    for (let i = 0; i < 16; i++) {
      const o = off + 4 * i;
      W[i] = (buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!;
    }
    for (let i = 16; i < 80; i++) {
      const x = W[i - 3]! ^ W[i - 8]! ^ W[i - 14]! ^ W[i - 16]!;
      W[i] = (x << 1) | (x >>> 31);
    }
    let a = h0, bb = h1, c = h2, d = h3, e = h4, t: number;
    // Four round groups as separate loops: no per-round branch on the round number.
    for (let i = 0; i < 20; i++) {
      t = (((a << 5) | (a >>> 27)) + ((bb & c) | (~bb & d)) + e + 0x5a827999 + W[i]!) | 0;
      e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = t;
    }
    for (let i = 20; i < 40; i++) {
      t = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + 0x6ed9eba1 + W[i]!) | 0;
      e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = t;
    }
    for (let i = 40; i < 60; i++) {
      t = (((a << 5) | (a >>> 27)) + ((bb & c) | (bb & d) | (c & d)) + e + 0x8f1bbcdc + W[i]!) | 0;
      e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = t;
    }
    for (let i = 60; i < 80; i++) {
      t = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + 0xca62c1d6 + W[i]!) | 0;
      e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = t;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + bb) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0; h4 = (h4 + e) | 0;
  }
  h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4;
}

function sha256Blocks(h: Int32Array, buf: Uint8Array, nblocks: number): void {
  let h0 = h[0]!, h1 = h[1]!, h2 = h[2]!, h3 = h[3]!, h4 = h[4]!, h5 = h[5]!, h6 = h[6]!, h7 = h[7]!;
  for (let b = 0, off = 0; b < nblocks; b++, off += BLOCK) {
    for (let i = 0; i < 16; i++) {
      const o = off + 4 * i;
      W[i] = (buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!;
    }
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15]!, y = W[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
    }
    let a = h0, bb = h1, c = h2, d = h3, e = h4, f = h5, g = h6, hh = h7;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K256[i]! + W[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & bb) ^ (a & c) ^ (bb & c);
      const t2 = (S0 + maj) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + bb) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + hh) | 0;
  }
  h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4; h[5] = h5; h[6] = h6; h[7] = h7;
}

/** Append MD-strengthening padding after `len` bytes already in `buf` (which follow `prefix` hashed bytes); returns the block count. */
function pad(buf: Uint8Array, len: number, prefix: number): number {
  const nblocks = Math.ceil((len + 9) / BLOCK);
  const end = nblocks * BLOCK;
  buf[len] = 0x80;
  buf.fill(0, len + 1, end - 4);
  const bits = (prefix + len) * 8; // < 2^32 for the small path
  buf[end - 4] = bits >>> 24;
  buf[end - 3] = bits >>> 16;
  buf[end - 2] = bits >>> 8;
  buf[end - 1] = bits;
  return nblocks;
}

function wordsToBytes(h: Int32Array, out: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const w = h[i]!;
    out[4 * i] = w >>> 24;
    out[4 * i + 1] = w >>> 16;
    out[4 * i + 2] = w >>> 8;
    out[4 * i + 3] = w;
  }
}

/** HMAC bound to one key, for repeated per-message use (RFC 2104). */
export class HmacKey {
  readonly hash: HmacHash;
  readonly size: number;
  readonly #key: Buffer;
  readonly #inner: Int32Array | undefined;
  readonly #outer: Int32Array | undefined;
  readonly #state: Int32Array | undefined;
  readonly #blocks: ((h: Int32Array, buf: Uint8Array, nblocks: number) => void) | undefined;

  constructor(hash: HmacHash, key: Uint8Array) {
    this.hash = hash;
    this.size = hash === 'md5' ? 16 : hash === 'sha1' ? 20 : hash === 'sha256' ? 32 : 48;
    this.#key = Buffer.from(key);
    if (hash === 'sha1' || hash === 'sha256') {
      const blocks = hash === 'sha1' ? sha1Blocks : sha256Blocks;
      const iv = hash === 'sha1' ? SHA1_IV : SHA256_IV;
      // RFC 2104: keys longer than the block are hashed first.
      const k = key.length > BLOCK ? createHash(hash).update(key).digest() : key;
      const pads = new Uint8Array(BLOCK);
      this.#inner = Int32Array.from(iv);
      for (let i = 0; i < BLOCK; i++) pads[i] = 0x36 ^ (k[i] ?? 0);
      blocks(this.#inner, pads, 1);
      this.#outer = Int32Array.from(iv);
      for (let i = 0; i < BLOCK; i++) pads[i] = 0x5c ^ (k[i] ?? 0);
      blocks(this.#outer, pads, 1);
      pads.fill(0);
      this.#state = new Int32Array(iv.length);
      this.#blocks = blocks;
    }
  }

  /** The first `n` bytes of HMAC(a || b), written to out[off..off+n). */
  macInto(a: Uint8Array, b: Uint8Array | undefined, out: Uint8Array, off: number, n: number): void {
    const len = a.length + (b === undefined ? 0 : b.length);
    if (this.#blocks === undefined || len > JS_MAX) {
      const h = this.mac(a, b);
      for (let i = 0; i < n; i++) out[off + i] = h[i]!;
      return;
    }
    const st = this.#small(a, b, len);
    for (let i = 0; i < n; i++) out[off + i] = st[i >> 2]! >>> (24 - 8 * (i & 3));
  }

  /** HMAC over a || b (b optional), full-length output. */
  mac(a: Uint8Array, b?: Uint8Array): Uint8Array {
    const len = a.length + (b === undefined ? 0 : b.length);
    if (this.#blocks === undefined || len > JS_MAX) {
      const h = createHmac(this.hash, this.#key).update(a);
      if (b !== undefined) h.update(b);
      return h.digest();
    }
    const st = this.#small(a, b, len);
    const out = new Uint8Array(st.length * 4);
    wordsToBytes(st, out, st.length);
    return out;
  }

  /** The JS path: HMAC state words after the outer hash (valid until the next call). */
  #small(a: Uint8Array, b: Uint8Array | undefined, len: number): Int32Array {
    const blocks = this.#blocks!;
    const st = this.#state!;
    const words = st.length;
    const buf = scratch;
    buf.set(a);
    if (b !== undefined) buf.set(b, a.length);
    st.set(this.#inner!);
    const nb = pad(buf, len, BLOCK);
    blocks(st, buf, nb);
    wordsToBytes(st, buf, words); // inner digest becomes the outer message
    const ob = pad(buf, words * 4, BLOCK);
    st.set(this.#outer!);
    blocks(st, buf, ob);
    buf.fill(0, 0, nb * BLOCK); // plaintext was here
    return st;
  }

  /** The HMAC key itself (a view of this object's copy; do not keep it past destroy()). */
  keyBytes(): Uint8Array {
    return this.#key;
  }

  destroy(): void {
    this.#key.fill(0);
    this.#inner?.fill(0);
    this.#outer?.fill(0);
  }
}

/** One-shot HMAC. */
export function hmac(hash: HmacHash, key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac(hash, key).update(data).digest();
}

/** Constant-time comparison of a received MAC with the expected one (lengths are public). */
export function macEquals(expected: Uint8Array, received: Uint8Array): boolean {
  if (expected.length !== received.length) return false;
  return timingSafeEqual(expected, received);
}
