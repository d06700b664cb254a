// NTLM SEAL/UNSEAL with extended session security (MS-NLMP 3.4.3, 3.4.4.2) over long messages:
// RC4 over the message and HMAC_MD5(SigningKey, SeqNum || Message) in one pass, by a small
// WebAssembly module generated here (no toolchain, no binary blob).
//
// Why: both RC4 and MD5 are bound by a serial dependency chain (RC4's S-box swap, MD5's add/rotate),
// so run one after the other they cost the sum of two latency chains per byte, which is what
// gss-ntlmssp pays through OpenSSL. Interleaving one RC4 byte with each MD5 step lets the CPU
// run both chains at once, and the total approaches the slower of the two (measured: see
// bench/ntlm.ts). Wasm rather than JS because the MD5 step needs native i32 adds and rotates,
// and the two chains need all their state in registers without deopt checks.
//
// The message is streamed through a window in the module's memory, CHUNK bytes at a time (the
// MD5 input is the 4-byte SeqNum followed by the message, so the window holds that stream).
// Secrets in the module's memory (the RC4 S-box, MD5 states) are wiped after every call.

import type { RC4 } from '../../crypto/rc4.js';
import { buildModule, FunctionBody, I32, instantiate } from '../../crypto/wasm.js';
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';

// ---------------------------------------------------------------------------------------------
// Memory layout of the module (one 64 KiB page).
const S_BOX = 0; // 256 bytes: the RC4 permutation, one byte per entry
const STATE = 256; // 4 x i32: the MD5 chaining state
const RC4_IJ = 272; // 2 x i32: RC4 i and j
const OUTER_BLOCK = 320; // 64 bytes: the outer hash's single block
const WINDOW = 1024; // the SeqNum || Message stream, CHUNK bytes at a time
const CHUNK = 16384; // a multiple of 64; window + chunk + 128 bytes of padding room fit in the page
const PAGE = 65536;

// ---------------------------------------------------------------------------------------------
// Opcodes the three functions below use as raw bytes (the emitter is crypto/wasm.ts).
const OP = {
  block: 0x02, loop: 0x03, br: 0x0c, br_if: 0x0d, end: 0x0b,
  eqz: 0x45, add: 0x6a, sub: 0x6b, and: 0x71, or: 0x72, xor: 0x73, shl: 0x74, rotl: 0x77,
} as const;

// ---------------------------------------------------------------------------------------------
// The functions. Locals are numbered: parameters first, then the declared i32 locals.

// RFC 1321 3.4: T[i] = floor(2^32 * abs(sin(i + 1))), per-round shifts, and message word order.
const MD5_T = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0);
const MD5_SHIFT = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const md5Word = (s: number): number => (s < 16 ? s : s < 32 ? (5 * s + 1) % 16 : s < 48 ? (3 * s + 5) % 16 : (7 * s) % 16);

// Local indices of the block functions: params P (MD5 block pointer), Q (RC4 pointer), NB (block
// count); then the MD5 working state and the RC4 registers. Few enough to stay in registers: the
// message words are loaded from memory at each step and the chaining state waits in STATE.
const P = 0, Q = 1, NB = 2;
const A = 3, B = 4, C = 5, D = 6;
const RI = 7, RJ = 8, SI = 9, SJ = 10, KS = 11;
const BLOCK_LOCALS = 9; // 3..11

// One MD5 step: a = b + rotl(a + f(b, c, d) + x[k] + T[s], shift). The sum is ordered so that only
// the part of f that needs b (the previous step's result) is on the serial chain: a + x[k] + T[s]
// and the b-free terms are ready before b is, leaving one or two operations before the add.
function md5Step(f: FunctionBody, s: number, [a, b, c, d]: readonly [number, number, number, number]): void {
  f.get(a).get(P).i32Load(4 * md5Word(s)).op(OP.add).i32(MD5_T[s]!).op(OP.add);
  switch (s >> 4) {
    case 0: f.get(d).get(b).get(c).get(d).op(OP.xor, OP.and, OP.xor); break; // F = d ^ (b & (c ^ d))
    case 1: // G = (b & d) | (c & ~d), as a sum of its two disjoint halves
      f.get(c).get(d).i32(-1).op(OP.xor, OP.and, OP.add).get(b).get(d).op(OP.and); break;
    case 2: f.get(c).get(d).op(OP.xor).get(b).op(OP.xor); break; // H = b ^ c ^ d
    default: f.get(d).i32(-1).op(OP.xor).get(b).op(OP.or).get(c).op(OP.xor); break; // I = c ^ (b | ~d)
  }
  f.op(OP.add).i32(MD5_SHIFT[(s >> 4) * 4 + (s & 3)]!).op(OP.rotl).get(b).op(OP.add).set(a);
}

