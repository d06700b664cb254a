// HMAC-MD5 and MD5 (RFC 2104, RFC 1321). Short inputs are hashed by the JS MD5 below: creating
// a node:crypto Hash/Hmac costs 1.3-3.7 us per call, far more than hashing a few blocks, and an
// NTLM handshake makes a dozen such calls. Long inputs go to node:crypto, which hashes faster
// per byte (native ~750 MB/s against ~450 MB/s here).
import { createHash, createHmac } from 'node:crypto';

function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

function totalLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i]!.length;
  return n;
}

/** HMAC_MD5(key, data[0] || data[1] || ...), 16 bytes (RFC 2104). */
export function hmacMd5(key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
  if (key.length <= 64 && totalLength(data) <= JS_LIMIT) {
    const out = new Uint8Array(16);
    oneShotHmac(key, data, out);
    return out;
  }
  const h = createHmac('md5', key);
  for (const d of data) h.update(d);
  return view(h.digest());
}

/** MD5(data[0] || data[1] || ...), 16 bytes (RFC 1321). */
export function md5(...data: Uint8Array[]): Uint8Array {
  if (totalLength(data) <= JS_LIMIT) {
    const out = new Uint8Array(16);
    const st = SHARED;
    st.reset(MD5_IV, 0);
    for (let i = 0; i < data.length; i++) st.update(data[i]!);
    st.finish(out, 0);
    st.wipe();
    return out;
  }
  const h = createHash('md5');
  for (const d of data) h.update(d);
  return view(h.digest());
}

// ---------------------------------------------------------------------------------------------
// The JS MD5, and HMAC-MD5 with a fixed key for per-message MACs (NTLM SIGN/SEAL, RFC 4757
// checksums), whose inner and outer pad blocks are hashed once.

