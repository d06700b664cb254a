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

/** Messages of at most this many blocks go through the engine (measured crossover, see bench). */
export const SIMD_MAX_BLOCKS = 8;

// ---- Field arithmetic (all at load time, on public constants) ----

function gf16Mul(a: number, b: number): number {
  let r = 0;
  for (let i = 0; i < 4; i++) {
    if (b & 1) r ^= a;
    b >>= 1;
    a <<= 1;
    if (a & 0x10) a ^= 0x13; // z^4 + z + 1
  }
  return r;
}

function gf16Inv(a: number): number {
  for (let b = 1; b < 16; b++) if (gf16Mul(a, b) === 1) return b;
  return 0;
}

function gf256Mul(a: number, b: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) {
    if (b & 1) r ^= a;
    b >>= 1;
    a <<= 1;
    if (a & 0x100) a ^= 0x11b; // AES: x^8 + x^4 + x^3 + x + 1
  }
  return r;
}

const rotl8 = (v: number, n: number): number => ((v << n) | (v >> (8 - n))) & 0xff;
/** The linear part of the S-box's affine map (FIPS-197 5.1.1); the constant is 0x63. */
const affine = (v: number): number => v ^ rotl8(v, 1) ^ rotl8(v, 2) ^ rotl8(v, 3) ^ rotl8(v, 4);

interface Tables {
  /** All tables, 16 bytes each, in TABLE order. */
  bytes: Uint8Array;
  /** AES byte -> tower byte (encryption state) and -> decryption state, as 8 basis images. */
  toTower: number[];
  toInvTower: number[];
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
    toInvTower: Array.from({ length: 8 }, (_, b) => psi(1 << b)),
  };
}

