// Constant-time AES for short messages, in WebAssembly SIMD.
//
// Why: a node:crypto update() costs close to a microsecond however small the message (the call,
// two backing-store allocations), which is most of an RFC 4121 Wrap of a few bytes. This engine
// runs CBC over a handful of blocks inside one WebAssembly call, writing in place.
//
// How, without secret-indexed memory: every table lookup is an i8x16.swizzle over a 16-entry
// table held in a register (pshufb / tbl), so the time is independent of the data. The S-box's
// GF(2^8) inversion runs in the tower field GF(16)[t]/(t^2 + t + mu), where an element is a pair
// of nibbles (i, k) standing for a*i*t + k with a = 1/mu. Its inverse then needs only one-nibble
// functions and XORs (the identity behind Hamburg's "vector permute" AES, derived afresh below):
//   j = i ^ k,  io = j ^ 1/(1/i ^ a/k),  jo = i ^ 1/(1/j ^ a/k)
// and 1/io, 1/jo are GF(2)-linear coordinates of the inverse, so the affine map, the field
// isomorphism back to AES's representation and MixColumns' doubling fold into output tables
// indexed by io and jo. A nibble's 1/0 is 0x80: a later swizzle reads that as an index past the
// table and yields 0, which is exactly what the formula needs at the zero cases.
// Between rounds the state stays in the tower representation (the isomorphism is a ring map, so
// XOR mixing and the key additions carry over); keys are translated once, with the S-box's 0x63
// folded into them. Decryption uses FIPS-197's equivalent inverse cipher the same way.
// Every table is computed here and the whole S-box is checked against its definition, and the
// engine against node:crypto, before first use; on any mismatch (or no SIMD) it stays off.

import { createCipheriv } from 'node:crypto';
import { buildModule, FunctionBody, I32, instantiate, Op, Simd, V128, type ValType, type WasmMemory } from './wasm.js';

/**
 * Messages of at most this many blocks go through the engine. Measured on whole aes256-sha1
 * Wrap+Unwrap pairs against node:crypto (x86-64, Node 20): ahead up to 6 blocks, behind from 7
 * (CBC encryption is one serial chain at ~140 ns a block here; node adds ~10 ns a block to its
 * ~0.6 µs a call).
 */
export const SIMD_MAX_BLOCKS = 6;

// ---- Field arithmetic (all at load time, on public constants) ----

// Multiplication in GF(2^bits) modulo `poly` (which includes the x^bits term).
function gfMul(a: number, b: number, bits: number, poly: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) {
    if (b & 1) r ^= a;
    b >>= 1;
    a <<= 1;
    if (a & (1 << bits)) a ^= poly;
  }
  return r;
}

const gf16Mul = (a: number, b: number): number => gfMul(a, b, 4, 0x13); // z^4 + z + 1

function gf16Inv(a: number): number {
  for (let b = 1; b < 16; b++) if (gf16Mul(a, b) === 1) return b;
  return 0;
}

const gf256Mul = (a: number, b: number): number => gfMul(a, b, 8, 0x11b); // AES: x^8 + x^4 + x^3 + x + 1

const rotl8 = (v: number, n: number): number => ((v << n) | (v >> (8 - n))) & 0xff;
/** The linear part of the S-box's affine map (FIPS-197 5.1.1); the constant is 0x63. */
const affine = (v: number): number => v ^ rotl8(v, 1) ^ rotl8(v, 2) ^ rotl8(v, 3) ^ rotl8(v, 4);

interface Tables {
  /** All tables, 16 bytes each, in TABLE order. */
  bytes: Uint8Array;
  /** AES byte -> tower byte, as the images of its 8 bits (for the check of the core). */
  toTower: number[];
}

// Table slots in memory (16 bytes each, from offset 0).
const T = {
  mask: 0, inv: 1, ak: 2, // core
  inH: 3, inL: 4, s1: 5, s2: 6, d1: 7, d2: 8, e1: 9, e2: 10, f1: 11, f2: 12, // encryption
  uH: 13, uL: 14, m14a: 15, m14b: 16, m11a: 17, m11b: 18, m13a: 19, m13b: 20, m9a: 21, m9b: 22, v1: 23, v2: 24, // decryption
} as const;
const TABLE_COUNT = 25;

