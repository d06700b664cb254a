import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import {
  NTLM_NEGOTIATE_OEM,
  NTLMSSP_NEGOTIATE_56,
  NTLMSSP_NEGOTIATE_ALWAYS_SIGN,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
  NTLMSSP_NEGOTIATE_NTLM,
  NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED,
  NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED,
  NTLMSSP_NEGOTIATE_TARGET_INFO,
  NTLMSSP_NEGOTIATE_UNICODE,
  NTLMSSP_NEGOTIATE_VERSION,
  NTLMSSP_REQUEST_TARGET,
  negotiateFlagNames,
  negotiateFlagsFromNames,
} from '../../../../src/packages/ntlm/flags.js';
import { MsvAvNbComputerName, MsvAvNbDomainName, avPairsByName, writeAvPairs } from '../../../../src/packages/ntlm/avpairs.js';
import {
  type AUTHENTICATE_MESSAGE,
  AUTHENTICATE_MIC_OFFSET,
  authenticateMessageWithZeroMic,
  isNtlmMessage,
  ntlmMessageType,
  ntlmResponseKind,
  parseAuthenticateMessage,
  parseChallengeMessage,
  parseNegotiateMessage,
  parseNtlmv2Response,
  writeAuthenticateMessage,
  writeChallengeMessage,
  writeNegotiateMessage,
  writeNtlmv2ClientChallenge,
  writeNtlmv2Response,
} from '../../../../src/packages/ntlm/messages.js';

interface Case {
  id?: string;
  note?: string;
  values?: Record<string, string>;
  inputs?: Record<string, string>;
  expected?: Record<string, string>;
}
const vectors = JSON.parse(readFileSync(new URL('../../../fixtures/vectors/ntlm.json', import.meta.url), 'utf8')) as { cases: Case[] };
const byId = (id: string): Case => {
  const c = vectors.cases.find((x) => x.id === id);
  assert.ok(c, `vector ${id}`);
  return c;
};
const common = byId('common_values').values!;
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function invalidToken(fn: () => unknown, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN), `expected SEC_E_INVALID_TOKEN, got ${String(e)}`);
    if (re) assert.match((e as Error).message, re);
    return true;
  });
}

/** Expected contents of the MS-NLMP 4.2.x message examples. */
const MESSAGE_CASES = [
  {
    id: 'v1_messages',
    flags: 'v1_flags',
    lm: byId('v1_LMv1Response').expected!.LmChallengeResponse!,
    nt: byId('v1_NTLMv1Response').expected!.NtChallengeResponse!,
    key: byId('v1_EncryptedSessionKey').expected!.EncryptedRandomSessionKey_default!,
    kind: 'NTLMv1',
    targetInfo: '',
  },
  {
    id: 'ess_messages',
    flags: 'ess_flags',
    lm: byId('ess_keys_and_responses').expected!.LmChallengeResponse!,
    nt: byId('ess_keys_and_responses').expected!.NtChallengeResponse!,
    key: '',
    kind: 'NTLMv1-ESS',
    targetInfo: '',
  },
  {
    id: 'v2_messages',
    flags: 'v2_flags',
    lm: byId('v2_LMv2Response').expected!.LmChallengeResponse!,
    nt: byId('v2_NTLMv2Response').expected!.NtChallengeResponse!,
    key: byId('v2_EncryptedSessionKey').expected!.EncryptedRandomSessionKey!,
    kind: 'NTLMv2',
    targetInfo: byId('v2_flags').values!.TargetInfo!,
  },
] as const;

