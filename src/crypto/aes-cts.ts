// AES in CBC mode with ciphertext stealing as Kerberos uses it (RFC 3962 section 5; NIST SP 800-38A
// addendum "CBC-CS3"): plain CBC over the zero-padded message, then the last two ciphertext blocks
// are swapped and the final one is cut to the length of the last plaintext block. A one-block message
// is a plain one-block CBC encryption. Node has no aes-*-cts cipher, so this is built from
// long-lived aes-*-cbc objects (messages) and aes-*-ecb objects (single blocks).

import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';

export const AES_BLOCK_SIZE = 16;
const ZERO_IV: Uint8Array = new Uint8Array(AES_BLOCK_SIZE);

// One update() on a node:crypto object costs ~0.5 µs whatever the size up to a few blocks, and a
// fresh createCipheriv ~2.5 µs (Node 20, x86-64, AES-NI). So every message goes through one
// long-lived CBC object per direction: OpenSSL carries the chaining value (the last ciphertext
// block) from one update() to the next, and we know that value, so XORing it (and the wanted IV)
// into the first block makes the object start each message afresh. Above this many blocks the
// message is fed in three update() calls instead of being copied into one buffer.
const COPY_MAX_BLOCKS = 64;

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
  #cbcEnc: Cipher | undefined;
  #cbcDec: Decipher | undefined;
  // The chaining value each CBC object holds now: its last ciphertext block (public data).
  #encChain: Uint8Array = ZERO_IV;
  #decChain: Uint8Array = ZERO_IV;
  readonly #encChainBuf = new Uint8Array(AES_BLOCK_SIZE);
  readonly #decChainBuf = new Uint8Array(AES_BLOCK_SIZE);
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
    const cbc = this.#cbcEncrypter();
    const chain = this.#encChain;
    const last = AES_BLOCK_SIZE * (n - 1);
    let c: Buffer; // E_1..E_n in CBC order
    if (n <= COPY_MAX_BLOCKS) {
      const z = new Uint8Array(AES_BLOCK_SIZE * n); // zero padding of P_n comes with it
      z.set(input);
      for (let j = 0; j < AES_BLOCK_SIZE; j++) z[j]! ^= chain[j]! ^ iv[j]!;
      c = cbc.update(z);
      z.fill(0);
    } else {
      const first = Buffer.allocUnsafe(AES_BLOCK_SIZE);
      for (let j = 0; j < AES_BLOCK_SIZE; j++) first[j] = input[j]! ^ chain[j]! ^ iv[j]!;
      const pn = Buffer.alloc(AES_BLOCK_SIZE);
      pn.set(input.subarray(last));
      c = Buffer.concat([cbc.update(first), cbc.update(input.subarray(AES_BLOCK_SIZE, last)), cbc.update(pn)]);
      first.fill(0);
      pn.fill(0);
    }
    const ch = this.#encChainBuf;
    for (let j = 0; j < AES_BLOCK_SIZE; j++) ch[j] = c[last + j]!;
    this.#encChain = ch;
    if (n === 1) {
      dst.set(c, outOff);
    } else {
      const cut = AES_BLOCK_SIZE * (n - 2);
      if (cut > 0) dst.set(c.subarray(0, cut), outOff);
      dst.set(ch, outOff + cut); // E_n moves into slot n-1
      for (let j = 0; j < d; j++) dst[outOff + last + j] = c[cut + j]!; // E_{n-1} truncated to d bytes goes last
    }
    return out === undefined ? dst : view(dst, outOff, len);
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
    const cbc = this.#cbcDecrypter();
    const chain = this.#decChain;
    let z: Uint8Array; // E_1..E_n in CBC order
    if (n === 1) {
      z = input;
    } else {
      const d = len - AES_BLOCK_SIZE * (n - 1);
      const cut = AES_BLOCK_SIZE * (n - 2);
      const zb = new Uint8Array(AES_BLOCK_SIZE * n);
      if (cut > 0) zb.set(input.subarray(0, cut));
      for (let j = 0; j < d; j++) zb[cut + j] = input[cut + AES_BLOCK_SIZE + j]!; // first d bytes of E_{n-1}
      const x = input.subarray(cut, cut + AES_BLOCK_SIZE); // E_n, sent in slot n-1
      if (d < AES_BLOCK_SIZE) {
        // The missing tail of E_{n-1} is the tail of AES^-1(E_n), because P_n was padded with
        // zeros before the XOR; CBC over the rebuilt E_{n-1} || E_n then yields P_n || zeros.
        const dn = this.#dec().update(x);
        dn.copy(zb, cut + d, d, AES_BLOCK_SIZE);
        dn.fill(0);
      }
      zb.set(x, cut + AES_BLOCK_SIZE);
      z = zb;
    }
    const p = cbc.update(z);
    for (let j = 0; j < AES_BLOCK_SIZE; j++) p[j]! ^= chain[j]! ^ iv[j]!;
    // Our own copy of the chaining value: `input` belongs to the caller.
    const ch = this.#decChainBuf;
    for (let j = 0, o = z.length - AES_BLOCK_SIZE; j < AES_BLOCK_SIZE; j++) ch[j] = z[o + j]!;
    this.#decChain = ch;
    return len === p.length ? p : p.subarray(0, len);
  }

  /** Zero the key copy and drop the cached cipher objects (OpenSSL frees their schedules on GC). */
  destroy(): void {
    this.#key.fill(0);
    this.#ecbEnc = undefined;
    this.#ecbDec = undefined;
    this.#cbcEnc = undefined;
    this.#cbcDec = undefined;
    this.#destroyed = true;
  }

  #live(): void {
    if (this.#destroyed) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'AES key was destroyed');
  }

  #enc(): Cipher {
    if (this.#ecbEnc === undefined) {
      this.#live();
      this.#ecbEnc = unpadded(createCipheriv(this.#ecb, this.#key, null));
    }
    return this.#ecbEnc;
  }

  #cbcEncrypter(): Cipher {
    if (this.#cbcEnc === undefined) {
      this.#cbcEnc = unpadded(createCipheriv(this.#cbc, this.#key, ZERO_IV));
      this.#encChain = ZERO_IV;
    }
    return this.#cbcEnc;
  }

  #cbcDecrypter(): Decipher {
    if (this.#cbcDec === undefined) {
      this.#cbcDec = unpadded(createDecipheriv(this.#cbc, this.#key, ZERO_IV));
      this.#decChain = ZERO_IV;
    }
    return this.#cbcDec;
  }

  #dec(): Decipher {
    if (this.#ecbDec === undefined) {
      this.#live();
      this.#ecbDec = unpadded(createDecipheriv(this.#ecb, this.#key, null));
    }
    return this.#ecbDec;
  }
}

// CTS and the chained CBC do their own block handling, so OpenSSL must not pad.
function unpadded<C extends Cipher | Decipher>(c: C): C {
  c.setAutoPadding(false);
  return c;
}

function view(b: Uint8Array, off: number, len: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + off, len);
}

function checkIv(iv: Uint8Array): void {
  if (iv.length !== AES_BLOCK_SIZE) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `IV must be ${AES_BLOCK_SIZE} bytes, got ${iv.length}`);
  }
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
