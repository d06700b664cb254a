// aes128-cts-hmac-sha1-96 (17) and aes256-cts-hmac-sha1-96 (18): RFC 3962 on the RFC 3961
// simplified profile, with checksums hmac-sha1-96-aes128 (15) and hmac-sha1-96-aes256 (16).

import { createHash } from 'node:crypto';
import { AesCts, AES_BLOCK_SIZE } from '../../../crypto/aes-cts.js';
import {
  KC, KE, KI, altered, checkConfounder, checkSeed, checkUsage, iterationCount, iterationParams, pbkdf2, tooShort, usageConstant, utf8,
} from './common.js';
import { HmacKey } from './hmac.js';
import { cached, checkKey } from './keystate.js';
import { nfold } from './nfold.js';
import { randomConfounder } from './random.js';
import type { ChecksumType, Enctype, KerberosKey } from './types.js';

const MAC_BYTES = 12; // HMAC-SHA1-96 (RFC 3962 6)
const KERBEROS = utf8('kerberos');
const PRF_CONSTANT = utf8('prf');

/** DR (RFC 3961 5.1) with AES as E: encrypt n-fold(constant) and keep encrypting until enough bits. */
export function aesDr(base: AesCts, constant: Uint8Array, bytes: number): Uint8Array {
  return drFolded(base, nfold(constant, AES_BLOCK_SIZE), bytes)[0]!;
}

/**
 * DR of several already n-folded constants (16 bytes each, concatenated) at once: every round of
 * E runs over all of them in one ECB call, so Ke and Ki of a fresh key cost one call per 16 key
 * bytes instead of one per block per key.
 */
function drFolded(base: AesCts, folded: Uint8Array, bytes: number): Uint8Array[] {
  const k = folded.length / AES_BLOCK_SIZE;
  const out: Uint8Array[] = [];
  for (let i = 0; i < k; i++) out.push(new Uint8Array(bytes));
  let block: Uint8Array = folded;
  for (let off = 0; off < bytes; off += AES_BLOCK_SIZE) {
    const next = base.encryptBlocks(block);
    if (block !== folded) block.fill(0); // key bits
    block = next;
    const take = Math.min(AES_BLOCK_SIZE, bytes - off);
    for (let i = 0; i < k; i++) out[i]!.set(block.subarray(i * AES_BLOCK_SIZE, i * AES_BLOCK_SIZE + take), off);
  }
  block.fill(0);
  return out;
}

// n-fold(usage || octet) to one block, per (usage, octet): public constants every new key derives from.
const FOLDED_MAX = 1024;
const folded = new Map<number, Uint8Array>();
function foldedUsage(usage: number, octet: number): Uint8Array {
  const id = usage * 256 + octet;
  let f = folded.get(id);
  if (f === undefined) {
    f = nfold(usageConstant(usage, octet), AES_BLOCK_SIZE);
    if (folded.size >= FOLDED_MAX) folded.clear();
    folded.set(id, f);
  }
  return f;
}

/** Lazily derived Kc/Ke/Ki for one (key, usage) (RFC 3961 5.3); Ke and Ki come together (encrypt and decrypt need both). */
class Sha1UsageKeys {
  #ke: AesCts | undefined;
  #live = true;
  #ki: HmacKey | undefined;
  #kc: HmacKey | undefined;
  constructor(private readonly base: AesCts, readonly usage: number, private readonly keyBytes: number) {}

