import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import {
  type AvPairList,
  AvIdNames,
  avChannelBindings,
  avFlags,
  avPairsByName,
  avSingleHost,
  avString,
  avTargetName,
  avTimestamp,
  findAvPair,
  MsvAvChannelBindings,
  MsvAvDnsComputerName,
  MsvAvFlags,
  MsvAvNbComputerName,
  MsvAvNbDomainName,
  MsvAvSingleHost,
  MsvAvTargetName,
  MsvAvTimestamp,
  parseAvPairs,
  removeAvPair,
  setAvPair,
  writeAvPairs,
} from '../../../../src/packages/ntlm/avpairs.js';
import { MSV_AV_FLAGS_MIC_PRESENT, msvAvFlagNames } from '../../../../src/packages/ntlm/flags.js';

const vectors = JSON.parse(readFileSync(new URL('../../../fixtures/vectors/ntlm.json', import.meta.url), 'utf8')) as {
  cases: Array<{ id?: string; values?: Record<string, string>; expected?: Record<string, string> }>;
};
const v2flags = vectors.cases.find((c) => c.id === 'v2_flags')!;
const TARGET_INFO = Buffer.from(v2flags.values!.TargetInfo!, 'hex');

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const u16 = (n: number): string => Buffer.from([n & 0xff, n >> 8]).toString('hex');
const pair = (id: number, valueHex: string): string => u16(id) + u16(valueHex.length / 2) + valueHex;
const utf16 = (s: string): string => Buffer.from(s, 'utf16le').toString('hex');
const EOL = '00000000';

function invalidToken(fn: () => unknown, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN), `expected SEC_E_INVALID_TOKEN, got ${String(e)}`);
    if (re) assert.match((e as Error).message, re);
    return true;
  });
}

test('MS-NLMP 4.2.4 TargetInfo parses into typed pairs and re-serializes byte-identically', () => {
  const list = parseAvPairs(TARGET_INFO);
  assert.deepEqual(list.pairs, [
    { kind: 'string', AvId: MsvAvNbDomainName, Value: 'Domain' },
    { kind: 'string', AvId: MsvAvNbComputerName, Value: 'Server' },
  ]);
  assert.equal(list.Trailing, undefined);
  assert.deepEqual(Buffer.from(writeAvPairs(list)), TARGET_INFO);
  assert.deepEqual(avPairsByName(list), { MsvAvNbDomainName: 'Domain', MsvAvNbComputerName: 'Server' });
});

test('every defined AvId decodes to its type, unknown ids stay raw and in order', () => {
  const machineId = 'ab'.repeat(32);
  const singleHost = '30000000' + '00000000' + '0102030405060708' + machineId;
  const bytes = hex(
    pair(MsvAvDnsComputerName, utf16('host.example.com')) +
      pair(0x00ff, 'deadbeef') +
      pair(MsvAvFlags, '02000000') +
      pair(MsvAvTimestamp, '0080a7c4c94dd601') +
      pair(MsvAvSingleHost, singleHost) +
      pair(MsvAvTargetName, utf16('HTTP/host.example.com')) +
      pair(MsvAvChannelBindings, '11'.repeat(16)) +
      pair(0x0042, '') +
      EOL,
  );
  const list = parseAvPairs(bytes);
  assert.deepEqual(
    list.pairs.map((p) => [p.kind, p.AvId]),
    [
      ['string', MsvAvDnsComputerName],
      ['unknown', 0x00ff],
      ['flags', MsvAvFlags],
      ['timestamp', MsvAvTimestamp],
      ['singleHost', MsvAvSingleHost],
      ['string', MsvAvTargetName],
      ['channelBindings', MsvAvChannelBindings],
      ['unknown', 0x0042],
    ],
  );
  const named = avPairsByName(list);
  assert.equal(named.MsvAvDnsComputerName, 'host.example.com');
  assert.equal(named.MsvAvFlags, MSV_AV_FLAGS_MIC_PRESENT);
  assert.equal(named.MsvAvTimestamp, 0x01d64dc9c4a78000n);
  assert.equal(named.MsvAvTargetName, 'HTTP/host.example.com');
  assert.deepEqual(named.MsvAvChannelBindings, new Uint8Array(16).fill(0x11));
  assert.deepEqual(named.MsvAvSingleHost, {
    Size: 0x30,
    Z4: 0,
    CustomData: hex('0102030405060708'),
    MachineID: hex(machineId),
  });
  assert.deepEqual(findAvPair(list, 0x00ff), { kind: 'unknown', AvId: 0x00ff, Value: hex('deadbeef') });
  assert.deepEqual(writeAvPairs(list), bytes);
});

test('Single_Host_Data longer than 48 bytes keeps the rest for a byte-identical rewrite', () => {
  const value = '40000000' + '00000000' + '00'.repeat(8) + 'cd'.repeat(32) + 'eeeeeeee' + 'ffffffff';
  const bytes = hex(pair(MsvAvSingleHost, value) + EOL);
  const list = parseAvPairs(bytes);
  const p = list.pairs[0]!;
  assert.equal(p.kind, 'singleHost');
  if (p.kind === 'singleHost') assert.deepEqual(p.Value.Trailing, hex('eeeeeeeeffffffff'));
  assert.deepEqual(writeAvPairs(list), bytes);
});