for (const mc of MESSAGE_CASES) {
  const c = byId(mc.id);
  const challengeFlags = parseInt(byId(mc.flags).values!.NegotiateFlags_u32!, 16);
  const authFlags = parseInt(/AUTHENTICATE flags 0x([0-9a-f]{8})/.exec(c.note!)![1]!, 16);

  test(`MS-NLMP ${mc.id}: CHALLENGE_MESSAGE fields and byte-exact rewrite`, () => {
    const bytes = hex(c.expected!.CHALLENGE_MESSAGE!);
    assert.equal(ntlmMessageType(bytes), 2);
    const m = parseChallengeMessage(bytes);
    assert.equal(m.NegotiateFlags, challengeFlags);
    const short = negotiateFlagNames(m.NegotiateFlags).map((n) => n.replace(/^NTLMSSP_NEGOTIATE_|^NTLM_NEGOTIATE_|^NTLMSSP_/, ''));
    assert.deepEqual(short.sort(), byId(mc.flags).values!.names!.split('|').sort());
    assert.equal(negotiateFlagsFromNames(byId(mc.flags).values!.names!.split('|')), challengeFlags);
    assert.equal(toHex(m.ServerChallenge), common.ServerChallenge);
    assert.equal(m.TargetName, common.ServerName);
    assert.equal(toHex(m.TargetInfo), mc.targetInfo);
    if (mc.targetInfo) {
      assert.deepEqual(avPairsByName(m.TargetInfoPairs!), { MsvAvNbDomainName: common.UserDom, MsvAvNbComputerName: common.ServerName });
      assert.deepEqual(m.TargetInfoPairs!.pairs.map((p) => p.AvId), [MsvAvNbDomainName, MsvAvNbComputerName]);
    } else {
      assert.equal(m.TargetInfoPairs, undefined);
    }
    assert.deepEqual(m.Version, { ProductMajorVersion: 6, ProductMinorVersion: 0, ProductBuild: 6000, NTLMRevisionCurrent: 15 });
    assert.equal(m.Reserved, undefined);
    assert.deepEqual(m.raw, bytes);
    assert.deepEqual(writeChallengeMessage(m), bytes);
  });

  test(`MS-NLMP ${mc.id}: AUTHENTICATE_MESSAGE fields and byte-exact rewrite`, () => {
    const bytes = hex(c.expected!.AUTHENTICATE_MESSAGE!);
    assert.equal(ntlmMessageType(bytes), 3);
    const m = parseAuthenticateMessage(bytes);
    assert.equal(m.NegotiateFlags, authFlags);
    assert.equal(toHex(m.LmChallengeResponse), mc.lm);
    assert.equal(toHex(m.NtChallengeResponse), mc.nt);
    assert.equal(m.DomainName, common.UserDom);
    assert.equal(m.UserName, common.User);
    assert.equal(m.Workstation, common.WorkstationName);
    assert.equal(toHex(m.EncryptedRandomSessionKey), mc.key);
    assert.deepEqual(m.Version, { ProductMajorVersion: 5, ProductMinorVersion: 1, ProductBuild: 2600, NTLMRevisionCurrent: 15 });
    // 72-byte header: VERSION but no MIC slot.
    assert.equal(m.MIC, undefined);
    assert.equal(m.MicOffset, undefined);
    assert.equal(m.layout!.PayloadStart, 72);
    assert.equal(ntlmResponseKind(m), mc.kind);
    assert.deepEqual(writeAuthenticateMessage(m), bytes);
    // The canonical layout (Windows order) gives the same bytes for these examples.
    const { layout: _l, raw: _r, ...plain } = m;
    assert.deepEqual(writeAuthenticateMessage(plain), bytes);
  });
}

test('MS-NLMP 4.2.4: the NTLMv2 response parses into NTProofStr and NTLMv2_CLIENT_CHALLENGE', () => {
  const nt = hex(byId('v2_NTLMv2Response').expected!.NtChallengeResponse!);
  const r = parseNtlmv2Response(nt);
  assert.equal(toHex(r.NTProofStr), byId('v2_NTLMv2Response').expected!.NTProofStr);
  assert.equal(toHex(r.temp), byId('v2_temp').expected!.temp);
  const cc = r.ClientChallenge;
  assert.equal(cc.RespType, 1);
  assert.equal(cc.HiRespType, 1);
  assert.equal(cc.TimeStamp, 0n);
  assert.equal(toHex(cc.ChallengeFromClient), common.ClientChallenge);
  assert.deepEqual(avPairsByName(cc.AvPairs), { MsvAvNbDomainName: 'Domain', MsvAvNbComputerName: 'Server' });
  assert.deepEqual(cc.AvPairs.Trailing, new Uint8Array(4));
  assert.deepEqual(writeNtlmv2ClientChallenge(cc), r.temp);
  assert.deepEqual(writeNtlmv2Response(r.NTProofStr, cc), nt);
  assert.deepEqual(writeNtlmv2Response(r.NTProofStr, r.temp), nt);
  invalidToken(() => parseNtlmv2Response(nt.subarray(0, 47)), /shorter/);
  invalidToken(() => parseNtlmv2Response(nt.subarray(0, 60)), /NTLMv2 AvPairs/);
});