// RFC 1321 3.4: one 64-byte block at src[off..] folded into h. Unrolled, with the message
// words and the constants in locals, because V8 keeps those in registers where table
// lookups cost a load and a bounds check each (measured ~2x faster than the looped form).
function md5Block(h: Int32Array, src: Uint8Array, off: number): void {
  const x0 = src[off]! | (src[off + 1]! << 8) | (src[off + 2]! << 16) | (src[off + 3]! << 24);
  const x1 = src[off + 4]! | (src[off + 5]! << 8) | (src[off + 6]! << 16) | (src[off + 7]! << 24);
  const x2 = src[off + 8]! | (src[off + 9]! << 8) | (src[off + 10]! << 16) | (src[off + 11]! << 24);
  const x3 = src[off + 12]! | (src[off + 13]! << 8) | (src[off + 14]! << 16) | (src[off + 15]! << 24);
  const x4 = src[off + 16]! | (src[off + 17]! << 8) | (src[off + 18]! << 16) | (src[off + 19]! << 24);
  const x5 = src[off + 20]! | (src[off + 21]! << 8) | (src[off + 22]! << 16) | (src[off + 23]! << 24);
  const x6 = src[off + 24]! | (src[off + 25]! << 8) | (src[off + 26]! << 16) | (src[off + 27]! << 24);
  const x7 = src[off + 28]! | (src[off + 29]! << 8) | (src[off + 30]! << 16) | (src[off + 31]! << 24);
  const x8 = src[off + 32]! | (src[off + 33]! << 8) | (src[off + 34]! << 16) | (src[off + 35]! << 24);
  const x9 = src[off + 36]! | (src[off + 37]! << 8) | (src[off + 38]! << 16) | (src[off + 39]! << 24);
  const x10 = src[off + 40]! | (src[off + 41]! << 8) | (src[off + 42]! << 16) | (src[off + 43]! << 24);
  const x11 = src[off + 44]! | (src[off + 45]! << 8) | (src[off + 46]! << 16) | (src[off + 47]! << 24);
  const x12 = src[off + 48]! | (src[off + 49]! << 8) | (src[off + 50]! << 16) | (src[off + 51]! << 24);
  const x13 = src[off + 52]! | (src[off + 53]! << 8) | (src[off + 54]! << 16) | (src[off + 55]! << 24);
  const x14 = src[off + 56]! | (src[off + 57]! << 8) | (src[off + 58]! << 16) | (src[off + 59]! << 24);
  const x15 = src[off + 60]! | (src[off + 61]! << 8) | (src[off + 62]! << 16) | (src[off + 63]! << 24);
  let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!;
  // Round 1: F(b,c,d) = bc | ~b d.
  a = (a + ((b & c) | (~b & d)) + x0 + 0xd76aa478) | 0; a = ((((a << 7) | (a >>> 25)) + b) | 0);
  d = (d + ((a & b) | (~a & c)) + x1 + 0xe8c7b756) | 0; d = ((((d << 12) | (d >>> 20)) + a) | 0);
  c = (c + ((d & a) | (~d & b)) + x2 + 0x242070db) | 0; c = ((((c << 17) | (c >>> 15)) + d) | 0);
  b = (b + ((c & d) | (~c & a)) + x3 + 0xc1bdceee) | 0; b = ((((b << 22) | (b >>> 10)) + c) | 0);
  a = (a + ((b & c) | (~b & d)) + x4 + 0xf57c0faf) | 0; a = ((((a << 7) | (a >>> 25)) + b) | 0);
  d = (d + ((a & b) | (~a & c)) + x5 + 0x4787c62a) | 0; d = ((((d << 12) | (d >>> 20)) + a) | 0);
  c = (c + ((d & a) | (~d & b)) + x6 + 0xa8304613) | 0; c = ((((c << 17) | (c >>> 15)) + d) | 0);
  b = (b + ((c & d) | (~c & a)) + x7 + 0xfd469501) | 0; b = ((((b << 22) | (b >>> 10)) + c) | 0);
  a = (a + ((b & c) | (~b & d)) + x8 + 0x698098d8) | 0; a = ((((a << 7) | (a >>> 25)) + b) | 0);
  d = (d + ((a & b) | (~a & c)) + x9 + 0x8b44f7af) | 0; d = ((((d << 12) | (d >>> 20)) + a) | 0);
  c = (c + ((d & a) | (~d & b)) + x10 + 0xffff5bb1) | 0; c = ((((c << 17) | (c >>> 15)) + d) | 0);
  b = (b + ((c & d) | (~c & a)) + x11 + 0x895cd7be) | 0; b = ((((b << 22) | (b >>> 10)) + c) | 0);
  a = (a + ((b & c) | (~b & d)) + x12 + 0x6b901122) | 0; a = ((((a << 7) | (a >>> 25)) + b) | 0);
  d = (d + ((a & b) | (~a & c)) + x13 + 0xfd987193) | 0; d = ((((d << 12) | (d >>> 20)) + a) | 0);
  c = (c + ((d & a) | (~d & b)) + x14 + 0xa679438e) | 0; c = ((((c << 17) | (c >>> 15)) + d) | 0);
  b = (b + ((c & d) | (~c & a)) + x15 + 0x49b40821) | 0; b = ((((b << 22) | (b >>> 10)) + c) | 0);
  // Round 2: G(b,c,d) = bd | c ~d.
  a = (a + ((d & b) | (~d & c)) + x1 + 0xf61e2562) | 0; a = ((((a << 5) | (a >>> 27)) + b) | 0);
  d = (d + ((c & a) | (~c & b)) + x6 + 0xc040b340) | 0; d = ((((d << 9) | (d >>> 23)) + a) | 0);
  c = (c + ((b & d) | (~b & a)) + x11 + 0x265e5a51) | 0; c = ((((c << 14) | (c >>> 18)) + d) | 0);
  b = (b + ((a & c) | (~a & d)) + x0 + 0xe9b6c7aa) | 0; b = ((((b << 20) | (b >>> 12)) + c) | 0);
  a = (a + ((d & b) | (~d & c)) + x5 + 0xd62f105d) | 0; a = ((((a << 5) | (a >>> 27)) + b) | 0);
  d = (d + ((c & a) | (~c & b)) + x10 + 0x02441453) | 0; d = ((((d << 9) | (d >>> 23)) + a) | 0);
  c = (c + ((b & d) | (~b & a)) + x15 + 0xd8a1e681) | 0; c = ((((c << 14) | (c >>> 18)) + d) | 0);
  b = (b + ((a & c) | (~a & d)) + x4 + 0xe7d3fbc8) | 0; b = ((((b << 20) | (b >>> 12)) + c) | 0);
  a = (a + ((d & b) | (~d & c)) + x9 + 0x21e1cde6) | 0; a = ((((a << 5) | (a >>> 27)) + b) | 0);
  d = (d + ((c & a) | (~c & b)) + x14 + 0xc33707d6) | 0; d = ((((d << 9) | (d >>> 23)) + a) | 0);
  c = (c + ((b & d) | (~b & a)) + x3 + 0xf4d50d87) | 0; c = ((((c << 14) | (c >>> 18)) + d) | 0);
  b = (b + ((a & c) | (~a & d)) + x8 + 0x455a14ed) | 0; b = ((((b << 20) | (b >>> 12)) + c) | 0);
  a = (a + ((d & b) | (~d & c)) + x13 + 0xa9e3e905) | 0; a = ((((a << 5) | (a >>> 27)) + b) | 0);
  d = (d + ((c & a) | (~c & b)) + x2 + 0xfcefa3f8) | 0; d = ((((d << 9) | (d >>> 23)) + a) | 0);
  c = (c + ((b & d) | (~b & a)) + x7 + 0x676f02d9) | 0; c = ((((c << 14) | (c >>> 18)) + d) | 0);
  b = (b + ((a & c) | (~a & d)) + x12 + 0x8d2a4c8a) | 0; b = ((((b << 20) | (b >>> 12)) + c) | 0);
  // Round 3: H(b,c,d) = b ^ c ^ d.
  a = (a + (b ^ c ^ d) + x5 + 0xfffa3942) | 0; a = ((((a << 4) | (a >>> 28)) + b) | 0);
  d = (d + (a ^ b ^ c) + x8 + 0x8771f681) | 0; d = ((((d << 11) | (d >>> 21)) + a) | 0);
  c = (c + (d ^ a ^ b) + x11 + 0x6d9d6122) | 0; c = ((((c << 16) | (c >>> 16)) + d) | 0);
  b = (b + (c ^ d ^ a) + x14 + 0xfde5380c) | 0; b = ((((b << 23) | (b >>> 9)) + c) | 0);
  a = (a + (b ^ c ^ d) + x1 + 0xa4beea44) | 0; a = ((((a << 4) | (a >>> 28)) + b) | 0);
  d = (d + (a ^ b ^ c) + x4 + 0x4bdecfa9) | 0; d = ((((d << 11) | (d >>> 21)) + a) | 0);
  c = (c + (d ^ a ^ b) + x7 + 0xf6bb4b60) | 0; c = ((((c << 16) | (c >>> 16)) + d) | 0);
  b = (b + (c ^ d ^ a) + x10 + 0xbebfbc70) | 0; b = ((((b << 23) | (b >>> 9)) + c) | 0);
  a = (a + (b ^ c ^ d) + x13 + 0x289b7ec6) | 0; a = ((((a << 4) | (a >>> 28)) + b) | 0);
  d = (d + (a ^ b ^ c) + x0 + 0xeaa127fa) | 0; d = ((((d << 11) | (d >>> 21)) + a) | 0);
  c = (c + (d ^ a ^ b) + x3 + 0xd4ef3085) | 0; c = ((((c << 16) | (c >>> 16)) + d) | 0);
  b = (b + (c ^ d ^ a) + x6 + 0x04881d05) | 0; b = ((((b << 23) | (b >>> 9)) + c) | 0);
  a = (a + (b ^ c ^ d) + x9 + 0xd9d4d039) | 0; a = ((((a << 4) | (a >>> 28)) + b) | 0);
  d = (d + (a ^ b ^ c) + x12 + 0xe6db99e5) | 0; d = ((((d << 11) | (d >>> 21)) + a) | 0);
  c = (c + (d ^ a ^ b) + x15 + 0x1fa27cf8) | 0; c = ((((c << 16) | (c >>> 16)) + d) | 0);
  b = (b + (c ^ d ^ a) + x2 + 0xc4ac5665) | 0; b = ((((b << 23) | (b >>> 9)) + c) | 0);
  // Round 4: I(b,c,d) = c ^ (b | ~d).
  a = (a + (c ^ (b | ~d)) + x0 + 0xf4292244) | 0; a = ((((a << 6) | (a >>> 26)) + b) | 0);
  d = (d + (b ^ (a | ~c)) + x7 + 0x432aff97) | 0; d = ((((d << 10) | (d >>> 22)) + a) | 0);
  c = (c + (a ^ (d | ~b)) + x14 + 0xab9423a7) | 0; c = ((((c << 15) | (c >>> 17)) + d) | 0);
  b = (b + (d ^ (c | ~a)) + x5 + 0xfc93a039) | 0; b = ((((b << 21) | (b >>> 11)) + c) | 0);
  a = (a + (c ^ (b | ~d)) + x12 + 0x655b59c3) | 0; a = ((((a << 6) | (a >>> 26)) + b) | 0);
  d = (d + (b ^ (a | ~c)) + x3 + 0x8f0ccc92) | 0; d = ((((d << 10) | (d >>> 22)) + a) | 0);
  c = (c + (a ^ (d | ~b)) + x10 + 0xffeff47d) | 0; c = ((((c << 15) | (c >>> 17)) + d) | 0);
  b = (b + (d ^ (c | ~a)) + x1 + 0x85845dd1) | 0; b = ((((b << 21) | (b >>> 11)) + c) | 0);
  a = (a + (c ^ (b | ~d)) + x8 + 0x6fa87e4f) | 0; a = ((((a << 6) | (a >>> 26)) + b) | 0);
  d = (d + (b ^ (a | ~c)) + x15 + 0xfe2ce6e0) | 0; d = ((((d << 10) | (d >>> 22)) + a) | 0);
  c = (c + (a ^ (d | ~b)) + x6 + 0xa3014314) | 0; c = ((((c << 15) | (c >>> 17)) + d) | 0);
  b = (b + (d ^ (c | ~a)) + x13 + 0x4e0811a1) | 0; b = ((((b << 21) | (b >>> 11)) + c) | 0);
  a = (a + (c ^ (b | ~d)) + x4 + 0xf7537e82) | 0; a = ((((a << 6) | (a >>> 26)) + b) | 0);
  d = (d + (b ^ (a | ~c)) + x11 + 0xbd3af235) | 0; d = ((((d << 10) | (d >>> 22)) + a) | 0);
  c = (c + (a ^ (d | ~b)) + x2 + 0x2ad7d2bb) | 0; c = ((((c << 15) | (c >>> 17)) + d) | 0);
  b = (b + (d ^ (c | ~a)) + x9 + 0xeb86d391) | 0; b = ((((b << 21) | (b >>> 11)) + c) | 0);
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
}