  get ke(): AesCts {
    if (this.#ke === undefined) this.#deriveKeKi();
    return this.#ke!;
  }
  get ki(): HmacKey {
    if (this.#ki === undefined) this.#deriveKeKi();
    return this.#ki!;
  }
  get kc(): HmacKey {
    return (this.#kc ??= withBytes(drFolded(this.base, foldedUsage(this.usage, KC), this.keyBytes)[0]!, (k) => new HmacKey('sha1', k)));
  }
  get hasKeKi(): boolean {
    return this.#ke !== undefined;
  }
  #deriveKeKi(): void {
    const both = new Uint8Array(2 * AES_BLOCK_SIZE);
    both.set(foldedUsage(this.usage, KE));
    both.set(foldedUsage(this.usage, KI), AES_BLOCK_SIZE);
    const [ke, ki] = drFolded(this.base, both, this.keyBytes);
    this.setKeKi(ke!, ki!);
  }
  /** Takes derived Ke and Ki bytes (and wipes them). */
  setKeKi(ke: Uint8Array, ki: Uint8Array): void {
    this.#ke = withBytes(ke, (k) => new AesCts(k));
    this.#ki = withBytes(ki, (k) => new HmacKey('sha1', k));
  }
  /** False once destroyed (key destroyed or the per-key cache cleared): holders must look the keys up again. */
  get live(): boolean {
    return this.#live;
  }
  destroy(): void {
    this.#live = false;
    this.#ke?.destroy();
    this.#ki?.destroy();
    this.#kc?.destroy();
  }
}

/** A view of b[off..off+len) (cheaper than Buffer#subarray, which builds a Buffer). */
export function view(b: Uint8Array, off: number, len: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + off, len);
}

/** Build an object from derived key bytes and wipe the temporary bytes (the object keeps its own copy). */
function withBytes<T>(bytes: Uint8Array, make: (k: Uint8Array) => T): T {
  try {
    return make(bytes);
  } finally {
    bytes.fill(0);
  }
}

class AesSha1Enctype implements Enctype {
  readonly weak = false;
  readonly seedBytes: number;
  readonly confounderBytes = AES_BLOCK_SIZE;
  readonly macBytes = MAC_BYTES;
  readonly prfBytes = 16;
  readonly defaultS2kParams = iterationParams(4096); // RFC 3962 4

  constructor(
    readonly enctype: number,
    readonly name: string,
    readonly keyBytes: number,
    readonly checksumType: number,
  ) {
    this.seedBytes = keyBytes;
  }

  baseCipher(key: KerberosKey): AesCts {
    checkKey(key, this.enctype, this.keyBytes);
    return cached(key, 'base', () => new AesCts(key.keyvalue));
  }

  usageKeys(key: KerberosKey, usage: number): Sha1UsageKeys {
    const base = this.baseCipher(key);
    checkUsage(usage);
    return cached(key, usage, () => new Sha1UsageKeys(base, usage, this.keyBytes));
  }

  /**
   * Derive Ke and Ki of several usages of a fresh key together (e.g. the AP-REQ authenticator and
   * the AP-REP of a handshake): one ECB call per 16 key bytes covers all of them.
   */
  prepareUsages(key: KerberosKey, usages: readonly number[]): void {
    const todo = usages.map((u) => this.usageKeys(key, u)).filter((uk) => !uk.hasKeKi);
    if (todo.length === 0) return;
    const folded = new Uint8Array(2 * AES_BLOCK_SIZE * todo.length);
    todo.forEach((uk, i) => {
      folded.set(foldedUsage(uk.usage, KE), 2 * AES_BLOCK_SIZE * i);
      folded.set(foldedUsage(uk.usage, KI), 2 * AES_BLOCK_SIZE * i + AES_BLOCK_SIZE);
    });
    const keys = drFolded(this.baseCipher(key), folded, this.keyBytes);
    todo.forEach((uk, i) => uk.setKeKi(keys[2 * i]!, keys[2 * i + 1]!));
  }

  /** DK (RFC 3961 5.1): random-to-key(DR(key, constant)); random-to-key is the identity for AES. */
  dk(key: KerberosKey, constant: Uint8Array): Uint8Array {
    return aesDr(this.baseCipher(key), constant, this.keyBytes);
  }

  // RFC 3962 4: tkey = random-to-key(PBKDF2-HMAC-SHA1(password, salt, iter, keylen)); key = DK(tkey, "kerberos").
  stringToKey(password: string | Uint8Array, salt: string | Uint8Array, params?: Uint8Array): KerberosKey {
    const iter = iterationCount(params, 4096);
    const seed = pbkdf2('sha1', utf8(password), utf8(salt), iter, this.keyBytes);
    const tkey = new AesCts(seed);
    seed.fill(0);
    try {
      return { enctype: this.enctype, keyvalue: aesDr(tkey, KERBEROS, this.keyBytes) };
    } finally {
      tkey.destroy();
    }
  }

