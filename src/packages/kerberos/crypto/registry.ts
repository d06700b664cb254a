// Registry of enctypes and checksum types keyed by their IANA numbers, with the weak-crypto gate:
// rc4-hmac and the MD5 checksums are only returned to callers passing { allowWeak: true }.

import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { aes128CtsHmacSha196, aes256CtsHmacSha196, hmacSha196Aes128, hmacSha196Aes256 } from './aes-sha1.js';
import { aes128CtsHmacSha256128, aes256CtsHmacSha384192, hmacSha256128Aes128, hmacSha384192Aes256 } from './aes-sha2.js';
import { hmacMd5, md5HmacRc4, rc4Hmac } from './rc4-hmac.js';
import type { ChecksumType, CryptoPolicy, Enctype } from './types.js';

const enctypes = new Map<number, Enctype>(
  [aes256CtsHmacSha196, aes128CtsHmacSha196, aes256CtsHmacSha384192, aes128CtsHmacSha256128, rc4Hmac].map((e) => [e.enctype, e]),
);
const cksumtypes = new Map<number, ChecksumType>(
  [hmacSha196Aes128, hmacSha196Aes256, hmacSha256128Aes128, hmacSha384192Aes256, hmacMd5, md5HmacRc4].map((c) => [c.cksumtype, c]),
);

/**
 * The enctype numbered `enctype`. Throws SspiError SEC_E_KDC_UNKNOWN_ETYPE when it is not
 * implemented, and SEC_E_ALGORITHM_MISMATCH when it is weak and `policy.allowWeak` is not true.
 */
export function getEnctype(enctype: number, policy?: CryptoPolicy): Enctype {
  const e = enctypes.get(enctype);
  if (e === undefined) throw new SspiError(SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, `unsupported enctype ${enctype}`);
  if (e.weak && policy?.allowWeak !== true) {
    throw new SspiError(SecurityStatus.SEC_E_ALGORITHM_MISMATCH, `enctype ${e.name} (${enctype}) is weak and not allowed by policy`);
  }
  return e;
}

/** The checksum type numbered `cksumtype`; same errors and weak-crypto gate as getEnctype. */
export function getChecksumType(cksumtype: number, policy?: CryptoPolicy): ChecksumType {
  const c = cksumtypes.get(cksumtype);
  if (c === undefined) throw new SspiError(SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, `unsupported checksum type ${cksumtype}`);
  if (c.weak && policy?.allowWeak !== true) {
    throw new SspiError(SecurityStatus.SEC_E_ALGORITHM_MISMATCH, `checksum type ${c.name} (${cksumtype}) is weak and not allowed by policy`);
  }
  return c;
}

/** Whether `enctype` is implemented and allowed by `policy`. */
export function isEnctypeSupported(enctype: number, policy?: CryptoPolicy): boolean {
  const e = enctypes.get(enctype);
  return e !== undefined && (!e.weak || policy?.allowWeak === true);
}

/** Implemented enctype numbers allowed by `policy`, strongest first (a default etype list). */
export function supportedEnctypes(policy?: CryptoPolicy): number[] {
  return [...enctypes.values()].filter((e) => !e.weak || policy?.allowWeak === true).map((e) => e.enctype);
}
