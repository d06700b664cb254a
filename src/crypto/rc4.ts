// RC4 stream cipher, written here because Node 20's OpenSSL 3 leaves RC4 in the legacy provider.
// Used by NTLM sealing (MS-NLMP 3.4) and the RC4-HMAC Kerberos enctype (RFC 4757).
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// RC4 states are views into shared slabs: a typed array with its own backing store costs
// ~0.3-0.6 us to allocate plus external-memory GC work, a view ~65 ns (subarray() ~200 ns), and
// an NTLM handshake makes four. A slab lives until its last state is collected: kept at 4 KiB.
const SLAB_STATES = 16;
let slab: Uint8Array | null = null;
let slabNext = SLAB_STATES;

function allocState(): Uint8Array {
  if (slabNext === SLAB_STATES) {
    slab = new Uint8Array(256 * SLAB_STATES);
    slabNext = 0;
  }
  const at = 256 * slabNext++;
  return new Uint8Array(slab!.buffer, at, 256);
}

/** An RC4 keystream; successive `process` calls continue the same stream. */
export class RC4 {
  private readonly s = allocState();
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array) {
    schedule(this.s, key);
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

  // Pseudo-random generation algorithm. Long runs go through the module-level scratch state
  // (see longXor); short ones work on this.s directly, where copying the 256-byte state in and
  // out would cost more than it saves.
  private xor(input: Uint8Array, inOff: number, out: Uint8Array, outOff: number, n: number): void {
    if (n >= SCRATCH_MIN) {
      SCRATCH.set(this.s);
      const ij = longXor(input, inOff, out, outOff, n, this.i, this.j);
      this.s.set(SCRATCH);
      SCRATCH.fill(0);
      this.i = ij >>> 8;
      this.j = ij & 0xff;
      return;
    }
    const s = this.s;
    let i = this.i;
    let j = this.j;
    let si: number, sj: number;
    for (let k = 0; k < n; k++) {
      i = (i + 1) & 0xff; si = s[i]!; j = (j + si) & 0xff; sj = s[j]!; s[i] = sj; s[j] = si;
      out[outOff + k] = input[inOff + k]! ^ s[(si + sj) & 0xff]!;
    }
    this.i = i;
    this.j = j;
  }

  /**
   * Copies the S-box to dst[at .. at+256) and returns (i << 8) | j: for a kernel that runs the
   * keystream elsewhere (the NTLM seal kernel) and hands it back with loadFrom().
   */
  saveTo(dst: Uint8Array, at: number): number {
    dst.set(this.s, at);
    return (this.i << 8) | this.j;
  }

  /** Continues from an S-box at src[at .. at+256) and (i << 8) | j, as saveTo() gave them out. */
  loadFrom(src: Uint8Array, at: number, ij: number): void {
    this.s.set(src.subarray(at, at + 256));
    this.i = (ij >>> 8) & 0xff;
    this.j = ij & 0xff;
  }

  /** The keystream position (S-box, i, j) as 258 bytes, for exporting a security context. */
  saveState(): Uint8Array {
    const out = new Uint8Array(258);
    for (let k = 0; k < 256; k++) out[k] = this.s[k]!;
    out[256] = this.i;
    out[257] = this.j;
    return out;
  }

  /** Continues the keystream from a saveState() snapshot (a permutation of 0..255, then i, j). */
  restoreState(state: Uint8Array): void {
    const seen = new Uint8Array(256);
    for (let k = 0; k < 256 && state.length === 258; k++) seen[state[k]!] = 1;
    if (state.length !== 258 || !seen.every((x) => x === 1)) throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'malformed RC4 state');
    for (let k = 0; k < 256; k++) this.s[k] = state[k]!;
    this.i = state[256]!;
    this.j = state[257]!;
  }

  /** Zeroes the cipher state; the object must not be used afterwards. */
  destroy(): void {
    this.s.fill(0);
    this.i = 0;
    this.j = 0;
  }
}

// The state for long runs. A module-level constant typed array lets TurboFan fold its base
// address and length into the loop instead of reloading them and bounds-checking every access
// (measured ~1.3x faster at 64 KiB than the same loop over this.s). Sharing one is safe: the loop
// never yields, and the caller zeroes it after each run. Uint8Array: with the array folded in,
// byte loads beat Int32Array's by ~7% (measured), and copying to and from the slabs is a memcpy.
const SCRATCH = new Uint8Array(256);
const SCRATCH_MIN = 256;

const WORD_MIN = 64;

// RC4 PRGA over SCRATCH from position (i, j); returns the new (i << 8) | j. Four keystream
// bytes per iteration, XORed as one 32-bit word when both buffers are 4-byte aligned.
function longXor(input: Uint8Array, inOff: number, out: Uint8Array, outOff: number, n: number, i: number, j: number): number {
  const s = SCRATCH;
  let k = 0;
  let si: number, sj: number, ks: number;
  const ia = input.byteOffset + inOff;
  const oa = out.byteOffset + outOff;
  // Below WORD_MIN bytes (keys, checksums) the two Int32Array views cost more than they save.
  if (LITTLE_ENDIAN && n >= WORD_MIN && (ia & 3) === 0 && (oa & 3) === 0) {
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
  return (i << 8) | j;
}

// Key-scheduling algorithm into s.
function schedule(s: Uint8Array, key: Uint8Array): void {
  if (key.length < 1 || key.length > 256) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `RC4 key length ${key.length} not in 1..256`);
  }
  for (let k = 0; k < 256; k++) s[k] = k;
  const n = key.length;
  let j = 0;
  // A running key index instead of k % n: no division per step (~2x faster for 16-byte keys).
  for (let k = 0, ki = 0; k < 256; k++) {
    const t = s[k]!;
    j = (j + t + key[ki]!) & 0xff;
    s[k] = s[j]!;
    s[j] = t;
    if (++ki === n) ki = 0;
  }
}

/** One-shot RC4 (MS-NLMP 6: RC4K(K, D)); returns a new array. */
export function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  // Runs on the scratch state: no per-call state allocation (KXKEY wraps 16 bytes per handshake).
  const out = new Uint8Array(data.length);
  try {
    schedule(SCRATCH, key);
    longXor(data, 0, out, 0, data.length, 0, 0);
  } finally {
    SCRATCH.fill(0);
  }
  return out;
}