// RC4 keystream byte number k (0..63) of the 64 at Q; every fourth byte, XOR the word at Q+k-3.
function rc4Step(f: FunctionBody, k: number): void {
  f.get(RI).i32(1).op(OP.add).i32(255).op(OP.and).tee(RI).i32Load8(S_BOX).tee(SI);
  f.get(RJ).op(OP.add).i32(255).op(OP.and).tee(RJ).i32Load8(S_BOX).set(SJ);
  f.get(RI).get(SJ).i32Store8(S_BOX);
  f.get(RJ).get(SI).i32Store8(S_BOX);
  f.get(SI).get(SJ).op(OP.add).i32(255).op(OP.and).i32Load8(S_BOX);
  if ((k & 3) === 0) f.set(KS);
  else f.i32(8 * (k & 3)).op(OP.shl).get(KS).op(OP.or).set(KS);
  if ((k & 3) === 3) f.get(Q).get(Q).i32Load(k - 3).get(KS).op(OP.xor).i32Store(k - 3);
}

// blocks(P, Q, NB): NB MD5 blocks from P into STATE; with `withRc4`, also 64 RC4 bytes at Q per
// block, in place, one RC4 byte beside each MD5 step. Safe orders: Q at least 64 bytes ahead of P
// (UNSEAL: decrypt, then hash), or Q = P - 60 (SEAL: the RC4 bytes written while block P is
// hashed are the previous block's last 60 and this block's word 0, whose last read, step 48,
// comes before step 63's write).
function blocksFn(withRc4: boolean): FunctionBody {
  const f = new FunctionBody([I32, I32, I32]);
  for (let i = 0; i < BLOCK_LOCALS; i++) f.local(I32);
  for (let k = 0; k < 4; k++) f.i32(0).i32Load(STATE + 4 * k).set(A + k);
  if (withRc4) f.i32(0).i32Load(RC4_IJ).set(RI).i32(0).i32Load(RC4_IJ + 4).set(RJ);
  f.op(OP.block, 0x40, OP.loop, 0x40);
  f.get(NB).op(OP.eqz, OP.br_if, 1);
  const order = [A, B, C, D];
  for (let s = 0; s < 64; s++) {
    const r = (4 - (s & 3)) & 3; // step s works on (a, b, c, d) rotated right by s
    md5Step(f, s, [order[r]!, order[(r + 1) & 3]!, order[(r + 2) & 3]!, order[(r + 3) & 3]!]);
    if (withRc4) rc4Step(f, s);
  }
  for (let k = 0; k < 4; k++) f.i32(0).get(A + k).i32(0).i32Load(STATE + 4 * k).op(OP.add).tee(A + k).i32Store(STATE + 4 * k);
  f.get(P).i32(64).op(OP.add).set(P);
  if (withRc4) f.get(Q).i32(64).op(OP.add).set(Q);
  f.get(NB).i32(1).op(OP.sub).set(NB);
  f.op(OP.br, 0, OP.end, OP.end);
  if (withRc4) f.i32(0).get(RI).i32Store(RC4_IJ).i32(0).get(RJ).i32Store(RC4_IJ + 4);
  return f;
}

