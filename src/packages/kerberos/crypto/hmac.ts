// HMAC (RFC 2104) with a per-key precomputed state. Large inputs go to node:crypto's createHmac;
// for small inputs the object setup (~1.5-2 µs) dominates, so SHA-1 and SHA-256 (FIPS 180-4) are
// run here in JS from the cached ipad/opad midstates: only the message blocks and one outer block
// are hashed. SHA has no secret-indexed table lookups, so the JS path is not a timing side channel.

import { createHash, createHmac } from 'node:crypto';
import { constantTimeEqual } from '../../../crypto/bytes.js';
import { sha1Block, sha1Outer, sha1Range } from '../../../crypto/sha1.js';

export type HmacHash = 'md5' | 'sha1' | 'sha256' | 'sha384';

// Largest message (bytes) hashed in JS; above it one native HMAC call is cheaper (measured on
// Node 20 x86-64 with SHA-NI: crossover around 0.5-1 KiB for both SHA-1 and SHA-256).
const JS_MAX = 320;
// The same for SHA-1 over one contiguous range (macRange/verifyRange): nothing is copied there and
// the unrolled compression is ~0.1 µs a block, so JS wins up to about 1 KiB (measured).
const JS_MAX_RANGE_SHA1 = 1024;

const BLOCK = 64;
const scratch = new Uint8Array(JS_MAX + 2 * BLOCK);
const joined = new Uint8Array(JS_MAX_RANGE_SHA1);
// Parts up to this many bytes are copied by loops, longer ones by set() (one native call).
const LOOP_COPY = 64;
const EMPTY = new Uint8Array(0);
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

// The compression functions take the message block from W[0..15] (big-endian words), so the
// outer HMAC block can be written as words straight from the inner state, with no byte round trip.
function loadBlock(buf: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++, off += 4) {
    W[i] = (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
  }
}

// SHA-1 over the block in W[0..15] (loadBlock), by the unrolled compression of src/crypto/sha1.ts.
function sha1Compress(h: Int32Array): void {
  sha1Block(h, W);
}