/** The S-box by its definition (inverse, then affine), to check the tables against. */
function sboxByDefinition(x: number): number {
  let inv = 0;
  for (let y = 1; y < 256 && x !== 0; y++) if (gf256Mul(x, y) === 1) inv = y;
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
/** ShiftRows, then row r of each column takes row r + k: MixColumns' rotations. */
const shiftRot = (k: number): number[] => lanes((c, r) => SHIFT[4 * c + ((r + k) % 4)]!);
const invShiftRot = (k: number): number[] => lanes((c, r) => INV_SHIFT[4 * c + ((r + k) % 4)]!);

// Memory: tables at 0, the I/O area (IV, then blocks) at IO, key slots from KEYS.
const IO = 1024;
const IO_BYTES = 16 + 16 * SIMD_MAX_BLOCKS;
// One block for a raw AES^-1 (CBC with the zero IV kept before it, never written).
const SPARE = IO + IO_BYTES + 16;
const KEYS = 2048;
if (16 * TABLE_COUNT > IO || SPARE + 16 > KEYS) throw new Error('aes-simd memory layout overlaps'); // tables, I/O, spare, keys
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
 * CBC encryption in place of the blocks at [p, end), IV at p - 16: (key, p, end, swap). With swap
 * set, the last two blocks trade places afterwards: ciphertext stealing's (CS3) order.
 */
function encryptKernel(rounds: number): FunctionBody {
  const e = new Emitter([I32, I32, I32, I32]);
  const { f, t } = e;
  const [key, p, end, swap] = [0, 1, 2, 3];
  const prev = e.v(), s = e.v(), io = e.v(), jo = e.v(), sv = e.v(), dv = e.v(), ev = e.v(), hi = e.v(), lo = e.v();
  const tmp = e.temps();
  f.get(p).i32(16).op(Op.i32Sub).v128Load().set(prev);
  f.loop();
  f.get(p).v128Load().get(prev).simd(Simd.xor).set(s);
  e.map(s, t.inH, t.inL, s, hi, lo);
  f.get(s).get(key).v128Load(0).simd(Simd.xor).set(s);
  for (let r = 1; r < rounds; r++) {
    e.core(io, jo, s, tmp);
    e.pair(sv, t.s1, t.s2, io, jo);
    e.pair(dv, t.d1, t.d2, io, jo);
    e.pair(ev, t.e1, t.e2, io, jo); // 3S from its own tables rather than 2S ^ S: one step less
    e.mix(s, [[dv, shiftRot(0)], [ev, shiftRot(1)], [sv, shiftRot(2)], [sv, shiftRot(3)]], key, 16 * r);
  }
  e.core(io, jo, s, tmp);
  e.pair(sv, t.f1, t.f2, io, jo);
  e.mix(prev, [[sv, SHIFT]], key, 16 * rounds);
  f.get(p).get(prev).v128Store();
  f.get(p).i32(16).op(Op.i32Add).tee(p).get(end).op(Op.i32LtU).brIf(0);
  f.end();
  e.swapLast(swap, end);
  return f;
}

/**
 * CBC decryption in place of the blocks at [p, end), IV at p - 16: (key, p, end, swap); with swap
 * set, the last two blocks first trade places (from CS3 order back to CBC order). The blocks are
 * independent, so WIDTH of them run side by side (one round of each in turn): one block's rounds
 * are a chain of dependent instructions, and the others fill the gaps. The rest go by 2, then 1.
 */
const WIDTH = 3;

function decryptKernel(rounds: number): FunctionBody {
  const e = new Emitter([I32, I32, I32, I32]);
  const { f, t } = e;
  const [key, p, end, swap] = [0, 1, 2, 3];
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
  const round = (l: Lane, r: number): void => {
    e.core(l.io, l.jo, l.s, l.tmp);
    e.pair(l.m14, t.m14a, t.m14b, l.io, l.jo);
    e.pair(l.m11, t.m11a, t.m11b, l.io, l.jo);
    e.pair(l.m13, t.m13a, t.m13b, l.io, l.jo);
    e.pair(l.m9, t.m9a, t.m9b, l.io, l.jo);
    e.mix(l.s, [[l.m14, invShiftRot(0)], [l.m11, invShiftRot(1)], [l.m13, invShiftRot(2)], [l.m9, invShiftRot(3)]], key, DEC + 16 * r);
  };
  const last = (l: Lane): void => {
    e.core(l.io, l.jo, l.s, l.tmp);
    e.pair(l.s, t.v1, t.v2, l.io, l.jo);
    e.mix(l.s, [[l.s, INV_SHIFT]], key, DEC + 16 * rounds);
  };
  // k blocks side by side from p, each XORed with the ciphertext before it; p moves past them.
  const group = (k: number): void => {
    const ls = blocks.slice(0, k);
    ls.forEach((l, i) => first(l, 16 * i));
    for (let r = 1; r < rounds; r++) for (const l of ls) round(l, r);
    for (const l of ls) last(l);
    ls.forEach((l, i) => f.get(p).get(l.s).get(i === 0 ? prev : ls[i - 1]!.c).simd(Simd.xor).v128Store(16 * i));
    f.get(ls[k - 1]!.c).set(prev);
    f.get(p).i32(16 * k).op(Op.i32Add).set(p);
  };
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

/** The S-box on each byte of a 32-bit word (key expansion): (word) -> word. */
function subWordKernel(): FunctionBody {
  const e = new Emitter([I32], [I32]);
  const { f, t } = e;
  const s = e.v(), io = e.v(), jo = e.v(), hi = e.v(), lo = e.v();
  f.get(0).simd(Simd.i32x4Splat).set(s);
  e.map(s, t.inH, t.inL, s, hi, lo);
  e.core(io, jo, s, e.temps());
  e.pair(s, t.f1, t.f2, io, jo);
  f.get(s).simd(Simd.i32x4ExtractLane).code.push(0);
  f.i32(0x63636363).op(0x73); // i32.xor
  return f;
}

// ---- The engine: one instance per thread, key schedules in slots ----

interface Exports {
  memory: WasmMemory;
  enc10(key: number, p: number, end: number, swap: number): void;
  enc14(key: number, p: number, end: number, swap: number): void;
  dec10(key: number, p: number, end: number, swap: number): void;
  dec14(key: number, p: number, end: number, swap: number): void;
  subWord(w: number): number;
  wipe(p: number, end: number): void;
}

class Engine {
  readonly x: Exports;
  #u8: Uint8Array;
  readonly #free: number[] = [];
  #slots = 0;
  readonly #toTower: number[];
  readonly #toInvTower: number[];

  constructor(tables: Tables) {
    const bytes = buildModule(1, [
      { name: 'enc10', body: encryptKernel(10) },
      { name: 'enc14', body: encryptKernel(14) },
      { name: 'dec10', body: decryptKernel(10) },
      { name: 'dec14', body: decryptKernel(14) },
      { name: 'subWord', body: subWordKernel() },
      { name: 'wipe', body: wipeKernel() },
    ]);
    const exports = instantiate(bytes);
    if (exports === undefined) throw new Error('no WebAssembly SIMD');
    this.x = exports as unknown as Exports;
    this.#u8 = new Uint8Array(this.x.memory.buffer);
    this.#u8.set(tables.bytes, 0);
    this.#toTower = tables.toTower;
    this.#toInvTower = tables.toInvTower;
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

  /** Expand `key` (FIPS-197 5.2) into the slot, in the representations the kernels use. */
  schedule(slot: number, key: Uint8Array): void {
    const nk = key.length / 4;
    const rounds = nk + 6;
    const w = new Uint8Array(16 * (rounds + 1));
    w.set(key);
    let rcon = 1;
    for (let i = nk; i < 4 * (rounds + 1); i++) {
      const q = 4 * (i - 1);
      let t0 = w[q]!, t1 = w[q + 1]!, t2 = w[q + 2]!, t3 = w[q + 3]!;
      if (i % nk === 0 || (nk > 6 && i % nk === 4)) {
        if (i % nk === 0) [t0, t1, t2, t3] = [t1, t2, t3, t0];
        const s = this.x.subWord(t0 | (t1 << 8) | (t2 << 16) | (t3 << 24));
        t0 = s & 0xff;
        t1 = (s >>> 8) & 0xff;
        t2 = (s >>> 16) & 0xff;
        t3 = s >>> 24;
        if (i % nk === 0) {
          t0 ^= rcon;
          rcon = gf256Mul(rcon, 2);
        }
      }
      const o = 4 * i, b = 4 * (i - nk);
      w[o] = w[b]! ^ t0;
      w[o + 1] = w[b + 1]! ^ t1;
      w[o + 2] = w[b + 2]! ^ t2;
      w[o + 3] = w[b + 3]! ^ t3;
    }
    const m = this.#u8;
    // Encryption: round 0 in tower form; rounds 1..Nr-1 in tower form with the S-box constant;
    // the last round in AES form with the constant.
    for (let j = 0; j < 16; j++) m[slot + j] = linearCt(this.#toTower, w[j]!);
    for (let r = 1; r < rounds; r++) {
      for (let j = 0; j < 16; j++) m[slot + 16 * r + j] = linearCt(this.#toTower, w[16 * r + j]! ^ 0x63);
    }
    for (let j = 0; j < 16; j++) m[slot + 16 * rounds + j] = w[16 * rounds + j]! ^ 0x63;
    // Decryption (equivalent inverse cipher): w[Nr] first, then InvMixColumns(w[r]) for r = Nr-1..1,
    // all in the decryption state's form with the inverse S-box's 0x63; w[0] last, as is.
    const d = slot + DEC;
    for (let j = 0; j < 16; j++) m[d + j] = linearCt(this.#toInvTower, w[16 * rounds + j]! ^ 0x63);
    const col = new Uint8Array(16);
    for (let r = 1; r < rounds; r++) {
      invMixColumns(w, 16 * (rounds - r), col);
      for (let j = 0; j < 16; j++) m[d + 16 * r + j] = linearCt(this.#toInvTower, col[j]! ^ 0x63);
    }
    for (let j = 0; j < 16; j++) m[d + 16 * rounds + j] = w[j]!;
    w.fill(0);
    col.fill(0);
  }
}

/** A GF(2)-linear map of a secret byte, by its basis images, without branches or lookups. */
function linearCt(cols: readonly number[], x: number): number {
  let o = 0;
  for (let b = 0; b < 8; b++) o ^= -((x >> b) & 1) & cols[b]!;
  return o & 0xff;
}

/** Multiplication by 2 in GF(2^8) on a secret byte, without branches. */
const xtimeCt = (x: number): number => ((x << 1) ^ (-(x >> 7) & 0x1b)) & 0xff;

function invMixColumns(w: Uint8Array, off: number, out: Uint8Array): void {
  for (let c = 0; c < 4; c++) {
    const a = [w[off + 4 * c]!, w[off + 4 * c + 1]!, w[off + 4 * c + 2]!, w[off + 4 * c + 3]!];
    for (let r = 0; r < 4; r++) {
      const x0 = a[r]!, x1 = a[(r + 1) % 4]!, x2 = a[(r + 2) % 4]!, x3 = a[(r + 3) % 4]!;
      // 14 x0 + 11 x1 + 13 x2 + 9 x3, from doublings: 14 = 8+4+2, 11 = 8+2+1, 13 = 8+4+1, 9 = 8+1.
      const d0 = xtimeCt(x0), q0 = xtimeCt(d0), o0 = xtimeCt(q0);
      const d1 = xtimeCt(x1), o1 = xtimeCt(xtimeCt(d1));
      const q2 = xtimeCt(xtimeCt(x2)), o2 = xtimeCt(q2);
      const o3 = xtimeCt(xtimeCt(xtimeCt(x3)));
      out[4 * c + r] = o0 ^ q0 ^ d0 ^ o1 ^ d1 ^ x1 ^ o2 ^ q2 ^ x2 ^ o3 ^ x3;
    }
    a.fill(0);
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
  readonly #enc: (key: number, p: number, end: number, swap: number) => void;
  readonly #dec: (key: number, p: number, end: number, swap: number) => void;
  readonly #token = {};

  static readonly ioOffset = IO;
  /** Where decryptSpare() works: one block, its zero IV just before it. */
  static readonly spareOffset = SPARE;

  /** Use SimdAes.create(), which answers undefined where the engine is off. */
  constructor(key: Uint8Array, e: Engine) {
    this.#e = e;
    this.#slot = e.alloc();
    e.schedule(this.#slot, key);
    this.#enc = key.length === 16 ? e.x.enc10 : e.x.enc14;
    this.#dec = key.length === 16 ? e.x.dec10 : e.x.dec14;
    slots.register(this, { e, slot: this.#slot }, this.#token);
  }

  static create(key: Uint8Array): SimdAes | undefined {
    const e = getEngine();
    if (e === null || (key.length !== 16 && key.length !== 32)) return undefined;
    return new SimdAes(key, e);
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
    this.#enc(this.#live(), IO + 16, IO + 16 + 16 * n, swap ? 1 : 0);
  }

  /** CBC-decrypt n blocks of the I/O area in place; with `swap`, the last two first trade places. */
  decrypt(n: number, swap = false): void {
    checkBlocks(n, swap);
    this.#dec(this.#live(), IO + 16, IO + 16 + 16 * n, swap ? 1 : 0);
  }

  /** Raw AES^-1 of the block at spareOffset, in place. */
  decryptSpare(): void {
    this.#dec(this.#live(), SPARE, SPARE + 16, 0);
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