// ---- curl: 32-byte NEGOTIATE without VERSION and UNICODE, 64-byte AUTHENTICATE with OEM strings.

test('curl NEGOTIATE_MESSAGE (32 bytes, no VERSION, OEM, empty fields at offset 0)', () => {
  const bytes = new Uint8Array(Buffer.from('TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=', 'base64'));
  assert.equal(bytes.length, 32);
  const m = parseNegotiateMessage(bytes);
  assert.equal(m.NegotiateFlags, NTLM_NEGOTIATE_OEM | NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_NTLM | NTLMSSP_NEGOTIATE_ALWAYS_SIGN | NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY);
  assert.equal(m.DomainName, '');
  assert.equal(m.Workstation, '');
  assert.equal(m.Version, undefined);
  assert.deepEqual(writeNegotiateMessage(m), bytes);
  // Without the parsed layout the writer still produces the 32-byte shape (offsets then point at 32).
  assert.equal(writeNegotiateMessage({ NegotiateFlags: m.NegotiateFlags, DomainName: '', Workstation: '' }).length, 32);
});

test('NEGOTIATE_MESSAGE with OEM DomainName and Workstation (workstation first) round-trips', () => {
  const flags = NTLM_NEGOTIATE_OEM | NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_NTLM | NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED | NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED;
  const b = Buffer.alloc(32 + 6 + 7);
  b.write('NTLMSSP\0', 0, 'latin1');
  b.writeUInt32LE(1, 8);
  b.writeUInt32LE(flags, 12);
  b.writeUInt16LE(7, 16), b.writeUInt16LE(7, 18), b.writeUInt32LE(38, 20); // DomainName
  b.writeUInt16LE(6, 24), b.writeUInt16LE(6, 26), b.writeUInt32LE(32, 28); // Workstation
  b.write('MYHOST', 32, 'latin1');
  b.write('EXAMPLE', 38, 'latin1');
  const bytes = new Uint8Array(b);
  const m = parseNegotiateMessage(bytes);
  assert.equal(m.DomainName, 'EXAMPLE');
  assert.equal(m.Workstation, 'MYHOST');
  assert.equal(m.Version, undefined);
  assert.deepEqual(writeNegotiateMessage(m), bytes);
  // A latin1 byte above 0x7f decodes to the same code point and back.
  b[38] = 0xc9;
  assert.equal(parseNegotiateMessage(new Uint8Array(b)).DomainName, '\u00c9XAMPLE');
  assert.deepEqual(writeNegotiateMessage(parseNegotiateMessage(new Uint8Array(b))), new Uint8Array(b));
});

test('40-byte NEGOTIATE_MESSAGE with VERSION (Windows, gss-ntlmssp)', () => {
  const bytes = new Uint8Array(Buffer.from('TlRMTVNTUAABAAAAl4II4gAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==', 'base64'));
  assert.equal(bytes.length, 40);
  const m = parseNegotiateMessage(bytes);
  assert.equal(m.NegotiateFlags, 0xe2088297);
  assert.ok(m.NegotiateFlags & NTLMSSP_NEGOTIATE_VERSION);
  assert.deepEqual(m.Version, { ProductMajorVersion: 10, ProductMinorVersion: 0, ProductBuild: 19041, NTLMRevisionCurrent: 15 });
  assert.deepEqual(writeNegotiateMessage(m), bytes);
  const fresh = writeNegotiateMessage({ NegotiateFlags: m.NegotiateFlags, DomainName: '', Workstation: '', Version: m.Version! });
  assert.equal(fresh.length, 40);
  assert.deepEqual(parseNegotiateMessage(fresh).Version, m.Version);
});

