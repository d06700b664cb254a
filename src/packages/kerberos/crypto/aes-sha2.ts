// aes128-cts-hmac-sha256-128 (19) and aes256-cts-hmac-sha384-192 (20): RFC 8009, with checksums
// hmac-sha256-128-aes128 (19) and hmac-sha384-192-aes256 (20). Encrypt-then-MAC over IV || C.

import { AesCts, AES_BLOCK_SIZE } from '../../../crypto/aes-cts.js';
import {
  KC, KE, KI, altered, checkConfounder, checkSeed, checkUsage, iterationCount, iterationParams, pbkdf2, tooShort, usageConstant, utf8,
} from './common.js';
import { HmacKey } from './hmac.js';
import { view } from './aes-sha1.js';
import { cached, checkKey } from './keystate.js';
import { randomConfounder } from './random.js';
import type { ChecksumType, Enctype, KerberosKey } from './types.js';

const ZERO_IV = new Uint8Array(AES_BLOCK_SIZE); // RFC 8009 5: the default cipher state is all zeros
const KERBEROS = utf8('kerberos');
const PRF_LABEL = utf8('prf');

/**
 * KDF-HMAC-SHA2 (RFC 8009 3): the first `bits` bits of HMAC(key, 00000001 || label || 00 ||
 * context || bits as 4 bytes big-endian). One counter block is enough as bits <= hash size.
 */
export function kdfHmacSha2(hmacKey: HmacKey, label: Uint8Array, context: Uint8Array, bits: number): Uint8Array {
  const msg = new Uint8Array(4 + label.length + 1 + context.length + 4);
  const dv = new DataView(msg.buffer);
  dv.setUint32(0, 1, false);
  msg.set(label, 4);
  msg.set(context, 5 + label.length);
  dv.setUint32(msg.length - 4, bits, false);
  const out = hmacKey.mac(msg);
  return Uint8Array.from(out.subarray(0, bits / 8));
}

class Sha2UsageKeys {
  #ke: AesCts | undefined;
  #ki: HmacKey | undefined;
  #kc: HmacKey | undefined;
  constructor(private readonly et: AesSha2Enctype, private readonly base: HmacKey, private readonly usage: number) {}