function deriveTables(): Tables {
  // mu with trace 1 makes t^2 + t + mu irreducible over GF(16).
  let mu = 0;
  for (let c = 1; c < 16 && mu === 0; c++) {
    let s = c;
    let p = c;
    for (let i = 0; i < 3; i++) {
      p = gf16Mul(p, p);
      s ^= p;
    }
    if (s === 1) mu = c;
  }
  const a = gf16Inv(mu);
  // Tower byte (i << 4 | k) <-> pair (u = a*i, k) standing for u*t + k.
  const fromPair = (u: number, k: number): number => (gf16Mul(mu, u) << 4) | k;
  const towerMul = (x: number, y: number): number => {
    const u1 = gf16Mul(a, x >> 4), k1 = x & 15, u2 = gf16Mul(a, y >> 4), k2 = y & 15;
    const uu = gf16Mul(u1, u2);
    return fromPair(uu ^ gf16Mul(u1, k2) ^ gf16Mul(k1, u2), gf16Mul(uu, mu) ^ gf16Mul(k1, k2));
  };
  const one = fromPair(0, 1);
  const pow = (x: number, n: number): number => {
    let r = one;
    for (let i = 0; i < n; i++) r = towerMul(r, x);
    return r;
  };
  // A root of AES's polynomial in the tower field gives the isomorphism X -> r.
  let r = -1;
  for (let c = 2; c < 256 && r < 0; c++) if ((pow(c, 8) ^ pow(c, 4) ^ pow(c, 3) ^ c ^ one) === 0) r = c;
  const basis = Array.from({ length: 8 }, (_, m) => pow(r, m));
  const linear = (cols: readonly number[], x: number): number => {
    let o = 0;
    for (let b = 0; b < 8; b++) if ((x >> b) & 1) o ^= cols[b]!;
    return o;
  };
  const phi = (x: number): number => linear(basis, x);
  const phiInv = new Uint8Array(256);
  for (let x = 0; x < 256; x++) phiInv[phi(x)] = x;
  const affineInv = new Uint8Array(256);
  for (let x = 0; x < 256; x++) affineInv[affine(x)] = x;
  const psi = (y: number): number => phi(affineInv[y]!); // decryption state map
  // The AES-domain inverse from the output coordinates c1 = 1/io, c2 = 1/jo:
  // k' = c1, u' = (c2 + (a + 1) c1) / a.
  const g = (c1: number, c2: number): number => phiInv[fromPair(gf16Mul(mu, c2 ^ gf16Mul(a ^ 1, c1)), c1)]!;
  const bytes = new Uint8Array(16 * TABLE_COUNT);
  const put = (slot: number, f: (v: number) => number): void => {
    for (let v = 0; v < 16; v++) bytes[16 * slot + v] = f(v) & 0xff;
  };
  // Output tables: index io (first) or jo (second); index 0 never occurs for a nonzero input.
  const out = (slot1: number, slot2: number, f: (v: number) => number): void => {
    put(slot1, (v) => (v === 0 ? 0 : f(g(gf16Inv(v), 0))));
    put(slot2, (v) => (v === 0 ? 0 : f(g(0, gf16Inv(v)))));
  };
  put(T.mask, () => 0x0f);
  put(T.inv, (v) => (v === 0 ? 0x80 : gf16Inv(v)));
  put(T.ak, (v) => (v === 0 ? 0x80 : gf16Mul(a, gf16Inv(v))));
  put(T.inH, (v) => phi(v << 4));
  put(T.inL, (v) => phi(v));
  out(T.s1, T.s2, (v) => phi(affine(v)));
  out(T.d1, T.d2, (v) => phi(gf256Mul(2, affine(v))));
  out(T.e1, T.e2, (v) => phi(gf256Mul(3, affine(v))));
  out(T.f1, T.f2, (v) => affine(v));
  put(T.uH, (v) => psi(v << 4));
  put(T.uL, (v) => psi(v));
  out(T.m14a, T.m14b, (v) => psi(gf256Mul(14, v)));
  out(T.m11a, T.m11b, (v) => psi(gf256Mul(11, v)));
  out(T.m13a, T.m13b, (v) => psi(gf256Mul(13, v)));
  out(T.m9a, T.m9b, (v) => psi(gf256Mul(9, v)));
  out(T.v1, T.v2, (v) => v);
  return {
    bytes,
    toTower: basis,
  };
}

/** The S-box by its definition (inverse, then affine), to check the tables against. */
function sboxByDefinition(x: number): number {
  // x^254 is x's inverse in GF(2^8) (and 0 for 0): x^2, x^4, ..., x^128, all multiplied together.
  let inv = 1;
  let p = x;
  for (let i = 1; i < 8; i++) {
    p = gf256Mul(p, p);
    inv = gf256Mul(inv, p);
  }
  return affine(inv) ^ 0x63;
}

