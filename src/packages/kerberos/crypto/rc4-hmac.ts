// rc4-hmac (23, RFC 4757) and its checksums hmac-md5 (-138, RFC 4757 4) and MIT's md5-hmac-rc4
// (-137). Weak (RFC 8429): the registry hands these out only to callers that opt in.

import { createHash, createHmac } from 'node:crypto';
import { md4 } from '../../../crypto/md4.js';
import { RC4 } from '../../../crypto/rc4.js';
import { altered, checkConfounder, checkSeed, checkUsage, tooShort } from './common.js';
import { HmacKey, macEquals } from './hmac.js';
import { assertLive, cached, checkKey } from './keystate.js';
import { randomConfounder } from './random.js';
import type { ChecksumType, Enctype, KerberosKey } from './types.js';

const KEY_BYTES = 16;
const CONFOUNDER_BYTES = 8; // RFC 4757 4
const MAC_BYTES = 16;
const SIGNATURE_KEY = Buffer.from('signaturekey\0', 'latin1'); // RFC 4757 4, NUL included

/**
 * RFC 4757 3: the Microsoft message type T for a Kerberos key usage. Follows MIT and Heimdal
 * (3 -> 8, 23 -> 13, others unchanged); the RFC's table also maps 9 -> 8, which only
 * Windows 2000 did and which MIT does not apply.
 */
export function rc4MessageType(usage: number): number {
  checkUsage(usage);
  return usage === 3 ? 8 : usage === 23 ? 13 : usage;
}

function le32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** K1 = HMAC-MD5(key, LE32(T)) for one usage (RFC 4757 4; K2 = K1 for the non-export enctype). */
class Rc4UsageKey {
  readonly k1: HmacKey;
  constructor(key: Uint8Array, usage: number) {
    const k1 = createHmac('md5', key).update(le32(rc4MessageType(usage))).digest();
    this.k1 = new HmacKey('md5', k1);
    k1.fill(0);
  }
  destroy(): void {
    this.k1.destroy();
  }
}

class Rc4HmacEnctype implements Enctype {
  readonly enctype = 23;
  readonly name = 'rc4-hmac';
  readonly weak = true;
  readonly keyBytes = KEY_BYTES;
  readonly seedBytes = KEY_BYTES;
  readonly confounderBytes = CONFOUNDER_BYTES;
  readonly macBytes = MAC_BYTES;
  readonly checksumType = -138;
  readonly prfBytes = 20;
  readonly defaultS2kParams = new Uint8Array(0);

  usageKey(key: KerberosKey, usage: number): Rc4UsageKey {
    checkKey(key, this.enctype, KEY_BYTES);
    checkUsage(usage);
    return cached(key, usage, () => new Rc4UsageKey(key.keyvalue, usage));
  }

  // RFC 4757 4: key = MD4(UTF-16LE(password)), the NT hash; no salt and no parameters.
  stringToKey(password: string | Uint8Array, _salt?: string | Uint8Array, _params?: Uint8Array): KerberosKey {
    const pw = typeof password === 'string' ? Buffer.from(password, 'utf16le') : password;
    return { enctype: this.enctype, keyvalue: md4(pw) };
  }

  randomToKey(seed: Uint8Array): KerberosKey {
    checkSeed(seed, KEY_BYTES);
    return { enctype: this.enctype, keyvalue: Uint8Array.from(seed) };
  }

  ciphertextLength(plaintextLength: number): number {
    return MAC_BYTES + CONFOUNDER_BYTES + plaintextLength;
  }

