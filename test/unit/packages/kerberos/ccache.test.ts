import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import {
  getConfig,
  isConfigEntry,
  makeConfigEntry,
  parseCcache,
  readCcacheFile,
  resolveCcacheName,
  resolveClientKeytabName,
  resolveKeytabName,
  serializeCcache,
  splitTypedName,
  ticketCredentials,
  writeCcacheFile,
  type Ccache,
  type Credential,
} from '../../../../src/packages/kerberos/ccache.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex'));
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const KEY = '22'.repeat(32);
const USER = `00000001 00000001 0000000c ${ascii('EXAMPLE.TEST')} 00000004 ${ascii('user')}`;
const TGT = `00000002 00000002 0000000c ${ascii('EXAMPLE.TEST')} 00000006 ${ascii('krbtgt')} 0000000c ${ascii('EXAMPLE.TEST')}`;
const CRED_TAIL = `
  60000000 60000001 60010000 60100000   # authtime starttime endtime renew_till
  00                                    # is_skey
  40e10000                              # forwardable renewable initial pre-authent
  00000001 0002 00000004 7f000001       # one IPv4 address
  00000001 0001 00000002 3000           # one authdata element
  00000004 61020500                     # ticket
  00000000                              # second ticket
`;
// Built field by field from MIT's credential cache format description.
const KAT_V4 = hex(`
  0504
  000c 0001 0008 fffffffb 000003e8      # header: KDC offset -5 s, 1000 us
  ${USER}                               # default principal
  ${USER} ${TGT}                        # client, server
  0012 00000020 ${KEY}                  # keyblock
  ${CRED_TAIL}
`);
const KAT_V3 = hex(`0503 ${USER} ${USER} ${TGT} 0012 0012 00000020 ${KEY} ${CRED_TAIL}`);

const user = { realm: 'EXAMPLE.TEST', components: ['user'], nameType: 1 };
const CRED: Credential = {
  client: user,
  server: { realm: 'EXAMPLE.TEST', components: ['krbtgt', 'EXAMPLE.TEST'], nameType: 2 },
  key: { enctype: 18, keyvalue: hex(KEY) },
  authtime: 0x60000000,
  starttime: 0x60000001,
  endtime: 0x60010000,
  renewTill: 0x60100000,
  isSkey: false,
  ticketFlags: 0x40e10000,
  addresses: [{ addrType: 2, address: hex('7f000001') }],
  authdata: [{ adType: 1, data: hex('3000') }],
  ticket: hex('61020500'),
  secondTicket: new Uint8Array(0),
};
const CACHE: Ccache = { version: 0x0504, kdcOffset: { seconds: -5, microseconds: 1000 }, defaultPrincipal: user, credentials: [CRED] };

const isStatus = (status: number) => (e: unknown) => SspiError.is(e, status);

describe('ccache: known-answer layout', () => {
  it('parses the v4 KAT', () => assert.deepEqual(parseCcache(KAT_V4), CACHE));
  it('serialises to the v4 KAT byte for byte', () => assert.equal(Buffer.from(serializeCcache(CACHE)).toString('hex'), Buffer.from(KAT_V4).toString('hex')));
  it('reads version 3 (no header, enctype written twice) and writes it as version 4', () => {
    const c = parseCcache(KAT_V3);
    assert.equal(c.version, 0x0503);
    assert.deepEqual(c.credentials, [CRED]);
    const v4 = parseCcache(serializeCcache(c));
    assert.equal(v4.version, 0x0504);
    assert.deepEqual(v4.credentials, [CRED]);
  });
  it('a cache with no credentials and an empty header', () => {
    const c: Ccache = { version: 0x0504, defaultPrincipal: user, credentials: [] };
    assert.equal(Buffer.from(serializeCcache(c)).toString('hex'), Buffer.from(hex(`0504 0000 ${USER}`)).toString('hex'));
    assert.deepEqual(parseCcache(serializeCcache(c)), c);
  });
  it('keeps unknown header tags', () => {
    const c = parseCcache(hex(`0504 0006 0007 0002 abcd ${USER}`));
    assert.deepEqual(c.otherHeaderFields, [{ tag: 7, value: hex('abcd') }]);
    assert.equal(c.kdcOffset, undefined);
    assert.deepEqual(parseCcache(serializeCcache(c)), c);
  });
});