/** The nibble core run in JS with swizzle's rules: the tables must give the S-box everywhere. */
function checkCore(t: Tables): boolean {
  const sw = (slot: number, i: number): number => (i < 16 ? t.bytes[16 * slot + i]! : 0);
  for (let x = 0; x < 256; x++) {
    let s = 0;
    for (let b = 0; b < 8; b++) if ((x >> b) & 1) s ^= t.toTower[b]!;
    const i = s >> 4, k = s & 15, j = i ^ k;
    const ak = sw(T.ak, k);
    const io = sw(T.inv, sw(T.inv, i) ^ ak) ^ j;
    const jo = sw(T.inv, sw(T.inv, j) ^ ak) ^ i;
    if ((sw(T.f1, io) ^ sw(T.f2, jo) ^ 0x63) !== sboxByDefinition(x)) return false;
  }
  return true;
}

// ---- The kernels ----

// Byte b of a 16-byte AES state is row b % 4 of column b >> 2.
const lanes = (f: (c: number, r: number) => number): number[] => Array.from({ length: 16 }, (_, b) => f(b >> 2, b & 3));
const SHIFT = lanes((c, r) => 4 * ((c + r) % 4) + r);
const INV_SHIFT = lanes((c, r) => 4 * ((c - r + 4) % 4) + r);
/** ShiftRows, then row r of each column takes row r + k: MixColumns' rotations (k = 0..3). */
const SHIFT_ROT = [0, 1, 2, 3].map((k) => lanes((c, r) => SHIFT[4 * c + ((r + k) % 4)]!));
const INV_SHIFT_ROT = [0, 1, 2, 3].map((k) => lanes((c, r) => INV_SHIFT[4 * c + ((r + k) % 4)]!));
/** Rows rotated within each column, no ShiftRows (InvMixColumns of round keys). */
const ROT = [0, 1, 2, 3].map((k) => lanes((c, r) => 4 * c + ((r + k) % 4)));

// Memory: tables at 0, the I/O area (IV, then blocks) at IO, key slots from KEYS.
const IO = 1024;
const IO_BYTES = 16 + 16 * SIMD_MAX_BLOCKS;
// One block for a raw AES^-1 (CBC with the zero IV kept before it, never written).
const SPARE = IO + IO_BYTES + 16;
// Where a key is expanded (15 round keys at most); zeroed before the set-up returns.
const STAGE = SPARE + 16;
const STAGE_BYTES = 240;
const KEYS = 2048;
if (16 * TABLE_COUNT > IO || STAGE + STAGE_BYTES > KEYS) throw new Error('aes-simd memory layout overlaps'); // tables, I/O, spare, stage, keys
const SLOT = 512; // encryption schedule at +0, decryption schedule at +256 (15 round keys max each)
const DEC = 256;

type Loc = number;

class Emitter {
  readonly f: FunctionBody;
  readonly t: Record<keyof typeof T, Loc>;

  constructor(params: readonly ValType[], results: readonly ValType[] = []) {
    this.f = new FunctionBody(params, results);
    const t = {} as Record<keyof typeof T, Loc>;
    for (const name of Object.keys(T) as (keyof typeof T)[]) {
      t[name] = this.f.local(V128);
      this.f.i32(16 * T[name]).v128Load().set(t[name]);
    }
    this.t = t;
  }