  // RFC 4757 4: checksum = HMAC-MD5(K2, conf || data); K3 = HMAC-MD5(K1, checksum); send checksum || RC4(K3, conf || data).
  encrypt(key: KerberosKey, usage: number, plaintext: Uint8Array, confounder?: Uint8Array): Uint8Array {
    const k1 = this.usageKey(key, usage).k1;
    if (confounder !== undefined) checkConfounder(confounder, CONFOUNDER_BYTES);
    const out = Buffer.allocUnsafe(MAC_BYTES + CONFOUNDER_BYTES + plaintext.length);
    const body = out.subarray(MAC_BYTES);
    body.set(confounder ?? randomConfounder(CONFOUNDER_BYTES));
    body.set(plaintext, CONFOUNDER_BYTES);
    const cksum = k1.mac(body);
    out.set(cksum);
    const k3 = createHmac('md5', k1.keyBytes()).update(cksum).digest();
    new RC4(k3).process(body, body);
    k3.fill(0);
    return out;
  }

  decrypt(key: KerberosKey, usage: number, ciphertext: Uint8Array): Uint8Array {
    const k1 = this.usageKey(key, usage).k1;
    if (ciphertext.length < MAC_BYTES + CONFOUNDER_BYTES) throw tooShort(this.name);
    const cksum = ciphertext.subarray(0, MAC_BYTES);
    const k3 = createHmac('md5', k1.keyBytes()).update(cksum).digest();
    const body = new RC4(k3).process(ciphertext.subarray(MAC_BYTES));
    k3.fill(0);
    if (!macEquals(k1.mac(body), cksum)) {
      body.fill(0);
      throw altered();
    }
    return body.subarray(CONFOUNDER_BYTES);
  }

  // PRF for rc4-hmac (RFC 4757 has none; MIT and Windows use HMAC-SHA1(key, input)).
  prf(key: KerberosKey, input: Uint8Array): Uint8Array {
    checkKey(key, this.enctype, KEY_BYTES);
    return createHmac('sha1', key.keyvalue).update(input).digest();
  }
}

export const rc4Hmac = new Rc4HmacEnctype();

function md5OfUsageAndData(usage: number, data: Uint8Array): Buffer {
  return createHash('md5').update(le32(rc4MessageType(usage))).update(data).digest();
}

// RFC 4757 4: Ksign = HMAC-MD5(key, "signaturekey\0"); checksum = HMAC-MD5(Ksign, MD5(LE32(T) || data)).
// Any key is accepted: Windows also uses this checksum with keys of other enctypes (e.g. PAC signatures).
function hmacMd5Checksum(key: KerberosKey, usage: number, data: Uint8Array): Uint8Array {
  checkUsage(usage);
  const ksign = cached(key, 'signaturekey', () => {
    const k = createHmac('md5', key.keyvalue).update(SIGNATURE_KEY).digest();
    try {
      return new HmacKey('md5', k);
    } finally {
      k.fill(0);
    }
  });
  return ksign.mac(md5OfUsageAndData(usage, data));
}

// MIT CKSUMTYPE_MD5_HMAC_ARCFOUR (-137): HMAC-MD5(key, MD5(LE32(T) || data)), no signing-key step.
function md5HmacRc4Checksum(key: KerberosKey, usage: number, data: Uint8Array): Uint8Array {
  assertLive(key);
  checkUsage(usage);
  return createHmac('md5', key.keyvalue).update(md5OfUsageAndData(usage, data)).digest();
}

class Md5Checksum implements ChecksumType {
  readonly weak = true;
  readonly size = MAC_BYTES;
  readonly enctypes: readonly number[] = [];
  constructor(
    readonly cksumtype: number,
    readonly name: string,
    private readonly fn: (key: KerberosKey, usage: number, data: Uint8Array) => Uint8Array,
  ) {}
  make(key: KerberosKey, usage: number, data: Uint8Array): Uint8Array {
    return this.fn(key, usage, data);
  }
  verify(key: KerberosKey, usage: number, data: Uint8Array, checksum: Uint8Array): boolean {
    return macEquals(this.fn(key, usage, data), checksum);
  }
}

export const hmacMd5 = new Md5Checksum(-138, 'hmac-md5', hmacMd5Checksum);
export const md5HmacRc4 = new Md5Checksum(-137, 'md5-hmac-rc4', md5HmacRc4Checksum);
