// A small WebAssembly emitter: enough of the binary format (core + fixed-width SIMD) to build the
// crypto kernels at load time from TypeScript, so the tree holds their source and no binary blob.
// Only what the kernels use is here; WebAssembly.validate() is the judge of what it emits.

export const I32 = 0x7f;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof V128;

function uleb(out: number[], n: number): void {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}

function sleb(out: number[], n: number): void {
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** The body of one function: locals are declared up front, instructions appended in order. */
export class FunctionBody {
  readonly code: number[] = [];
  readonly #locals: ValType[] = [];

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[] = []) {}

  /** A new local of `type`; its index follows the parameters. */
  local(type: ValType): number {
    this.#locals.push(type);
    return this.params.length + this.#locals.length - 1;
  }

  get(i: number): this {
    return this.#withIndex(0x20, i);
  }
  set(i: number): this {
    return this.#withIndex(0x21, i);
  }
  tee(i: number): this {
    return this.#withIndex(0x22, i);
  }
  // An opcode and its one unsigned LEB128 immediate (a local, a branch depth, a SIMD sub-opcode).
  #withIndex(opcode: number, i: number): this {
    this.code.push(opcode);
    uleb(this.code, i);
    return this;
  }
  i32(n: number): this {
    this.code.push(0x41);
    sleb(this.code, n | 0);
    return this;
  }
  /** Plain opcodes, or raw bytes (i32.add = 0x6a; block = 0x02, 0x40; br_if = 0x0d, depth). */
  op(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }
  loop(): this {
    this.code.push(0x03, 0x40);
    return this;
  }
  block(): this {
    this.code.push(0x02, 0x40);
    return this;
  }
  end(): this {
    this.code.push(0x0b);
    return this;
  }
  br(depth: number): this {
    return this.#withIndex(0x0c, depth);
  }
  brIf(depth: number): this {
    return this.#withIndex(0x0d, depth);
  }
  i32Load(offset = 0): this {
    return this.#memory([0x28], 2, offset);
  }
  i32Store(offset = 0): this {
    return this.#memory([0x36], 2, offset);
  }
  /** i32.load8_u */
  i32Load8(offset = 0): this {
    return this.#memory([0x2d], 0, offset);
  }
  i32Store8(offset = 0): this {
    return this.#memory([0x3a], 0, offset);
  }
  // An access with its memarg: the alignment exponent (a hint), then the static offset.
  #memory(opcode: number[], align: number, offset: number): this {
    this.code.push(...opcode, align);
    uleb(this.code, offset);
    return this;
  }
  /** A SIMD opcode (0xfd prefix). */
  simd(opcode: number): this {
    return this.#withIndex(0xfd, opcode);
  }
  v128Load(offset = 0): this {
    return this.#memory([0xfd, 0x00], 0, offset);
  }
  v128Store(offset = 0): this {
    return this.#memory([0xfd, 0x0b], 0, offset);
  }
  /** i8x16.shuffle of the two operands on the stack: lanes 0-15 pick from the first, 16-31 the second. */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new Error('shuffle needs 16 lanes');
    this.simd(0x0d).code.push(...lanes);
    return this;
  }

  /** The function's entry in the code section: size, locals (as runs of one type), code, end. */
  encode(out: Writer): void {
    const body = new Writer();
    const runs: [number, ValType][] = [];
    for (const t of this.#locals) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    body.uleb(runs.length);
    for (const [n, t] of runs) body.uleb(n).byte(t);
    body.bytes(this.code).byte(0x0b);
    out.uleb(body.length).bytes(body.finish());
  }
}

/** Bytes appended to a growable buffer (the module is tens of KiB: no per-byte arrays or spreads). */
class Writer {
  #buf = new Uint8Array(256);
  #len = 0;

  get length(): number {
    return this.#len;
  }
  byte(b: number): this {
    if (this.#len === this.#buf.length) {
      const bigger = new Uint8Array(2 * this.#buf.length);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    this.#buf[this.#len++] = b;
    return this;
  }
  uleb(n: number): this {
    const o: number[] = [];
    uleb(o, n);
    return this.bytes(o);
  }
  bytes(src: ArrayLike<number>): this {
    for (let i = 0; i < src.length; i++) this.byte(src[i]!);
    return this;
  }
  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.uleb(b.length).bytes(b);
  }
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}

export const Op = {
  i32Eqz: 0x45,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32LtU: 0x49,
  i32GtU: 0x4b,
  i32Xor: 0x73,
  i32Shl: 0x74,
  i32Rotr: 0x78,
} as const;

export const Simd = {
  swizzle: 0x0e,
  i32x4Splat: 0x11,
  i32x4ExtractLane: 0x1b,
  and: 0x4e,
  xor: 0x51,
  i8x16ShrS: 0x6c,
  i8x16Add: 0x6e,
  i16x8ShrU: 0x8d,
} as const;

/** A module with one exported memory (`memory`, `pages` pages of 64 KiB) and exported functions. */
export function buildModule(pages: number, functions: readonly { name: string; body: FunctionBody }[]): Uint8Array {
  const out = new Writer().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const section = (id: number, fill: (w: Writer) => void): void => {
    const w = new Writer();
    fill(w);
    out.byte(id).uleb(w.length).bytes(w.finish());
  };
  // One type per function (duplicates are allowed and keep the indices trivial).
  section(1, (w) => {
    w.uleb(functions.length);
    for (const { body } of functions) w.byte(0x60).uleb(body.params.length).bytes(body.params).uleb(body.results.length).bytes(body.results);
  });
  section(3, (w) => {
    w.uleb(functions.length);
    functions.forEach((_, i) => w.uleb(i));
  });
  section(5, (w) => w.uleb(1).byte(0x00).uleb(pages));
  section(7, (w) => {
    w.uleb(functions.length + 1);
    w.name('memory').byte(0x02).uleb(0);
    functions.forEach((f, i) => w.name(f.name).byte(0x00).uleb(i));
  });
  section(10, (w) => {
    w.uleb(functions.length);
    for (const f of functions) f.body.encode(w);
  });
  return out.finish();
}

/** The parts of a module's memory the kernels' hosts use. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/**
 * Compile and instantiate `bytes` synchronously (the modules are a few KiB); undefined where this
 * runtime has no WebAssembly or refuses the module (no SIMD, say).
 */
export function instantiate(bytes: Uint8Array): Record<string, unknown> | undefined {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return undefined;
  try {
    return new api.Instance(new api.Module(bytes), {}).exports;
  } catch {
    return undefined;
  }
}
