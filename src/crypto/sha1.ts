// SHA-1 (FIPS 180-4 6.1) compression and HMAC-SHA1 (RFC 2104) over byte ranges, for the short
// messages of Kerberos per-message tokens (RFC 3962 hmac-sha1-96), where a node:crypto Hmac object
// per call (~1.8 µs) costs more than hashing the two or three blocks here. SHA-1 has no table
// lookups indexed by data, so this JS path runs in time independent of the bytes hashed.

/** FIPS 180-4 5.3.1: the initial hash value. */
export const SHA1_IV: readonly number[] = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];

/**
 * FIPS 180-4 6.1.2: fold one 64-byte block, given as 16 big-endian words w[0..15], into h[0..4].
 * Unrolled with the schedule in 16 rolling locals and the working variables renamed per round
 * instead of shifted: V8 keeps them all in registers, about 2x faster than the looped form with
 * an 80-word array. w is read, never written.
 */
export function sha1Block(h: Int32Array, w: Int32Array): void {
  let w0 = w[0]! | 0, w1 = w[1]! | 0, w2 = w[2]! | 0, w3 = w[3]! | 0, w4 = w[4]! | 0, w5 = w[5]! | 0, w6 = w[6]! | 0, w7 = w[7]! | 0;
  let w8 = w[8]! | 0, w9 = w[9]! | 0, w10 = w[10]! | 0, w11 = w[11]! | 0, w12 = w[12]! | 0, w13 = w[13]! | 0, w14 = w[14]! | 0, w15 = w[15]! | 0;
  let a = h[0]! | 0, b = h[1]! | 0, c = h[2]! | 0, d = h[3]! | 0, e = h[4]! | 0, x = 0;
  // Rounds 0-19 Ch, 20-39 Parity, 40-59 Maj, 60-79 Parity; K as signed 32-bit literals.
  e = (e + ((a << 5) | (a >>> 27)) + (d ^ (b & (c ^ d))) + 0x5a827999 + w0) | 0; b = (b << 30) | (b >>> 2);
  d = (d + ((e << 5) | (e >>> 27)) + (c ^ (a & (b ^ c))) + 0x5a827999 + w1) | 0; a = (a << 30) | (a >>> 2);
  c = (c + ((d << 5) | (d >>> 27)) + (b ^ (e & (a ^ b))) + 0x5a827999 + w2) | 0; e = (e << 30) | (e >>> 2);
  b = (b + ((c << 5) | (c >>> 27)) + (a ^ (d & (e ^ a))) + 0x5a827999 + w3) | 0; d = (d << 30) | (d >>> 2);
  a = (a + ((b << 5) | (b >>> 27)) + (e ^ (c & (d ^ e))) + 0x5a827999 + w4) | 0; c = (c << 30) | (c >>> 2);
  e = (e + ((a << 5) | (a >>> 27)) + (d ^ (b & (c ^ d))) + 0x5a827999 + w5) | 0; b = (b << 30) | (b >>> 2);
  d = (d + ((e << 5) | (e >>> 27)) + (c ^ (a & (b ^ c))) + 0x5a827999 + w6) | 0; a = (a << 30) | (a >>> 2);
  c = (c + ((d << 5) | (d >>> 27)) + (b ^ (e & (a ^ b))) + 0x5a827999 + w7) | 0; e = (e << 30) | (e >>> 2);
  b = (b + ((c << 5) | (c >>> 27)) + (a ^ (d & (e ^ a))) + 0x5a827999 + w8) | 0; d = (d << 30) | (d >>> 2);
  a = (a + ((b << 5) | (b >>> 27)) + (e ^ (c & (d ^ e))) + 0x5a827999 + w9) | 0; c = (c << 30) | (c >>> 2);
  e = (e + ((a << 5) | (a >>> 27)) + (d ^ (b & (c ^ d))) + 0x5a827999 + w10) | 0; b = (b << 30) | (b >>> 2);
  d = (d + ((e << 5) | (e >>> 27)) + (c ^ (a & (b ^ c))) + 0x5a827999 + w11) | 0; a = (a << 30) | (a >>> 2);
  c = (c + ((d << 5) | (d >>> 27)) + (b ^ (e & (a ^ b))) + 0x5a827999 + w12) | 0; e = (e << 30) | (e >>> 2);
  b = (b + ((c << 5) | (c >>> 27)) + (a ^ (d & (e ^ a))) + 0x5a827999 + w13) | 0; d = (d << 30) | (d >>> 2);
  a = (a + ((b << 5) | (b >>> 27)) + (e ^ (c & (d ^ e))) + 0x5a827999 + w14) | 0; c = (c << 30) | (c >>> 2);
  e = (e + ((a << 5) | (a >>> 27)) + (d ^ (b & (c ^ d))) + 0x5a827999 + w15) | 0; b = (b << 30) | (b >>> 2);
  x = w13 ^ w8 ^ w2 ^ w0; w0 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + (c ^ (a & (b ^ c))) + 0x5a827999 + w0) | 0; a = (a << 30) | (a >>> 2);
  x = w14 ^ w9 ^ w3 ^ w1; w1 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + (b ^ (e & (a ^ b))) + 0x5a827999 + w1) | 0; e = (e << 30) | (e >>> 2);
  x = w15 ^ w10 ^ w4 ^ w2; w2 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + (a ^ (d & (e ^ a))) + 0x5a827999 + w2) | 0; d = (d << 30) | (d >>> 2);
  x = w0 ^ w11 ^ w5 ^ w3; w3 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + (e ^ (c & (d ^ e))) + 0x5a827999 + w3) | 0; c = (c << 30) | (c >>> 2);
  x = w1 ^ w12 ^ w6 ^ w4; w4 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + (b ^ c ^ d) + 0x6ed9eba1 + w4) | 0; b = (b << 30) | (b >>> 2);
  x = w2 ^ w13 ^ w7 ^ w5; w5 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + (a ^ b ^ c) + 0x6ed9eba1 + w5) | 0; a = (a << 30) | (a >>> 2);
  x = w3 ^ w14 ^ w8 ^ w6; w6 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + (e ^ a ^ b) + 0x6ed9eba1 + w6) | 0; e = (e << 30) | (e >>> 2);
  x = w4 ^ w15 ^ w9 ^ w7; w7 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + (d ^ e ^ a) + 0x6ed9eba1 + w7) | 0; d = (d << 30) | (d >>> 2);
  x = w5 ^ w0 ^ w10 ^ w8; w8 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + (c ^ d ^ e) + 0x6ed9eba1 + w8) | 0; c = (c << 30) | (c >>> 2);
  x = w6 ^ w1 ^ w11 ^ w9; w9 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + (b ^ c ^ d) + 0x6ed9eba1 + w9) | 0; b = (b << 30) | (b >>> 2);
  x = w7 ^ w2 ^ w12 ^ w10; w10 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + (a ^ b ^ c) + 0x6ed9eba1 + w10) | 0; a = (a << 30) | (a >>> 2);
  x = w8 ^ w3 ^ w13 ^ w11; w11 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + (e ^ a ^ b) + 0x6ed9eba1 + w11) | 0; e = (e << 30) | (e >>> 2);
  x = w9 ^ w4 ^ w14 ^ w12; w12 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + (d ^ e ^ a) + 0x6ed9eba1 + w12) | 0; d = (d << 30) | (d >>> 2);
  x = w10 ^ w5 ^ w15 ^ w13; w13 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + (c ^ d ^ e) + 0x6ed9eba1 + w13) | 0; c = (c << 30) | (c >>> 2);
  x = w11 ^ w6 ^ w0 ^ w14; w14 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + (b ^ c ^ d) + 0x6ed9eba1 + w14) | 0; b = (b << 30) | (b >>> 2);
  x = w12 ^ w7 ^ w1 ^ w15; w15 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + (a ^ b ^ c) + 0x6ed9eba1 + w15) | 0; a = (a << 30) | (a >>> 2);
  x = w13 ^ w8 ^ w2 ^ w0; w0 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + (e ^ a ^ b) + 0x6ed9eba1 + w0) | 0; e = (e << 30) | (e >>> 2);
  x = w14 ^ w9 ^ w3 ^ w1; w1 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + (d ^ e ^ a) + 0x6ed9eba1 + w1) | 0; d = (d << 30) | (d >>> 2);
  x = w15 ^ w10 ^ w4 ^ w2; w2 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + (c ^ d ^ e) + 0x6ed9eba1 + w2) | 0; c = (c << 30) | (c >>> 2);
  x = w0 ^ w11 ^ w5 ^ w3; w3 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + (b ^ c ^ d) + 0x6ed9eba1 + w3) | 0; b = (b << 30) | (b >>> 2);
  x = w1 ^ w12 ^ w6 ^ w4; w4 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + (a ^ b ^ c) + 0x6ed9eba1 + w4) | 0; a = (a << 30) | (a >>> 2);
  x = w2 ^ w13 ^ w7 ^ w5; w5 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + (e ^ a ^ b) + 0x6ed9eba1 + w5) | 0; e = (e << 30) | (e >>> 2);
  x = w3 ^ w14 ^ w8 ^ w6; w6 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + (d ^ e ^ a) + 0x6ed9eba1 + w6) | 0; d = (d << 30) | (d >>> 2);
  x = w4 ^ w15 ^ w9 ^ w7; w7 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + (c ^ d ^ e) + 0x6ed9eba1 + w7) | 0; c = (c << 30) | (c >>> 2);
  x = w5 ^ w0 ^ w10 ^ w8; w8 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + ((b & c) | (d & (b | c))) + -1894007588 + w8) | 0; b = (b << 30) | (b >>> 2);
  x = w6 ^ w1 ^ w11 ^ w9; w9 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + ((a & b) | (c & (a | b))) + -1894007588 + w9) | 0; a = (a << 30) | (a >>> 2);
  x = w7 ^ w2 ^ w12 ^ w10; w10 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + ((e & a) | (b & (e | a))) + -1894007588 + w10) | 0; e = (e << 30) | (e >>> 2);
  x = w8 ^ w3 ^ w13 ^ w11; w11 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + ((d & e) | (a & (d | e))) + -1894007588 + w11) | 0; d = (d << 30) | (d >>> 2);
  x = w9 ^ w4 ^ w14 ^ w12; w12 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + ((c & d) | (e & (c | d))) + -1894007588 + w12) | 0; c = (c << 30) | (c >>> 2);
  x = w10 ^ w5 ^ w15 ^ w13; w13 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + ((b & c) | (d & (b | c))) + -1894007588 + w13) | 0; b = (b << 30) | (b >>> 2);
  x = w11 ^ w6 ^ w0 ^ w14; w14 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + ((a & b) | (c & (a | b))) + -1894007588 + w14) | 0; a = (a << 30) | (a >>> 2);
  x = w12 ^ w7 ^ w1 ^ w15; w15 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + ((e & a) | (b & (e | a))) + -1894007588 + w15) | 0; e = (e << 30) | (e >>> 2);
  x = w13 ^ w8 ^ w2 ^ w0; w0 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + ((d & e) | (a & (d | e))) + -1894007588 + w0) | 0; d = (d << 30) | (d >>> 2);
  x = w14 ^ w9 ^ w3 ^ w1; w1 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + ((c & d) | (e & (c | d))) + -1894007588 + w1) | 0; c = (c << 30) | (c >>> 2);
  x = w15 ^ w10 ^ w4 ^ w2; w2 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + ((b & c) | (d & (b | c))) + -1894007588 + w2) | 0; b = (b << 30) | (b >>> 2);
  x = w0 ^ w11 ^ w5 ^ w3; w3 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + ((a & b) | (c & (a | b))) + -1894007588 + w3) | 0; a = (a << 30) | (a >>> 2);
  x = w1 ^ w12 ^ w6 ^ w4; w4 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + ((e & a) | (b & (e | a))) + -1894007588 + w4) | 0; e = (e << 30) | (e >>> 2);
  x = w2 ^ w13 ^ w7 ^ w5; w5 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + ((d & e) | (a & (d | e))) + -1894007588 + w5) | 0; d = (d << 30) | (d >>> 2);
  x = w3 ^ w14 ^ w8 ^ w6; w6 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + ((c & d) | (e & (c | d))) + -1894007588 + w6) | 0; c = (c << 30) | (c >>> 2);
  x = w4 ^ w15 ^ w9 ^ w7; w7 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + ((b & c) | (d & (b | c))) + -1894007588 + w7) | 0; b = (b << 30) | (b >>> 2);
  x = w5 ^ w0 ^ w10 ^ w8; w8 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + ((a & b) | (c & (a | b))) + -1894007588 + w8) | 0; a = (a << 30) | (a >>> 2);
  x = w6 ^ w1 ^ w11 ^ w9; w9 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + ((e & a) | (b & (e | a))) + -1894007588 + w9) | 0; e = (e << 30) | (e >>> 2);
  x = w7 ^ w2 ^ w12 ^ w10; w10 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + ((d & e) | (a & (d | e))) + -1894007588 + w10) | 0; d = (d << 30) | (d >>> 2);
  x = w8 ^ w3 ^ w13 ^ w11; w11 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + ((c & d) | (e & (c | d))) + -1894007588 + w11) | 0; c = (c << 30) | (c >>> 2);
  x = w9 ^ w4 ^ w14 ^ w12; w12 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + (b ^ c ^ d) + -899497514 + w12) | 0; b = (b << 30) | (b >>> 2);
  x = w10 ^ w5 ^ w15 ^ w13; w13 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + (a ^ b ^ c) + -899497514 + w13) | 0; a = (a << 30) | (a >>> 2);
  x = w11 ^ w6 ^ w0 ^ w14; w14 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + (e ^ a ^ b) + -899497514 + w14) | 0; e = (e << 30) | (e >>> 2);
  x = w12 ^ w7 ^ w1 ^ w15; w15 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + (d ^ e ^ a) + -899497514 + w15) | 0; d = (d << 30) | (d >>> 2);
  x = w13 ^ w8 ^ w2 ^ w0; w0 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + (c ^ d ^ e) + -899497514 + w0) | 0; c = (c << 30) | (c >>> 2);
  x = w14 ^ w9 ^ w3 ^ w1; w1 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + (b ^ c ^ d) + -899497514 + w1) | 0; b = (b << 30) | (b >>> 2);
  x = w15 ^ w10 ^ w4 ^ w2; w2 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + (a ^ b ^ c) + -899497514 + w2) | 0; a = (a << 30) | (a >>> 2);
  x = w0 ^ w11 ^ w5 ^ w3; w3 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + (e ^ a ^ b) + -899497514 + w3) | 0; e = (e << 30) | (e >>> 2);
  x = w1 ^ w12 ^ w6 ^ w4; w4 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + (d ^ e ^ a) + -899497514 + w4) | 0; d = (d << 30) | (d >>> 2);
  x = w2 ^ w13 ^ w7 ^ w5; w5 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + (c ^ d ^ e) + -899497514 + w5) | 0; c = (c << 30) | (c >>> 2);
  x = w3 ^ w14 ^ w8 ^ w6; w6 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + (b ^ c ^ d) + -899497514 + w6) | 0; b = (b << 30) | (b >>> 2);
  x = w4 ^ w15 ^ w9 ^ w7; w7 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + (a ^ b ^ c) + -899497514 + w7) | 0; a = (a << 30) | (a >>> 2);
  x = w5 ^ w0 ^ w10 ^ w8; w8 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + (e ^ a ^ b) + -899497514 + w8) | 0; e = (e << 30) | (e >>> 2);
  x = w6 ^ w1 ^ w11 ^ w9; w9 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + (d ^ e ^ a) + -899497514 + w9) | 0; d = (d << 30) | (d >>> 2);
  x = w7 ^ w2 ^ w12 ^ w10; w10 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + (c ^ d ^ e) + -899497514 + w10) | 0; c = (c << 30) | (c >>> 2);
  x = w8 ^ w3 ^ w13 ^ w11; w11 = (x << 1) | (x >>> 31); e = (e + ((a << 5) | (a >>> 27)) + (b ^ c ^ d) + -899497514 + w11) | 0; b = (b << 30) | (b >>> 2);
  x = w9 ^ w4 ^ w14 ^ w12; w12 = (x << 1) | (x >>> 31); d = (d + ((e << 5) | (e >>> 27)) + (a ^ b ^ c) + -899497514 + w12) | 0; a = (a << 30) | (a >>> 2);
  x = w10 ^ w5 ^ w15 ^ w13; w13 = (x << 1) | (x >>> 31); c = (c + ((d << 5) | (d >>> 27)) + (e ^ a ^ b) + -899497514 + w13) | 0; e = (e << 30) | (e >>> 2);
  x = w11 ^ w6 ^ w0 ^ w14; w14 = (x << 1) | (x >>> 31); b = (b + ((c << 5) | (c >>> 27)) + (d ^ e ^ a) + -899497514 + w14) | 0; d = (d << 30) | (d >>> 2);
  x = w12 ^ w7 ^ w1 ^ w15; w15 = (x << 1) | (x >>> 31); a = (a + ((b << 5) | (b >>> 27)) + (c ^ d ^ e) + -899497514 + w15) | 0; c = (c << 30) | (c >>> 2);
  h[0] = (h[0]! + a) | 0; h[1] = (h[1]! + b) | 0; h[2] = (h[2]! + c) | 0; h[3] = (h[3]! + d) | 0; h[4] = (h[4]! + e) | 0;
}