// A minimal streaming MD5 over a caller-provided state (no allocation per update).
class Md5Stream {
  readonly h = new Int32Array(4);
  private readonly block = new Uint8Array(64);
  private used = 0;
  private total = 0;

  /** Starts a hash whose first 64-byte block is `block`. */
  startAfterBlock(block: Uint8Array): void {
    const h = this.h;
    h[0] = 0x67452301;
    h[1] = 0xefcdab89 | 0;
    h[2] = 0x98badcfe | 0;
    h[3] = 0x10325476;
    md5Block(h, block, 0);
    this.used = 0;
    this.total = 64;
  }

  reset(from: Int32Array, consumed: number): void {
    this.h.set(from);
    this.used = 0;
    this.total = consumed;
  }

  // Partial blocks are copied byte by byte: a subarray view per call costs more than the copy
  // for the few-byte parts NTLM hashes (sequence numbers, challenges).
  update(data: Uint8Array): void {
    const n = data.length;
    const b = this.block;
    let used = this.used;
    let off = 0;
    this.total += n;
    if (used > 0) {
      const take = Math.min(64 - used, n);
      for (let k = 0; k < take; k++) b[used + k] = data[k]!;
      used += take;
      off = take;
      if (used < 64) {
        this.used = used;
        return;
      }
      md5Block(this.h, b, 0);
    }
    for (; off + 64 <= n; off += 64) md5Block(this.h, data, off);
    for (let k = off; k < n; k++) b[k - off] = data[k]!;
    this.used = n - off;
  }

