// AES in CBC mode with ciphertext stealing as Kerberos uses it (RFC 3962 section 5; NIST SP 800-38A
// addendum "CBC-CS3"): plain CBC over the zero-padded message, then the last two ciphertext blocks
// are swapped and the final one is cut to the length of the last plaintext block. A one-block message
// is a plain one-block CBC encryption. Node has no aes-*-cts cipher, so this is built from
// aes-*-cbc (bulk) and a long-lived aes-*-ecb object (single blocks, small messages).

import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';

export const AES_BLOCK_SIZE = 16;
const ZERO_IV: Uint8Array = new Uint8Array(AES_BLOCK_SIZE);

// Crossovers measured on Node 20 (x86-64, AES-NI): one ECB update() is ~0.5 µs and a fresh
// createCipheriv ~2.5 µs, so chaining CBC by hand wins for a few blocks; decryption has no
// chaining, so one ECB call over many blocks plus a JS XOR wins up to a larger size.
const SMALL_ENCRYPT_BLOCKS = 4;
const SMALL_DECRYPT_BLOCKS = 32;

/**
 * AES-CTS (CBC-CS3) bound to one key. Keeps a copy of the key and lazily created ECB
 * encrypt/decrypt objects (ECB with padding off carries no state between update() calls as long
 * as every call is a whole number of blocks, so one object serves every message).
 */
export class AesCts {
  readonly #key: Buffer;
  readonly #cbc: 'aes-128-cbc' | 'aes-256-cbc';
  readonly #ecb: 'aes-128-ecb' | 'aes-256-ecb';
  #ecbEnc: Cipher | undefined;
  #ecbDec: Decipher | undefined;
  #destroyed = false;

  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 32) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `AES key must be 16 or 32 bytes, got ${key.length}`);
    }
    this.#key = Buffer.from(key); // own copy: destroy() can zero it
    this.#cbc = key.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc';
    this.#ecb = key.length === 16 ? 'aes-128-ecb' : 'aes-256-ecb';
  }

  get keyLength(): number {
    return this.#key.length;
  }

  /** Raw AES of whole blocks (ECB); the building block of DR (RFC 3961 5.1) and the PRF. */
  encryptBlocks(blocks: Uint8Array): Buffer {
    if (blocks.length % AES_BLOCK_SIZE !== 0) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'ECB input must be whole blocks');
    }
    return this.#enc().update(blocks);
  }

  /** Raw inverse AES of whole blocks (ECB). */
  decryptBlocks(blocks: Uint8Array): Buffer {
    if (blocks.length % AES_BLOCK_SIZE !== 0) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'ECB input must be whole blocks');
    }
    return this.#dec().update(blocks);
  }

  /**
   * CBC-CS3 encryption (RFC 3962 section 5). Input must be at least one block. The ciphertext
   * (same length as the input) is written to `out` at `outOff` when given, else to a new buffer.
   */
  encrypt(input: Uint8Array, iv: Uint8Array = ZERO_IV, out?: Uint8Array, outOff = 0): Uint8Array {
    const len = input.length;
    this.#live();
    checkIv(iv);
    if (len < AES_BLOCK_SIZE) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `CTS input must be at least one block, got ${len} bytes`);
    }
    if (out !== undefined && (outOff < 0 || outOff + len > out.length)) {
      throw new SspiError(SecurityStatus.SEC_E_BUFFER_TOO_SMALL, 'CTS output buffer too small');
    }
    const n = Math.ceil(len / AES_BLOCK_SIZE);
    const d = len - AES_BLOCK_SIZE * (n - 1); // bytes in the last block, 1..16
    const dst = out ?? Buffer.allocUnsafe(len);
    if (n <= SMALL_ENCRYPT_BLOCKS) {
      this.#encryptSmall(input, iv, n, d, dst, outOff);
      return out === undefined ? dst : dst.subarray(outOff, outOff + len);
    }

    const c = createCipheriv(this.#cbc, this.#key, iv);
    c.setAutoPadding(false);
    const head = c.update(input.subarray(0, AES_BLOCK_SIZE * (n - 1))); // E_1..E_{n-1}
    const last = new Uint8Array(AES_BLOCK_SIZE); // P_n padded with zeros
    last.set(input.subarray(AES_BLOCK_SIZE * (n - 1)));
    const en = c.update(last);
    c.final();
    const cut = AES_BLOCK_SIZE * (n - 2);
    dst.set(head.subarray(0, cut), outOff);
    dst.set(en, outOff + cut); // E_n moves into slot n-1
    dst.set(head.subarray(cut, cut + d), outOff + cut + AES_BLOCK_SIZE); // E_{n-1} truncated to d bytes goes last
    return out === undefined ? dst : dst.subarray(outOff, outOff + len);
  }

  /** CBC-CS3 decryption. Throws SEC_E_INVALID_TOKEN for input shorter than one block. */
  decrypt(input: Uint8Array, iv: Uint8Array = ZERO_IV): Uint8Array {
    const len = input.length;
    this.#live();
    checkIv(iv);
    if (len < AES_BLOCK_SIZE) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `CTS ciphertext must be at least one block, got ${len} bytes`);
    }
    const n = Math.ceil(len / AES_BLOCK_SIZE);
    if (n === 1) {
      const p = this.#dec().update(input);
      xorInPlace(p, 0, iv, 0, AES_BLOCK_SIZE);
      return p;
    }
    const d = len - AES_BLOCK_SIZE * (n - 1);
    const cut = AES_BLOCK_SIZE * (n - 2);
    const x = input.subarray(cut, cut + AES_BLOCK_SIZE); // E_n, sent in slot n-1
    const y = input.subarray(cut + AES_BLOCK_SIZE); // first d bytes of E_{n-1}
    // Rebuild the full CBC ciphertext E_1..E_n; when d < 16 the missing tail of E_{n-1} is the
    // tail of AES^-1(E_n), because P_n was padded with zeros before the XOR.
    const z = Buffer.allocUnsafe(AES_BLOCK_SIZE * n);
    z.set(input.subarray(0, cut));
    z.set(y, cut);
    let dn: Buffer | undefined;
    if (d < AES_BLOCK_SIZE) {
      dn = this.#dec().update(x);
      dn.copy(z, cut + d, d, AES_BLOCK_SIZE);
    }
    z.set(x, cut + AES_BLOCK_SIZE);

    if (n <= SMALL_DECRYPT_BLOCKS) {
      // One ECB pass over every block, then the CBC XOR chain by hand.
      const p = dn === undefined ? this.#dec().update(z) : this.#dec().update(z.subarray(0, cut + AES_BLOCK_SIZE));
      xorInPlace(p, 0, iv, 0, AES_BLOCK_SIZE);
      xorInPlace(p, AES_BLOCK_SIZE, z, 0, AES_BLOCK_SIZE * (n - 1) - (dn === undefined ? 0 : AES_BLOCK_SIZE));
      if (dn === undefined) return p.subarray(0, len);
      const out = Buffer.allocUnsafe(len);
      p.copy(out, 0, 0, cut + AES_BLOCK_SIZE);
      for (let i = 0; i < d; i++) out[cut + AES_BLOCK_SIZE + i] = dn[i]! ^ y[i]!;
      return out;
    }
    const c = createDecipheriv(this.#cbc, this.#key, iv);
    c.setAutoPadding(false);
    const p = c.update(z);
    c.final();
    return p.subarray(0, len);
  }

  /** Zero the key copy and drop the cached cipher objects (OpenSSL frees their schedules on GC). */
  destroy(): void {
    this.#key.fill(0);
    this.#ecbEnc = undefined;
    this.#ecbDec = undefined;
    this.#destroyed = true;
  }

  #encryptSmall(input: Uint8Array, iv: Uint8Array, n: number, d: number, out: Uint8Array, o: number): void {
    const ecb = this.#enc();
    const x = Buffer.allocUnsafe(AES_BLOCK_SIZE);
    let prev: Uint8Array = iv;
    const cut = o + AES_BLOCK_SIZE * (n - 2);
    for (let i = 0; i < n; i++) {
      const off = i * AES_BLOCK_SIZE;
      const take = i === n - 1 ? d : AES_BLOCK_SIZE;
      for (let j = 0; j < take; j++) x[j] = input[off + j]! ^ prev[j]!;
      for (let j = take; j < AES_BLOCK_SIZE; j++) x[j] = prev[j]!; // zero padding XOR chain value
      const e = ecb.update(x);
      if (n === 1) out.set(e, o);
      else if (i < n - 2) out.set(e, o + off);
      else if (i === n - 2) for (let j = 0; j < d; j++) out[cut + AES_BLOCK_SIZE + j] = e[j]!; // E_{n-1}, cut, goes last
      else out.set(e, cut); // E_n goes into slot n-1
      prev = e;
    }
  }

  #live(): void {
    if (this.#destroyed) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'AES key was destroyed');
  }

  #enc(): Cipher {
    if (this.#ecbEnc === undefined) {
      if (this.#destroyed) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'AES key was destroyed');
      const c = createCipheriv(this.#ecb, this.#key, null);
      c.setAutoPadding(false);
      this.#ecbEnc = c;
    }
    return this.#ecbEnc;
  }

  #dec(): Decipher {
    if (this.#ecbDec === undefined) {
      if (this.#destroyed) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'AES key was destroyed');
      const c = createDecipheriv(this.#ecb, this.#key, null);
      c.setAutoPadding(false);
      this.#ecbDec = c;
    }
    return this.#ecbDec;
  }
}

function checkIv(iv: Uint8Array): void {
  if (iv.length !== AES_BLOCK_SIZE) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `IV must be ${AES_BLOCK_SIZE} bytes, got ${iv.length}`);
  }
}

