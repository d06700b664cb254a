import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import {
  findKey,
  findKeys,
  formatPrincipal,
  parseKeytab,
  parsePrincipal,
  readKeytabFile,
  serializeKeytab,
  writeKeytabFile,
  type KeytabEntry,
} from '../../../../src/packages/kerberos/keytab.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex'));
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const KEY = '11'.repeat(32);

// One version 0x0502 record for HTTP/localhost@EXAMPLE.TEST, built field by field from MIT's
// keytab format description.
const BODY = `
  0002                      # component count
  000c ${ascii('EXAMPLE.TEST')}
  0004 ${ascii('HTTP')}
  0009 ${ascii('localhost')}
  00000003                  # name type NT-SRV-HST
  5f000000                  # timestamp
  03                        # kvno8
  0012                      # enctype 18
  0020 ${KEY}
  00000003                  # kvno32
`;
const KAT = hex(`0502 00000052 ${BODY}`);

const ENTRY: KeytabEntry = {
  principal: { realm: 'EXAMPLE.TEST', components: ['HTTP', 'localhost'], nameType: 3 },
  timestamp: 0x5f000000,
  kvno: 3,
  kvno8: 3,
  kvno32: 3,
  key: { enctype: 18, keyvalue: hex(KEY) },
};

function assertInvalid(f: () => unknown, status: number = SecurityStatus.SEC_E_INVALID_TOKEN): void {
  assert.throws(f, (e: unknown) => SspiError.is(e, status));
}

describe('keytab: known-answer layout', () => {
  it('the KAT record is 82 bytes', () => assert.equal(hex(BODY).length, 0x52));
  it('parses the KAT', () => {
    const kt = parseKeytab(KAT);
    assert.equal(kt.version, 0x0502);
    assert.deepEqual(kt.entries, [ENTRY]);
  });
  it('serialises to the KAT byte for byte', () => {
    assert.deepEqual(Buffer.from(serializeKeytab([ENTRY])).toString('hex'), Buffer.from(KAT).toString('hex'));
  });
  it('empty keytab is just the version', () => {
    assert.deepEqual([...serializeKeytab([])], [5, 2]);
    assert.deepEqual(parseKeytab(hex('0502')).entries, []);
  });
  it('record without the 32-bit kvno: kvno8 only', () => {
    const body = hex(BODY).subarray(0, 0x52 - 4);
    const kt = parseKeytab(Buffer.concat([hex('0502 0000004e'), body]));
    assert.equal(kt.entries[0]!.kvno, 3);
    assert.equal(kt.entries[0]!.kvno32, undefined);
  });
  it('a non-zero kvno32 supersedes kvno8; zero kvno32 is filler', () => {
    const big = Buffer.from(KAT);
    big.writeUInt32BE(0x104, big.length - 4); // kvno 260, kvno8 still 3... make it consistent:
    big[2 + 4 + 2 + 14 + 6 + 11 + 4 + 4] = 0x04;
    assert.equal(parseKeytab(big).entries[0]!.kvno, 260);
    const zero = Buffer.from(KAT);
    zero.writeUInt32BE(0, zero.length - 4);
    assert.equal(parseKeytab(zero).entries[0]!.kvno, 3);
  });
  it('reads the trailing 32-bit flags field (Heimdal) when 8 bytes follow the key', () => {
    const kt = parseKeytab(Buffer.concat([hex('0502 00000056'), hex(BODY), hex('00000001')]));
    assert.equal(kt.entries[0]!.flags, 1);
    assert.deepEqual(parseKeytab(serializeKeytab(kt)).entries, kt.entries);
  });
  it('skips deleted (negative-size) records and stops at a zero size', () => {
    const hole = hex(`fffffff0 ${'00'.repeat(16)}`);
    const data = Buffer.concat([hex('0502'), hole, KAT.subarray(2), hex('00000000'), hex('deadbeef')]);
    assert.deepEqual(parseKeytab(data).entries, [ENTRY]);
  });
  it('extra bytes inside a record after the known fields are ignored', () => {
    const data = Buffer.concat([hex('0502 0000005e'), hex(BODY), hex('00000000 00000000 aaaa bbbb')]);
    assert.equal(parseKeytab(data).entries[0]!.kvno, 3);
  });
  it('version 0x0501: realm counted in the component count, no name type, either byte order', () => {
    const v1body = (le: boolean): Buffer => {
      const u16 = (n: number): string => (le ? Buffer.from([n & 0xff, n >> 8]) : Buffer.from([n >> 8, n & 0xff])).toString('hex');
      const b = hex(`${u16(3)} ${u16(12)}${ascii('EXAMPLE.TEST')} ${u16(4)}${ascii('HTTP')} ${u16(9)}${ascii('localhost')}
        ${le ? '0000005f' : '5f000000'} 03 ${u16(18)} ${u16(32)}${KEY}`);
      const size = Buffer.alloc(4);
      if (le) size.writeInt32LE(b.length);
      else size.writeInt32BE(b.length);
      return Buffer.concat([hex('0501'), size, b]);
    };
    for (const order of ['big', 'little'] as const) {
      const kt = parseKeytab(v1body(order === 'little'), { v1ByteOrder: order });
      assert.equal(kt.version, 0x0501);
      assert.deepEqual(kt.entries[0]!.principal, { realm: 'EXAMPLE.TEST', components: ['HTTP', 'localhost'], nameType: 1 });
      assert.equal(kt.entries[0]!.timestamp, 0x5f000000);
      assert.equal(kt.entries[0]!.key.enctype, 18);
    }
  });
});

