import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  app,
  ctx,
  DerReader,
  DerWriter,
  derDecode,
  derEncode,
  guardDecode,
  MAX_DEPTH,
  oidFromContent,
  oidToContent,
  Tag,
} from '../../../src/der/index.js';
import { SspiError } from '../../../src/sspi/error.js';
import { assertBadParameter, assertInvalid, hex, toHex } from './helpers.js';

const enc = (fn: (w: DerWriter) => void): string => toHex(derEncode(fn));

describe('DER INTEGER (X.690 8.3)', () => {
  const cases: [number | bigint, string][] = [
    [0, '020100'],
    [1, '020101'],
    [127, '02017f'],
    [128, '02020080'],
    [255, '020200ff'],
    [256, '02020100'],
    [-1, '0201ff'],
    [-128, '020180'],
    [-129, '0202ff7f'],
    [0x7fffffff, '02047fffffff'],
    [-0x80000000, '020480000000'],
    [0xffffffff, '020500ffffffff'],
    [2n ** 64n, '0209010000000000000000'],
    [-(2n ** 63n), '02088000000000000000'],
  ];
  for (const [v, h] of cases) {
    it(`${v} <-> ${h}`, () => {
      assert.equal(enc((w) => w.writeInteger(v)), h);
      if (typeof v === 'bigint') assert.equal(derDecode(hex(h), (r) => r.readBigInt()), v);
      else {
        assert.equal(derDecode(hex(h), (r) => r.readInteger()), v);
        assert.equal(derDecode(hex(h), (r) => r.readBigInt()), BigInt(v));
      }
    });
  }
  it('rejects non-minimal encodings', () => {
    assertInvalid(() => derDecode(hex('0202007f'), (r) => r.readInteger()), /non-minimal/);
    assertInvalid(() => derDecode(hex('0202ff80'), (r) => r.readInteger()), /non-minimal/);
    assertInvalid(() => derDecode(hex('02030000ff'), (r) => r.readBigInt()), /non-minimal/);
    assertInvalid(() => derDecode(hex('02090000000000000000ff'), (r) => r.readBigInt()), /non-minimal/);
  });
  it('rejects an empty INTEGER', () => assertInvalid(() => derDecode(hex('0200'), (r) => r.readInteger()), /empty/));
  it('enforces Int32 and UInt32 ranges', () => {
    assertInvalid(() => derDecode(hex('02050080000000'), (r) => r.readInt32()), /range/);
    assertInvalid(() => derDecode(hex('0201ff'), (r) => r.readUInt32()), /UInt32/);
    assertInvalid(() => derDecode(hex('0205010000000000'.slice(0, 14)), (r) => r.readUInt32()), /range/);
    assertInvalid(() => derDecode(hex('020601000000000000'.slice(0, 16)), (r) => r.readInteger()), /range/);
    assert.equal(derDecode(hex('020500ffffffff'), (r) => r.readUInt32()), 0xffffffff);
  });
  it('ENUMERATED uses tag 10', () => {
    assert.equal(enc((w) => w.writeEnumerated(2)), '0a0102');
    assert.equal(derDecode(hex('0a0102'), (r) => r.readEnumerated()), 2);
    assertInvalid(() => derDecode(hex('020102'), (r) => r.readEnumerated()), /expected ENUMERATED/);
  });
  it('refuses unsafe numbers and out-of-range Int32/UInt32 on encode', () => {
    assertBadParameter(() => derEncode((w) => w.writeInteger(2 ** 60)));
    assertBadParameter(() => derEncode((w) => w.writeInt32(0x80000000)));
    assertBadParameter(() => derEncode((w) => w.writeUInt32(-1)));
  });
});

