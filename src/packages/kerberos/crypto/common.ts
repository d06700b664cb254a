// Helpers shared by the enctype profiles: usage constants, s2kparams, UTF-8, errors.

import { pbkdf2Sync } from 'node:crypto';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';

/** RFC 3961 5.3 / RFC 8009 5: the key-usage constant, usage (4 bytes big-endian) || one octet. */
export const KC = 0x99;
export const KE = 0xaa;
export const KI = 0x55;

export function usageConstant(usage: number, octet: number): Uint8Array {
  checkUsage(usage);
  const c = new Uint8Array(5);
  new DataView(c.buffer).setUint32(0, usage >>> 0, false);
  c[4] = octet;
  return c;
}

export function checkUsage(usage: number): void {
  if (!Number.isInteger(usage) || usage < 0 || usage > 0xffffffff) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `key usage must be a 32-bit unsigned integer`);
  }
}

export function utf8(s: string | Uint8Array): Uint8Array {
  return typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
}

// Upper bound on PBKDF2 iterations taken from s2kparams (which can come from the network, e.g. in
// PA-ETYPE-INFO2): 2^24 keeps a hostile KDC from pinning the CPU; RFC 3962 4 reads 0 as 2^32.
const MAX_ITERATIONS = 0x1000000;

/** RFC 3962 4 / RFC 8009 4: s2kparams are a 4-byte big-endian PBKDF2 iteration count. */
export function iterationCount(params: Uint8Array | undefined, dflt: number): number {
  if (params === undefined || params.length === 0) return dflt;
  if (params.length !== 4) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `s2kparams must be 4 bytes, got ${params.length}`);
  }
  const n = new DataView(params.buffer, params.byteOffset, 4).getUint32(0, false);
  if (n === 0 || n > MAX_ITERATIONS) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `unsupported PBKDF2 iteration count ${n === 0 ? '2^32' : n}`);
  }
  return n;
}

export function iterationParams(n: number): Uint8Array {
  const p = new Uint8Array(4);
  new DataView(p.buffer).setUint32(0, n, false);
  return p;
}

export function pbkdf2(hash: 'sha1' | 'sha256' | 'sha384', password: Uint8Array, salt: Uint8Array, iterations: number, bytes: number): Buffer {
  return pbkdf2Sync(password, salt, iterations, bytes, hash);
}

export function tooShort(what: string): SspiError {
  return new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `${what} ciphertext is too short`);
}

export function altered(): SspiError {
  return new SspiError(SecurityStatus.SEC_E_MESSAGE_ALTERED, 'integrity check failed');
}

export function checkConfounder(confounder: Uint8Array, n: number): void {
  if (confounder.length !== n) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `confounder must be ${n} bytes, got ${confounder.length}`);
  }
}

export function checkSeed(seed: Uint8Array, n: number): void {
  if (seed.length !== n) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `random-to-key needs ${n} bytes, got ${seed.length}`);
  }
}
