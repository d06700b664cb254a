import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { avFlags, avString, avTimestamp, MsvAvNbDomainName } from '../../../../src/packages/ntlm/avpairs.js';
import { MSV_AV_FLAGS_MIC_PRESENT, NTLMSSP_NEGOTIATE_UNICODE } from '../../../../src/packages/ntlm/flags.js';
import { writeAuthenticateMessage, writeNtlmv2Response } from '../../../../src/packages/ntlm/messages.js';
import {
  type NtlmTree,
  decodeNtlmInput,
  decodeNtlmMessage,
  formatFiletime,
  formatNtlmTree,
  formatVersion,
} from '../../../../src/packages/ntlm/decode.js';

const vectors = JSON.parse(readFileSync(new URL('../../../fixtures/vectors/ntlm.json', import.meta.url), 'utf8')) as {
  cases: Array<{ id?: string; expected?: Record<string, string> }>;
};
const msgs = (id: string): Record<string, string> => vectors.cases.find((c) => c.id === id)!.expected!;
const V2_AUTH = Buffer.from(msgs('v2_messages').AUTHENTICATE_MESSAGE!, 'hex');
const V2_CHAL = Buffer.from(msgs('v2_messages').CHALLENGE_MESSAGE!, 'hex');
const CURL_NEGOTIATE = 'TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=';

function invalidToken(fn: () => unknown, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN), `expected SEC_E_INVALID_TOKEN, got ${String(e)}`);
    if (re) assert.match((e as Error).message, re);
    return true;
  });
}

const jsonable = (t: NtlmTree): void => assert.deepEqual(JSON.parse(JSON.stringify(t)), t);

test('NEGOTIATE tree: flags by name, header shape, empty OEM strings', () => {
  const t = decodeNtlmMessage(new Uint8Array(Buffer.from(CURL_NEGOTIATE, 'base64')));
  jsonable(t);
  assert.equal(t.MessageType, 'NEGOTIATE_MESSAGE');
  assert.equal(t.Length, 32);
  assert.equal(t.Header, '32 bytes (no VERSION)');
  assert.deepEqual(t.NegotiateFlags, {
    value: '0x00088206',
    names: ['NTLM_NEGOTIATE_OEM', 'NTLMSSP_REQUEST_TARGET', 'NTLMSSP_NEGOTIATE_NTLM', 'NTLMSSP_NEGOTIATE_ALWAYS_SIGN', 'NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY'],
  });
  assert.equal(t.Version, undefined);
  const win = decodeNtlmMessage('TlRMTVNTUAABAAAAl4II4gAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==');
  assert.equal(win.Version, '10.0 (build 19041) rev 15');
  assert.equal(win.Header, '40 bytes (VERSION)');
});

test('CHALLENGE tree: challenge, target name, AV pairs by name, version', () => {
  const t = decodeNtlmMessage(new Uint8Array(V2_CHAL));
  jsonable(t);
  assert.equal(t.MessageType, 'CHALLENGE_MESSAGE');
  assert.equal(t.ServerChallenge, '0123456789abcdef');
  assert.equal(t.TargetName, 'Server');
  assert.deepEqual(t.TargetInfo, [{ MsvAvNbDomainName: 'Domain' }, { MsvAvNbComputerName: 'Server' }, { MsvAvEOL: '' }]);
  assert.equal(t.Version, '6.0 (build 6000) rev 15');
  assert.equal(t.Strings, 'Unicode (UTF-16LE)');
});

