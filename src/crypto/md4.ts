// MD4 (RFC 1320), written here because Node 20's OpenSSL 3 leaves MD4 in the legacy provider.
// Used for the NT hash (MS-NLMP 3.3.1 NTOWFv1) and the RC4-HMAC Kerberos key (RFC 4757).

// One 16-word message schedule, reused: MD4 is synchronous so no call can interleave.
const X = new Int32Array(16);
// Round 3 visits the words in bit-reversed order (RFC 1320 3.4).
const R3 = [0, 2, 1, 3] as const;

// Reads 64 bytes at `off` into X as little-endian words (RFC 1320 3.4: Decode).
function load(src: Uint8Array, off: number): void {
  for (let j = 0; j < 16; j++, off += 4) {
    X[j] = src[off]! | (src[off + 1]! << 8) | (src[off + 2]! << 16) | (src[off + 3]! << 24);
  }
}

function rotl(x: number, s: number): number {
  return (x << s) | (x >>> (32 - s));
}

// RFC 1320 3.4: the three rounds over one block, folded into the state.
function compress(h: Int32Array): void {
  let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!;
  const x = X;

  // Round 1: F(x,y,z) = xy | ~x z.
  for (let i = 0; i < 16; i += 4) {
    a = rotl((a + ((b & c) | (~b & d)) + x[i]!) | 0, 3);
    d = rotl((d + ((a & b) | (~a & c)) + x[i + 1]!) | 0, 7);
    c = rotl((c + ((d & a) | (~d & b)) + x[i + 2]!) | 0, 11);
    b = rotl((b + ((c & d) | (~c & a)) + x[i + 3]!) | 0, 19);
  }
  // Round 2: G(x,y,z) = xy | xz | yz, constant sqrt(2) * 2^30.
  for (let i = 0; i < 4; i++) {
    a = rotl((a + ((b & c) | (b & d) | (c & d)) + x[i]! + 0x5a827999) | 0, 3);
    d = rotl((d + ((a & b) | (a & c) | (b & c)) + x[i + 4]! + 0x5a827999) | 0, 5);
    c = rotl((c + ((d & a) | (d & b) | (a & b)) + x[i + 8]! + 0x5a827999) | 0, 9);
    b = rotl((b + ((c & d) | (c & a) | (d & a)) + x[i + 12]! + 0x5a827999) | 0, 13);
  }
  // Round 3: H(x,y,z) = x ^ y ^ z, constant sqrt(3) * 2^30, bit-reversed word order.
  for (const i of R3) {
    a = rotl((a + (b ^ c ^ d) + x[i]! + 0x6ed9eba1) | 0, 3);
    d = rotl((d + (a ^ b ^ c) + x[i + 8]! + 0x6ed9eba1) | 0, 9);
    c = rotl((c + (d ^ a ^ b) + x[i + 4]! + 0x6ed9eba1) | 0, 11);
    b = rotl((b + (c ^ d ^ a) + x[i + 12]! + 0x6ed9eba1) | 0, 15);
  }

  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
}
/** MD4 digest (16 bytes) of `data` (RFC 1320). */
export function md4(data: Uint8Array): Uint8Array {
  // RFC 1320 3.3: initial state words A, B, C, D.
  const h = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
  const n = data.length;
  const full = n - (n % 64);
  for (let off = 0; off < full; off += 64) {
    load(data, off);
    compress(h);
  }

  // RFC 1320 3.1/3.2: 0x80, zeros to 56 mod 64, then the bit length as 64-bit little-endian.
  const rem = n - full;
  const tail = new Uint8Array(rem < 56 ? 64 : 128);
  tail.set(data.subarray(full));
  tail[rem] = 0x80;
  const bits = n * 8;
  const lenOff = tail.length - 8;
  const lo = bits >>> 0;
  const hi = Math.floor(bits / 0x100000000) >>> 0;
  for (let i = 0; i < 4; i++) {
    tail[lenOff + i] = (lo >>> (8 * i)) & 0xff;
    tail[lenOff + 4 + i] = (hi >>> (8 * i)) & 0xff;
  }
  for (let off = 0; off < tail.length; off += 64) {
    load(tail, off);
    compress(h);
  }
  tail.fill(0);
  X.fill(0);

  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const w = h[i]!;
    out[4 * i] = w & 0xff;
    out[4 * i + 1] = (w >>> 8) & 0xff;
    out[4 * i + 2] = (w >>> 16) & 0xff;
    out[4 * i + 3] = (w >>> 24) & 0xff;
  }
  h.fill(0);
  return out;
}