test('16-byte NEGOTIATE_MESSAGE (flags only) parses and rewrites', () => {
  const bytes = hex('4e544c4d5353500001000000' + '07820000');
  const m = parseNegotiateMessage(bytes);
  assert.equal(m.NegotiateFlags, 0x8207);
  assert.equal(m.DomainName, '');
  assert.deepEqual(writeNegotiateMessage(m), bytes);
});

function curlAuthenticate(nt: Uint8Array, flags: number): Uint8Array {
  const lm = new Uint8Array(24).fill(0x11);
  const domain = Buffer.from('EXAMPLE', 'latin1');
  const user = Buffer.from('user', 'latin1');
  const host = Buffer.from('MYHOST', 'latin1');
  const total = 64 + lm.length + nt.length + domain.length + user.length + host.length;
  const b = Buffer.alloc(total);
  b.write('NTLMSSP\0', 0, 'latin1');
  b.writeUInt32LE(3, 8);
  let off = 64;
  const put = (at: number, data: Uint8Array): void => {
    b.writeUInt16LE(data.length, at);
    b.writeUInt16LE(data.length, at + 2);
    b.writeUInt32LE(off, at + 4);
    b.set(data, off);
    off += data.length;
  };
  // curl's order: responses first, then domain, user, host; the empty session key points at the end.
  put(12, lm);
  put(20, nt);
  put(28, domain);
  put(36, user);
  put(44, host);
  put(52, new Uint8Array(0));
  b.writeUInt32LE(flags, 60);
  return new Uint8Array(b);
}

test('curl AUTHENTICATE_MESSAGE (64-byte header, OEM strings, no VERSION, no MIC)', () => {
  const nt = hex(byId('v2_NTLMv2Response').expected!.NtChallengeResponse!);
  const flags = NTLM_NEGOTIATE_OEM | NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_NTLM | NTLMSSP_NEGOTIATE_ALWAYS_SIGN | NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY;
  const bytes = curlAuthenticate(nt, flags);
  const m = parseAuthenticateMessage(bytes);
  assert.equal(m.NegotiateFlags, flags);
  assert.equal(m.DomainName, 'EXAMPLE');
  assert.equal(m.UserName, 'user');
  assert.equal(m.Workstation, 'MYHOST');
  assert.deepEqual(m.NtChallengeResponse, nt);
  assert.deepEqual(m.LmChallengeResponse, new Uint8Array(24).fill(0x11));
  assert.deepEqual(m.EncryptedRandomSessionKey, new Uint8Array(0));
  assert.equal(m.Version, undefined);
  assert.equal(m.MIC, undefined);
  assert.equal(m.layout!.PayloadStart, 64);
  assert.equal(ntlmResponseKind(m), 'NTLMv2');
  assert.deepEqual(writeAuthenticateMessage(m), bytes);
  // The VERSION flag without the slot is fine too: the layout decides.
  const withFlag = curlAuthenticate(nt, flags | NTLMSSP_NEGOTIATE_VERSION);
  assert.equal(parseAuthenticateMessage(withFlag).Version, undefined);
});

function sampleAuth(over: Partial<AUTHENTICATE_MESSAGE> = {}): AUTHENTICATE_MESSAGE {
  return {
    NegotiateFlags:
      NTLMSSP_NEGOTIATE_UNICODE | NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_NTLM | NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY |
      NTLMSSP_NEGOTIATE_TARGET_INFO | NTLMSSP_NEGOTIATE_VERSION | NTLMSSP_NEGOTIATE_KEY_EXCH | NTLMSSP_NEGOTIATE_56,
    LmChallengeResponse: new Uint8Array(24),
    NtChallengeResponse: hex(byId('v2_NTLMv2Response').expected!.NtChallengeResponse!),
    DomainName: 'DOMAIN',
    UserName: 'üser',
    Workstation: 'WS',
    EncryptedRandomSessionKey: new Uint8Array(16).fill(7),
    ...over,
  };
}