test('AUTHENTICATE trees: NTLMv2 with its blob parsed, NTLMv1, NTLMv1 with ESS', () => {
  const v2 = decodeNtlmMessage(new Uint8Array(V2_AUTH));
  jsonable(v2);
  assert.equal(v2.Response, 'NTLMv2');
  assert.equal(v2.Header, '72 bytes (VERSION, no MIC)');
  assert.equal(v2.UserName, 'User');
  assert.equal(v2.DomainName, 'Domain');
  assert.equal(v2.Workstation, 'COMPUTER');
  assert.equal(v2.EncryptedRandomSessionKey, 'c5dad2544fc9799094ce1ce90bc9d03e');
  assert.equal(v2.MIC, undefined);
  assert.deepEqual(v2.LmChallengeResponse, { length: 24, kind: 'LMv2', Response: '86c35097ac9cec102554764a57cccc19', ChallengeFromClient: 'aaaaaaaaaaaaaaaa' });
  const nt = v2.NtChallengeResponse as NtlmTree;
  assert.equal(nt.kind, 'NTLMv2');
  assert.equal(nt.NTProofStr, '68cd0ab851e51c96aabc927bebef6a1c');
  assert.equal(nt.TimeStamp, '1601-01-01T00:00:00.000Z (FILETIME 0x0000000000000000)');
  assert.equal(nt.ChallengeFromClient, 'aaaaaaaaaaaaaaaa');
  assert.deepEqual(nt.AvPairs, [{ MsvAvNbDomainName: 'Domain' }, { MsvAvNbComputerName: 'Server' }, { MsvAvEOL: '' }, { 'bytes after MsvAvEOL': '00000000' }]);

  const v1 = decodeNtlmMessage(Buffer.from(msgs('v1_messages').AUTHENTICATE_MESSAGE!, 'hex'));
  assert.equal(v1.Response, 'NTLMv1');
  assert.equal((v1.LmChallengeResponse as NtlmTree).kind, 'LMv1');
  const ess = decodeNtlmMessage(Buffer.from(msgs('ess_messages').AUTHENTICATE_MESSAGE!, 'hex'));
  assert.equal(ess.Response, 'NTLMv1-ESS');
  assert.equal((ess.LmChallengeResponse as NtlmTree).ChallengeFromClient, 'aaaaaaaaaaaaaaaa');
  assert.equal(ess.EncryptedRandomSessionKey, '');
});

function authWithMic(): Uint8Array {
  const ts = 0x01d64dc9c4a78000n;
  const nt = writeNtlmv2Response(new Uint8Array(16).fill(0x42), {
    RespType: 1,
    HiRespType: 1,
    Reserved1: 0,
    Reserved2: 0,
    TimeStamp: ts,
    ChallengeFromClient: new Uint8Array(8).fill(0xcc),
    Reserved3: 0,
    AvPairs: { pairs: [avString(MsvAvNbDomainName, 'D'), avFlags(MSV_AV_FLAGS_MIC_PRESENT), avTimestamp(ts)], Trailing: new Uint8Array(4) },
  });
  return writeAuthenticateMessage({
    NegotiateFlags: NTLMSSP_NEGOTIATE_UNICODE,
    LmChallengeResponse: new Uint8Array(24),
    NtChallengeResponse: nt,
    DomainName: 'D',
    UserName: 'u',
    Workstation: 'w',
    EncryptedRandomSessionKey: new Uint8Array(0),
    Version: { ProductMajorVersion: 10, ProductMinorVersion: 0, ProductBuild: 17763, NTLMRevisionCurrent: 15 },
    MIC: new Uint8Array(16).fill(0x99),
  });
}

test('AUTHENTICATE tree with MIC, MsvAvFlags and MsvAvTimestamp', () => {
  const t = decodeNtlmMessage(authWithMic());
  jsonable(t);
  assert.equal(t.Header, '88 bytes (VERSION + MIC)');
  assert.equal(t.MIC, '99'.repeat(16));
  assert.equal(t.MicOffset, 72);
  assert.equal(t.Version, '10.0 (build 17763) rev 15');
  assert.equal((t.LmChallengeResponse as NtlmTree).kind, 'Z(24) (LMv2 omitted because MsvAvTimestamp was present)');
  const pairs = (t.NtChallengeResponse as NtlmTree).AvPairs as NtlmTree[];
  assert.deepEqual(pairs[1], { MsvAvFlags: { value: '0x00000002', names: ['MIC_PRESENT'] } });
  assert.match(pairs[2]!.MsvAvTimestamp as string, /^2020-\d\d-\d\dT.* \(FILETIME 0x01d64dc9c4a78000\)$/);
});

test('a malformed NTLMv2 blob is shown, not thrown', () => {
  const bad = writeAuthenticateMessage({
    NegotiateFlags: NTLMSSP_NEGOTIATE_UNICODE,
    LmChallengeResponse: new Uint8Array(24),
    NtChallengeResponse: new Uint8Array(60).fill(0x01),
    DomainName: '',
    UserName: 'u',
    Workstation: '',
    EncryptedRandomSessionKey: new Uint8Array(0),
  });
  const nt = decodeNtlmMessage(bad).NtChallengeResponse as NtlmTree;
  assert.equal(nt.kind, 'NTLMv2 (malformed)');
  assert.match(nt.error as string, /SEC_E_INVALID_TOKEN/);
});

