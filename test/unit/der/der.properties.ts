// fast-check properties for the DER layer, shared by der.fuzz.test.ts (few runs) and
// test/fuzz/der-campaign.ts (many runs).
import * as assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { DerReader, DerWriter, derDecode, derEncode, Tag } from '../../../src/der/index.js';
import { decodesOrInvalid } from './helpers.js';

/** A generic DER tree: constructed values hold children, primitives hold opaque content. */
export type Node = { tag: number; content?: Uint8Array; children?: Node[] };

export function readAny(r: DerReader): Node {
  const tag = r.peekTag();
  if (tag & 0x20) {
    r.enter(tag);
    const children: Node[] = [];
    while (!r.atEnd()) children.push(readAny(r));
    r.leave();
    return { tag, children };
  }
  return { tag, content: r.readPrimitive(tag) };
}

export function writeAny(w: DerWriter, n: Node): void {
  if (n.children) {
    const m = w.mark();
    for (let i = n.children.length - 1; i >= 0; i--) writeAny(w, n.children[i]!);
    w.wrap(n.tag, m);
  } else {
    w.writeOctetString(n.content!, n.tag);
  }
}

const lowTag = fc.integer({ min: 0, max: 30 });
const primTag = fc.tuple(fc.constantFrom(0x00, 0x40, 0x80, 0xc0), lowTag).map(([c, n]) => c | n);
const consTag = fc.tuple(fc.constantFrom(0x00, 0x40, 0x80, 0xc0), lowTag).map(([c, n]) => c | 0x20 | n);

export const nodeArb: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(primTag, fc.uint8Array({ maxLength: 200, size: 'max' })).map(([tag, content]): Node => ({ tag, content })),
    fc.tuple(consTag, fc.array(tie('node'), { maxLength: 5 })).map(([tag, children]): Node => ({ tag, children })),
  ),
})).node;

/** Bytes that look like DER often enough to get past the first header. */
export const derishBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64, size: 'max' }),
  nodeArb.map((n) => derEncode((w) => writeAny(w, n))),
  fc
    .tuple(nodeArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat())
    .map(([n, flips, cut]) => {
      const b = Uint8Array.from(derEncode((w) => writeAny(w, n)));
      for (const [i, v] of flips) if (b.length) b[i % b.length] = v;
      return cut % 4 === 0 && b.length ? b.subarray(0, cut % b.length) : b;
    }),
);

const primitiveReaders: Array<[number, (r: DerReader) => unknown]> = [
  [Tag.INTEGER, (r) => r.readInteger()],
  [Tag.INTEGER, (r) => r.readInt32()],
  [Tag.INTEGER, (r) => r.readUInt32()],
  [Tag.INTEGER, (r) => r.readBigInt()],
  [Tag.ENUMERATED, (r) => r.readEnumerated()],
  [Tag.BOOLEAN, (r) => r.readBoolean()],
  [Tag.NULL, (r) => r.readNull()],
  [Tag.BIT_STRING, (r) => r.readBitString()],
  [Tag.BIT_STRING, (r) => r.readKerberosFlags()],
  [Tag.GENERAL_STRING, (r) => r.readGeneralString()],
  [Tag.GENERALIZED_TIME, (r) => r.readKerberosTime()],
  [Tag.OBJECT_IDENTIFIER, (r) => r.readOid()],
  [Tag.OCTET_STRING, (r) => r.readOctetString()],
];

export function derProperties(): Array<[string, fc.IProperty<any>]> {
  return [
    [
      'random bytes: the generic walker yields a tree that re-encodes identically, or INVALID_TOKEN',
      fc.property(derishBytes, (b) => {
        let tree: Node | undefined;
        if (decodesOrInvalid(() => (tree = derDecode(b, readAny)))) {
          assert.deepEqual(derEncode((w) => writeAny(w, tree!)), b);
        }
      }),
    ],
    [
      'random content under every primitive reader: a value or INVALID_TOKEN',
      fc.property(fc.nat(primitiveReaders.length - 1), fc.uint8Array({ maxLength: 20, size: 'max' }), fc.boolean(), (i, c, framed) => {
        const [tag, read] = primitiveReaders[i]!;
        const bytes = framed ? derEncode((w) => w.writeOctetString(c, tag)) : c;
        decodesOrInvalid(() => derDecode(bytes, read));
      }),
    ],
    [
      'generated trees round-trip',
      fc.property(nodeArb, (n) => {
        const b = derEncode((w) => writeAny(w, n));
        assert.deepEqual(derDecode(b, readAny), n);
      }),
    ],
    [
      'integers round-trip (number and bigint)',
      fc.property(fc.integer({ min: -0x80000000, max: 0xffffffff }), fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }), (n, big) => {
        assert.equal(derDecode(derEncode((w) => w.writeInteger(n)), (r) => r.readInteger()), n);
        assert.equal(derDecode(derEncode((w) => w.writeInteger(big)), (r) => r.readBigInt()), big);
      }),
    ],
    [
      'strings, times, flags, booleans, OIDs and bit strings round-trip',
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 40, size: 'max' }),
        fc.integer({ min: -62167219200, max: 253402300799 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.boolean(),
        fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.nat(), { maxLength: 8 })),
        fc.uint8Array({ maxLength: 16, size: 'max' }),
        fc.integer({ min: 0, max: 7 }),
        (s, secs, flags, bool, [a0, a1, rest], bits, unused) => {
          const oid = [a0, a0 === 2 ? a1 * 7 : a1, ...rest].join('.');
          const date = new Date(secs * 1000);
          const bytesBits = bits.length ? Uint8Array.from(bits, (b, i) => (i === bits.length - 1 ? b & (0xff << unused) : b)) : bits;
          const u = bits.length ? unused : 0;
          const out = derDecode(
            derEncode((w) => {
              const m = w.mark();
              w.writeBitString(bytesBits, u);
              w.writeOid(oid);
              w.writeBoolean(bool);
              w.writeKerberosFlags(flags);
              w.writeKerberosTime(date);
              w.writeGeneralString(s);
              w.wrap(Tag.SEQUENCE, m);
            }),
            (r) => {
              r.enter(Tag.SEQUENCE);
              const v = [r.readGeneralString(), r.readKerberosTime(), r.readKerberosFlags(), r.readBoolean(), r.readOid(), r.readBitString()];
              r.leave();
              return v;
            },
          );
          assert.deepEqual(out, [s, date, flags, bool, oid, { unusedBits: u, bytes: bytesBits }]);
        },
      ),
    ],
  ];
}
