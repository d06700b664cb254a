// AES in CBC mode with ciphertext stealing as Kerberos uses it (RFC 3962 section 5; NIST SP 800-38A
// addendum "CBC-CS3"): plain CBC over the zero-padded message, then the last two ciphertext blocks
// are swapped and the final one is cut to the length of the last plaintext block. A one-block message
// is a plain one-block CBC encryption. Node has no aes-*-cts cipher, so this is built from
// long-lived aes-*-cbc objects (messages), and an aes-*-ecb object for raw blocks (key derivation).

import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';
import { SIMD_MAX_BLOCKS, SimdAes } from './aes-simd.js';

export const AES_BLOCK_SIZE = 16;
const ZERO_IV: Uint8Array = new Uint8Array(AES_BLOCK_SIZE);

// One update() on a node:crypto object costs ~0.5 µs whatever the size up to a few blocks, and a
// fresh createCipheriv ~2.5 µs (Node 20, x86-64, AES-NI). So every message goes through one
// long-lived CBC object per direction: OpenSSL carries the chaining value (the last ciphertext
// block) from one update() to the next, and we know that value, so XORing it (and the wanted IV)
// into the first block makes the object start each message afresh. Above this many blocks the
// message is fed in three update() calls instead of being copied into one buffer.
const COPY_MAX_BLOCKS = 64;
// Copies up to this many bytes run as loops: cheaper than a view plus a set() call.
const SMALL_COPY = 64;
// Messages of up to this many blocks are rebuilt for decryption in a per-object scratch.
const DEC_VIEWS = 8;

/**
 * AES-CTS (CBC-CS3) bound to one key. Keeps a copy of the key and lazily created cipher objects:
 * one CBC object per direction for messages (the single-block AES^-1 that CTS decryption needs
 * comes from the CBC decrypter too), and ECB objects only for raw blocks (key derivation). ECB
 * with padding off carries no state between whole-block update() calls, so one object serves all.
 */