describe('keytab: strictness', () => {
  it('refuses non-keytabs and unknown versions', () => {
    assertInvalid(() => parseKeytab(new Uint8Array(0)));
    assertInvalid(() => parseKeytab(hex('05')));
    assertInvalid(() => parseKeytab(hex('0402')));
    assertInvalid(() => parseKeytab(hex('0503')));
  });
  it('refuses truncation anywhere', () => {
    for (let n = 3; n < KAT.length; n++) assertInvalid(() => parseKeytab(KAT.subarray(0, n)));
  });
  it('refuses a record size beyond the file, a hole beyond the file, and -2^31', () => {
    assertInvalid(() => parseKeytab(hex('0502 7fffffff 00')));
    assertInvalid(() => parseKeytab(hex('0502 ffffff00 00')));
    assertInvalid(() => parseKeytab(hex('0502 80000000')));
  });
  it('refuses a component count larger than the record', () => {
    assertInvalid(() => parseKeytab(hex('0502 00000004 ffff 0000')));
  });
  it('refuses invalid UTF-8 in names', () => {
    const bad = Buffer.from(KAT);
    bad[2 + 4 + 2 + 2] = 0xff;
    assertInvalid(() => parseKeytab(bad));
  });
  it('writer refuses out-of-range fields', () => {
    assertInvalid(() => serializeKeytab([{ ...ENTRY, key: { enctype: 70000, keyvalue: new Uint8Array(1) } }]), SecurityStatus.SEC_E_INVALID_PARAMETER);
    assertInvalid(() => serializeKeytab([{ ...ENTRY, kvno: -1 }]), SecurityStatus.SEC_E_INVALID_PARAMETER);
    assertInvalid(() => serializeKeytab([{ ...ENTRY, timestamp: 2 ** 32 }]), SecurityStatus.SEC_E_INVALID_PARAMETER);
  });
});