test('the AUTHENTICATE writer produces the 64-, 72- and 88-byte shapes', () => {
  const v = { ProductMajorVersion: 10, ProductMinorVersion: 0, ProductBuild: 20348, NTLMRevisionCurrent: 15 };
  const mic = new Uint8Array(16).fill(0xab);
  for (const [over, header] of [
    [{}, 64],
    [{ Version: v }, 72],
    [{ Version: v, MIC: mic }, 88],
  ] as const) {
    const bytes = writeAuthenticateMessage(sampleAuth(over));
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    assert.equal(dv.getUint32(28 + 4, true), header, 'DomainName comes first, right after the header');
    const m = parseAuthenticateMessage(bytes);
    assert.equal(m.layout!.PayloadStart, header);
    assert.equal(m.UserName, 'üser');
    assert.deepEqual(m.Version, 'Version' in over ? v : undefined);
    assert.deepEqual(m.MIC, 'MIC' in over ? mic : undefined);
    assert.equal(m.MicOffset, 'MIC' in over ? AUTHENTICATE_MIC_OFFSET : undefined);
    assert.deepEqual(writeAuthenticateMessage(m), bytes);
  }
});

test('MIC: recorded with its offset, and zeroed for verification (MS-NLMP 3.2.5.1.2)', () => {
  const mic = hex('00112233445566778899aabbccddeeff');
  const bytes = writeAuthenticateMessage(sampleAuth({ Version: { ProductMajorVersion: 6, ProductMinorVersion: 1, ProductBuild: 7601, NTLMRevisionCurrent: 15 }, MIC: mic }));
  const m = parseAuthenticateMessage(bytes);
  assert.equal(m.MicOffset, 72);
  assert.deepEqual(bytes.subarray(72, 88), mic);
  const zeroed = authenticateMessageWithZeroMic(m);
  assert.deepEqual(zeroed.subarray(72, 88), new Uint8Array(16));
  assert.deepEqual(zeroed.subarray(0, 72), bytes.subarray(0, 72));
  assert.deepEqual(zeroed.subarray(88), bytes.subarray(88));
  assert.deepEqual(m.raw, bytes, 'raw is untouched');
  // A client fills in the MIC after writing with zeros: same layout either way.
  const withZero = writeAuthenticateMessage(sampleAuth({ Version: m.Version!, MIC: new Uint8Array(16) }));
  assert.deepEqual(withZero, zeroed);
  // Without a MIC slot there is nothing to zero.
  const noMic = parseAuthenticateMessage(writeAuthenticateMessage(sampleAuth()));
  assert.deepEqual(authenticateMessageWithZeroMic(noMic), noMic.raw);
});

test('a payload starting between 72 and 88 means VERSION without MIC', () => {
  const bytes = writeAuthenticateMessage(sampleAuth({ Version: { ProductMajorVersion: 1, ProductMinorVersion: 2, ProductBuild: 3, NTLMRevisionCurrent: 15 } }));
  // Move every payload 8 bytes later (a gap after VERSION).
  const b = Buffer.alloc(bytes.length + 8);
  b.set(bytes.subarray(0, 72), 0);
  b.set(bytes.subarray(72), 80);
  for (let at = 12; at < 60; at += 8) b.writeUInt32LE(b.readUInt32LE(at + 4) + 8, at + 4);
  const m = parseAuthenticateMessage(new Uint8Array(b));
  assert.equal(m.layout!.PayloadStart, 80);
  assert.equal(m.MIC, undefined);
  assert.equal(m.Version!.ProductBuild, 3);
  assert.equal(m.UserName, 'üser');
  assert.deepEqual(writeAuthenticateMessage(m), new Uint8Array(b));
});