  // RFC 1321 3.1-3.2 padding, then the digest (little-endian words) into out[outOff..+16].
  finish(out: Uint8Array, outOff: number): void {
    const b = this.block;
    const bits = this.total * 8;
    b[this.used++] = 0x80;
    if (this.used > 56) {
      b.fill(0, this.used);
      md5Block(this.h, b, 0);
      this.used = 0;
    }
    b.fill(0, this.used, 56);
    const lo = bits >>> 0;
    const hi = Math.floor(bits / 0x100000000) >>> 0;
    for (let i = 0; i < 4; i++) {
      b[56 + i] = (lo >>> (8 * i)) & 0xff;
      b[60 + i] = (hi >>> (8 * i)) & 0xff;
    }
    md5Block(this.h, b, 0);
    for (let i = 0; i < 4; i++) {
      const w = this.h[i]!;
      out[outOff + 4 * i] = w & 0xff;
      out[outOff + 4 * i + 1] = (w >>> 8) & 0xff;
      out[outOff + 4 * i + 2] = (w >>> 16) & 0xff;
      out[outOff + 4 * i + 3] = (w >>> 24) & 0xff;
    }
    b.fill(0);
    this.used = 0;
  }

  wipe(): void {
    this.h.fill(0);
    this.block.fill(0);
    this.used = 0;
    this.total = 0;
  }
}