  v(): Loc {
    return this.f.local(V128);
  }
  xor(d: Loc, a: Loc, b: Loc): void {
    this.f.get(a).get(b).simd(Simd.xor).set(d);
  }
  sw(d: Loc, table: Loc, idx: Loc): void {
    this.f.get(table).get(idx).simd(Simd.swizzle).set(d);
  }
  /** d = table1[io] ^ table2[jo] */
  pair(d: Loc, t1: Loc, t2: Loc, io: Loc, jo: Loc): void {
    this.f.get(t1).get(io).simd(Simd.swizzle).get(t2).get(jo).simd(Simd.swizzle).simd(Simd.xor).set(d);
  }
  /** hi, lo nibbles of every byte of s. */
  split(hi: Loc, lo: Loc, s: Loc): void {
    this.f.get(s).i32(4).simd(Simd.i16x8ShrU).get(this.t.mask).simd(Simd.and).set(hi);
    this.f.get(s).get(this.t.mask).simd(Simd.and).set(lo);
  }
  /** A linear map given by nibble tables: d = th[hi(x)] ^ tl[lo(x)]. */
  map(d: Loc, th: Loc, tl: Loc, x: Loc, hi: Loc, lo: Loc): void {
    this.split(hi, lo, x);
    this.pair(d, th, tl, hi, lo);
  }
  /** The inversion core on a tower-represented state: (io, jo). */
  core(io: Loc, jo: Loc, s: Loc, tmp: { i: Loc; k: Loc; j: Loc; ak: Loc; x: Loc; y: Loc }): void {
    const { i, k, j, ak, x, y } = tmp;
    const t = this.t;
    this.split(i, k, s);
    this.sw(ak, t.ak, k);
    this.xor(j, i, k);
    this.f.get(t.inv).get(i).simd(Simd.swizzle).get(ak).simd(Simd.xor).set(x); // 1/i ^ a/k
    this.f.get(t.inv).get(j).simd(Simd.swizzle).get(ak).simd(Simd.xor).set(y); // 1/j ^ a/k
    this.f.get(t.inv).get(x).simd(Simd.swizzle).get(j).simd(Simd.xor).set(io);
    this.f.get(t.inv).get(y).simd(Simd.swizzle).get(i).simd(Simd.xor).set(jo);
  }
  /**
   * d = XOR of the (vector, lanes) shuffles and the round key at key + off, as a balanced tree
   * (the key first, as it is ready long before the round's values): the XORs are on the critical
   * path of a CBC encryption, which is one long dependency chain.
   */
  mix(d: Loc, parts: [Loc, number[]][], key: Loc, off: number): void {
    const f = this.f;
    const shuf = ([src, perm]: [Loc, number[]]): void => void f.get(src).get(src).shuffle(perm);
    if (parts.length === 4) {
      f.get(key).v128Load(off);
      shuf(parts[2]!);
      f.simd(Simd.xor);
      shuf(parts[3]!);
      f.simd(Simd.xor);
      shuf(parts[0]!);
      shuf(parts[1]!);
      f.simd(Simd.xor).simd(Simd.xor).set(d);
      return;
    }
    for (const part of parts) shuf(part);
    for (let i = 1; i < parts.length; i++) f.simd(Simd.xor);
    f.get(key).v128Load(off).simd(Simd.xor).set(d);
  }
  /** If `flag` is set, swap the two blocks before `end`. */
  swapLast(flag: Loc, end: Loc): void {
    const f = this.f;
    const q = f.local(I32), x = this.v();
    f.block();
    f.get(flag).op(Op.i32Eqz).brIf(0);
    f.get(end).i32(32).op(Op.i32Sub).set(q);
    f.get(q).v128Load(0).set(x);
    f.get(q).get(q).v128Load(16).v128Store(0);
    f.get(q).get(x).v128Store(16);
    f.end();
  }
  temps(): { i: Loc; k: Loc; j: Loc; ak: Loc; x: Loc; y: Loc } {
    return { i: this.v(), k: this.v(), j: this.v(), ak: this.v(), x: this.v(), y: this.v() };
  }
}

/**
 * CBC encryption in place of the blocks at [p, end), IV at p - 16: (key, p, end, swap, rounds).
 * With swap set, the last two blocks trade places afterwards: ciphertext stealing's (CS3) order.
 * The rounds are a loop over the round keys (unrolled, the module was ten times the size and
 * took ~20 ms of cold JS to emit, for no measurable speed).
 */
function encryptKernel(): FunctionBody {
  const e = new Emitter([I32, I32, I32, I32, I32]);
  const { f, t } = e;
  const [key, p, end, swap, rounds] = [0, 1, 2, 3, 4];
  const kp = f.local(I32), kend = f.local(I32);
  const prev = e.v(), s = e.v(), io = e.v(), jo = e.v(), sv = e.v(), dv = e.v(), ev = e.v(), hi = e.v(), lo = e.v();
  const tmp = e.temps();
  f.get(key).get(rounds).i32(4).op(Op.i32Shl).op(Op.i32Add).set(kend);
  f.get(p).i32(16).op(Op.i32Sub).v128Load().set(prev);
  f.loop();
  f.get(p).v128Load().get(prev).simd(Simd.xor).set(s);
  e.map(s, t.inH, t.inL, s, hi, lo);
  f.get(s).get(key).v128Load(0).simd(Simd.xor).set(s);
  f.get(key).i32(16).op(Op.i32Add).set(kp);
  f.loop();
  e.core(io, jo, s, tmp);
  e.pair(sv, t.s1, t.s2, io, jo);
  e.pair(dv, t.d1, t.d2, io, jo);
  e.pair(ev, t.e1, t.e2, io, jo); // 3S from its own tables rather than 2S ^ S: one step less
  e.mix(s, [[dv, SHIFT_ROT[0]!], [ev, SHIFT_ROT[1]!], [sv, SHIFT_ROT[2]!], [sv, SHIFT_ROT[3]!]], kp, 0);
  f.get(kp).i32(16).op(Op.i32Add).tee(kp).get(kend).op(Op.i32LtU).brIf(0);
  f.end();
  e.core(io, jo, s, tmp);
  e.pair(sv, t.f1, t.f2, io, jo);
  e.mix(prev, [[sv, SHIFT]], kend, 0);
  f.get(p).get(prev).v128Store();
  f.get(p).i32(16).op(Op.i32Add).tee(p).get(end).op(Op.i32LtU).brIf(0);
  f.end();
  e.swapLast(swap, end);
  return f;
}