describe('DER lengths (X.690 8.1.3, 10.1)', () => {
  it('uses the short form below 128 and minimal long forms above', () => {
    assert.equal(enc((w) => w.writeOctetString(new Uint8Array(127))).slice(0, 4), '047f');
    assert.equal(enc((w) => w.writeOctetString(new Uint8Array(128))).slice(0, 6), '048180');
    assert.equal(enc((w) => w.writeOctetString(new Uint8Array(256))).slice(0, 8), '04820100');
    assert.equal(enc((w) => w.writeOctetString(new Uint8Array(0x10000))).slice(0, 10), '0483010000');
    const big = derEncode((w) => w.writeOctetString(new Uint8Array(0x10000).fill(7)));
    assert.equal(derDecode(big, (r) => r.readOctetString()).length, 0x10000);
  });
  it('rejects the indefinite form', () => assertInvalid(() => derDecode(hex('30800500 0000'), (r) => r.enter(Tag.SEQUENCE)), /indefinite/));
  it('rejects the long form for a length below 128', () =>
    assertInvalid(() => derDecode(hex('04810100'), (r) => r.readOctetString()), /non-minimal length/));
  it('rejects leading zero length octets', () => {
    const body = '00'.repeat(128);
    assertInvalid(() => derDecode(hex(`0482 0080 ${body}`), (r) => r.readOctetString()), /non-minimal length/);
  });
  it('rejects a length past the end of the data', () => {
    assertInvalid(() => derDecode(hex('040501'), (r) => r.readOctetString()), /exceeds/);
    assertInvalid(() => derDecode(hex('3004020101'), (r) => r.enter(Tag.SEQUENCE)), /exceeds/);
    // An inner length may not run past its enclosing value either.
    assertInvalid(() => derDecode(hex('3003 0402 0000 00'), (r) => (r.enter(Tag.SEQUENCE), r.readOctetString())), /exceeds/);
  });
  it('rejects huge lengths (more than 4 length octets) and truncated headers', () => {
    assertInvalid(() => derDecode(hex('048500000000ff'), (r) => r.readOctetString()), /too large/);
    assertInvalid(() => derDecode(hex('0484ffffffff'), (r) => r.readOctetString()), /exceeds/);
    assertInvalid(() => derDecode(hex('04'), (r) => r.readOctetString()), /truncated/);
    assertInvalid(() => derDecode(hex('0482ff'), (r) => r.readOctetString()), /truncated/);
    assertInvalid(() => derDecode(hex(''), (r) => r.readOctetString()), /end of data/);
  });
});

describe('DER structure', () => {
  it('rejects trailing bytes after the top-level value', () =>
    assertInvalid(() => derDecode(hex('050000'), (r) => r.readNull()), /trailing bytes after/));
  it('rejects trailing bytes inside a constructed value', () =>
    assertInvalid(
      () =>
        derDecode(hex('3003050000'), (r) => {
          r.enter(Tag.SEQUENCE);
          r.readNull();
          r.leave();
        }),
      /trailing bytes inside/,
    ));
  it('rejects unexpected tags, including constructed forms of primitive types', () => {
    assertInvalid(() => derDecode(hex('040100'), (r) => r.readInteger()), /expected INTEGER, found OCTET STRING/);
    assertInvalid(() => derDecode(hex('2403040100'), (r) => r.readOctetString()), /expected OCTET STRING/);
    assertInvalid(() => derDecode(hex('a103020101'), (r) => r.enter(ctx(0))), /expected \[0\], found \[1\]/);
    assertInvalid(() => derDecode(hex('1f2200'), (r) => r.readOctetString()), /high tag/);
  });
  it('limits nesting depth', () => {
    const nest = (n: number): Uint8Array =>
      derEncode((w) => {
        w.writeNull();
        for (let i = 0; i < n; i++) w.wrap(Tag.SEQUENCE, 0);
      });
    const walk = (r: DerReader, n: number): void => {
      for (let i = 0; i < n; i++) r.enter(Tag.SEQUENCE);
      r.readNull();
      for (let i = 0; i < n; i++) r.leave();
    };
    derDecode(nest(MAX_DEPTH), (r) => walk(r, MAX_DEPTH));
    assertInvalid(() => derDecode(nest(MAX_DEPTH + 1), (r) => walk(r, MAX_DEPTH + 1)), /too deep/);
  });
  it('enterIf reads OPTIONAL fields and readRaw returns whole elements', () => {
    const b = hex('3008 a1030201 05 0401 aa');
    derDecode(b, (r) => {
      r.enter(Tag.SEQUENCE);
      assert.equal(r.enterIf(ctx(0)), false);
      assert.equal(r.enterIf(ctx(1)), true);
      assert.equal(r.readInteger(), 5);
      r.leave();
      assert.equal(toHex(r.readRaw(Tag.OCTET_STRING)), '0401aa');
      assert.equal(r.atEnd(), true);
      assert.equal(r.peekTag(), -1);
      r.leave();
    });
  });
  it('never lets anything but SspiError escape', () => {
    assertInvalid(() =>
      guardDecode(() => {
        throw new TypeError('boom');
      }),
    );
    assertInvalid(() => derDecode(hex('0500'), () => new Uint8Array(-1)));
    assert.ok(new SspiError(0x80090308) instanceof Error);
  });
  it('writes nested constructed values with explicit and application tags', () => {
    // [APPLICATION 1] { SEQUENCE { [0] INTEGER 5 } }
    const b = derEncode((w) => {
      const m = w.mark();
      w.writeInteger(5);
      w.wrap(ctx(0), m);
      w.wrap(Tag.SEQUENCE, m);
      w.wrap(app(1), m);
    });
    assert.equal(toHex(b), '61073005a003020105');
  });
  it('grows its buffer', () => {
    const w = new DerWriter(16);
    const m = w.mark();
    for (let i = 0; i < 1000; i++) w.writeInteger(i);
    w.wrap(Tag.SEQUENCE, m);
    const out = derDecode(w.toBytes(), (r) => {
      r.enter(Tag.SEQUENCE);
      const a: number[] = [];
      while (!r.atEnd()) a.push(r.readInteger());
      r.leave();
      return a;
    });
    assert.deepEqual(out, Array.from({ length: 1000 }, (_, i) => 999 - i));
  });
});