test('input forms: base64, hex, 0x-hex with spaces, NTLM/Negotiate schemes, header names', () => {
  const b64 = V2_CHAL.toString('base64');
  const expected = decodeNtlmMessage(new Uint8Array(V2_CHAL));
  for (const input of [
    b64,
    V2_CHAL.toString('hex'),
    `0x${V2_CHAL.toString('hex').toUpperCase()}`,
    V2_CHAL.toString('hex').replace(/(..)/g, '$1 '),
    `NTLM ${b64}`,
    `WWW-Authenticate: NTLM ${b64}`,
    `Proxy-Authenticate:   ntlm   ${b64}  `,
    `Authorization: Negotiate ${b64}`,
    b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
  ]) {
    assert.deepEqual(decodeNtlmMessage(input), expected, input);
  }
});

function der(tag: number, body: Uint8Array): Uint8Array {
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return new Uint8Array([tag, ...len, ...body]);
}

test('an NTLM message inside SPNEGO (NegTokenResp responseToken) is unwrapped', () => {
  // NegTokenResp ::= [1] SEQUENCE { responseToken [2] OCTET STRING, mechListMIC [3] ... } (RFC 4178)
  const token = der(0xa1, der(0x30, new Uint8Array([...der(0xa2, der(0x04, new Uint8Array(V2_AUTH))), ...der(0xa3, der(0x04, new Uint8Array(16).fill(0xee)))])));
  const { bytes, wrapper } = decodeNtlmInput(`Negotiate ${Buffer.from(token).toString('base64')}`);
  assert.equal(wrapper, 'SPNEGO');
  assert.deepEqual(Buffer.from(bytes), V2_AUTH);
  const t = decodeNtlmMessage(Buffer.from(token).toString('hex'));
  assert.equal(t.Wrapper, 'SPNEGO');
  assert.equal(t.UserName, 'User');
  assert.equal(t.Length, V2_AUTH.length);
});

test('bad input is SEC_E_INVALID_TOKEN', () => {
  invalidToken(() => decodeNtlmMessage('not base64 at all!'), /neither base64 nor hex/);
  invalidToken(() => decodeNtlmMessage(''), /neither base64 nor hex/);
  invalidToken(() => decodeNtlmMessage('Negotiate YIIBAAYGKwYBBQUCoA=='), /Kerberos/);
  invalidToken(() => decodeNtlmMessage(Buffer.from('NTLMSSP\0\x04\0\0\0', 'latin1')), /unknown NTLM MessageType 4/);
  invalidToken(() => decodeNtlmMessage(V2_AUTH.subarray(0, 40)), /header needs 64/);
});

test('formatNtlmTree renders an indented, readable text', () => {
  const text = formatNtlmTree(decodeNtlmMessage(new Uint8Array(V2_AUTH)));
  const lines = text.split('\n');
  for (const want of [
    'MessageType: AUTHENTICATE_MESSAGE',
    'Header: 72 bytes (VERSION, no MIC)',
    'NegotiateFlags: 0xe2888235',
    '  NTLMSSP_NEGOTIATE_UNICODE',
    '  NTLMSSP_NEGOTIATE_56',
    'Response: NTLMv2',
    'NtChallengeResponse:',
    '  kind: NTLMv2',
    '  NTProofStr: 68cd0ab851e51c96aabc927bebef6a1c',
    '  AvPairs:',
    '    MsvAvNbDomainName: Domain',
    '    MsvAvNbComputerName: Server',
    'UserName: User',
    'Version: 5.1 (build 2600) rev 15',
  ]) {
    assert.ok(lines.includes(want), `missing line ${JSON.stringify(want)} in\n${text}`);
  }
  const mic = formatNtlmTree(decodeNtlmMessage(authWithMic()));
  assert.match(mic, /^      MIC_PRESENT$/m);
  assert.match(mic, /^MicOffset: 72$/m);
  assert.match(formatNtlmTree(decodeNtlmMessage(new Uint8Array(Buffer.from(msgs('v1_messages').CHALLENGE_MESSAGE!, 'hex')))), /^TargetInfo: \(none\)$/m);
});

test('formatVersion and formatFiletime', () => {
  assert.equal(formatVersion({ ProductMajorVersion: 6, ProductMinorVersion: 1, ProductBuild: 7601, NTLMRevisionCurrent: 15 }), '6.1 (build 7601) rev 15');
  assert.equal(
    formatVersion({ ProductMajorVersion: 6, ProductMinorVersion: 1, ProductBuild: 7601, NTLMRevisionCurrent: 15, Reserved: new Uint8Array([1, 2, 3]) }),
    '6.1 (build 7601) rev 15 reserved 010203',
  );
  assert.equal(formatFiletime(116444736000000000n), '1970-01-01T00:00:00.000Z (FILETIME 0x019db1ded53e8000)');
  assert.match(formatFiletime(0xffffffffffffffffn), /^\+060056-.* \(FILETIME 0xffffffffffffffff\)$/);
});