/**
 * CBC decryption in place of the blocks at [p, end), IV at p - 16: (key, p, end, swap, rounds);
 * with swap set, the last two blocks first trade places (from CS3 order back to CBC order). The
 * blocks are independent, so WIDTH of them run side by side (one round of each in turn): one
 * block's rounds are a chain of dependent instructions, and the others fill the gaps. The rest
 * go by 2, then 1.
 */
const WIDTH = 3;

function decryptKernel(): FunctionBody {
  const e = new Emitter([I32, I32, I32, I32, I32]);
  const { f, t } = e;
  const [key, p, end, swap, rounds] = [0, 1, 2, 3, 4];
  const kp = f.local(I32), kend = f.local(I32);
  e.swapLast(swap, end);
  const lane = () => ({
    c: e.v(), s: e.v(), io: e.v(), jo: e.v(), hi: e.v(), lo: e.v(),
    m14: e.v(), m11: e.v(), m13: e.v(), m9: e.v(), tmp: e.temps(),
  });
  type Lane = ReturnType<typeof lane>;
  const prev = e.v();
  const blocks = Array.from({ length: WIDTH }, lane);
  const first = (l: Lane, off: number): void => {
    f.get(p).v128Load(off).set(l.c);
    e.map(l.s, t.uH, t.uL, l.c, l.hi, l.lo);
    f.get(l.s).get(key).v128Load(DEC).simd(Simd.xor).set(l.s);
  };
  const round = (l: Lane): void => {
    e.core(l.io, l.jo, l.s, l.tmp);
    e.pair(l.m14, t.m14a, t.m14b, l.io, l.jo);
    e.pair(l.m11, t.m11a, t.m11b, l.io, l.jo);
    e.pair(l.m13, t.m13a, t.m13b, l.io, l.jo);
    e.pair(l.m9, t.m9a, t.m9b, l.io, l.jo);
    e.mix(l.s, [[l.m14, INV_SHIFT_ROT[0]!], [l.m11, INV_SHIFT_ROT[1]!], [l.m13, INV_SHIFT_ROT[2]!], [l.m9, INV_SHIFT_ROT[3]!]], kp, 0);
  };
  const last = (l: Lane): void => {
    e.core(l.io, l.jo, l.s, l.tmp);
    e.pair(l.s, t.v1, t.v2, l.io, l.jo);
    e.mix(l.s, [[l.s, INV_SHIFT]], kend, 0);
  };
  // k blocks side by side from p, each XORed with the ciphertext before it; p moves past them.
  const group = (k: number): void => {
    const ls = blocks.slice(0, k);
    ls.forEach((l, i) => first(l, 16 * i));
    f.get(key).i32(DEC + 16).op(Op.i32Add).set(kp);
    f.loop();
    for (const l of ls) round(l);
    f.get(kp).i32(16).op(Op.i32Add).tee(kp).get(kend).op(Op.i32LtU).brIf(0);
    f.end();
    for (const l of ls) last(l);
    ls.forEach((l, i) => f.get(p).get(l.s).get(i === 0 ? prev : ls[i - 1]!.c).simd(Simd.xor).v128Store(16 * i));
    f.get(ls[k - 1]!.c).set(prev);
    f.get(p).i32(16 * k).op(Op.i32Add).set(p);
  };
  f.get(key).i32(DEC).op(Op.i32Add).get(rounds).i32(4).op(Op.i32Shl).op(Op.i32Add).set(kend);
  f.get(p).i32(16).op(Op.i32Sub).v128Load().set(prev);
  f.block().loop();
  f.get(p).i32(16 * WIDTH).op(Op.i32Add).get(end).op(Op.i32GtU).brIf(1);
  group(WIDTH);
  f.br(0).end().end();
  for (let k = WIDTH - 1; k >= 1; k--) {
    f.block();
    f.get(p).i32(16 * k).op(Op.i32Add).get(end).op(Op.i32GtU).brIf(0);
    group(k);
    f.end();
  }
  return f;
}