  randomToKey(seed: Uint8Array): KerberosKey {
    checkSeed(seed, this.seedBytes);
    return { enctype: this.enctype, keyvalue: Uint8Array.from(seed) };
  }

  ciphertextLength(plaintextLength: number): number {
    return AES_BLOCK_SIZE + plaintextLength + MAC_BYTES;
  }

  // RFC 3961 5.3: C = E(Ke, conf || plaintext), H = HMAC(Ki, conf || plaintext) truncated; send C || H.
  encrypt(key: KerberosKey, usage: number, plaintext: Uint8Array, confounder?: Uint8Array): Uint8Array {
    const uk = this.usageKeys(key, usage);
    const p = Buffer.allocUnsafe(AES_BLOCK_SIZE + plaintext.length);
    if (confounder !== undefined) checkConfounder(confounder, AES_BLOCK_SIZE);
    p.set(confounder ?? randomConfounder(AES_BLOCK_SIZE));
    p.set(plaintext, AES_BLOCK_SIZE);
    const out = Buffer.allocUnsafe(p.length + MAC_BYTES);
    uk.ke.encrypt(p, undefined, out, 0);
    uk.ki.macInto(p, undefined, out, p.length, MAC_BYTES);
    p.fill(0);
    return out;
  }

  decrypt(key: KerberosKey, usage: number, ciphertext: Uint8Array): Uint8Array {
    const uk = this.usageKeys(key, usage);
    if (ciphertext.length < AES_BLOCK_SIZE + MAC_BYTES) throw tooShort(this.name);
    const cut = ciphertext.length - MAC_BYTES;
    const p = uk.ke.decrypt(view(ciphertext, 0, cut));
    if (!uk.ki.verify(p, undefined, view(ciphertext, cut, MAC_BYTES))) {
      p.fill(0);
      throw altered();
    }
    return view(p, AES_BLOCK_SIZE, cut - AES_BLOCK_SIZE);
  }

  // RFC 3962 5 (after RFC 3961 5.3): PRF = E(DK(key, "prf"), truncate16(SHA-1(input))).
  prf(key: KerberosKey, input: Uint8Array): Uint8Array {
    const kp = this.dk(key, PRF_CONSTANT);
    const c = new AesCts(kp);
    kp.fill(0);
    try {
      return c.encryptBlocks(createHash('sha1').update(input).digest().subarray(0, AES_BLOCK_SIZE));
    } finally {
      c.destroy();
    }
  }

  checksum(key: KerberosKey, usage: number, data: Uint8Array): Uint8Array {
    return this.usageKeys(key, usage).kc.mac(data).subarray(0, MAC_BYTES);
  }
}


export const aes128CtsHmacSha196 = new AesSha1Enctype(17, 'aes128-cts-hmac-sha1-96', 16, 15);
export const aes256CtsHmacSha196 = new AesSha1Enctype(18, 'aes256-cts-hmac-sha1-96', 32, 16);

class HmacSha1AesChecksum implements ChecksumType {
  readonly weak = false;
  readonly size = MAC_BYTES;
  readonly enctypes: readonly number[];
  constructor(readonly cksumtype: number, readonly name: string, private readonly et: AesSha1Enctype) {
    this.enctypes = [et.enctype];
  }
  // RFC 3962 7 / RFC 3961 5.4: HMAC-SHA1(Kc, data) truncated to 96 bits.
  make(key: KerberosKey, usage: number, data: Uint8Array): Uint8Array {
    return this.et.checksum(key, usage, data);
  }
  verify(key: KerberosKey, usage: number, data: Uint8Array, checksum: Uint8Array): boolean {
    return checksum.length === MAC_BYTES && this.et.usageKeys(key, usage).kc.verify(data, undefined, checksum);
  }
}

export const hmacSha196Aes128 = new HmacSha1AesChecksum(15, 'hmac-sha1-96-aes128', aes128CtsHmacSha196);
export const hmacSha196Aes256 = new HmacSha1AesChecksum(16, 'hmac-sha1-96-aes256', aes256CtsHmacSha196);
export type { AesSha1Enctype, Sha1UsageKeys };
