// Byte-level mutations of tokens and records for the fuzz properties (shared by the Kerberos and
// Negotiate/HTTP worlds): flips, sets, truncation, insertion and deletion, optionally aimed at
// regions of the input so that short clear fields are hit as often as long ciphertexts.
import * as fc from 'fast-check';

const copy = (b: Uint8Array): Uint8Array => Uint8Array.from(b);
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/** A half-open byte range [start, end) of a token. */
export type Range = readonly [number, number];

export type ByteMutation =
  | { kind: 'flip'; region?: number; at: number; bit: number }
  | { kind: 'set'; region?: number; at: number; value: number }
  | { kind: 'many'; region?: number; edits: Array<{ at: number; value: number }> }
  | { kind: 'truncate'; to: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'insert'; region?: number; at: number; bytes: Uint8Array }
  | { kind: 'delete'; region?: number; at: number; count: number };

export const byteMutationArb: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), region: fc.nat(), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), region: fc.nat(), at: fc.nat(), value: fc.oneof(fc.constantFrom(0, 0x7f, 0x80, 0x81, 0x82, 0xff), fc.integer({ min: 0, max: 255 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('many' as const), region: fc.nat(), edits: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 2, maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), to: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40, size: 'max' }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), region: fc.nat(), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16, size: 'max' }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), region: fc.nat(), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }) },
);

/**
 * Apply `m` to `b`; byte edits land in `regions[(m.region ?? 0) % regions.length]` (so that a
 * property can aim at the clear fields as often as at the long ciphertexts). May return `b` unchanged.
 */
export function mutateBytes(b: Uint8Array, m: ByteMutation, regions: readonly Range[] = [[0, b.length]]): Uint8Array {
  if (b.length === 0) return m.kind === 'append' || m.kind === 'insert' ? Uint8Array.from(m.bytes) : b;
  const pick = (region = 0): Range => {
    const r = regions[region % regions.length]!;
    return r[1] > r[0] ? r : [0, b.length];
  };
  const pos = (region: number | undefined, at: number, inclusiveEnd = false): number => {
    const [s, e] = pick(region);
    return s + (at % (e - s + (inclusiveEnd ? 1 : 0)));
  };
  const out = copy(b);
  switch (m.kind) {
    case 'flip':
      out[pos(m.region, m.at)]! ^= 1 << m.bit;
      return out;
    case 'set':
      out[pos(m.region, m.at)] = m.value;
      return out;
    case 'many':
      for (const e of m.edits) out[pos(m.region, e.at)] = e.value;
      return out;
    case 'truncate':
      return out.slice(0, m.to % b.length);
    case 'append':
      return concat(out, m.bytes);
    case 'insert': {
      const at = pos(m.region, m.at, true);
      return concat(out.subarray(0, at), m.bytes, out.subarray(at));
    }
    case 'delete': {
      const at = pos(m.region, m.at);
      return concat(out.subarray(0, at), out.subarray(Math.min(b.length, at + m.count)));
    }
  }
}

