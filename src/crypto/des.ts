// Single DES, as NTLMv1 and LM need it (MS-NLMP 6: DES, DESL). OpenSSL 3 refuses des-ecb, but
// 3DES-EDE with K1 = K2 = K3 collapses to single DES (E(K, D(K, E(K, x))) = E(K, x)).
import { createCipheriv } from 'node:crypto';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';

/** Sets the low bit of each byte so that every byte has odd parity (FIPS 46-3 key format). */
function setOddParity(b: number): number {
  let p = b >>> 1;
  p ^= p >>> 4;
  p ^= p >>> 2;
  p ^= p >>> 1;
  // p & 1 is the parity of the 7 key bits; the parity bit makes the total odd.
  return (b & 0xfe) | (~p & 1);
}

/**
 * MS-NLMP 6 (DES, "the 7-byte key is expanded to 8 bytes"): spreads 56 key bits over eight
 * bytes, seven bits each in the high positions, and sets the low (parity) bit.
 */
export function expandDesKey(key7: Uint8Array): Uint8Array {
  if (key7.length !== 7) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `DES key must be 7 bytes, got ${key7.length}`);
  }
  const k = key7;
  const out = new Uint8Array(8);
  out[0] = k[0]!;
  out[1] = ((k[0]! << 7) | (k[1]! >>> 1)) & 0xff;
  out[2] = ((k[1]! << 6) | (k[2]! >>> 2)) & 0xff;
  out[3] = ((k[2]! << 5) | (k[3]! >>> 3)) & 0xff;
  out[4] = ((k[3]! << 4) | (k[4]! >>> 4)) & 0xff;
  out[5] = ((k[4]! << 3) | (k[5]! >>> 5)) & 0xff;
  out[6] = ((k[5]! << 2) | (k[6]! >>> 6)) & 0xff;
  out[7] = (k[6]! << 1) & 0xff;
  for (let i = 0; i < 8; i++) out[i] = setOddParity(out[i]!);
  return out;
}

/** Encrypts one 8-byte block with single DES under an 8-byte key (parity bits ignored). */
export function desEncryptBlock(key8: Uint8Array, block8: Uint8Array): Uint8Array {
  if (key8.length !== 8 || block8.length !== 8) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'DES needs an 8-byte key and an 8-byte block');
  }
  const k3 = Buffer.allocUnsafe(24);
  k3.set(key8, 0);
  k3.set(key8, 8);
  k3.set(key8, 16);
  try {
    const c = createCipheriv('des-ede3-ecb', k3, null);
    c.setAutoPadding(false);
    const out = c.update(block8);
    c.final();
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  } finally {
    k3.fill(0);
  }
}

/** MS-NLMP 6: DES(K, D) with a 7-byte K, expanded to an 8-byte DES key first. */
export function des7(key7: Uint8Array, block8: Uint8Array): Uint8Array {
  const k = expandDesKey(key7);
  try {
    return desEncryptBlock(k, block8);
  } finally {
    k.fill(0);
  }
}