describe('keytab: findKeys and principal names', () => {
  const mk = (name: string, kvno: number, enctype: number, kvno32 = true): KeytabEntry => ({
    principal: parsePrincipal(name),
    timestamp: 1,
    kvno,
    kvno8: kvno & 0xff,
    ...(kvno32 ? { kvno32: kvno } : {}),
    key: { enctype, keyvalue: new Uint8Array([kvno, enctype]) },
  });
  const kt = [mk('a@R', 1, 18), mk('a@R', 2, 18), mk('a@R', 2, 17), mk('b/h@R', 7, 18), mk('c@R', 300, 18, false)];
  it('highest kvno by default', () => assert.deepEqual(findKeys(kt, 'a@R').map((e) => [e.kvno, e.key.enctype]), [[2, 18], [2, 17]]));
  it('by kvno and enctype', () => {
    assert.deepEqual(findKeys(kt, 'a@R', 1).map((e) => e.kvno), [1]);
    assert.deepEqual(findKeys(kt, 'a@R', 2, 17).map((e) => e.key.enctype), [17]);
    assert.deepEqual(findKeys(kt, 'b/h@R', undefined, 18).length, 1);
    assert.deepEqual(findKeys(kt, 'a@OTHER'), []);
  });
  it('8-bit-only records match the low byte of the kvno', () => assert.equal(findKeys(kt, 'c@R', 300).length, 1));
  it('findKey throws SEC_E_NO_CREDENTIALS', () => assertInvalid(() => findKey(kt, 'zz@R'), SecurityStatus.SEC_E_NO_CREDENTIALS));
  it('principal escapes round-trip', () => {
    const p = { realm: 'R@X', components: ['a/b', 'c\\d', 'e\nf'], nameType: 1 };
    assert.equal(formatPrincipal(p), 'a\\/b/c\\\\d/e\\nf@R\\@X');
    assert.deepEqual(parsePrincipal(formatPrincipal(p)), p);
  });
});

describe('keytab: files', () => {
  it('writes atomically with mode 0600 and reads back; FILE: prefix; missing file → SEC_E_NO_CREDENTIALS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-kt-'));
    try {
      const p = join(dir, 'x.keytab');
      writeFileSync(p, 'old');
      writeKeytabFile(`FILE:${p}`, [ENTRY]);
      assert.equal(statSync(p).mode & 0o777, 0o600);
      assert.deepEqual(readFileSync(p), Buffer.from(KAT));
      assert.deepEqual(readKeytabFile(p).entries, [ENTRY]);
      assertInvalid(() => readKeytabFile(join(dir, 'nope')), SecurityStatus.SEC_E_NO_CREDENTIALS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const arbName = fc.string({ maxLength: 12, size: 'max' });
const arbEntry: fc.Arbitrary<KeytabEntry> = fc
  .record({
    realm: arbName,
    components: fc.array(arbName, { maxLength: 4 }),
    nameType: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    timestamp: fc.nat({ max: 0xffffffff }),
    kvno: fc.integer({ min: 1, max: 0xffffffff }),
    enctype: fc.nat({ max: 0xffff }),
    key: fc.uint8Array({ maxLength: 64, size: 'max' }),
  })
  .map((r) => ({
    principal: { realm: r.realm, components: r.components, nameType: r.nameType },
    timestamp: r.timestamp,
    kvno: r.kvno,
    kvno8: r.kvno & 0xff,
    kvno32: r.kvno,
    key: { enctype: r.enctype, keyvalue: r.key },
  }));

function typedOrSspi(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof SspiError && e.status === SecurityStatus.SEC_E_INVALID_TOKEN) return true;
    throw e;
  }
}

describe('keytab: properties', () => {
  it('round trip', () =>
    fc.assert(fc.property(fc.array(arbEntry, { maxLength: 5 }), (es) => {
      assert.deepEqual(parseKeytab(serializeKeytab(es)).entries, es);
    }), { numRuns: 200 }));
  it('random bytes → keytab or SEC_E_INVALID_TOKEN', () =>
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200, size: 'max' }), (b) => typedOrSspi(() => parseKeytab(b))), { numRuns: 500 }));
  it('mutated valid keytabs → keytab or SEC_E_INVALID_TOKEN', () =>
    fc.assert(
      fc.property(fc.array(arbEntry, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(), (es, muts, cut) => {
        const b = Buffer.from(serializeKeytab(es));
        for (const [i, v] of muts) b[i % b.length] = v;
        return typedOrSspi(() => parseKeytab(b)) && typedOrSspi(() => parseKeytab(b.subarray(0, cut % (b.length + 1))));
      }),
      { numRuns: 500 },
    ));
});