describe('DER BOOLEAN and NULL', () => {
  it('encodes TRUE as 0xFF', () => {
    assert.equal(enc((w) => w.writeBoolean(true)), '0101ff');
    assert.equal(enc((w) => w.writeBoolean(false)), '010100');
    assert.equal(derDecode(hex('0101ff'), (r) => r.readBoolean()), true);
    assert.equal(derDecode(hex('010100'), (r) => r.readBoolean()), false);
  });
  it('rejects other BOOLEAN octets and lengths', () => {
    assertInvalid(() => derDecode(hex('010101'), (r) => r.readBoolean()), /0x00 or 0xFF/);
    assertInvalid(() => derDecode(hex('0102ffff'), (r) => r.readBoolean()), /one octet/);
    assertInvalid(() => derDecode(hex('0100'), (r) => r.readBoolean()), /one octet/);
  });
  it('NULL has no content', () => {
    assert.equal(enc((w) => w.writeNull()), '0500');
    assertInvalid(() => derDecode(hex('050100'), (r) => r.readNull()), /NULL/);
  });
});

describe('DER BIT STRING and KerberosFlags', () => {
  it('reads and writes bit strings', () => {
    assert.equal(enc((w) => w.writeBitString(hex('80'), 7)), '03020780');
    assert.equal(enc((w) => w.writeBitString(new Uint8Array(0))), '030100');
    assert.deepEqual(derDecode(hex('03020780'), (r) => r.readBitString()), { unusedBits: 7, bytes: hex('80') });
  });
  it('rejects a missing unused-bits octet, counts above 7, and unused bits on an empty string', () => {
    assertInvalid(() => derDecode(hex('0300'), (r) => r.readBitString()), /unused-bits octet/);
    assertInvalid(() => derDecode(hex('03020800'), (r) => r.readBitString()), /> 7/);
    assertInvalid(() => derDecode(hex('030101'), (r) => r.readBitString()), /empty BIT STRING/);
    assertInvalid(() => derDecode(hex('0300'), (r) => r.readKerberosFlags()), /unused-bits octet/);
    assertInvalid(() => derDecode(hex('03020800'), (r) => r.readKerberosFlags()), /> 7/);
  });
  it('rejects non-zero unused bits (DER 11.2.1)', () => {
    assertInvalid(() => derDecode(hex('03020781'), (r) => r.readBitString()), /unused bits not zero/);
    assertInvalid(() => derDecode(hex('03050140000001'), (r) => r.readKerberosFlags()), /unused bits not zero/);
    assertBadParameter(() => derEncode((w) => w.writeBitString(hex('81'), 7)));
  });
  it('writes KerberosFlags as 32 bits like MIT and Windows (RFC 4120 5.2.8)', () => {
    assert.equal(enc((w) => w.writeKerberosFlags(0x40810010)), '03050040810010');
    assert.equal(enc((w) => w.writeKerberosFlags(0)), '03050000000000');
    assert.equal(enc((w) => w.writeKerberosFlags(0xffffffff)), '030500ffffffff');
    assert.equal(derDecode(hex('03050040810010'), (r) => r.readKerberosFlags()), 0x40810010);
    assert.equal(derDecode(hex('030500ffffffff'), (r) => r.readKerberosFlags()), 0xffffffff);
  });
  it('accepts minimal DER flags (fewer than 32 bits) and ignores bits past 31', () => {
    assert.equal(derDecode(hex('03020640'), (r) => r.readKerberosFlags()), 0x40000000);
    assert.equal(derDecode(hex('030100'), (r) => r.readKerberosFlags()), 0);
    assert.equal(derDecode(hex('0306004081001080'), (r) => r.readKerberosFlags()), 0x40810010);
  });
});

describe('DER strings', () => {
  it('KerberosString is GeneralString (27)', () => {
    assert.equal(enc((w) => w.writeGeneralString('krbtgt')), '1b066b7262746774');
    assert.equal(derDecode(hex('1b066b7262746774'), (r) => r.readGeneralString()), 'krbtgt');
    assert.equal(derDecode(hex('1b00'), (r) => r.readGeneralString()), '');
  });
  it('carries UTF-8 as MIT and Windows do, and rejects invalid UTF-8', () => {
    assert.equal(enc((w) => w.writeGeneralString('é')), '1b02c3a9');
    assert.equal(derDecode(hex('1b02c3a9'), (r) => r.readGeneralString()), 'é');
    assertInvalid(() => derDecode(hex('1b01ff'), (r) => r.readGeneralString()), /UTF-8/);
    assertInvalid(() => derDecode(hex('1b02c328'), (r) => r.readGeneralString()), /UTF-8/);
  });
  it('long ASCII strings', () => {
    const s = 'A'.repeat(300);
    assert.equal(derDecode(derEncode((w) => w.writeGeneralString(s)), (r) => r.readGeneralString()), s);
  });
});