/** Zero [p, end) (whole blocks): (p, end). Inside the module: fill() on its memory is a slow call. */
function wipeKernel(): FunctionBody {
  const f = new FunctionBody([I32, I32]);
  const zero = f.local(V128);
  f.i32(0).simd(Simd.i32x4Splat).set(zero);
  f.loop();
  f.get(0).get(zero).v128Store();
  f.get(0).i32(16).op(Op.i32Add).tee(0).get(1).op(Op.i32LtU).brIf(0);
  f.end();
  return f;
}

/**
 * Key set-up for a `nk`-word key placed at STAGE: (slot). FIPS-197 5.2's expansion runs in STAGE
 * (the S-box through the same core, on a splat word: no lookups by key bytes), then every round key
 * is written to the slot in the form its kernel reads, and STAGE is zeroed.
 *   encryption: T(w0), T(w_r ^ 63) for r = 1..Nr-1, w_Nr ^ 63 (AES form, as the last round's tables)
 *   decryption (equivalent inverse cipher): U(w_Nr ^ 63), U(InvMixColumns(w_r) ^ 63) for
 *   r = Nr-1..1, w_0; U is the decryption state's map.
 */
function keyKernel(nk: number): FunctionBody {
  const rounds = nk + 6;
  const e = new Emitter([I32]);
  const { f, t } = e;
  const slot = 0;
  const tmp = e.temps();
  const word = f.local(I32);
  const s = e.v(), io = e.v(), jo = e.v(), hi = e.v(), lo = e.v();
  const c63 = e.v(), c1b = e.v(), x = e.v(), x2 = e.v(), x4 = e.v(), x8 = e.v(), acc = e.v();
  f.i32(0x63636363).simd(Simd.i32x4Splat).set(c63);
  f.i32(0x1b1b1b1b).simd(Simd.i32x4Splat).set(c1b);
  // Expansion: word i at STAGE + 4i (little-endian, so RotWord is a rotate right by 8).
  let rcon = 1;
  for (let i = nk; i < 4 * (rounds + 1); i++) {
    f.i32(STAGE).i32Load(4 * (i - 1)).set(word);
    if (i % nk === 0) f.get(word).i32(8).op(Op.i32Rotr).set(word);
    if (i % nk === 0 || (nk > 6 && i % nk === 4)) {
      f.get(word).simd(Simd.i32x4Splat).set(s);
      e.map(s, t.inH, t.inL, s, hi, lo);
      e.core(io, jo, s, tmp);
      e.pair(s, t.f1, t.f2, io, jo);
      f.get(s).simd(Simd.i32x4ExtractLane).code.push(0);
      f.i32(0x63636363 ^ (i % nk === 0 ? rcon : 0)).op(Op.i32Xor).set(word);
      if (i % nk === 0) rcon = ((rcon << 1) ^ (rcon & 0x80 ? 0x1b : 0)) & 0xff; // public constants
    }
    f.i32(STAGE).i32(STAGE).i32Load(4 * (i - nk)).get(word).op(Op.i32Xor).i32Store(4 * i);
  }
  const roundKey = (r: number): void => void f.i32(STAGE).v128Load(16 * r).set(x);
  const store = (off: number): void => void f.get(slot).get(x).v128Store(off);
  // Encryption schedule.
  for (let r = 0; r <= rounds; r++) {
    roundKey(r);
    if (r > 0) f.get(x).get(c63).simd(Simd.xor).set(x);
    if (r < rounds) e.map(x, t.inH, t.inL, x, hi, lo);
    store(16 * r);
  }
  // Decryption schedule. InvMixColumns(a) = 14a ^ 11a' ^ 13a'' ^ 9a''' (rows rotated within
  // columns), from doublings without branches: xtime(v) = (v + v) ^ (0x1b where the top bit was set).
  const xtime = (d: Loc, v: Loc): void => {
    f.get(v).get(v).simd(Simd.i8x16Add);
    f.get(v).i32(7).simd(Simd.i8x16ShrS).get(c1b).simd(Simd.and);
    f.simd(Simd.xor).set(d);
  };
  const multiple = (parts: Loc[], k: number, first: boolean): void => {
    f.get(parts[0]!);
    for (const p of parts.slice(1)) f.get(p).simd(Simd.xor);
    f.set(acc);
    f.get(acc).get(acc).shuffle(ROT[k]!);
    if (!first) f.simd(Simd.xor);
  };
  for (let r = 0; r <= rounds; r++) {
    roundKey(rounds - r);
    if (r > 0 && r < rounds) {
      xtime(x2, x);
      xtime(x4, x2);
      xtime(x8, x4);
      multiple([x8, x4, x2], 0, true); // 14
      multiple([x8, x2, x], 1, false); // 11
      multiple([x8, x4, x], 2, false); // 13
      multiple([x8, x], 3, false); // 9
      f.set(x);
    }
    if (r < rounds) {
      f.get(x).get(c63).simd(Simd.xor).set(x);
      e.map(x, t.uH, t.uL, x, hi, lo);
    }
    store(DEC + 16 * r);
  }
  // Leave no key material behind.
  f.i32(0).simd(Simd.i32x4Splat).set(x);
  for (let o = 0; o < STAGE_BYTES; o += 16) f.i32(STAGE).get(x).v128Store(o);
  return f;
}