// rc4(Q, N): N RC4 bytes at Q, in place, one at a time (the few bytes around the fused runs).
function rc4Fn(): FunctionBody {
  const q = 0, n = 1, i = 2, j = 3, si = 4, sj = 5;
  const f = new FunctionBody([I32, I32]);
  for (let l = 0; l < 4; l++) f.local(I32);
  f.i32(0).i32Load(RC4_IJ).set(i).i32(0).i32Load(RC4_IJ + 4).set(j);
  f.op(OP.block, 0x40, OP.loop, 0x40);
  f.get(n).op(OP.eqz, OP.br_if, 1);
  f.get(i).i32(1).op(OP.add).i32(255).op(OP.and).tee(i).i32Load8(S_BOX).tee(si);
  f.get(j).op(OP.add).i32(255).op(OP.and).tee(j).i32Load8(S_BOX).set(sj);
  f.get(i).get(sj).i32Store8(S_BOX);
  f.get(j).get(si).i32Store8(S_BOX);
  f.get(q).get(q).i32Load8(0).get(si).get(sj).op(OP.add).i32(255).op(OP.and).i32Load8(S_BOX).op(OP.xor).i32Store8(0);
  f.get(q).i32(1).op(OP.add).set(q);
  f.get(n).i32(1).op(OP.sub).set(n);
  f.op(OP.br, 0, OP.end, OP.end);
  f.i32(0).get(i).i32Store(RC4_IJ).i32(0).get(j).i32Store(RC4_IJ + 4);
  return f;
}

function kernelModule(): Uint8Array {
  // One page: the module has no memory.grow, so the views below stay valid.
  return buildModule(1, [
    { name: 'fused', body: blocksFn(true) },
    { name: 'md5', body: blocksFn(false) },
    { name: 'rc4', body: rc4Fn() },
  ]);
}

interface Exports {
  fused(p: number, q: number, nb: number): void;
  md5(p: number, q: number, nb: number): void;
  rc4(q: number, n: number): void;
  memory: { readonly buffer: ArrayBuffer };
}

let kernel: { x: Exports; mem: Uint8Array; m32: Int32Array } | null = null;

function instance(): { x: Exports; mem: Uint8Array; m32: Int32Array } {
  if (kernel) return kernel;
  const exports = instantiate(kernelModule());
  if (exports === undefined) throw new SspiError(SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION, 'no WebAssembly in this runtime');
  const x = exports as unknown as Exports;
  // The memory cannot grow (no memory.grow in the module), so these views stay valid.
  kernel = { x, mem: new Uint8Array(x.memory.buffer, 0, PAGE), m32: new Int32Array(x.memory.buffer, 0, PAGE / 4) };
  return kernel;
}

let available: boolean | null = null;

/**
 * Whether the kernel can run here: WebAssembly present (not under --jitless) and a little-endian
 * host (the window's words are written through an Int32Array). Otherwise signing.ts keeps to
 * the JS RC4 and HMAC.
 */
export function sealKernelAvailable(): boolean {
  if (available === null) {
    try {
      available = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 && instance() !== null;
    } catch {
      available = false;
    }
  }
  return available;
}

// ---------------------------------------------------------------------------------------------

const MD5_IV = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476];

/**
 * The RFC 2104 inner and outer MD5 states of HMAC_MD5 under `key` (at most 64 bytes; NTLM's
 * SigningKey is 16), i.e. MD5's state after the K^ipad and K^opad blocks. Secret.
 */
export function hmacMd5States(key: Uint8Array): Int32Array {
  if (key.length > 64) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'HMAC key longer than a block');
  const { x, mem, m32 } = instance();
  const out = new Int32Array(8);
  for (const [pad, at] of [[0x36, 0], [0x5c, 4]] as const) {
    mem.fill(pad, OUTER_BLOCK, OUTER_BLOCK + 64);
    for (let i = 0; i < key.length; i++) mem[OUTER_BLOCK + i] = key[i]! ^ pad;
    for (let k = 0; k < 4; k++) m32[STATE / 4 + k] = MD5_IV[k]!;
    x.md5(OUTER_BLOCK, 0, 1);
    for (let k = 0; k < 4; k++) out[at + k] = m32[STATE / 4 + k]!;
  }
  wipe(mem);
  return out;
}

// Zeroes the S-box, the MD5 states and the outer block, and `window` bytes of the window (the
// last chunk's plaintext after an UNSEAL, and its padding).
function wipe(mem: Uint8Array, window = 0): void {
  mem.fill(0, 0, WINDOW + window);
}