const MD5_IV = Int32Array.from([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);

// Above this many message bytes node:crypto's native MD5 wins over the JS one despite its
// per-call setup cost (measured: equal at about 4 KiB; JS 2.8 us vs native 4.1 us at 1 KiB).
const JS_LIMIT = 2048;

// The stream for one-shot md5/hmacMd5: hashing is synchronous, so calls cannot interleave.
const SHARED = new Md5Stream();
const PAD = new Uint8Array(64);
const PAD32 = new Int32Array(PAD.buffer);
const INNER = new Uint8Array(16);

// RFC 2104 2 for a key of at most one block: MD5(K^opad || MD5(K^ipad || data)), into out.
// The key pads go straight into md5Block rather than through update(), and the shared state is
// wiped once at the end: a handshake makes eight of these calls.
function oneShotHmac(key: Uint8Array, data: readonly Uint8Array[], out: Uint8Array): void {
  const st = SHARED;
  const pad = PAD;
  const pad32 = PAD32;
  for (let i = 0; i < 16; i++) pad32[i] = 0x36363636;
  for (let i = 0; i < key.length; i++) pad[i] = key[i]! ^ 0x36;
  st.startAfterBlock(pad);
  for (let i = 0; i < data.length; i++) st.update(data[i]!);
  st.finish(INNER, 0);
  for (let i = 0; i < 16; i++) pad32[i] = pad32[i]! ^ 0x6a6a6a6a; // ipad -> opad, word-wise
  st.startAfterBlock(pad);
  st.update(INNER);
  st.finish(out, 0);
  pad.fill(0);
  INNER.fill(0);
  st.h.fill(0);
}

/** HMAC-MD5 (RFC 2104) under a fixed key, computed many times; call destroy() to zero the key. */
export class HmacMd5 {
  private readonly key: Uint8Array;
  private readonly inner = new Int32Array(4);
  private readonly outer = new Int32Array(4);
  private readonly stream = new Md5Stream();
  private readonly innerDigest = new Uint8Array(16);

  constructor(key: Uint8Array) {
    // RFC 2104 2: keys longer than the block are hashed first.
    this.key = key.length > 64 ? md5(key) : key.slice();
    const pad = new Uint8Array(64);
    pad.set(this.key);
    for (let i = 0; i < 64; i++) pad[i] = pad[i]! ^ 0x36;
    this.inner.set(MD5_IV);
    md5Block(this.inner, pad, 0);
    for (let i = 0; i < 64; i++) pad[i] = pad[i]! ^ 0x36 ^ 0x5c;
    this.outer.set(MD5_IV);
    md5Block(this.outer, pad, 0);
    pad.fill(0);
  }

  /**
   * HMAC over prefix || parts[0] || parts[1] || ..., written to out[outOff .. outOff+16). The
   * separate prefix lets callers MAC a sequence number plus message without building an array.
   */
  digestInto(parts: readonly Uint8Array[], out: Uint8Array, outOff = 0, prefix?: Uint8Array): void {
    let n = prefix ? prefix.length : 0;
    for (let i = 0; i < parts.length; i++) n += parts[i]!.length;
    if (n > JS_LIMIT) {
      const h = createHmac('md5', this.key);
      if (prefix) h.update(prefix);
      for (let i = 0; i < parts.length; i++) h.update(parts[i]!);
      const d = h.digest();
      out.set(d, outOff);
      d.fill(0);
      return;
    }
    const s = this.stream;
    s.reset(this.inner, 64);
    if (prefix) s.update(prefix);
    for (let i = 0; i < parts.length; i++) s.update(parts[i]!);
    s.finish(this.innerDigest, 0);
    s.reset(this.outer, 64);
    s.update(this.innerDigest);
    s.finish(out, outOff);
    this.innerDigest.fill(0);
    s.wipe();
  }

  /** HMAC over the concatenation of `parts`, as a new 16-byte array. */
  digest(...parts: Uint8Array[]): Uint8Array {
    const out = new Uint8Array(16);
    this.digestInto(parts, out, 0);
    return out;
  }

  /** Zeroes the key and the precomputed pad states. */
  destroy(): void {
    this.key.fill(0);
    this.inner.fill(0);
    this.outer.fill(0);
    this.stream.wipe();
  }
}