// ---- The engine: one instance per thread, key schedules in slots ----

interface Exports {
  memory: WasmMemory;
  enc(key: number, p: number, end: number, swap: number, rounds: number): void;
  dec(key: number, p: number, end: number, swap: number, rounds: number): void;
  key4(slot: number): void;
  key8(slot: number): void;
  wipe(p: number, end: number): void;
}

class Engine {
  readonly x: Exports;
  #u8: Uint8Array;
  readonly #free: number[] = [];
  #slots = 0;

  constructor(tables: Tables) {
    const bytes = buildModule(1, [
      { name: 'enc', body: encryptKernel() },
      { name: 'dec', body: decryptKernel() },
      { name: 'key4', body: keyKernel(4) },
      { name: 'key8', body: keyKernel(8) },
      { name: 'wipe', body: wipeKernel() },
    ]);
    const exports = instantiate(bytes);
    if (exports === undefined) throw new Error('no WebAssembly SIMD');
    this.x = exports as unknown as Exports;
    this.#u8 = new Uint8Array(this.x.memory.buffer);
    this.#u8.set(tables.bytes, 0);
  }

  get u8(): Uint8Array {
    return this.#u8;
  }

  // Views of the first `len` bytes of the I/O blocks, made once per length (a view costs an
  // allocation, and the copies in and out are a large share of a short message's time).
  #views: Uint8Array[] = [];
  view(len: number): Uint8Array {
    return (this.#views[len] ??= new Uint8Array(this.#u8.buffer, IO + 16, len));
  }

  alloc(): number {
    const free = this.#free.pop();
    if (free !== undefined) return free;
    const at = KEYS + SLOT * this.#slots;
    if (at + SLOT > this.x.memory.buffer.byteLength) {
      this.x.memory.grow(1);
      this.#u8 = new Uint8Array(this.x.memory.buffer);
      this.#views = []; // growing detached the old buffer
    }
    this.#slots++;
    return at;
  }

  release(slot: number): void {
    this.x.wipe(slot, slot + SLOT);
    this.#free.push(slot);
  }

  /** Expand `key` (FIPS-197 5.2) into the slot, in the forms the kernels read (keyKernel). */
  schedule(slot: number, key: Uint8Array): void {
    this.#u8.set(key, STAGE);
    if (key.length === 16) this.x.key4(slot);
    else this.x.key8(slot);
  }
}

let engine: Engine | null | undefined;

function selfTest(e: Engine): boolean {
  // One AES-128 and one AES-256 CBC message of three blocks, both ways, against node:crypto.
  for (const len of [16, 32]) {
    const key = Uint8Array.from({ length: len }, (_, i) => (i * 37 + 11) & 0xff);
    const iv = Uint8Array.from({ length: 16 }, (_, i) => (i * 53 + 7) & 0xff);
    const pt = Uint8Array.from({ length: 48 }, (_, i) => (i * 29 + 3) & 0xff);
    const c = createCipheriv(len === 16 ? 'aes-128-cbc' : 'aes-256-cbc', key, iv).setAutoPadding(false);
    const want = c.update(pt);
    const k = new SimdAes(key, e);
    try {
      const m = k.memory;
      m.set(iv, IO);
      m.set(pt, IO + 16);
      k.encrypt(3);
      if (!want.equals(k.view(48))) return false;
      m.set(iv, IO);
      k.decrypt(3);
      if (!Buffer.from(pt).equals(k.view(48))) return false;
      k.wipeIo(64);
    } finally {
      k.destroy();
    }
  }
  return true;
}

function getEngine(): Engine | null {
  if (engine !== undefined) return engine;
  engine = null;
  if (process.env.TSLSA_SIMD_AES === '0') return null;
  try {
    const tables = deriveTables();
    if (!checkCore(tables)) return null;
    const e = new Engine(tables);
    if (selfTest(e)) engine = e;
  } catch {
    // No WebAssembly SIMD here: the node:crypto path serves every message.
    engine = null;
  }
  return engine;
}

/** Whether the engine runs here (SIMD present, self-test passed, not turned off). */
export function simdAesAvailable(): boolean {
  return getEngine() !== null;
}

// A schedule whose owner was collected without destroy() is still zeroed and its slot reused.
const slots = new FinalizationRegistry<{ e: Engine; slot: number }>(({ e, slot }) => e.release(slot));

/**
 * One AES key in the engine. Messages go through the shared I/O area of `memory`: the caller
 * writes the IV at ioOffset and the blocks after it, calls encrypt(n) or decrypt(n), and reads
 * the blocks back in place (view(len) is a ready view of them). The area is shared by every key
 * on this thread, so nothing secret may be left in it across calls: wipeIo() clears a plaintext
 * the caller has copied out.
 */
export class SimdAes {
  readonly #e: Engine;
  #slot: number;
  readonly #rounds: number;
  readonly #token = {};