test('an NTLMv2 client adds and replaces MsvAvFlags/Timestamp/TargetName/ChannelBindings (MS-NLMP 3.1.5.2.1)', () => {
  let list: AvPairList = parseAvPairs(TARGET_INFO);
  list = setAvPair(list, avTimestamp(0x01d64dc9c4a78000n));
  list = setAvPair(list, avFlags(MSV_AV_FLAGS_MIC_PRESENT));
  list = setAvPair(list, avChannelBindings(new Uint8Array(16)));
  list = setAvPair(list, avTargetName('HTTP/server'));
  const again = setAvPair(list, avTimestamp(5n));
  // Replacing keeps the position; the original list is untouched.
  assert.deepEqual(
    again.pairs.map((p) => AvIdNames[p.AvId]),
    ['MsvAvNbDomainName', 'MsvAvNbComputerName', 'MsvAvTimestamp', 'MsvAvFlags', 'MsvAvChannelBindings', 'MsvAvTargetName'],
  );
  assert.equal(avPairsByName(again).MsvAvTimestamp, 5n);
  assert.equal(avPairsByName(list).MsvAvTimestamp, 0x01d64dc9c4a78000n);
  const bytes = writeAvPairs(again);
  // Original pairs first, byte for byte, then the additions, then EOL.
  assert.deepEqual(Buffer.from(bytes.subarray(0, TARGET_INFO.length - 4)), TARGET_INFO.subarray(0, TARGET_INFO.length - 4));
  assert.equal(
    Buffer.from(bytes.subarray(TARGET_INFO.length - 4)).toString('hex'),
    pair(MsvAvTimestamp, '0500000000000000') +
      pair(MsvAvFlags, '02000000') +
      pair(MsvAvChannelBindings, '00'.repeat(16)) +
      pair(MsvAvTargetName, utf16('HTTP/server')) +
      EOL,
  );
  assert.deepEqual(parseAvPairs(bytes), again);
  assert.deepEqual(removeAvPair(again, MsvAvTargetName).pairs.length, 5);
});

test('constructors build the typed pairs', () => {
  assert.deepEqual(avString(MsvAvNbDomainName, 'D'), { kind: 'string', AvId: MsvAvNbDomainName, Value: 'D' });
  const sh = { Size: 48, Z4: 0, CustomData: new Uint8Array(8), MachineID: new Uint8Array(32) };
  assert.deepEqual(parseAvPairs(writeAvPairs({ pairs: [avSingleHost(sh)] })).pairs[0], avSingleHost(sh));
  assert.deepEqual(writeAvPairs({ pairs: [] }), new Uint8Array(4));
});

test('strict: the list must end with MsvAvEOL, lengths must fit, fixed sizes are exact', () => {
  invalidToken(() => parseAvPairs(new Uint8Array(0)), /missing MsvAvEOL/);
  invalidToken(() => parseAvPairs(hex(pair(MsvAvNbDomainName, utf16('D')))), /missing MsvAvEOL/);
  invalidToken(() => parseAvPairs(hex('000002000000')), /MsvAvEOL with non-zero AvLen/);
  invalidToken(() => parseAvPairs(hex('02000a00440000000000')), /runs past the end/);
  invalidToken(() => parseAvPairs(hex(pair(MsvAvNbDomainName, '440000') + EOL)), /odd length/);
  invalidToken(() => parseAvPairs(hex(pair(MsvAvFlags, '020000') + EOL)), /MsvAvFlags must be 4 bytes/);
  invalidToken(() => parseAvPairs(hex(pair(MsvAvTimestamp, '00'.repeat(4)) + EOL)), /MsvAvTimestamp must be 8 bytes/);
  invalidToken(() => parseAvPairs(hex(pair(MsvAvChannelBindings, '00'.repeat(15)) + EOL)), /16 bytes/);
  invalidToken(() => parseAvPairs(hex(pair(MsvAvSingleHost, '00'.repeat(47)) + EOL)), /MsvAvSingleHost/);
  invalidToken(() => parseAvPairs(hex(pair(MsvAvFlags, '00000000') + pair(MsvAvFlags, '02000000') + EOL)), /duplicate MsvAvFlags/);
  invalidToken(() => parseAvPairs(hex(EOL + '00000000')), /after MsvAvEOL/);
});

test('bytes after MsvAvEOL are kept only when allowed (the NTLMv2 blob ends in Z(4))', () => {
  const bytes = hex(pair(MsvAvNbDomainName, utf16('D')) + EOL + '00000000');
  const list = parseAvPairs(bytes, { allowTrailing: true });
  assert.deepEqual(list.Trailing, hex('00000000'));
  assert.deepEqual(writeAvPairs(list), bytes);
});

test('writers refuse values with the wrong fixed size', () => {
  assert.throws(() => writeAvPairs({ pairs: [avChannelBindings(new Uint8Array(3))] }), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
});

test('MsvAvFlags names', () => {
  assert.deepEqual(msvAvFlagNames(0x7), ['ACCOUNT_AUTHENTICATION_CONSTRAINED', 'MIC_PRESENT', 'UNTRUSTED_SPN_SOURCE']);
  assert.deepEqual(msvAvFlagNames(0x10), ['0x00000010']);
});