describe('ccache: config entries', () => {
  it('are preserved, recognised and looked up', () => {
    const pa = makeConfigEntry(user, 'pa_type', new TextEncoder().encode('2'), CRED.server);
    const fast = makeConfigEntry(user, 'fast_avail', new TextEncoder().encode('yes'));
    const c: Ccache = { ...CACHE, credentials: [fast, CRED, pa] };
    const back = parseCcache(serializeCcache(c));
    assert.deepEqual(back, c);
    assert.equal(pa.server.realm, 'X-CACHECONF:');
    assert.deepEqual(pa.server.components, ['krb5_ccache_conf_data', 'pa_type', 'krbtgt/EXAMPLE.TEST@EXAMPLE.TEST']);
    assert.ok(isConfigEntry(fast) && !isConfigEntry(CRED));
    assert.deepEqual(ticketCredentials(back), [CRED]);
    assert.equal(new TextDecoder().decode(getConfig(back, 'pa_type', CRED.server)), '2');
    assert.equal(new TextDecoder().decode(getConfig(back, 'fast_avail')), 'yes');
    assert.equal(getConfig(back, 'pa_type'), undefined);
  });
});

describe('ccache: strictness', () => {
  it('refuses other files and versions', () => {
    for (const h of ['', '05', '0501', '0502', '0505', '0102', '050400']) assert.throws(() => parseCcache(hex(h)), isStatus(SecurityStatus.SEC_E_INVALID_TOKEN));
  });
  it('refuses truncation anywhere', () => {
    for (let n = 0; n < KAT_V4.length; n++) {
      if (n === 2 + 2 + 12 + 32) continue; // end of the default principal: a valid empty cache
      assert.throws(() => parseCcache(KAT_V4.subarray(0, n)), isStatus(SecurityStatus.SEC_E_INVALID_TOKEN), `length ${n}`);
    }
  });
  it('refuses a KDC offset field of the wrong size and huge counts', () => {
    assert.throws(() => parseCcache(hex(`0504 0008 0001 0004 00000000 ${USER}`)), isStatus(SecurityStatus.SEC_E_INVALID_TOKEN));
    assert.throws(() => parseCcache(hex(`0504 0000 00000001 ffffffff 00000000`)), isStatus(SecurityStatus.SEC_E_INVALID_TOKEN));
  });
  it('writer refuses out-of-range fields', () => {
    assert.throws(() => serializeCcache({ ...CACHE, credentials: [{ ...CRED, endtime: -1 }] }), isStatus(SecurityStatus.SEC_E_INVALID_PARAMETER));
    assert.throws(() => serializeCcache({ ...CACHE, credentials: [{ ...CRED, key: { enctype: 1 << 16, keyvalue: new Uint8Array(0) } }] }), isStatus(SecurityStatus.SEC_E_INVALID_PARAMETER));
  });
});

describe('ccache: files and names', () => {
  it('atomic 0600 write, read back, FILE: prefix, missing → SEC_E_NO_CREDENTIALS, other types refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-cc-'));
    try {
      const p = join(dir, 'cc');
      writeCcacheFile(`FILE:${p}`, CACHE);
      assert.equal(statSync(p).mode & 0o777, 0o600);
      assert.deepEqual(new Uint8Array(readFileSync(p)), KAT_V4);
      assert.deepEqual(readCcacheFile(p), CACHE);
      assert.throws(() => readCcacheFile(join(dir, 'none')), isStatus(SecurityStatus.SEC_E_NO_CREDENTIALS));
      assert.throws(() => readCcacheFile('KEYRING:persistent:0'), isStatus(SecurityStatus.SEC_E_NO_CREDENTIALS));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('resolveCcacheName honours KRB5CCNAME, the configured default, then /tmp/krb5cc_<uid>', () => {
    assert.deepEqual(resolveCcacheName({ env: { KRB5CCNAME: 'FILE:/x/cc' } }), { type: 'FILE', residual: '/x/cc', path: '/x/cc' });
    assert.deepEqual(resolveCcacheName({ env: { KRB5CCNAME: '/y/cc' } }), { type: 'FILE', residual: '/y/cc', path: '/y/cc' });
    assert.deepEqual(resolveCcacheName({ env: { KRB5CCNAME: 'KEYRING:persistent:1' } }), { type: 'KEYRING', residual: 'persistent:1' });
    assert.equal(resolveCcacheName({ env: {}, uid: 1234 }).path, '/tmp/krb5cc_1234');
    assert.equal(resolveCcacheName({ env: {}, uid: 7, configDefault: 'FILE:%{TEMP}/cc_%{uid}' }).path, '/tmp/cc_7');
  });
  it('keytab names honour KRB5_KTNAME and KRB5_CLIENT_KTNAME', () => {
    assert.equal(resolveKeytabName({ env: {} }).path, '/etc/krb5.keytab');
    assert.equal(resolveKeytabName({ env: { KRB5_KTNAME: 'FILE:/k/t' } }).path, '/k/t');
    assert.equal(resolveKeytabName({ env: { KRB5_KTNAME: 'WRFILE:/k/w' } }).path, '/k/w');
    assert.equal(resolveClientKeytabName({ env: { KRB5_CLIENT_KTNAME: '/c/k' } }).path, '/c/k');
    assert.equal(resolveClientKeytabName({ env: {}, euid: 5 }).path, '/var/lib/krb5/user/5/client.keytab');
    assert.deepEqual(splitTypedName('C:\\x'), { type: 'FILE', residual: 'C:\\x', path: 'C:\\x' });
  });
});

