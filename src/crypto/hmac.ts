// HMAC-MD5 and MD5 through node:crypto (both still in OpenSSL 3's default provider).
import { createHash, createHmac } from 'node:crypto';

function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** HMAC_MD5(key, data[0] || data[1] || ...), 16 bytes (RFC 2104). */
export function hmacMd5(key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
  const h = createHmac('md5', key);
  for (const d of data) h.update(d);
  return view(h.digest());
}

/** MD5(data[0] || data[1] || ...), 16 bytes (RFC 1321). */
export function md5(...data: Uint8Array[]): Uint8Array {
  const h = createHash('md5');
  for (const d of data) h.update(d);
  return view(h.digest());
}

// ---------------------------------------------------------------------------------------------
// HMAC-MD5 with a fixed key, for per-message MACs (NTLM SIGN/SEAL, RFC 4757 checksums). The
// key's inner and outer pad blocks are hashed once; short messages are then finished in JS,
// because creating a node:crypto Hmac costs microseconds per call, far more than hashing a few
// dozen bytes. Long messages go through node:crypto, which hashes faster per byte.

// RFC 1321 3.4: per-step additive constants floor(abs(sin(i + 1)) * 2^32) and rotations.
const K = new Int32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0;
const S = Uint8Array.from([
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
]);
const W = new Int32Array(16);

// RFC 1321 3.4: one 64-byte block at src[off..] folded into h.
function md5Block(h: Int32Array, src: Uint8Array, off: number): void {
  for (let j = 0; j < 16; j++, off += 4) {
    W[j] = src[off]! | (src[off + 1]! << 8) | (src[off + 2]! << 16) | (src[off + 3]! << 24);
  }
  let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!;
  let x: number, t: number, s: number;
  // Four rounds of 16 steps, each its own loop so no step branches on the round.
  for (let i = 0; i < 16; i++) {
    x = (a + ((b & c) | (~b & d)) + K[i]! + W[i]!) | 0;
    s = S[i]!;
    t = d; d = c; c = b; b = (b + ((x << s) | (x >>> (32 - s)))) | 0; a = t;
  }
  for (let i = 16; i < 32; i++) {
    x = (a + ((d & b) | (~d & c)) + K[i]! + W[(5 * i + 1) & 15]!) | 0;
    s = S[i]!;
    t = d; d = c; c = b; b = (b + ((x << s) | (x >>> (32 - s)))) | 0; a = t;
  }
  for (let i = 32; i < 48; i++) {
    x = (a + (b ^ c ^ d) + K[i]! + W[(3 * i + 5) & 15]!) | 0;
    s = S[i]!;
    t = d; d = c; c = b; b = (b + ((x << s) | (x >>> (32 - s)))) | 0; a = t;
  }
  for (let i = 48; i < 64; i++) {
    x = (a + (c ^ (b | ~d)) + K[i]! + W[(7 * i) & 15]!) | 0;
    s = S[i]!;
    t = d; d = c; c = b; b = (b + ((x << s) | (x >>> (32 - s)))) | 0; a = t;
  }
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

  reset(from: Int32Array, consumed: number): void {
    this.h.set(from);
    this.used = 0;
    this.total = consumed;
  }

  update(data: Uint8Array): void {
    const n = data.length;
    let off = 0;
    this.total += n;
    if (this.used > 0) {
      const take = Math.min(64 - this.used, n);
      this.block.set(data.subarray(0, take), this.used);
      this.used += take;
      off = take;
      if (this.used < 64) return;
      md5Block(this.h, this.block, 0);
      this.used = 0;
    }
    for (; off + 64 <= n; off += 64) md5Block(this.h, data, off);
    if (off < n) {
      this.block.set(data.subarray(off), 0);
      this.used = n - off;
    }
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
// per-call setup cost (measured crossover is a few hundred bytes to a few KiB).
const JS_LIMIT = 512;

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
    W.fill(0);
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
    W.fill(0);
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