export class AesCts {
  readonly #key: Buffer;
  readonly #cbc: 'aes-128-cbc' | 'aes-256-cbc';
  readonly #ecb: 'aes-128-ecb' | 'aes-256-ecb';
  #ecbEnc: Cipher | undefined;
  #ecbDec: Decipher | undefined;
  #cbcEnc: Cipher | undefined;
  #cbcDec: Decipher | undefined;
  // The chaining value each CBC object holds now: its last ciphertext block (public data), for
  // encryption at #encChain[#encChainOff..+16] (the CBC output itself when it stayed ours: no copy).
  #encChain: Uint8Array = ZERO_IV;
  #encChainOff = 0;
  #decChain: Uint8Array = ZERO_IV;
  readonly #encChainBuf = new Uint8Array(AES_BLOCK_SIZE);
  readonly #decChainBuf = new Uint8Array(AES_BLOCK_SIZE);
  // Decryption rebuilds short messages in CBC order here (ciphertext only: nothing to wipe); one
  // view per block count, so the per-message path allocates nothing for it.
  #decViews: Uint8Array[] | undefined;
  // Short messages run in the WebAssembly engine (aes-simd.ts) where it is available: created on
  // the first short message, null when the engine is off here.
  #simd: SimdAes | null | undefined;
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
    const cut = AES_BLOCK_SIZE * (n - 2); // where E_n goes (n >= 2)
    const ch = this.#encChainBuf; // E_n once the CBC pass is done
    if (n <= COPY_MAX_BLOCKS) {
      const z = Buffer.allocUnsafe(AES_BLOCK_SIZE * n); // pooled; the padding is zeroed here
      z.set(input);
      z.fill(0, len);
      this.#padded(z, len, iv, dst, outOff);
      z.fill(0);
      return out === undefined ? dst : view(dst, outOff, len);
    } else {
      // Bulk: no padded copy of the message; P_1 (chain-corrected), P_2..P_{n-1} as a view, and the
      // zero-padded P_n go through in three calls, and E_1..E_{n-2} land in place without a concat.
      const first = Buffer.allocUnsafe(AES_BLOCK_SIZE);
      const co = this.#encChainOff;
      for (let j = 0; j < AES_BLOCK_SIZE; j++) first[j] = input[j]! ^ chain[co + j]! ^ iv[j]!;
      const pn = Buffer.alloc(AES_BLOCK_SIZE);
      for (let j = 0; j < d; j++) pn[j] = input[last + j]!;
      const c1 = cbc.update(first); // E_1
      const c2 = cbc.update(input.subarray(AES_BLOCK_SIZE, last)); // E_2..E_{n-1}
      const cn = cbc.update(pn); // E_n
      first.fill(0);
      pn.fill(0);
      const m = c2.length - AES_BLOCK_SIZE; // E_2..E_{n-2}
      dst.set(c1, outOff);
      dst.set(c2.subarray(0, m), outOff + AES_BLOCK_SIZE);
      for (let j = 0; j < AES_BLOCK_SIZE; j++) ch[j] = cn[j]!;
      dst.set(ch, outOff + cut);
      for (let j = 0; j < d; j++) dst[outOff + last + j] = c2[m + j]!;
    }
    this.#encChain = ch;
    this.#encChainOff = 0;
    return out === undefined ? dst : view(dst, outOff, len);
  }

  /**
   * CBC-CS3 encryption of a message the caller has already laid out zero-padded: the first `len`
   * bytes of `z` (z.length = 16 * ceil(len / 16), zeros after `len`), ciphertext to out[outOff..+len).
   * Spares encrypt()'s padded copy for callers that build the plaintext anyway (RFC 4121 Wrap).
   * The first block of `z` is overwritten; the caller wipes `z`.
   */
  encryptPadded(z: Uint8Array, len: number, iv: Uint8Array, out: Uint8Array, outOff: number): void {
    this.#live();
    checkIv(iv);
    if (len < AES_BLOCK_SIZE || z.length !== AES_BLOCK_SIZE * Math.ceil(len / AES_BLOCK_SIZE)) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'CTS padded input must be whole blocks covering at least one block');
    }
    if (outOff < 0 || outOff + len > out.length) throw new SspiError(SecurityStatus.SEC_E_BUFFER_TOO_SMALL, 'CTS output buffer too small');
    this.#padded(z, len, iv, out, outOff);
  }

  /**
   * CBC-CS3 encryption of first || mid || tail without joining them: `first` is the first block
   * (16 bytes), `tail` ends with the zero padding, so that the three make whole blocks (at least
   * two); `len` is the message length without the padding. For bulk messages (RFC 4121 Wrap of a
   * large buffer) this spares building and wiping a padded copy; OpenSSL carries partial blocks
   * from one update() to the next.
   */
  encryptParts(first: Uint8Array, mid: Uint8Array, tail: Uint8Array, len: number, iv: Uint8Array, out: Uint8Array, outOff: number): void {
    this.#live();
    checkIv(iv);
    const total = AES_BLOCK_SIZE + mid.length + tail.length;
    const n = total / AES_BLOCK_SIZE;
    if (first.length !== AES_BLOCK_SIZE || !Number.isInteger(n) || n < 2 || len <= total - AES_BLOCK_SIZE || len > total) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'CTS parts must make whole blocks (at least two) around the message length');
    }
    if (outOff < 0 || outOff + len > out.length) throw new SspiError(SecurityStatus.SEC_E_BUFFER_TOO_SMALL, 'CTS output buffer too small');
    const cbc = this.#cbcEncrypter();
    const chain = this.#encChain;
    const p1 = Buffer.allocUnsafe(AES_BLOCK_SIZE);
    const co = this.#encChainOff;
    for (let j = 0; j < AES_BLOCK_SIZE; j++) p1[j] = first[j]! ^ chain[co + j]! ^ iv[j]!;
    const cut = AES_BLOCK_SIZE * (n - 2);
    const last2 = new Uint8Array(2 * AES_BLOCK_SIZE); // E_{n-1} || E_n
    let pos = 0;
    // CBC output chunk at stream position `pos`: E_1..E_{n-2} straight to their place, the last two blocks aside.
    const place = (c: Uint8Array): void => {
      const direct = Math.max(0, Math.min(c.length, cut - pos));
      if (direct > 0) out.set(new Uint8Array(c.buffer, c.byteOffset, direct), outOff + pos);
      for (let j = direct; j < c.length; j++) last2[pos + j - cut] = c[j]!;
      pos += c.length;
    };
    place(cbc.update(p1));
    p1.fill(0);
    place(cbc.update(mid));
    place(cbc.update(tail));
    const ch = this.#encChainBuf;
    for (let j = 0; j < AES_BLOCK_SIZE; j++) ch[j] = last2[AES_BLOCK_SIZE + j]!;
    this.#encChain = ch;
    this.#encChainOff = 0;
    const d = len - AES_BLOCK_SIZE * (n - 1);
    out.set(ch, outOff + cut); // E_n moves into slot n-1
    for (let j = 0; j < d; j++) out[outOff + cut + AES_BLOCK_SIZE + j] = last2[j]!; // E_{n-1} cut to d bytes goes last
  }

  // One CBC call over the padded message (first block corrected for the object's chaining value
  // and the IV), then the CS3 swap of the last two blocks into dst.
  #padded(z: Uint8Array, len: number, iv: Uint8Array, dst: Uint8Array, outOff: number): void {
    const n = z.length / AES_BLOCK_SIZE;
    const d = len - AES_BLOCK_SIZE * (n - 1);
    const last = AES_BLOCK_SIZE * (n - 1);
    const cut = AES_BLOCK_SIZE * (n - 2);
    const simd = n <= SIMD_MAX_BLOCKS ? this.#small() : null;
    if (simd !== null) {
      // The engine's I/O area: IV, then the blocks, encrypted in place into CS3 order (only
      // ciphertext is left there). Bulk copies only: element writes to its memory cost more.
      const m = simd.memory;
      m.set(iv, SimdAes.ioOffset);
      m.set(z, SimdAes.ioOffset + AES_BLOCK_SIZE);
      simd.encrypt(n, n > 1);
      dst.set(simd.view(len), outOff);
      return;
    }
    const cbc = this.#cbcEncrypter();
    const chain = this.#encChain;
    const co = this.#encChainOff;
    for (let j = 0; j < AES_BLOCK_SIZE; j++) z[j]! ^= chain[co + j]! ^ iv[j]!;
    const c = cbc.update(z); // E_1..E_n in CBC order
    // c is never handed out, so E_n is read from it as the next chaining value without a copy.
    this.#encChain = c;
    this.#encChainOff = last;
    if (n === 1) {
      for (let j = 0; j < AES_BLOCK_SIZE; j++) dst[outOff + j] = c[j]!;
      return;
    }
    if (cut > SMALL_COPY) dst.set(new Uint8Array(c.buffer, c.byteOffset, cut), outOff);
    else for (let j = 0; j < cut; j++) dst[outOff + j] = c[j]!;
    for (let j = 0; j < AES_BLOCK_SIZE; j++) dst[outOff + cut + j] = c[last + j]!; // E_n moves into slot n-1
    for (let j = 0; j < d; j++) dst[outOff + last + j] = c[cut + j]!; // E_{n-1} cut to d bytes goes last
  }

  /** CBC-CS3 decryption. Throws SEC_E_INVALID_TOKEN for input shorter than one block. */
  decrypt(input: Uint8Array, iv: Uint8Array = ZERO_IV): Uint8Array {
    return this.decryptAt(input, 0, input.length, iv);
  }

  /**
   * CBC-CS3 decryption of src[off..off+len) (a token's ciphertext read in place, without a view).
   * The plaintext is a new buffer of `len` bytes owned by the caller.
   */
  decryptAt(src: Uint8Array, off: number, len: number, iv: Uint8Array = ZERO_IV): Uint8Array {
    const n = this.#ciphertextBlocks(src, off, len, iv);
    const simd = n <= SIMD_MAX_BLOCKS ? this.#small() : null;
    if (simd !== null) {
      this.#decryptSmall(simd, src, off, len, n, iv);
      const p = Buffer.allocUnsafe(len);
      p.set(simd.view(len));
      simd.wipeIo(AES_BLOCK_SIZE * (n + 1));
      return p;
    }
    const cbc = this.#cbcDecrypter();
    let chain = this.#decChain;
    let z: Uint8Array; // E_1..E_n in CBC order
    if (n === 1) {
      z = off === 0 && len === src.length ? src : view(src, off, len);
    } else {
      const d = len - AES_BLOCK_SIZE * (n - 1);
      const cut = AES_BLOCK_SIZE * (n - 2);
      // Every byte is written below: a view of the object's scratch for short messages, else a
      // pooled Buffer (cheaper than an array with its own backing store).
      const zb = n <= DEC_VIEWS ? this.#decView(n) : Buffer.allocUnsafe(AES_BLOCK_SIZE * n);
      if (cut > SMALL_COPY) zb.set(view(src, off, cut));
      else for (let j = 0; j < cut; j++) zb[j] = src[off + j]!;
      const en = off + cut; // E_n, sent in slot n-1
      for (let j = 0; j < d; j++) zb[cut + j] = src[en + AES_BLOCK_SIZE + j]!; // first d bytes of E_{n-1}
      for (let j = 0; j < AES_BLOCK_SIZE; j++) zb[cut + AES_BLOCK_SIZE + j] = src[en + j]!;
      if (d < AES_BLOCK_SIZE) {
        const x = src.slice(en, en + AES_BLOCK_SIZE);
        // The missing tail of E_{n-1} is the tail of AES^-1(E_n), because P_n was padded with
        // zeros before the XOR; CBC over the rebuilt E_{n-1} || E_n then yields P_n || zeros.
        // AES^-1(E_n) comes from the CBC object itself (its output XOR the chaining value it
        // held), which spares a second cipher object per key; E_n is then its chaining value.
        const dn = cbc.update(x);
        for (let j = d; j < AES_BLOCK_SIZE; j++) zb[cut + j] = dn[j]! ^ chain[j]!;
        dn.fill(0);
        chain = x;
      }
      z = zb;
    }
    const p = cbc.update(z);
    for (let j = 0; j < AES_BLOCK_SIZE; j++) p[j]! ^= chain[j]! ^ iv[j]!;
    // Our own copy of the chaining value: `src` belongs to the caller.
    const ch = this.#decChainBuf;
    for (let j = 0, o = z.length - AES_BLOCK_SIZE; j < AES_BLOCK_SIZE; j++) ch[j] = z[o + j]!;
    this.#decChain = ch;
    return len === p.length ? p : p.subarray(0, len);
  }

  /**
   * CBC-CS3 decryption of a short message (at most SIMD_MAX_BLOCKS blocks) that leaves the
   * plaintext in the engine's memory (engineMemory) instead of a new buffer: answers its offset
   * there, or -1 when the message is longer or the engine is off (use decryptAt then). The
   * plaintext stays valid until the next AES call on this thread; the caller reads what it needs
   * and must then call wipeEngine(len).
   */
  decryptInEngine(src: Uint8Array, off: number, len: number, iv: Uint8Array = ZERO_IV): number {
    const n = this.#ciphertextBlocks(src, off, len, iv);
    const simd = n <= SIMD_MAX_BLOCKS ? this.#small() : null;
    if (simd === null) return -1;
    this.#decryptSmall(simd, src, off, len, n, iv);
    return SimdAes.ioOffset + AES_BLOCK_SIZE;
  }

  // The checks every decryption makes first; answers the block count.
  #ciphertextBlocks(src: Uint8Array, off: number, len: number, iv: Uint8Array): number {
    this.#live();
    checkIv(iv);
    if (len < AES_BLOCK_SIZE) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `CTS ciphertext must be at least one block, got ${len} bytes`);
    }
    if (off < 0 || off + len > src.length) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'CTS ciphertext range out of bounds');
    return Math.ceil(len / AES_BLOCK_SIZE);
  }

  /** The engine's memory, where decryptInEngine leaves a plaintext (fetch it after each call). */
  get engineMemory(): Uint8Array {
    return this.#small()!.memory;
  }

  /** Zero the engine's plaintext of `len` bytes left by decryptInEngine. */
  wipeEngine(len: number): void {
    this.#small()?.wipeIo(AES_BLOCK_SIZE + len);
  }

  // CBC-CS3 decryption of a short message in the engine: the ciphertext goes into its I/O area as
  // sent; for a partial last block, the missing tail of E_{n-1} is the tail of AES^-1(E_n) (one raw
  // block in the spare slot); the kernel swaps the last two blocks back to CBC order and decrypts
  // in place. The plaintext is left there, for the caller to copy and wipe.
  #decryptSmall(simd: SimdAes, src: Uint8Array, off: number, len: number, n: number, iv: Uint8Array): void {
    const m = simd.memory;
    const o = SimdAes.ioOffset;
    const b = o + AES_BLOCK_SIZE; // the blocks
    m.set(iv, o);
    // A byte loop, not set(): the kernel loads all blocks at once, and after set()'s wide
    // overlapping stores those loads stall (measured: 375 against 259 ns for three blocks).
    for (let j = 0; j < len; j++) m[b + j] = src[off + j]!;
    const d = len - AES_BLOCK_SIZE * (n - 1);
    if (d < AES_BLOCK_SIZE) {
      const en = b + AES_BLOCK_SIZE * (n - 2); // E_n, sent in slot n-1
      const sp = SimdAes.spareOffset;
      m.copyWithin(sp, en, en + AES_BLOCK_SIZE);
      simd.decryptSpare();
      m.copyWithin(en + AES_BLOCK_SIZE + d, sp + d, sp + AES_BLOCK_SIZE);
    }
    simd.decrypt(n, n > 1);
  }

  #small(): SimdAes | null {
    let s = this.#simd;
    if (s === undefined) s = this.#simd = SimdAes.create(this.#key) ?? null;
    return s;
  }

  /** Zero the key copy and drop the cached cipher objects (OpenSSL frees their schedules on GC). */
  destroy(): void {
    this.#simd?.destroy();
    this.#simd = null;
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
      this.#encChainOff = 0;
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

  #decView(n: number): Uint8Array {
    let v = this.#decViews;
    if (v === undefined) {
      const b = new Uint8Array(AES_BLOCK_SIZE * DEC_VIEWS);
      v = this.#decViews = [];
      for (let k = 0; k <= DEC_VIEWS; k++) v.push(b.subarray(0, AES_BLOCK_SIZE * k));
    }
    return v[n]!;
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