  get ke(): AesCts {
    return (this.#ke ??= wipeAfter(this.et.kdf(this.base, this.usage, KE), (k) => new AesCts(k)));
  }
  get ki(): HmacKey {
    return (this.#ki ??= wipeAfter(this.et.kdf(this.base, this.usage, KI), (k) => new HmacKey(this.et.hash, k)));
  }
  get kc(): HmacKey {
    return (this.#kc ??= wipeAfter(this.et.kdf(this.base, this.usage, KC), (k) => new HmacKey(this.et.hash, k)));
  }
  destroy(): void {
    this.#ke?.destroy();
    this.#ki?.destroy();
    this.#kc?.destroy();
  }
}

function wipeAfter<T>(bytes: Uint8Array, make: (k: Uint8Array) => T): T {
  try {
    return make(bytes);
  } finally {
    bytes.fill(0);
  }
}

class AesSha2Enctype implements Enctype {
  readonly weak = false;
  readonly seedBytes: number;
  readonly confounderBytes = AES_BLOCK_SIZE;
  readonly prfBytes: number;
  readonly defaultS2kParams = iterationParams(32768); // RFC 8009 4
  readonly #nameBytes: Uint8Array;

  constructor(
    readonly enctype: number,
    readonly name: string,
    readonly keyBytes: number,
    readonly macBytes: number,
    readonly hash: 'sha256' | 'sha384',
    readonly checksumType: number,
  ) {
    this.seedBytes = keyBytes;
    this.prfBytes = hash === 'sha256' ? 32 : 48;
    this.#nameBytes = utf8(name);
  }

  baseHmac(key: KerberosKey): HmacKey {
    checkKey(key, this.enctype, this.keyBytes);
    return cached(key, 'base', () => new HmacKey(this.hash, key.keyvalue));
  }

  usageKeys(key: KerberosKey, usage: number): Sha2UsageKeys {
    const base = this.baseHmac(key);
    checkUsage(usage);
    return cached(key, usage, () => new Sha2UsageKeys(this, base, usage));
  }

  // RFC 8009 5: Kc = KDF(base, usage | 0x99, h), Ke = KDF(base, usage | 0xAA, keylen), Ki = KDF(base, usage | 0x55, h).
  kdf(base: HmacKey, usage: number, octet: number): Uint8Array {
    const bits = octet === KE ? this.keyBytes * 8 : this.macBytes * 8;
    return kdfHmacSha2(base, usageConstant(usage, octet), new Uint8Array(0), bits);
  }

  /** The raw Kc, Ke or Ki of (key, usage); for tests and key export; the cache keeps only objects. */
  deriveUsageKey(key: KerberosKey, usage: number, which: 'Kc' | 'Ke' | 'Ki'): Uint8Array {
    return this.kdf(this.baseHmac(key), usage, which === 'Kc' ? KC : which === 'Ke' ? KE : KI);
  }

  // RFC 8009 4: saltp = enctype-name || 0x00 || salt; tkey = random-to-key(PBKDF2-HMAC-SHA2(pw, saltp, iter, keylen));
  // key = KDF-HMAC-SHA2(tkey, "kerberos", keylen).
  stringToKey(password: string | Uint8Array, salt: string | Uint8Array, params?: Uint8Array): KerberosKey {
    const iter = iterationCount(params, 32768);
    const s = utf8(salt);
    const saltp = new Uint8Array(this.#nameBytes.length + 1 + s.length);
    saltp.set(this.#nameBytes);
    saltp.set(s, this.#nameBytes.length + 1);
    const tkey = pbkdf2(this.hash, utf8(password), saltp, iter, this.keyBytes);
    const h = new HmacKey(this.hash, tkey);
    tkey.fill(0);
    try {
      return { enctype: this.enctype, keyvalue: kdfHmacSha2(h, KERBEROS, new Uint8Array(0), this.keyBytes * 8) };
    } finally {
      h.destroy();
    }
  }

  randomToKey(seed: Uint8Array): KerberosKey {
    checkSeed(seed, this.seedBytes);
    return { enctype: this.enctype, keyvalue: Uint8Array.from(seed) };
  }

  ciphertextLength(plaintextLength: number): number {
    return AES_BLOCK_SIZE + plaintextLength + this.macBytes;
  }

  // RFC 8009 5: C = CBC-CS3(Ke, IV, conf || plaintext); H = HMAC(Ki, IV || C) truncated; send C || H.
  encrypt(key: KerberosKey, usage: number, plaintext: Uint8Array, confounder?: Uint8Array): Uint8Array {
    const uk = this.usageKeys(key, usage);
    if (confounder !== undefined) checkConfounder(confounder, AES_BLOCK_SIZE);
    const p = Buffer.allocUnsafe(AES_BLOCK_SIZE + plaintext.length);
    p.set(confounder ?? randomConfounder(AES_BLOCK_SIZE));
    p.set(plaintext, AES_BLOCK_SIZE);
    const out = Buffer.allocUnsafe(p.length + this.macBytes);
    const c = uk.ke.encrypt(p, ZERO_IV, out, 0);
    p.fill(0);
    uk.ki.macInto(ZERO_IV, c, out, c.length, this.macBytes);
    return out;
  }

  decrypt(key: KerberosKey, usage: number, ciphertext: Uint8Array): Uint8Array {
    const uk = this.usageKeys(key, usage);
    if (ciphertext.length < AES_BLOCK_SIZE + this.macBytes) throw tooShort(this.name);
    const cut = ciphertext.length - this.macBytes;
    const c = view(ciphertext, 0, cut);
    // Verify before decrypting: the MAC covers the ciphertext (RFC 8009 5).
    if (!uk.ki.verify(ZERO_IV, c, view(ciphertext, cut, this.macBytes))) throw altered();
    return view(uk.ke.decrypt(c, ZERO_IV), AES_BLOCK_SIZE, cut - AES_BLOCK_SIZE);
  }

  // RFC 8009 5: PRF = KDF-HMAC-SHA2(base-key, "prf", input, 256 | 384).
  prf(key: KerberosKey, input: Uint8Array): Uint8Array {
    return kdfHmacSha2(this.baseHmac(key), PRF_LABEL, input, this.prfBytes * 8);
  }

  checksum(key: KerberosKey, usage: number, data: Uint8Array): Uint8Array {
    return this.usageKeys(key, usage).kc.mac(data).subarray(0, this.macBytes);
  }
}

export const aes128CtsHmacSha256128 = new AesSha2Enctype(19, 'aes128-cts-hmac-sha256-128', 16, 16, 'sha256', 19);
export const aes256CtsHmacSha384192 = new AesSha2Enctype(20, 'aes256-cts-hmac-sha384-192', 32, 24, 'sha384', 20);

class HmacSha2AesChecksum implements ChecksumType {
  readonly weak = false;
  readonly size: number;
  readonly enctypes: readonly number[];
  constructor(readonly cksumtype: number, readonly name: string, private readonly et: AesSha2Enctype) {
    this.size = et.macBytes;
    this.enctypes = [et.enctype];
  }
  // RFC 8009 5: HMAC-SHA2(Kc, data) truncated to 128 or 192 bits.
  make(key: KerberosKey, usage: number, data: Uint8Array): Uint8Array {
    return this.et.checksum(key, usage, data);
  }
  verify(key: KerberosKey, usage: number, data: Uint8Array, checksum: Uint8Array): boolean {
    return checksum.length === this.size && this.et.usageKeys(key, usage).kc.verify(data, undefined, checksum);
  }
}

export const hmacSha256128Aes128 = new HmacSha2AesChecksum(19, 'hmac-sha256-128-aes128', aes128CtsHmacSha256128);
export const hmacSha384192Aes256 = new HmacSha2AesChecksum(20, 'hmac-sha384-192-aes256', aes256CtsHmacSha384192);
export type { AesSha2Enctype };
