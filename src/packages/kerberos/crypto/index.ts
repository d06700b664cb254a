// Kerberos cryptosystem (RFC 3961) for tslsa: enctypes 17/18 (RFC 3962), 19/20 (RFC 8009) and
// 23 (RFC 4757, weak, opt-in), their checksums, key derivation with per-key caching, and PRF.

import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { aes128CtsHmacSha196, aes256CtsHmacSha196, aesDr } from './aes-sha1.js';
import { aes128CtsHmacSha256128, aes256CtsHmacSha384192, kdfHmacSha2 } from './aes-sha2.js';
import { KC, KE, KI, usageConstant } from './common.js';
import { getChecksumType, getEnctype } from './registry.js';
import type { CryptoPolicy, KerberosKey } from './types.js';

export { nfold } from './nfold.js';
export { destroyKey, forgetDerivedKeys, isKeyLive } from './keystate.js';
export { getEnctype, getChecksumType, isEnctypeSupported, supportedEnctypes } from './registry.js';
export { rc4MessageType } from './rc4-hmac.js';
export { aesDr, kdfHmacSha2 };
export { EncType, CksumType } from './types.js';
export type { KerberosKey, CryptoPolicy, Enctype, ChecksumType } from './types.js';

/** encrypt (RFC 3961 3) with the key's enctype; `confounder` is for known-answer tests only. */
export function encrypt(key: KerberosKey, usage: number, plaintext: Uint8Array, confounder?: Uint8Array, policy?: CryptoPolicy): Uint8Array {
  return getEnctype(key.enctype, policy).encrypt(key, usage, plaintext, confounder);
}

/** decrypt (RFC 3961 3): SEC_E_INVALID_TOKEN when malformed or short, SEC_E_MESSAGE_ALTERED on integrity failure. */
export function decrypt(key: KerberosKey, usage: number, ciphertext: Uint8Array, policy?: CryptoPolicy): Uint8Array {
  return getEnctype(key.enctype, policy).decrypt(key, usage, ciphertext);
}

/** string-to-key (RFC 3961 3); `params` are the enctype's s2kparams (default when omitted). */
export function stringToKey(
  enctype: number, password: string | Uint8Array, salt: string | Uint8Array, params?: Uint8Array, policy?: CryptoPolicy,
): KerberosKey {
  return getEnctype(enctype, policy).stringToKey(password, salt, params);
}

/** random-to-key (RFC 3961 3). */
export function randomToKey(enctype: number, seed: Uint8Array, policy?: CryptoPolicy): KerberosKey {
  return getEnctype(enctype, policy).randomToKey(seed);
}

/** pseudo-random (RFC 3961 3, RFC 3962 5, RFC 8009 5). */
export function prf(key: KerberosKey, input: Uint8Array, policy?: CryptoPolicy): Uint8Array {
  return getEnctype(key.enctype, policy).prf(key, input);
}

/** get_mic (RFC 3961 4) with checksum type `cksumtype`, or the key enctype's mandatory one when undefined. */
export function makeChecksum(
  key: KerberosKey, usage: number, data: Uint8Array, cksumtype?: number, policy?: CryptoPolicy,
): Uint8Array {
  return checksumFor(key, cksumtype, policy).make(key, usage, data);
}

/** verify_mic (RFC 3961 4), constant-time; false on mismatch (including a wrong length). */
export function verifyChecksum(
  key: KerberosKey, usage: number, data: Uint8Array, checksum: Uint8Array, cksumtype?: number, policy?: CryptoPolicy,
): boolean {
  return checksumFor(key, cksumtype, policy).verify(key, usage, data, checksum);
}

function checksumFor(key: KerberosKey, cksumtype: number | undefined, policy: CryptoPolicy | undefined) {
  const c = getChecksumType(cksumtype ?? getEnctype(key.enctype, policy).checksumType, policy);
  if (c.enctypes.length > 0 && !c.enctypes.includes(key.enctype)) {
    throw new SspiError(SecurityStatus.SEC_E_ALGORITHM_MISMATCH, `checksum type ${c.name} cannot use a key of enctype ${key.enctype}`);
  }
  return c;
}

/**
 * Derive the per-usage keys of `key` for `usages` ahead, together, where the enctype gains from it
 * (17/18: one DR pass for all); a no-op for the others. Results are cached as on first use.
 */
export function prepareUsages(key: KerberosKey, usages: readonly number[]): void {
  if (key.enctype === 17) aes128CtsHmacSha196.prepareUsages(key, usages);
  else if (key.enctype === 18) aes256CtsHmacSha196.prepareUsages(key, usages);
}

/** DK(key, constant) (RFC 3961 5.1) for the simplified-profile enctypes 17 and 18. */
export function dk(key: KerberosKey, constant: Uint8Array): Uint8Array {
  return simplified(key.enctype).dk(key, constant);
}

/**
 * The raw derived key Kc, Ke or Ki of (key, usage): RFC 3961 5.3 DK for 17/18, RFC 8009 5
 * KDF-HMAC-SHA2 for 19/20. Per-message operations use cached objects instead; this returns fresh bytes.
 */
export function deriveKey(key: KerberosKey, usage: number, which: 'Kc' | 'Ke' | 'Ki'): Uint8Array {
  if (key.enctype === 19 || key.enctype === 20) {
    const et = key.enctype === 19 ? aes128CtsHmacSha256128 : aes256CtsHmacSha384192;
    return et.deriveUsageKey(key, usage, which);
  }
  return simplified(key.enctype).dk(key, usageConstant(usage, which === 'Kc' ? KC : which === 'Ke' ? KE : KI));
}

function simplified(enctype: number) {
  if (enctype === 17) return aes128CtsHmacSha196;
  if (enctype === 18) return aes256CtsHmacSha196;
  throw new SspiError(SecurityStatus.SEC_E_ALGORITHM_MISMATCH, `enctype ${enctype} has no DK/Kc/Ke/Ki derivation here`);
}
