// RC4 stream cipher, written here because Node 20's OpenSSL 3 leaves RC4 in the legacy provider.
// Used by NTLM sealing (MS-NLMP 3.4) and the RC4-HMAC Kerberos enctype (RFC 4757).
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';

/** An RC4 keystream; successive `process` calls continue the same stream. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class RC4 {
  // Int32Array rather than Uint8Array: V8 generates tighter code for the word-at-a-time loop.
  private readonly s = new Int32Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array) {
    if (key.length < 1 || key.length > 256) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `RC4 key length ${key.length} not in 1..256`);
    }
    // Key-scheduling algorithm.
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    const n = key.length;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      const t = s[k]!;
      j = (j + t + key[k % n]!) & 0xff;
      s[k] = s[j]!;
      s[j] = t;
    }
  }

  /**
   * XORs `input` with the next input.length keystream bytes into `output` (a new array when
   * omitted). `output` may be `input` itself for in-place encryption.
   */
  process(input: Uint8Array, output?: Uint8Array): Uint8Array {
    const n = input.length;
    const out = output ?? new Uint8Array(n);
    if (out.length < n) {
      throw new SspiError(SecurityStatus.SEC_E_BUFFER_TOO_SMALL, `RC4 output ${out.length} < input ${n}`);
    }
    this.xor(input, 0, out, 0, n);
    return out;
  }

  /**
   * XORs input[inOff .. inOff+length) with the keystream into output[outOff ..), without
   * allocating views; for callers that encrypt fields inside a larger buffer.
   */
  processRange(input: Uint8Array, inOff: number, length: number, output: Uint8Array, outOff: number): void {
    if (inOff < 0 || outOff < 0 || length < 0 || inOff + length > input.length || outOff + length > output.length) {
      throw new SspiError(SecurityStatus.SEC_E_BUFFER_TOO_SMALL, 'RC4 range outside its buffer');
    }
    this.xor(input, inOff, output, outOff, length);
  }

  // Pseudo-random generation algorithm. Four keystream bytes are produced per iteration and
  // XORed as one 32-bit word when both buffers are 4-byte aligned (measured ~1.7x faster in V8).
  private xor(input: Uint8Array, inOff: number, out: Uint8Array, outOff: number, n: number): void {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    let k = 0;
    let si: number, sj: number, ks: number;
    const ia = input.byteOffset + inOff;
    const oa = out.byteOffset + outOff;
    if (LITTLE_ENDIAN && n >= 64 && (ia & 3) === 0 && (oa & 3) === 0) {
      const words = n >>> 2;
      const in32 = new Int32Array(input.buffer, ia, words);
      const out32 = new Int32Array(out.buffer, oa, words);
      for (let w = 0; w < words; w++) {
        i = (i + 1) & 0xff; si = s[i]!; j = (j + si) & 0xff; sj = s[j]!; s[i] = sj; s[j] = si;
        ks = s[(si + sj) & 0xff]!;
        i = (i + 1) & 0xff; si = s[i]!; j = (j + si) & 0xff; sj = s[j]!; s[i] = sj; s[j] = si;
        ks |= s[(si + sj) & 0xff]! << 8;
        i = (i + 1) & 0xff; si = s[i]!; j = (j + si) & 0xff; sj = s[j]!; s[i] = sj; s[j] = si;
        ks |= s[(si + sj) & 0xff]! << 16;
        i = (i + 1) & 0xff; si = s[i]!; j = (j + si) & 0xff; sj = s[j]!; s[i] = sj; s[j] = si;
        ks |= s[(si + sj) & 0xff]! << 24;
        out32[w] = in32[w]! ^ ks;
      }
      k = words << 2;
    } else {
      for (; k + 4 <= n; k += 4) {
        i = (i + 1) & 0xff; si = s[i]!; j = (j + si) & 0xff; sj = s[j]!; s[i] = sj; s[j] = si;
        ks = s[(si + sj) & 0xff]!;
        i = (i + 1) & 0xff; si = s[i]!; j = (j + si) & 0xff; sj = s[j]!; s[i] = sj; s[j] = si;
        ks |= s[(si + sj) & 0xff]! << 8;
        i = (i + 1) & 0xff; si = s[i]!; j = (j + si) & 0xff; sj = s[j]!; s[i] = sj; s[j] = si;
        ks |= s[(si + sj) & 0xff]! << 16;
        i = (i + 1) & 0xff; si = s[i]!; j = (j + si) & 0xff; sj = s[j]!; s[i] = sj; s[j] = si;
        ks |= s[(si + sj) & 0xff]! << 24;
        out[outOff + k] = input[inOff + k]! ^ ks;
        out[outOff + k + 1] = input[inOff + k + 1]! ^ (ks >>> 8);
        out[outOff + k + 2] = input[inOff + k + 2]! ^ (ks >>> 16);
        out[outOff + k + 3] = input[inOff + k + 3]! ^ (ks >>> 24);
      }
    }
    for (; k < n; k++) {
      i = (i + 1) & 0xff; si = s[i]!; j = (j + si) & 0xff; sj = s[j]!; s[i] = sj; s[j] = si;
      out[outOff + k] = input[inOff + k]! ^ s[(si + sj) & 0xff]!;
    }
    this.i = i;
    this.j = j;
  }

  /** Zeroes the cipher state; the object must not be used afterwards. */
  destroy(): void {
    this.s.fill(0);
    this.i = 0;
    this.j = 0;
  }
}

/** One-shot RC4 (MS-NLMP 6: RC4K(K, D)); returns a new array. */
export function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  const c = new RC4(key);
  try {
    return c.process(data);
  } finally {
    c.destroy();
  }
}