function sha256Compress(h: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15]!, y = W[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = h[0]!, bb = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!, f = h[5]!, g = h[6]!, hh = h[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = g ^ (e & (f ^ g));
    const t1 = (hh + S1 + ch + K256[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & bb) | (c & (a | bb));
    const t2 = (S0 + maj) | 0;
    hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
  }
  h[0] = (h[0]! + a) | 0; h[1] = (h[1]! + bb) | 0; h[2] = (h[2]! + c) | 0; h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0; h[5] = (h[5]! + f) | 0; h[6] = (h[6]! + g) | 0; h[7] = (h[7]! + hh) | 0;
}

/** HMAC bound to one key, for repeated per-message use (RFC 2104). */
export class HmacKey {
  readonly hash: HmacHash;
  readonly size: number;
  readonly #key: Buffer;
  readonly #inner: Int32Array | undefined;
  readonly #outer: Int32Array | undefined;
  readonly #state: Int32Array | undefined;
  readonly #compress: ((h: Int32Array) => void) | undefined;

  constructor(hash: HmacHash, key: Uint8Array) {
    this.hash = hash;
    this.size = hash === 'md5' ? 16 : hash === 'sha1' ? 20 : hash === 'sha256' ? 32 : 48;
    this.#key = Buffer.from(key);
    if (hash === 'sha1' || hash === 'sha256') {
      const compress = hash === 'sha1' ? sha1Compress : sha256Compress;
      const iv = hash === 'sha1' ? SHA1_IV : SHA256_IV;
      // RFC 2104: keys longer than the block are hashed first.
      const k = key.length > BLOCK ? createHash(hash).update(key).digest() : key;
      const pads = new Uint8Array(BLOCK);
      this.#inner = Int32Array.from(iv);
      for (let i = 0; i < BLOCK; i++) pads[i] = 0x36 ^ (k[i] ?? 0);
      loadBlock(pads, 0);
      compress(this.#inner);
      this.#outer = Int32Array.from(iv);
      for (let i = 0; i < BLOCK; i++) pads[i] = 0x5c ^ (k[i] ?? 0);
      loadBlock(pads, 0);
      compress(this.#outer);
      pads.fill(0);
      W.fill(0);
      this.#state = new Int32Array(iv.length);
      this.#compress = compress;
    }
  }

  /** The first `n` bytes of HMAC(a || b || c), written to out[off..off+n). */
  macInto(a: Uint8Array, b: Uint8Array | undefined, out: Uint8Array, off: number, n: number, c?: Uint8Array): void {
    if (c !== undefined) {
      // Three parts come from bulk messages (past the JS path): one native object fed in turn.
      const h = createHmac(this.hash, this.#key).update(a);
      if (b !== undefined) h.update(b);
      const d = h.update(c).digest();
      for (let i = 0; i < n; i++) out[off + i] = d[i]!;
      return;
    }
    const len = a.length + (b === undefined ? 0 : b.length);
    if (this.#compress === undefined || len > (this.hash === 'sha1' ? JS_MAX_RANGE_SHA1 : JS_MAX)) {
      const h = this.mac(a, b);
      for (let i = 0; i < n; i++) out[off + i] = h[i]!;
      return;
    }
    const st = len > JS_MAX ? this.#partsSha1(a, b ?? EMPTY, 0, len - a.length)! : this.#small(a, b, len);
    for (let i = 0; i < n; i++) out[off + i] = st[i >> 2]! >>> (24 - 8 * (i & 3));
  }

  /**
   * The first `n` bytes of HMAC(a || src[off..off+len)) to out[outOff..outOff+n): a message and a
   * token header that lies inside the token (RFC 4121 MIC), without a view of it.
   */
  macParts(a: Uint8Array, src: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number, n: number): void {
    const st = this.#partsSha1(a, src, off, len);
    if (st === undefined) {
      this.macInto(a, new Uint8Array(src.buffer, src.byteOffset + off, len), out, outOff, n);
      return;
    }
    for (let i = 0; i < n; i++) out[outOff + i] = st[i >> 2]! >>> (24 - 8 * (i & 3));
  }

  /** Whether received[rOff..rOff+n) is the first n bytes of HMAC(a || src[off..off+len)), in constant time. */
  verifyParts(a: Uint8Array, src: Uint8Array, off: number, len: number, received: Uint8Array, rOff: number, n: number): boolean {
    if (n === 0 || n > this.size) return false;
    const st = this.#partsSha1(a, src, off, len);
    if (st === undefined) {
      return this.verify(a, new Uint8Array(src.buffer, src.byteOffset + off, len), new Uint8Array(received.buffer, received.byteOffset + rOff, n));
    }
    let diff = 0;
    for (let i = 0; i < n; i++) diff |= ((st[i >> 2]! >>> (24 - 8 * (i & 3))) ^ received[rOff + i]!) & 0xff;
    return diff === 0;
  }

  // SHA-1 state words of HMAC(a || src[off..off+len)) (valid until the next call): the parts are
  // joined in a scratch buffer (loops for short parts, cheaper than a view and set() at MIC sizes;
  // set() for long ones), hashed where they lie, and wiped. Undefined for other hashes or past the
  // JS path.
  #partsSha1(a: Uint8Array, src: Uint8Array, off: number, len: number): Int32Array | undefined {
    const total = a.length + len;
    if (this.hash !== 'sha1' || total > JS_MAX_RANGE_SHA1) return undefined;
    const buf = joined;
    const al = a.length;
    if (al > LOOP_COPY) buf.set(a);
    else for (let i = 0; i < al; i++) buf[i] = a[i]!;
    if (len > LOOP_COPY) buf.set(src.subarray(off, off + len), al);
    else for (let i = 0; i < len; i++) buf[al + i] = src[off + i]!;
    const st = this.#rangeSha1(buf, 0, total);
    if (total > LOOP_COPY) buf.fill(0, 0, total); // the message was here
    else for (let i = 0; i < total; i++) buf[i] = 0;
    return st;
  }

  /**
   * Whether `received` is the first received.length bytes of HMAC(a || b), compared in constant
   * time (no early exit; the length, public, is checked first). Nothing is allocated on the JS path.
   */
  verify(a: Uint8Array, b: Uint8Array | undefined, received: Uint8Array): boolean {
    const n = received.length;
    if (n === 0 || n > this.size) return false;
    const len = a.length + (b === undefined ? 0 : b.length);
    if (this.#compress === undefined || len > (this.hash === 'sha1' ? JS_MAX_RANGE_SHA1 : JS_MAX)) return constantTimeEqual(this.mac(a, b).subarray(0, n), received);
    const st = len > JS_MAX ? this.#partsSha1(a, b ?? EMPTY, 0, len - a.length)! : this.#small(a, b, len);
    let diff = 0;
    for (let i = 0; i < n; i++) diff |= ((st[i >> 2]! >>> (24 - 8 * (i & 3))) ^ received[i]!) & 0xff;
    return diff === 0;
  }

  /**
   * The first `n` bytes of HMAC(src[off..off+len)) to out[outOff..outOff+n). With SHA-1 the
   * message is hashed where it lies (no copy, no view): the per-message path of RFC 3962 Wrap.
   */
  macRange(src: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number, n: number): void {
    if (this.hash !== 'sha1' || len > JS_MAX_RANGE_SHA1) {
      this.macInto(new Uint8Array(src.buffer, src.byteOffset + off, len), undefined, out, outOff, n);
      return;
    }
    const st = this.#rangeSha1(src, off, len);
    for (let i = 0; i < n; i++) out[outOff + i] = st[i >> 2]! >>> (24 - 8 * (i & 3));
  }

  /**
   * Whether received[rOff..rOff+n) is the first n bytes of HMAC(src[off..off+len)), compared in
   * constant time (no early exit; n is public). Nothing is allocated on the SHA-1 path.
   */
  verifyRange(src: Uint8Array, off: number, len: number, received: Uint8Array, rOff: number, n: number): boolean {
    if (n === 0 || n > this.size) return false;
    if (this.hash !== 'sha1' || len > JS_MAX_RANGE_SHA1) {
      return this.verify(new Uint8Array(src.buffer, src.byteOffset + off, len), undefined, new Uint8Array(received.buffer, received.byteOffset + rOff, n));
    }
    const st = this.#rangeSha1(src, off, len);
    let diff = 0;
    for (let i = 0; i < n; i++) diff |= ((st[i >> 2]! >>> (24 - 8 * (i & 3))) ^ received[rOff + i]!) & 0xff;
    return diff === 0;
  }

  // HMAC-SHA1 state words of src[off..off+len) (valid until the next call).
  #rangeSha1(src: Uint8Array, off: number, len: number): Int32Array {
    const st = this.#state!;
    const inner = this.#inner!;
    for (let i = 0; i < 5; i++) st[i] = inner[i]!;
    sha1Range(st, W, src, off, len, BLOCK);
    sha1Outer(st, W, this.#outer!);
    return st;
  }

  /** HMAC over a || b (b optional), full-length output. */
  mac(a: Uint8Array, b?: Uint8Array): Uint8Array {
    const len = a.length + (b === undefined ? 0 : b.length);
    if (this.#compress === undefined || len > JS_MAX) {
      const h = createHmac(this.hash, this.#key).update(a);
      if (b !== undefined) h.update(b);
      return h.digest();
    }
    const st = this.#small(a, b, len);
    return bigEndianBytes(st, st.length);
  }

  /**
   * The JS path: HMAC state words after the outer hash (valid until the next call). The message is
   * copied by loops into the scratch block with its padding (cheaper than set/fill calls at these
   * sizes), and the outer block is written as words from the inner state.
   */
  #small(a: Uint8Array, b: Uint8Array | undefined, len: number): Int32Array {
    const compress = this.#compress!;
    const st = this.#state!;
    const inner = this.#inner!;
    const outer = this.#outer!;
    const words = st.length;
    const buf = scratch;
    const al = a.length;
    for (let i = 0; i < al; i++) buf[i] = a[i]!;
    if (b !== undefined) for (let i = 0, bl = b.length; i < bl; i++) buf[al + i] = b[i]!;
    const end = padMessage(buf, len, (BLOCK + len) * 8); // the ipad block comes first; < 2^32 on this path
    for (let i = 0; i < words; i++) st[i] = inner[i]!;
    for (let off = 0; off < end; off += BLOCK) {
      loadBlock(buf, off);
      compress(st);
    }
    for (let i = 0; i < end; i++) buf[i] = 0; // the plaintext was here
    // Outer hash: opad state, then one block: inner digest || 0x80 || zeros || bit length.
    for (let i = 0; i < words; i++) {
      W[i] = st[i]!;
      st[i] = outer[i]!;
    }
    W[words] = 0x80000000 | 0;
    for (let i = words + 1; i < 15; i++) W[i] = 0;
    W[15] = (BLOCK + words * 4) * 8;
    compress(st);
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
    this.#state?.fill(0);
  }
}

/** SHA-256 (FIPS 180-4) of `data`: in JS for short inputs (no object per call), else node:crypto. */
export function sha256(data: Uint8Array): Uint8Array {
  const len = data.length;
  if (len > JS_MAX) return createHash('sha256').update(data).digest();
  const buf = scratch;
  for (let i = 0; i < len; i++) buf[i] = data[i]!;
  const end = padMessage(buf, len, len * 8);
  const st = Int32Array.from(SHA256_IV);
  for (let off = 0; off < end; off += BLOCK) {
    loadBlock(buf, off);
    sha256Compress(st);
  }
  for (let i = 0; i < end; i++) buf[i] = 0;
  return bigEndianBytes(st, 8);
}

/**
 * MD-style padding after a `len`-byte message in `buf`: 0x80, zeros, and the bit count (< 2^32
 * on the JS paths) as the last four bytes of the final block. Returns where the padded message ends.
 */
function padMessage(buf: Uint8Array, len: number, bits: number): number {
  const end = ((len + 9 + BLOCK - 1) >>> 6) * BLOCK;
  buf[len] = 0x80;
  for (let i = len + 1; i < end - 4; i++) buf[i] = 0;
  buf[end - 4] = bits >>> 24;
  buf[end - 3] = bits >>> 16;
  buf[end - 2] = bits >>> 8;
  buf[end - 1] = bits;
  return end;
}

/** The first `n` state words as big-endian bytes (a digest). */
function bigEndianBytes(st: Int32Array, n: number): Uint8Array {
  const out = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) {
    const w = st[i]!;
    out[4 * i] = w >>> 24;
    out[4 * i + 1] = w >>> 16;
    out[4 * i + 2] = w >>> 8;
    out[4 * i + 3] = w;
  }
  return out;
}

/** One-shot HMAC. */
export function hmac(hash: HmacHash, key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac(hash, key).update(data).digest();
}

/** Constant-time comparison of a received MAC with the expected one (lengths are public). */
export function macEquals(expected: Uint8Array, received: Uint8Array): boolean {
  return constantTimeEqual(expected, received);
}
