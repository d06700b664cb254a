// n-fold (RFC 3961 section 5.1): stretch or shrink a byte string to `outBytes` bytes by summing,
// with one's-complement addition, lcm(in, out) bytes made of copies of the input, each copy
// rotated 13 bits further to the right than the previous one.

import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

// Key derivation n-folds the same few constants (usage numbers with 0x99/0xAA/0x55, "kerberos")
// for every new key: a small memo of short inputs takes n-fold off the handshake's path.
const MEMO_MAX = 512;
const MEMO_INPUT_MAX = 16;
const memo = new Map<string, Uint8Array>();

/** n-fold `input` to `outBytes` bytes (RFC 3961 5.1; n is given in bytes, not bits). */
export function nfold(input: Uint8Array, outBytes: number): Uint8Array {
  const inLen = input.length;
  if (inLen === 0 || !Number.isInteger(outBytes) || outBytes <= 0) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'n-fold needs a non-empty input and a positive output size');
  }
  if (inLen > MEMO_INPUT_MAX) return compute(input, outBytes);
  const k = `${outBytes}:${Buffer.from(input.buffer, input.byteOffset, inLen).toString('hex')}`;
  let v = memo.get(k);
  if (!v) {
    v = compute(input, outBytes);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(k, v);
  }
  return v.slice();
}

function compute(input: Uint8Array, outBytes: number): Uint8Array {
  const inLen = input.length;
  const inBits = inLen * 8;
  const total = (inLen * outBytes) / gcd(inLen, outBytes); // lcm, in bytes
  const acc = new Uint32Array(outBytes); // column sums before carry propagation
  for (let pos = 0; pos < total; pos++) {
    const copy = Math.floor(pos / inLen);
    const rot = (13 * copy) % inBits; // right rotation of this copy, in bits
    let byte = 0;
    for (let bit = 0; bit < 8; bit++) {
      // Bit p of the rotated copy (MSB-first) is bit p - rot of the input.
      const p = (((pos % inLen) * 8 + bit - rot) % inBits + inBits) % inBits;
      byte = (byte << 1) | ((input[p >>> 3]! >>> (7 - (p & 7))) & 1);
    }
    acc[pos % outBytes]! += byte;
  }
  // One's-complement addition: propagate carries right to left and wrap the final carry around.
  const out = new Uint8Array(outBytes);
  let carry = 0;
  for (;;) {
    for (let i = outBytes - 1; i >= 0; i--) {
      const v = acc[i]! + carry;
      acc[i] = v & 0xff;
      carry = v >>> 8;
    }
    if (carry === 0) break;
  }
  out.set(acc);
  return out;
}
