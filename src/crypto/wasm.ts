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
    this.code.push(0x20);
    uleb(this.code, i);
    return this;
  }
  set(i: number): this {
    this.code.push(0x21);
    uleb(this.code, i);
    return this;
  }
  tee(i: number): this {
    this.code.push(0x22);
    uleb(this.code, i);
    return this;
  }
  i32(n: number): this {
    this.code.push(0x41);
    sleb(this.code, n | 0);
    return this;
  }
  /** A plain opcode (i32.add = 0x6a, ...). */
  op(opcode: number): this {
    this.code.push(opcode);
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
    this.code.push(0x0c);
    uleb(this.code, depth);
    return this;
  }
  brIf(depth: number): this {
    this.code.push(0x0d);
    uleb(this.code, depth);
    return this;
  }
  i32Load(offset = 0): this {
    this.code.push(0x28, 2);
    uleb(this.code, offset);
    return this;
  }
  i32Store(offset = 0): this {
    this.code.push(0x36, 2);
    uleb(this.code, offset);
    return this;
  }
  /** A SIMD opcode (0xfd prefix). */
  simd(opcode: number): this {
    this.code.push(0xfd);
    uleb(this.code, opcode);
    return this;
  }
  v128Load(offset = 0): this {
    this.simd(0x00).code.push(0);
    uleb(this.code, offset);
    return this;
  }
  v128Store(offset = 0): this {
    this.simd(0x0b).code.push(0);
    uleb(this.code, offset);
    return this;
  }
  /** i8x16.shuffle of the two operands on the stack: lanes 0-15 pick from the first, 16-31 the second. */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new Error('shuffle needs 16 lanes');
    this.simd(0x0d).code.push(...lanes);
    return this;
  }

  encode(): number[] {
    const out: number[] = [];
    // Locals as runs of one type.
    const runs: [number, ValType][] = [];
    for (const t of this.#locals) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    uleb(out, runs.length);
    for (const [n, t] of runs) {
      uleb(out, n);
      out.push(t);
    }
    out.push(...this.code, 0x0b);
    const sized: number[] = [];
    uleb(sized, out.length);
    return sized.concat(out);
  }
}

export const Op = {
  i32Eqz: 0x45,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Ne: 0x47,
  i32LtU: 0x49,
  i32GtU: 0x4b,
  i32GeU: 0x4f,
  i32Xor: 0x73,
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
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const section = (id: number, content: number[]): void => {
    out.push(id);
    uleb(out, content.length);
    out.push(...content);
  };
  const vec = <T>(items: readonly T[], each: (o: number[], item: T) => void): number[] => {
    const o: number[] = [];
    uleb(o, items.length);
    for (const it of items) each(o, it);
    return o;
  };
  // One type per function (duplicates are allowed and keep the indices trivial).
  section(
    1,
    vec(functions, (o, f) => {
      o.push(0x60);
      uleb(o, f.body.params.length);
      o.push(...f.body.params);
      uleb(o, f.body.results.length);
      o.push(...f.body.results);
    }),
  );
  section(
    3,
    vec(functions, (o, _f) => uleb(o, functions.indexOf(_f))),
  );
  section(5, [1, 0x00, ...(() => { const o: number[] = []; uleb(o, pages); return o; })()]);
  const exports: [string, number, number][] = [['memory', 0x02, 0], ...functions.map((f, i): [string, number, number] => [f.name, 0x00, i])];
  section(
    7,
    vec(exports, (o, [name, kind, index]) => {
      const bytes = new TextEncoder().encode(name);
      uleb(o, bytes.length);
      o.push(...bytes, kind);
      uleb(o, index);
    }),
  );
  section(10, vec(functions, (o, f) => o.push(...f.body.encode())));
  return Uint8Array.from(out);
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