function xorInPlace(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dstOff + i]! ^= src[srcOff + i]!;
}

/**
 * The cipher state after a CTS message (RFC 3962 section 5 and Appendix B "next IV"): the last
 * full CBC block E_n, which CS3 sends in the second-to-last slot; for a one-block message, the
 * block itself. The same for encryption and decryption (it is a function of the ciphertext).
 */
export function aesCtsNextIv(ciphertext: Uint8Array): Uint8Array {
  const len = ciphertext.length;
  if (len < AES_BLOCK_SIZE) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'CTS ciphertext shorter than one block');
  }
  const n = Math.ceil(len / AES_BLOCK_SIZE);
  const off = n === 1 ? 0 : AES_BLOCK_SIZE * (n - 2);
  return ciphertext.slice(off, off + AES_BLOCK_SIZE);
}

/** One-shot CBC-CS3 encryption; returns the ciphertext and the next IV. */
export function aesCtsEncrypt(key: Uint8Array, input: Uint8Array, iv?: Uint8Array): { output: Uint8Array; nextIv: Uint8Array } {
  const c = new AesCts(key);
  try {
    const output = c.encrypt(input, iv);
    return { output, nextIv: aesCtsNextIv(output) };
  } finally {
    c.destroy();
  }
}

/** One-shot CBC-CS3 decryption; returns the plaintext and the next IV. */
export function aesCtsDecrypt(key: Uint8Array, input: Uint8Array, iv?: Uint8Array): { output: Uint8Array; nextIv: Uint8Array } {
  const c = new AesCts(key);
  try {
    const output = c.decrypt(input, iv);
    return { output, nextIv: aesCtsNextIv(input) };
  } finally {
    c.destroy();
  }
}