// MD5 padding (RFC 1321 3.1-3.2) of the `tail` bytes at `at`, for a message of `total` bytes:
// hashes the last one or two blocks into STATE.
function finish(x: Exports, mem: Uint8Array, at: number, tail: number, total: number): void {
  mem[at + tail] = 0x80;
  const blocks = tail < 56 ? 1 : 2;
  const end = at + 64 * blocks;
  mem.fill(0, at + tail + 1, end - 8);
  const bits = total * 8;
  const lo = bits >>> 0;
  const hi = Math.floor(bits / 0x100000000) >>> 0;
  for (let i = 0; i < 4; i++) {
    mem[end - 8 + i] = (lo >>> (8 * i)) & 0xff;
    mem[end - 4 + i] = (hi >>> (8 * i)) & 0xff;
  }
  x.md5(at, 0, blocks);
}

/**
 * SEAL (`seal` true) or UNSEAL of `data` in place: RC4 from the position of `rc4` (which
 * continues after the message), and HMAC_MD5(SigningKey, SeqNum || plaintext) from the
 * precomputed `states` (hmacMd5States) into digest[0..16). MS-NLMP 3.4.3 with ESS, minus the
 * signature: the caller RC4s digest[0..8) under KEY_EXCH next, with the same handle.
 */
export function sealUnsealEss(seal: boolean, data: Uint8Array, seq: number, states: Int32Array, rc4: RC4, digest: Uint8Array): void {
  const { x, mem, m32 } = instance();
  let used = 0;
  try {
    const ij = rc4.saveTo(mem, S_BOX);
    m32[RC4_IJ / 4] = ij >>> 8;
    m32[RC4_IJ / 4 + 1] = ij & 0xff;
    for (let k = 0; k < 4; k++) m32[STATE / 4 + k] = states[k]!;
    const n = data.length;
    const total = 4 + n; // the stream: SeqNum, then the message
    for (let at = 0; at < total; at += CHUNK) {
      const len = Math.min(CHUNK, total - at);
      used = Math.max(used, len + 128);
      const last = at + len === total;
      // Stream bytes [at, at+len) into the window; the first chunk starts with SeqNum (LE).
      let from = 0; // RC4 skips SeqNum
      if (at === 0) {
        m32[WINDOW / 4] = seq | 0;
        mem.set(data.subarray(0, len - 4), WINDOW + 4);
        from = 4;
      } else {
        mem.set(data.subarray(at - 4, at - 4 + len), WINDOW);
      }
      const nb = len >>> 6;
      const tail = len & 63;
      if (seal) {
        // Hash block 0 alone, then block b with RC4 over [64b - 60, 64b + 4): RC4 trails the hash
        // (the first 4 bytes of block b are loaded before the kernel writes them).
        let rc4At = from;
        if (nb > 0) {
          x.md5(WINDOW, 0, 1);
          x.rc4(WINDOW + from, 4 - from);
          if (nb > 1) x.fused(WINDOW + 64, WINDOW + 4, nb - 1);
          rc4At = 64 * (nb - 1) + 4;
        }
        if (last) finish(x, mem, WINDOW + 64 * nb, tail, 64 + total);
        x.rc4(WINDOW + rc4At, len - rc4At);
      } else {
        // Decrypt [from, 68) first, then block b with RC4 over [64b + 68, 64b + 132): RC4 leads.
        const head = Math.min(68, len);
        x.rc4(WINDOW + from, head - from);
        const f = len >= 132 ? ((len - 132) >>> 6) + 1 : 0;
        if (f > 0) x.fused(WINDOW, WINDOW + 68, f);
        const done = f > 0 ? 64 * f + 68 : head;
        x.rc4(WINDOW + done, len - done);
        x.md5(WINDOW + 64 * f, 0, nb - f);
        if (last) finish(x, mem, WINDOW + 64 * nb, tail, 64 + total);
      }
      data.set(mem.subarray(WINDOW + from, WINDOW + len), at + from - 4);
    }
    // Outer hash: MD5(K^opad || inner digest), one block from the precomputed outer state.
    for (let k = 0; k < 4; k++) m32[OUTER_BLOCK / 4 + k] = m32[STATE / 4 + k]!;
    for (let k = 0; k < 4; k++) m32[STATE / 4 + k] = states[4 + k]!;
    finish(x, mem, OUTER_BLOCK, 16, 64 + 16);
    for (let k = 0; k < 16; k++) digest[k] = mem[STATE + k]!;
    rc4.loadFrom(mem, S_BOX, (m32[RC4_IJ / 4]! << 8) | m32[RC4_IJ / 4 + 1]!);
  } finally {
    wipe(mem, used);
  }
}