/** w[0..15] = the 64 bytes at src[off..] as big-endian words. */
export function loadBlockWords(w: Int32Array, src: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++, off += 4) w[i] = (src[off]! << 24) | (src[off + 1]! << 16) | (src[off + 2]! << 8) | src[off + 3]!;
}

/**
 * Hash src[off..off+len) into h, which holds the state after `before` bytes were hashed (the
 * HMAC ipad block: 64), with the FIPS 180-4 5.1.1 padding: whole blocks are read from src as
 * words, and the last one is built word by word, so the message is never copied. `w` is scratch;
 * it holds no message words afterwards when the caller goes on with an outer block.
 */
export function sha1Range(h: Int32Array, w: Int32Array, src: Uint8Array, off: number, len: number, before: number): void {
  let p = off;
  const end = off + len;
  for (; end - p >= 64; p += 64) {
    loadBlockWords(w, src, p);
    sha1Block(h, w);
  }
  const rem = end - p;
  const full = rem >>> 2;
  for (let i = 0, q = p; i < full; i++, q += 4) w[i] = (src[q]! << 24) | (src[q + 1]! << 16) | (src[q + 2]! << 8) | src[q + 3]!;
  // The last partial word carries the 0x80 terminator.
  const r = rem & 3;
  let x = 0x80 << (24 - 8 * r);
  for (let j = 0, q = p + 4 * full; j < r; j++) x |= src[q + j]! << (24 - 8 * j);
  w[full] = x;
  for (let i = full + 1; i < 16; i++) w[i] = 0;
  if (full >= 14) {
    // No room for the 64-bit length: it goes in a block of its own.
    sha1Block(h, w);
    for (let i = 0; i < 14; i++) w[i] = 0;
  }
  const bits = (before + len) * 8;
  w[14] = Math.floor(bits / 0x100000000) | 0;
  w[15] = bits | 0;
  sha1Block(h, w);
}

/**
 * The HMAC-SHA1 outer hash (RFC 2104): h holds the inner digest; it becomes
 * SHA1(K ^ opad || inner digest), starting from `outer`, the state after the opad block.
 */
export function sha1Outer(h: Int32Array, w: Int32Array, outer: Int32Array): void {
  for (let i = 0; i < 5; i++) {
    w[i] = h[i]!;
    h[i] = outer[i]!;
  }
  w[5] = 0x80000000 | 0;
  for (let i = 6; i < 15; i++) w[i] = 0;
  w[15] = (64 + 20) * 8;
  sha1Block(h, w);
}