describe('KerberosTime (RFC 4120 5.2.3)', () => {
  const t = (s: string): Uint8Array => hex('18' + s.length.toString(16).padStart(2, '0') + Buffer.from(s).toString('hex'));
  it('is exactly YYYYMMDDHHMMSSZ', () => {
    const d = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
    assert.equal(toHex(derEncode((w) => w.writeKerberosTime(d))), toHex(t('20240102030405Z')));
    assert.equal(derDecode(t('20240102030405Z'), (r) => r.readKerberosTime()).getTime(), d.getTime());
    assert.equal(derDecode(t('20000229235959Z'), (r) => r.readKerberosTime()).toISOString(), '2000-02-29T23:59:59.000Z');
  });
  it('drops milliseconds on encode', () => {
    const d = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 999));
    assert.equal(toHex(derEncode((w) => w.writeKerberosTime(d))), toHex(t('20240102030405Z')));
  });
  it('handles years below 100 without the 1900 shift', () => {
    const d = derDecode(t('00500101000000Z'), (r) => r.readKerberosTime());
    assert.equal(d.getUTCFullYear(), 50);
    assert.equal(toHex(derEncode((w) => w.writeKerberosTime(d))), toHex(t('00500101000000Z')));
    assert.equal(derDecode(t('00000229000000Z'), (r) => r.readKerberosTime()).getUTCDate(), 29);
  });
  it('rejects fractions, offsets, missing Z, bad digits and impossible dates', () => {
    for (const s of [
      '20240102030405.5Z',
      '20240102030405',
      '20240102030405+0000',
      '2024010203040Z',
      '202401020304051',
      '2024010203040aZ',
      '20241302030405Z',
      '20240002030405Z',
      '20240230030405Z',
      '20230229030405Z',
      '19000229000000Z',
      '20240100030405Z',
      '20240102240405Z',
      '20240102036005Z',
      '20240102030460Z',
      '2024-1-2030405Z',
    ]) {
      assertInvalid(() => derDecode(t(s), (r) => r.readKerberosTime()), undefined);
    }
  });
  it('refuses invalid dates on encode', () => {
    assertBadParameter(() => derEncode((w) => w.writeKerberosTime(new Date(NaN))));
    assertBadParameter(() => derEncode((w) => w.writeKerberosTime(new Date(Date.UTC(10000, 0, 1)))));
  });
});

describe('OBJECT IDENTIFIER (X.690 8.19)', () => {
  const cases: [string, string][] = [
    ['1.2.840.113554.1.2.2', '06092a864886f712010202'],
    ['1.2.840.48018.1.2.2', '06092a864882f71201020 2'.replace(' ', '')],
    ['1.3.6.1.5.5.2', '06062b0601050502'],
    ['1.3.6.1.4.1.311.2.2.10', '060a2b06010401823702020a'],
    ['2.999.3', '0603883703'],
    ['0.0', '060100'],
  ];
  for (const [oid, h] of cases) {
    it(`${oid} <-> ${h}`, () => {
      assert.equal(enc((w) => w.writeOid(oid)), h);
      assert.equal(derDecode(hex(h), (r) => r.readOid()), oid);
    });
  }
  it('rejects empty, non-minimal and truncated arcs', () => {
    assertInvalid(() => derDecode(hex('0600'), (r) => r.readOid()), /empty/);
    assertInvalid(() => derDecode(hex('06032a8001'), (r) => r.readOid()), /non-minimal/);
    assertInvalid(() => derDecode(hex('0602802a'), (r) => r.readOid()), /non-minimal/);
    assertInvalid(() => derDecode(hex('06022a86'), (r) => r.readOid()), /truncated/);
    assertInvalid(() => derDecode(hex('060b2affffffffffffffffff7f'), (r) => r.readOid()), /too large/);
  });
  it('refuses malformed dotted strings', () => {
    for (const s of ['', '1', '3.1', '1.40', '1.2.', '1..2', '1.02', 'a.b']) assertBadParameter(() => oidToContent(s));
  });
  it('content helpers agree', () => {
    assert.equal(oidFromContent(oidToContent('1.2.840.113554.1.2.2')), '1.2.840.113554.1.2.2');
  });
});