test('anonymous AUTHENTICATE_MESSAGE (MS-NLMP 3.2.5.1.2)', () => {
  const m = parseAuthenticateMessage(
    writeAuthenticateMessage({
      NegotiateFlags: NTLMSSP_NEGOTIATE_UNICODE,
      LmChallengeResponse: new Uint8Array(1),
      NtChallengeResponse: new Uint8Array(0),
      DomainName: '',
      UserName: '',
      Workstation: '',
      EncryptedRandomSessionKey: new Uint8Array(0),
    }),
  );
  assert.equal(ntlmResponseKind(m), 'Anonymous');
});

test('CHALLENGE_MESSAGE: older 32-, 40- and 48-byte forms parse and rewrite', () => {
  const name = Buffer.from('SERVER', 'utf16le');
  const build = (header: number, reserved?: Uint8Array, targetInfo?: Uint8Array): Uint8Array => {
    const b = Buffer.alloc(header + name.length + (targetInfo?.length ?? 0));
    b.write('NTLMSSP\0', 0, 'latin1');
    b.writeUInt32LE(2, 8);
    b.writeUInt16LE(name.length, 12), b.writeUInt16LE(name.length, 14), b.writeUInt32LE(header, 16);
    b.writeUInt32LE(NTLMSSP_NEGOTIATE_UNICODE | NTLMSSP_NEGOTIATE_NTLM, 20);
    b.set(hex('0123456789abcdef'), 24);
    if (reserved) b.set(reserved, 32);
    if (targetInfo) {
      b.writeUInt16LE(targetInfo.length, 40), b.writeUInt16LE(targetInfo.length, 42), b.writeUInt32LE(header + name.length, 44);
      b.set(targetInfo, header + name.length);
    }
    b.set(name, header);
    return new Uint8Array(b);
  };
  const ti = writeAvPairs({ pairs: [{ kind: 'string', AvId: MsvAvNbDomainName, Value: 'D' }] });
  for (const bytes of [build(32), build(40, hex('0102030405060708')), build(48, undefined, ti)]) {
    const m = parseChallengeMessage(bytes);
    assert.equal(m.TargetName, 'SERVER');
    assert.equal(toHex(m.ServerChallenge), '0123456789abcdef');
    assert.equal(m.Version, undefined);
    assert.deepEqual(writeChallengeMessage(m), bytes);
  }
  assert.deepEqual(parseChallengeMessage(build(40, hex('0102030405060708'))).Reserved, hex('0102030405060708'));
  assert.equal(parseChallengeMessage(build(48, undefined, ti)).TargetInfoPairs!.pairs.length, 1);
});

test('CHALLENGE writer: TargetInfoPairs wins over TargetInfo bytes; OEM TargetName', () => {
  const bytes = writeChallengeMessage({
    NegotiateFlags: NTLM_NEGOTIATE_OEM | NTLMSSP_NEGOTIATE_TARGET_INFO,
    TargetName: 'SRV',
    ServerChallenge: new Uint8Array(8).fill(1),
    TargetInfo: hex('deadbeef'),
    TargetInfoPairs: { pairs: [{ kind: 'flags', AvId: 6, Value: 2 }] },
  });
  assert.equal(bytes.length, 48 + 3 + 12);
  const m = parseChallengeMessage(bytes);
  assert.equal(m.TargetName, 'SRV');
  assert.equal(toHex(m.TargetInfo), '0600040002000000' + '00000000');
});

test('ntlmMessageType and isNtlmMessage', () => {
  assert.equal(isNtlmMessage(hex('4e544c4d535350000100000000000000')), true);
  assert.equal(isNtlmMessage(hex('4e544c4d5353500001')), false);
  assert.equal(ntlmMessageType(hex('4e544c4d5353500004000000')), 4);
  invalidToken(() => ntlmMessageType(hex('4e544c4d53535000')), /12-byte/);
  invalidToken(() => ntlmMessageType(hex('4e544c4d53535001010000000000000000000000')), /signature/);
});