  static readonly ioOffset = IO;
  /** Where decryptSpare() works: one block, its zero IV just before it. */
  static readonly spareOffset = SPARE;

  /** Use SimdAes.create(), which answers undefined where the engine is off. */
  constructor(key: Uint8Array, e: Engine) {
    this.#e = e;
    this.#slot = e.alloc();
    e.schedule(this.#slot, key);
    this.#rounds = key.length === 16 ? 10 : 14;
    slots.register(this, { e, slot: this.#slot }, this.#token);
  }

  /** A key in the engine; undefined where the engine is off, or when its memory cannot grow. */
  static create(key: Uint8Array): SimdAes | undefined {
    const e = getEngine();
    if (e === null || (key.length !== 16 && key.length !== 32)) return undefined;
    try {
      return new SimdAes(key, e);
    } catch (err) {
      // memory.grow refused (the 4 GiB ceiling, or the host out of memory): node:crypto serves
      // this key instead, rather than a message call failing.
      if (err instanceof RangeError) return undefined;
      throw err;
    }
  }

  /** The engine's whole memory (changes when it grows: fetch it per message). */
  get memory(): Uint8Array {
    return this.#e.u8;
  }

  /** The first `len` bytes of the I/O blocks (1..16 * SIMD_MAX_BLOCKS). */
  view(len: number): Uint8Array {
    return this.#e.view(len);
  }

  /**
   * CBC-encrypt n blocks (1..SIMD_MAX_BLOCKS) of the I/O area in place; with `swap`, the last two
   * then trade places (CS3 order).
   */
  encrypt(n: number, swap = false): void {
    checkBlocks(n, swap);
    this.#e.x.enc(this.#live(), IO + 16, IO + 16 + 16 * n, swap ? 1 : 0, this.#rounds);
  }

  /** CBC-decrypt n blocks of the I/O area in place; with `swap`, the last two first trade places. */
  decrypt(n: number, swap = false): void {
    checkBlocks(n, swap);
    this.#e.x.dec(this.#live(), IO + 16, IO + 16 + 16 * n, swap ? 1 : 0, this.#rounds);
  }

  /** Raw AES^-1 of the block at spareOffset, in place. */
  decryptSpare(): void {
    this.#e.x.dec(this.#live(), SPARE, SPARE + 16, 0, this.#rounds);
  }

  /** Zero the I/O area's first `bytes` bytes (rounded up to blocks) and the spare block. */
  wipeIo(bytes: number): void {
    const w = this.#e.x.wipe;
    w(IO, IO + Math.min(16 * Math.ceil(bytes / 16), IO_BYTES));
    w(SPARE, SPARE + 16);
  }

  /** Where this key's schedules sit in memory (-1 once destroyed); for tests of the wiping. */
  get slot(): number {
    return this.#slot;
  }

  /** Zero the schedules and give the slot back. */
  destroy(): void {
    if (this.#slot < 0) return;
    slots.unregister(this.#token);
    this.#e.release(this.#slot);
    this.#slot = -1;
  }

  #live(): number {
    if (this.#slot < 0) throw new Error('SimdAes used after destroy');
    return this.#slot;
  }
}

// The kernels run at least one block and trust their bounds: a count outside the I/O area would
// read or write other keys' schedules.
function checkBlocks(n: number, swap: boolean): void {
  if (!Number.isInteger(n) || n < (swap ? 2 : 1) || n > SIMD_MAX_BLOCKS) throw new RangeError(`block count ${n} outside ${swap ? 2 : 1}..${SIMD_MAX_BLOCKS}`);
}