const arbName = fc.string({ maxLength: 10 });
const arbPrincipal = fc.record({ realm: arbName, components: fc.array(arbName, { maxLength: 3 }), nameType: fc.integer({ min: -0x80000000, max: 0x7fffffff }) });
const u32 = fc.nat({ max: 0xffffffff });
const bytes = fc.uint8Array({ maxLength: 40, size: 'max' });
const arbCred: fc.Arbitrary<Credential> = fc.record({
  client: arbPrincipal,
  server: arbPrincipal,
  key: fc.record({ enctype: fc.nat({ max: 0xffff }), keyvalue: bytes }),
  authtime: u32, starttime: u32, endtime: u32, renewTill: u32,
  isSkey: fc.boolean(),
  ticketFlags: u32,
  addresses: fc.array(fc.record({ addrType: fc.nat({ max: 0xffff }), address: bytes }, { noNullPrototype: true }), { maxLength: 2 }),
  authdata: fc.array(fc.record({ adType: fc.nat({ max: 0xffff }), data: bytes }, { noNullPrototype: true }), { maxLength: 2 }),
  ticket: bytes,
  secondTicket: bytes,
});
const arbCache: fc.Arbitrary<Ccache> = fc
  .tuple(arbPrincipal, fc.array(arbCred, { maxLength: 3 }), fc.option(fc.record({ seconds: fc.integer({ min: -0x80000000, max: 0x7fffffff }), microseconds: fc.integer({ min: 0, max: 999999 }) }, { noNullPrototype: true }), { nil: undefined }))
  .map(([defaultPrincipal, credentials, kdcOffset]) => ({ version: 0x0504, defaultPrincipal, credentials, ...(kdcOffset ? { kdcOffset } : {}) }));

function typedOrSspi(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof SspiError && e.status === SecurityStatus.SEC_E_INVALID_TOKEN) return true;
    throw e;
  }
}

describe('ccache: properties', () => {
  it('round trip', () => fc.assert(fc.property(arbCache, (c) => assert.deepEqual(parseCcache(serializeCcache(c)), structuredClone(c))), { numRuns: 200 }));
  it('random bytes → cache or SEC_E_INVALID_TOKEN', () =>
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300, size: 'max' }), (b) => typedOrSspi(() => parseCcache(b))), { numRuns: 500 }));
  it('random bytes after a v4 header → cache or SEC_E_INVALID_TOKEN', () =>
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300, size: 'max' }), (b) => typedOrSspi(() => parseCcache(Buffer.concat([hex('05040000'), b])))), { numRuns: 500 }));
  it('mutated valid caches → cache or SEC_E_INVALID_TOKEN', () =>
    fc.assert(
      fc.property(arbCache, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(), (c, muts, cut) => {
        const b = Buffer.from(serializeCcache(c));
        for (const [i, v] of muts) b[i % b.length] = v;
        return typedOrSspi(() => parseCcache(b)) && typedOrSspi(() => parseCcache(b.subarray(0, cut % (b.length + 1))));
      }),
      { numRuns: 500 },
    ));
});