test('strict: bad input is SEC_E_INVALID_TOKEN, never another exception', () => {
  const auth = hex(byId('v2_messages').expected!.AUTHENTICATE_MESSAGE!);
  const chal = hex(byId('v2_messages').expected!.CHALLENGE_MESSAGE!);
  const neg = new Uint8Array(Buffer.from('TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=', 'base64'));
  const mutate = (b: Uint8Array, at: number, bytesHex: string): Uint8Array => {
    const c = b.slice();
    c.set(hex(bytesHex), at);
    return c;
  };
  invalidToken(() => parseAuthenticateMessage(mutate(auth, 0, '58')), /signature/);
  invalidToken(() => parseChallengeMessage(auth), /MessageType is 3, expected 2/);
  invalidToken(() => parseNegotiateMessage(chal), /MessageType/);
  invalidToken(() => parseAuthenticateMessage(auth.subarray(0, 63)), /header needs 64/);
  invalidToken(() => parseChallengeMessage(chal.subarray(0, 31)), /header needs 32/);
  invalidToken(() => parseNegotiateMessage(neg.subarray(0, 15)), /header needs 16/);
  invalidToken(() => parseAuthenticateMessage(auth.subarray(0, 11)), /12-byte/);
  // NtChallengeResponse offset far past the end, and length running past the end.
  invalidToken(() => parseAuthenticateMessage(mutate(auth, 24, 'ffffff7f')), /runs past/);
  invalidToken(() => parseAuthenticateMessage(mutate(auth, 20, 'ffff')), /runs past/);
  invalidToken(() => parseAuthenticateMessage(auth.subarray(0, auth.length - 1)), /runs past/);
  // A non-empty field pointing into the fixed header.
  invalidToken(() => parseAuthenticateMessage(mutate(auth, 24, '28000000')), /overlaps the fixed header/);
  // An empty field whose offset is outside the message.
  invalidToken(() => parseAuthenticateMessage(mutate(auth, 52, '00000000ffff0000')), /outside/);
  // Odd-length Unicode string.
  invalidToken(() => parseAuthenticateMessage(mutate(auth, 36, '0700')), /odd length/);
  invalidToken(() => parseChallengeMessage(mutate(chal, 12, '0b00')), /odd length/);
  // TargetInfo without MsvAvEOL.
  invalidToken(() => parseChallengeMessage(mutate(chal, 40, '2000')), /TargetInfo/);
  // Absurd sizes and non-bytes.
  const huge = new Uint8Array(0x10001);
  huge.set(auth);
  invalidToken(() => parseAuthenticateMessage(huge), /larger than any NTLM message/);
  invalidToken(() => parseNegotiateMessage('TlRMTVNT' as unknown as Uint8Array), /not a byte array/);
  invalidToken(() => parseNtlmv2Response(null as unknown as Uint8Array), /not a byte array/);
});

test('Buffer input gives independent plain Uint8Array copies', () => {
  const buf = Buffer.from(byId('v2_messages').expected!.AUTHENTICATE_MESSAGE!, 'hex');
  const m = parseAuthenticateMessage(buf);
  assert.equal(Object.getPrototypeOf(m.NtChallengeResponse), Uint8Array.prototype);
  const before = toHex(m.EncryptedRandomSessionKey);
  buf.fill(0);
  assert.equal(toHex(m.EncryptedRandomSessionKey), before);
});

test('writers reject what cannot be encoded', () => {
  const param = (e: unknown): boolean => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER);
  assert.throws(() => writeNegotiateMessage({ NegotiateFlags: 0, DomainName: 'Ω', Workstation: '' }), param);
  assert.throws(() => writeChallengeMessage({ NegotiateFlags: 0, TargetName: '', ServerChallenge: new Uint8Array(7), TargetInfo: new Uint8Array(0) }), param);
  assert.throws(() => writeAuthenticateMessage(sampleAuth({ MIC: new Uint8Array(15) })), param);
  assert.throws(() => writeAuthenticateMessage(sampleAuth({ NtChallengeResponse: new Uint8Array(0x10000) })), param);
});
