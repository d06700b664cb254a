import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { fromHex, toHex, utf16le } from '../../../../src/crypto/bytes.js';
import { hmacMd5, md5 } from '../../../../src/crypto/hmac.js';
import { md4 } from '../../../../src/crypto/md4.js';
import {
  AUTHENTICATE_MIC_OFFSET,
  ComputeResponseNTLMv1,
  ComputeResponseNTLMv2,
  DESL,
  KXKEY,
  LMOWFv1,
  LMOWFv2,
  NTLMv2Temp,
  NTOWFv1,
  NTOWFv2,
  SEALKEY,
  SIGNKEY,
  channelBindingsHash,
  channelBindingsHashFromApplicationData,
  computeMIC,
  decryptRandomSessionKey,
  encryptRandomSessionKey,
  expectedNTLMv1Response,
  negotiatedSecurityFromFlags,
  splitNTLMv2Response,
  verifyLMv2Response,
  verifyMIC,
  verifyNTLMv2Response,
} from '../../../../src/packages/ntlm/crypto.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';

// ---- ntlm.json (verbatim copy of the shared MS-NLMP 4.2 vectors) ----------------------------
interface NtlmCase {
  id: string;
  inputs?: Record<string, string | number>;
  values?: Record<string, string>;
  expected?: Record<string, string>;
}
const cases = (JSON.parse(readFileSync(new URL('../../../fixtures/vectors/ntlm.json', import.meta.url), 'utf8')) as { cases: NtlmCase[] }).cases;
const byId = (id: string): NtlmCase => {
  const c = cases.find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id}`);
  return c;
};
// A field as a string; a missing field throws, so no assertion silently passes on undefined.
const get = (id: string, part: 'inputs' | 'values' | 'expected', name: string): string => {
  const v = byId(id)[part]?.[name];
  if (v === undefined) throw new Error(`${id}.${part}.${name} missing`);
  return String(v);
};
const hex = (id: string, part: 'inputs' | 'values' | 'expected', name: string): Uint8Array => fromHex(get(id, part, name));

// ---- 4.2.1 common values ----------------------------------------------------------------------
const common = (name: string): string => get('common_values', 'values', name);
const User = common('User');
const UserDom = common('UserDom');
const Passwd = common('Passwd');
const RandomSessionKey = fromHex(common('RandomSessionKey'));
const Time = fromHex(common('Time'));
const ClientChallenge = fromHex(common('ClientChallenge'));
const ServerChallenge = fromHex(common('ServerChallenge'));

// Minimal reading of the message fields that carry crypto values (MS-NLMP 2.2.1.2/2.2.1.3).
// The wire formats themselves are tested with the message codec; here only the embedded bytes.
function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
function secBuf(msg: Uint8Array, fieldOffset: number): Uint8Array {
  const len = u16(msg, fieldOffset);
  const off = u32(msg, fieldOffset + 4);
  return msg.subarray(off, off + len);
}
function authFields(msg: Uint8Array) {
  return {
    Lm: secBuf(msg, 12),
    Nt: secBuf(msg, 20),
    Domain: secBuf(msg, 28),
    User: secBuf(msg, 36),
    EncryptedRandomSessionKey: secBuf(msg, 52),
    NegotiateFlags: u32(msg, 60),
  };
}
function challengeFields(msg: Uint8Array) {
  return { NegotiateFlags: u32(msg, 20), ServerChallenge: msg.subarray(24, 32), TargetInfo: secBuf(msg, 40) };
}

// Every case id this file (or signing.test.ts, for the GSS_WrapEx cases) asserts.
const COVERED_HERE = new Set([
  'common_values', 'v1_flags', 'v1_LMOWFv1', 'v1_NTOWFv1', 'v1_session_base_key', 'v1_NTLMv1Response', 'v1_LMv1Response',
  'v1_EncryptedSessionKey', 'v1_messages', 'ess_flags', 'ess_keys_and_responses', 'ess_messages', 'v2_flags', 'v2_NTOWFv2',
  'v2_session_base_key', 'v2_temp', 'v2_LMv2Response', 'v2_NTLMv2Response', 'v2_EncryptedSessionKey', 'v2_messages',
  'extra_server_and_reduced_keys', 'extra_channel_bindings_md5',
  // GSS_WrapEx keys are asserted here; sealed data and signatures in signing.test.ts.
  'v1_GSS_WrapEx', 'ess_GSS_WrapEx', 'v2_GSS_WrapEx',
]);

describe('ntlm.json coverage', () => {
  it('every case in the vector file is asserted somewhere', () => {
    assert.equal(cases.length, 25);
    for (const c of cases) assert.ok(COVERED_HERE.has(c.id), `case ${c.id} is not covered`);
  });

  it('4.2.1 common values are the UTF-16LE strings the other cases use', () => {
    for (const n of ['User', 'UserDom', 'Passwd', 'ServerName', 'WorkstationName']) {
      assert.equal(toHex(utf16le(common(n))), common(`${n}_utf16le`), n);
    }
    assert.equal(toHex(utf16le(common('Plaintext_for_GSS_WrapEx'))), common('Plaintext_utf16le'));
  });

  it('flag cases decode to the options the key derivation uses', () => {
    const v1 = negotiatedSecurityFromFlags(parseInt(get('v1_flags', 'values', 'NegotiateFlags_u32'), 16));
    assert.deepEqual(v1, { extendedSessionSecurity: false, negotiate128: true, negotiate56: true, lmKey: false, datagram: false, keyExchange: true, requestNonNtSessionKey: false });
    assert.equal(toHex(Uint8Array.from(Buffer.from(get('v1_flags', 'values', 'NegotiateFlags_u32'), 'hex').reverse())), get('v1_flags', 'values', 'NegotiateFlags_le'));
    const ess = negotiatedSecurityFromFlags(parseInt(get('ess_flags', 'values', 'NegotiateFlags_u32'), 16));
    assert.deepEqual(ess, { extendedSessionSecurity: true, negotiate128: false, negotiate56: true, lmKey: false, datagram: false, keyExchange: false, requestNonNtSessionKey: false });
    const v2 = negotiatedSecurityFromFlags(parseInt(get('v2_flags', 'values', 'NegotiateFlags_u32'), 16));
    assert.deepEqual(v2, { extendedSessionSecurity: true, negotiate128: true, negotiate56: true, lmKey: false, datagram: false, keyExchange: true, requestNonNtSessionKey: false });
  });
});

describe('MS-NLMP 4.2.2 NTLM v1', () => {
  const ResponseKeyNT = NTOWFv1(Passwd);
  const ResponseKeyLM = LMOWFv1(Passwd);

  it('4.2.2.1.1 LMOWFv1 and 4.2.2.1.2 NTOWFv1', () => {
    assert.equal(toHex(ResponseKeyLM), get('v1_LMOWFv1', 'expected', 'ResponseKeyLM'));
    assert.equal(toHex(LMOWFv1(get('v1_LMOWFv1', 'inputs', 'Passwd'))), get('v1_LMOWFv1', 'expected', 'ResponseKeyLM'));
    assert.equal(toHex(md4(hex('v1_NTOWFv1', 'inputs', 'Passwd_utf16le'))), get('v1_NTOWFv1', 'expected', 'ResponseKeyNT'));
    assert.equal(toHex(ResponseKeyNT), get('v1_NTOWFv1', 'expected', 'ResponseKeyNT'));
    // LM is case-insensitive: the password is upper-cased first.
    assert.deepEqual(LMOWFv1('pAsSwOrD'), ResponseKeyLM);
  });

  it('4.2.2.2.1 NTLMv1 response and 4.2.2.2.2 LMv1 response', () => {
    assert.equal(toHex(DESL(hex('v1_NTLMv1Response', 'inputs', 'ResponseKeyNT'), hex('v1_NTLMv1Response', 'inputs', 'ServerChallenge'))), get('v1_NTLMv1Response', 'expected', 'NtChallengeResponse'));
    assert.equal(toHex(DESL(hex('v1_LMv1Response', 'inputs', 'ResponseKeyLM'), hex('v1_LMv1Response', 'inputs', 'ServerChallenge'))), get('v1_LMv1Response', 'expected', 'LmChallengeResponse'));
    const r = ComputeResponseNTLMv1({ ResponseKeyNT, ResponseKeyLM, ServerChallenge, extendedSessionSecurity: false });
    assert.equal(toHex(r.NtChallengeResponse), get('v1_NTLMv1Response', 'expected', 'NtChallengeResponse'));
    assert.equal(toHex(r.LmChallengeResponse), get('v1_LMv1Response', 'expected', 'LmChallengeResponse'));
    assert.equal(toHex(r.SessionBaseKey), get('v1_session_base_key', 'expected', 'SessionBaseKey'));
    // The server recomputes the same NT response.
    assert.deepEqual(expectedNTLMv1Response(ResponseKeyNT, ServerChallenge, r.LmChallengeResponse, false), r.NtChallengeResponse);
  });

  it('LM response rules: NoLMResponseNTLMv1 and NT-hash-only credentials copy the NT response', () => {
    const nt = get('v1_NTLMv1Response', 'expected', 'NtChallengeResponse');
    const noLm = ComputeResponseNTLMv1({ ResponseKeyNT, ResponseKeyLM, ServerChallenge, extendedSessionSecurity: false, noLMResponse: true });
    assert.equal(toHex(noLm.LmChallengeResponse), nt);
    const ntOnly = ComputeResponseNTLMv1({ ResponseKeyNT, ResponseKeyLM: null, ServerChallenge, extendedSessionSecurity: false });
    assert.equal(toHex(ntOnly.LmChallengeResponse), nt);
    // A copy, not the same array: zeroing one must not clobber the other.
    assert.notEqual(ntOnly.LmChallengeResponse, ntOnly.NtChallengeResponse);
    const anon = ComputeResponseNTLMv1({ ResponseKeyNT, ServerChallenge, extendedSessionSecurity: false, anonymous: true });
    assert.equal(anon.NtChallengeResponse.length, 0);
    assert.equal(toHex(anon.LmChallengeResponse), '00');
  });

  it('4.2.2.1.3 session base key and the three KXKEY variants', () => {
    const SessionBaseKey = md4(hex('v1_session_base_key', 'inputs', 'ResponseKeyNT'));
    assert.equal(toHex(SessionBaseKey), get('v1_session_base_key', 'expected', 'SessionBaseKey'));
    const LmChallengeResponse = hex('v1_LMv1Response', 'expected', 'LmChallengeResponse');
    const base = { SessionBaseKey, LmChallengeResponse, ServerChallenge, LMOWF: ResponseKeyLM };
    assert.equal(toHex(KXKEY(base)), get('v1_session_base_key', 'expected', 'KeyExchangeKey_default'));
    assert.equal(toHex(KXKEY({ ...base, requestNonNtSessionKey: true })), get('v1_session_base_key', 'expected', 'KeyExchangeKey_REQUEST_NON_NT_SESSION_KEY'));
    assert.equal(toHex(KXKEY({ ...base, lmKey: true })), get('v1_session_base_key', 'expected', 'KeyExchangeKey_NEGOTIATE_LM_KEY'));
    // LM_KEY takes precedence over NON_NT_SESSION_KEY (MS-NLMP 3.4.5.1).
    assert.equal(toHex(KXKEY({ ...base, lmKey: true, requestNonNtSessionKey: true })), get('v1_session_base_key', 'expected', 'KeyExchangeKey_NEGOTIATE_LM_KEY'));
    assert.throws(() => KXKEY({ ...base, LMOWF: null, lmKey: true }), SspiError);
  });

  it('4.2.2.2.3 encrypted session key for each KXKEY variant', () => {
    const variants: [string, string][] = [
      ['KeyExchangeKey_default', 'EncryptedRandomSessionKey_default'],
      ['KeyExchangeKey_REQUEST_NON_NT_SESSION_KEY', 'EncryptedRandomSessionKey_REQUEST_NON_NT_SESSION_KEY'],
      ['KeyExchangeKey_NEGOTIATE_LM_KEY', 'EncryptedRandomSessionKey_NEGOTIATE_LM_KEY'],
    ];
    assert.equal(toHex(RandomSessionKey), get('v1_EncryptedSessionKey', 'inputs', 'RandomSessionKey'));
    for (const [kx, enc] of variants) {
      const KeyExchangeKey = hex('v1_session_base_key', 'expected', kx);
      const e = encryptRandomSessionKey(KeyExchangeKey, RandomSessionKey);
      assert.equal(toHex(e), get('v1_EncryptedSessionKey', 'expected', enc), enc);
      assert.deepEqual(decryptRandomSessionKey(KeyExchangeKey, e), RandomSessionKey);
    }
  });

  it('4.2.2.3 messages carry the computed responses and encrypted key', () => {
    const ch = challengeFields(hex('v1_messages', 'expected', 'CHALLENGE_MESSAGE'));
    assert.deepEqual(ch.ServerChallenge, ServerChallenge);
    assert.equal(ch.NegotiateFlags, parseInt(get('v1_flags', 'values', 'NegotiateFlags_u32'), 16));
    const a = authFields(hex('v1_messages', 'expected', 'AUTHENTICATE_MESSAGE'));
    const r = ComputeResponseNTLMv1({ ResponseKeyNT, ResponseKeyLM, ServerChallenge: ch.ServerChallenge, extendedSessionSecurity: false });
    assert.deepEqual(a.Lm, r.LmChallengeResponse);
    assert.deepEqual(a.Nt, r.NtChallengeResponse);
    assert.deepEqual(a.Domain, utf16le(UserDom));
    assert.deepEqual(a.User, utf16le(User));
    assert.equal(a.NegotiateFlags, 0xe2808235);
    const KeyExchangeKey = KXKEY({ SessionBaseKey: r.SessionBaseKey, LmChallengeResponse: a.Lm, ServerChallenge, LMOWF: ResponseKeyLM });
    assert.deepEqual(a.EncryptedRandomSessionKey, encryptRandomSessionKey(KeyExchangeKey, RandomSessionKey));
    assert.equal(toHex(a.EncryptedRandomSessionKey), get('v1_EncryptedSessionKey', 'expected', 'EncryptedRandomSessionKey_default'));
  });

  it('4.2.2.4 GSS_WrapEx keys: without ESS the seal key is the exported key and there is no sign key', () => {
    const flags = negotiatedSecurityFromFlags(parseInt(get('v1_GSS_WrapEx', 'inputs', 'NegotiateFlags_u32'), 16));
    const key = hex('v1_GSS_WrapEx', 'inputs', 'ExportedSessionKey');
    assert.equal(toHex(SEALKEY(flags, key, 'Client')), get('v1_GSS_WrapEx', 'inputs', 'SealKey'));
    assert.equal(toHex(SEALKEY(flags, key, 'Server')), get('v1_GSS_WrapEx', 'inputs', 'SealKey'));
    assert.equal(SIGNKEY(flags, key, 'Client'), null);
  });
});

describe('MS-NLMP 4.2.3 NTLM v1 with client challenge (ESS)', () => {
  const id = 'ess_keys_and_responses';
  const ResponseKeyNT = hex(id, 'inputs', 'ResponseKeyNT');

  it('4.2.3.2 responses, session base key and key exchange key', () => {
    const r = ComputeResponseNTLMv1({
      ResponseKeyNT,
      ResponseKeyLM: LMOWFv1(Passwd),
      ServerChallenge: hex(id, 'inputs', 'ServerChallenge'),
      ClientChallenge: hex(id, 'inputs', 'ClientChallenge'),
      extendedSessionSecurity: true,
    });
    assert.equal(toHex(r.NtChallengeResponse), get(id, 'expected', 'NtChallengeResponse'));
    assert.equal(toHex(r.LmChallengeResponse), get(id, 'expected', 'LmChallengeResponse'));
    assert.equal(toHex(r.SessionBaseKey), get(id, 'expected', 'SessionBaseKey'));
    const kx = KXKEY({ SessionBaseKey: r.SessionBaseKey, LmChallengeResponse: r.LmChallengeResponse, ServerChallenge, extendedSessionSecurity: true });
    assert.equal(toHex(kx), get(id, 'expected', 'KeyExchangeKey'));
    // ESS takes precedence over LM_KEY in KXKEY (MS-NLMP 3.4.5.1).
    assert.deepEqual(KXKEY({ SessionBaseKey: r.SessionBaseKey, LmChallengeResponse: r.LmChallengeResponse, ServerChallenge, extendedSessionSecurity: true, lmKey: true, LMOWF: LMOWFv1(Passwd) }), kx);
    // The server takes the client challenge from the LM response.
    assert.deepEqual(expectedNTLMv1Response(ResponseKeyNT, ServerChallenge, r.LmChallengeResponse, true), r.NtChallengeResponse);
    // NTresp = DESL(K, MD5(SC || CC)[0..7]).
    assert.deepEqual(r.NtChallengeResponse, DESL(ResponseKeyNT, md5(ServerChallenge, ClientChallenge).subarray(0, 8)));
  });

  it('requires a client challenge', () => {
    assert.throws(() => ComputeResponseNTLMv1({ ResponseKeyNT, ServerChallenge, extendedSessionSecurity: true }), SspiError);
  });

  it('4.2.3.3 messages carry the ESS responses', () => {
    const ch = challengeFields(hex('ess_messages', 'expected', 'CHALLENGE_MESSAGE'));
    assert.deepEqual(ch.ServerChallenge, ServerChallenge);
    assert.equal(ch.NegotiateFlags, parseInt(get('ess_flags', 'values', 'NegotiateFlags_u32'), 16));
    const a = authFields(hex('ess_messages', 'expected', 'AUTHENTICATE_MESSAGE'));
    assert.equal(toHex(a.Lm), get(id, 'expected', 'LmChallengeResponse'));
    assert.equal(toHex(a.Nt), get(id, 'expected', 'NtChallengeResponse'));
    assert.deepEqual(expectedNTLMv1Response(ResponseKeyNT, ch.ServerChallenge, a.Lm, true), a.Nt);
    assert.equal(a.EncryptedRandomSessionKey.length, 0);
    assert.equal(a.NegotiateFlags, 0x82088235);
  });

  it('4.2.3.4 GSS_WrapEx client seal and sign keys (56-bit)', () => {
    const w = 'ess_GSS_WrapEx';
    const flags = negotiatedSecurityFromFlags(parseInt(get(w, 'inputs', 'NegotiateFlags_u32'), 16));
    const key = hex(w, 'inputs', 'ExportedSessionKey');
    assert.equal(toHex(key), get(id, 'expected', 'KeyExchangeKey'));
    assert.equal(toHex(SEALKEY(flags, key, 'Client')), get(w, 'expected', 'ClientSealKey'));
    assert.equal(toHex(SIGNKEY(flags, key, 'Client')!), get(w, 'expected', 'ClientSignKey'));
  });
});

describe('MS-NLMP 4.2.4 NTLM v2', () => {
  const ResponseKeyNT = NTOWFv2(Passwd, User, UserDom);
  const ResponseKeyLM = LMOWFv2(Passwd, User, UserDom);
  const ServerName = hex('v2_flags', 'values', 'TargetInfo');
  const input = { ResponseKeyNT, ResponseKeyLM, ServerChallenge, ClientChallenge, Time, ServerName };

  it('4.2.4.1.1 NTOWFv2 and LMOWFv2, from the password or from the NT hash', () => {
    const c = 'v2_NTOWFv2';
    assert.equal(toHex(NTOWFv2(get(c, 'inputs', 'Passwd'), get(c, 'inputs', 'User'), get(c, 'inputs', 'UserDom'))), get(c, 'expected', 'ResponseKeyNT'));
    assert.equal(toHex(ResponseKeyLM), get(c, 'expected', 'ResponseKeyLM'));
    const ntHash = hex('v1_NTOWFv1', 'expected', 'ResponseKeyNT');
    assert.equal(toHex(NTOWFv2(ntHash, User, UserDom)), get(c, 'expected', 'ResponseKeyNT'));
    assert.equal(toHex(ntHash), get('v1_NTOWFv1', 'expected', 'ResponseKeyNT'), 'the NT hash argument is not zeroed');
    // User is upper-cased, the domain is not.
    assert.deepEqual(NTOWFv2(Passwd, 'user', UserDom), ResponseKeyNT);
    assert.notDeepEqual(NTOWFv2(Passwd, User, 'DOMAIN'), ResponseKeyNT);
    assert.throws(() => NTOWFv2(new Uint8Array(15), User, UserDom), SspiError);
  });

  it('4.2.4.1.3 temp', () => {
    assert.equal(toHex(NTLMv2Temp(Time, ClientChallenge, ServerName)), get('v2_temp', 'expected', 'temp'));
    assert.equal(toHex(NTLMv2Temp(0n, ClientChallenge, ServerName)), get('v2_temp', 'expected', 'temp'));
  });

  it('4.2.4.2 LMv2 and NTLMv2 responses, 4.2.4.1.2 session base key', () => {
    const r = ComputeResponseNTLMv2(input);
    assert.equal(toHex(r.NTProofStr), get('v2_NTLMv2Response', 'expected', 'NTProofStr'));
    assert.equal(toHex(r.NtChallengeResponse), get('v2_NTLMv2Response', 'expected', 'NtChallengeResponse'));
    assert.equal(toHex(r.LmChallengeResponse), get('v2_LMv2Response', 'expected', 'LmChallengeResponse'));
    assert.equal(toHex(r.SessionBaseKey), get('v2_session_base_key', 'expected', 'SessionBaseKey'));
    const kx = KXKEY({ SessionBaseKey: r.SessionBaseKey, LmChallengeResponse: r.LmChallengeResponse, ServerChallenge, ntlmv2: true });
    assert.equal(toHex(kx), get('v2_session_base_key', 'expected', 'KeyExchangeKey'));
    assert.equal(toHex(encryptRandomSessionKey(kx, RandomSessionKey)), get('v2_EncryptedSessionKey', 'expected', 'EncryptedRandomSessionKey'));
    // MS-NLMP 3.1.5.1.2: Z(24) instead of LMv2 when the server sent MsvAvTimestamp.
    assert.equal(toHex(ComputeResponseNTLMv2({ ...input, omitLMv2Response: true }).LmChallengeResponse), '00'.repeat(24));
  });

  it('server side: verifies the NTLMv2 and LMv2 responses and returns the session base key', () => {
    const nt = hex('v2_NTLMv2Response', 'expected', 'NtChallengeResponse');
    const key = verifyNTLMv2Response(ResponseKeyNT, ServerChallenge, nt);
    assert.ok(key);
    assert.equal(toHex(key), get('v2_session_base_key', 'expected', 'SessionBaseKey'));
    const split = splitNTLMv2Response(nt);
    assert.equal(toHex(split.temp), get('v2_temp', 'expected', 'temp'));
    assert.equal(verifyLMv2Response(ResponseKeyLM, ServerChallenge, hex('v2_LMv2Response', 'expected', 'LmChallengeResponse')), true);
    // Wrong password, wrong challenge, tampered temp: rejected.
    assert.equal(verifyNTLMv2Response(NTOWFv2('password', User, UserDom), ServerChallenge, nt), null);
    assert.equal(verifyNTLMv2Response(ResponseKeyNT, fromHex('0123456789abcdee'), nt), null);
    const bad = nt.slice();
    bad[40] = bad[40]! ^ 1;
    assert.equal(verifyNTLMv2Response(ResponseKeyNT, ServerChallenge, bad), null);
    assert.equal(verifyLMv2Response(ResponseKeyLM, ServerChallenge, new Uint8Array(24)), false);
    assert.equal(verifyLMv2Response(ResponseKeyLM, ServerChallenge, new Uint8Array(23)), false);
    // Too short to be an NTLMv2 response: a malformed token, not a wrong password.
    assert.throws(() => verifyNTLMv2Response(ResponseKeyNT, ServerChallenge, nt.subarray(0, 24)), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN));
  });

  it('4.2.4.3 messages carry TargetInfo, the v2 responses and the encrypted key', () => {
    const ch = challengeFields(hex('v2_messages', 'expected', 'CHALLENGE_MESSAGE'));
    assert.equal(toHex(ch.TargetInfo), get('v2_flags', 'values', 'TargetInfo'));
    assert.equal(ch.NegotiateFlags, parseInt(get('v2_flags', 'values', 'NegotiateFlags_u32'), 16));
    const a = authFields(hex('v2_messages', 'expected', 'AUTHENTICATE_MESSAGE'));
    const r = ComputeResponseNTLMv2({ ...input, ServerChallenge: ch.ServerChallenge, ServerName: ch.TargetInfo });
    assert.deepEqual(a.Nt, r.NtChallengeResponse);
    assert.deepEqual(a.Lm, r.LmChallengeResponse);
    assert.deepEqual(verifyNTLMv2Response(ResponseKeyNT, ch.ServerChallenge, a.Nt), r.SessionBaseKey);
    assert.deepEqual(decryptRandomSessionKey(r.SessionBaseKey, a.EncryptedRandomSessionKey), RandomSessionKey);
    assert.equal(a.NegotiateFlags, 0xe2888235);
  });

  it('4.2.4.4 GSS_WrapEx client seal and sign keys (128-bit)', () => {
    const w = 'v2_GSS_WrapEx';
    const flags = negotiatedSecurityFromFlags(parseInt(get(w, 'inputs', 'NegotiateFlags_u32').split(' ')[0]!, 16));
    const key = hex(w, 'inputs', 'ExportedSessionKey');
    assert.equal(toHex(SEALKEY(flags, key, 'Client')), get(w, 'expected', 'ClientSealKey'));
    assert.equal(toHex(SIGNKEY(flags, key, 'Client')!), get(w, 'expected', 'ClientSignKey'));
  });
});

describe('extras: server-side and reduced-strength keys, channel bindings', () => {
  const x = 'extra_server_and_reduced_keys';
  const key = hex('v2_GSS_WrapEx', 'inputs', 'ExportedSessionKey');
  const ess = (negotiate128: boolean, negotiate56: boolean) => ({ extendedSessionSecurity: true, negotiate128, negotiate56, lmKey: false, datagram: false });

  it('SEALKEY/SIGNKEY for both directions at 128, 56 and 40 bits', () => {
    assert.equal(toHex(SEALKEY(ess(true, true), key, 'Server')), get(x, 'expected', 'ServerSealKey_128'));
    assert.equal(toHex(SIGNKEY(ess(true, true), key, 'Server')!), get(x, 'expected', 'ServerSignKey'));
    assert.equal(toHex(SEALKEY(ess(false, true), key, 'Client')), get(x, 'expected', 'ClientSealKey_56'));
    assert.equal(toHex(SEALKEY(ess(false, true), key, 'Server')), get(x, 'expected', 'ServerSealKey_56'));
    assert.equal(toHex(SEALKEY(ess(false, false), key, 'Client')), get(x, 'expected', 'ClientSealKey_40'));
    assert.equal(toHex(SEALKEY(ess(false, false), key, 'Server')), get(x, 'expected', 'ServerSealKey_40'));
  });

  it('SEALKEY without ESS: LM_KEY (or datagram from W2K3 on) weakens to 56 or 40 bits', () => {
    const noEss = (o: { lmKey?: boolean; datagram?: boolean; negotiate56?: boolean }) => ({
      extendedSessionSecurity: false, negotiate128: false, negotiate56: !!o.negotiate56, lmKey: !!o.lmKey, datagram: !!o.datagram,
    });
    assert.equal(toHex(SEALKEY(noEss({ lmKey: true, negotiate56: true }), key, 'Client')), get(x, 'expected', 'SealKey_noESS_LM_KEY_56'));
    assert.equal(toHex(SEALKEY(noEss({ lmKey: true }), key, 'Client')), get(x, 'expected', 'SealKey_noESS_LM_KEY_40'));
    assert.equal(toHex(SEALKEY(noEss({ datagram: true, negotiate56: true }), key, 'Server')), get(x, 'expected', 'SealKey_noESS_LM_KEY_56'));
    // Before NTLMSSP_REVISION_W2K3 datagram alone does not weaken the key.
    assert.deepEqual(SEALKEY(noEss({ datagram: true }), key, 'Client', 0x0a), key);
    assert.deepEqual(SEALKEY(noEss({}), key, 'Client'), key);
  });

  it('channel-binding hash of the Microsoft tls-server-end-point example', () => {
    const c = 'extra_channel_bindings_md5';
    const app = hex(c, 'inputs', 'application_data');
    assert.equal(new TextDecoder().decode(app.subarray(0, 21)), get(c, 'inputs', 'application_data_ascii_prefix'));
    assert.equal(toHex(channelBindingsHashFromApplicationData(app)), get(c, 'expected', 'MsvAvChannelBindings'));
    const empty = new Uint8Array(0);
    assert.equal(
      toHex(channelBindingsHash({ dwInitiatorAddrType: 0, initiatorAddress: empty, dwAcceptorAddrType: 0, acceptorAddress: empty, applicationData: app })),
      get(c, 'expected', 'MsvAvChannelBindings'),
    );
  });

  it('channel-binding hash serializes addresses as RFC 4121 4.1.1.2 does', () => {
    const cb = { dwInitiatorAddrType: 2, initiatorAddress: fromHex('7f000001'), dwAcceptorAddrType: 2, acceptorAddress: fromHex('0a000001'), applicationData: fromHex('abcd') };
    const manual = fromHex('02000000' + '04000000' + '7f000001' + '02000000' + '04000000' + '0a000001' + '02000000' + 'abcd');
    assert.deepEqual(channelBindingsHash(cb), md5(manual));
  });
});

describe('MIC', () => {
  it('is HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE || AUTHENTICATE with MIC zeroed)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 60, size: 'max' }),
        fc.uint8Array({ maxLength: 120, size: 'max' }),
        fc.uint8Array({ minLength: AUTHENTICATE_MIC_OFFSET + 16, maxLength: 200, size: 'max' }),
        (key, neg, chal, auth) => {
          const before = auth.slice();
          const mic = computeMIC(key, neg, chal, auth, AUTHENTICATE_MIC_OFFSET);
          assert.deepEqual(auth, before, 'caller bytes untouched');
          const zeroed = auth.slice();
          zeroed.fill(0, AUTHENTICATE_MIC_OFFSET, AUTHENTICATE_MIC_OFFSET + 16);
          assert.deepEqual(mic, hmacMd5(key, neg, chal, zeroed));
          assert.deepEqual(computeMIC(key, neg, chal, zeroed), mic);
          // Writing the MIC into the message and recomputing with the offset verifies.
          const sent = zeroed.slice();
          sent.set(mic, AUTHENTICATE_MIC_OFFSET);
          assert.equal(verifyMIC(computeMIC(key, neg, chal, sent, AUTHENTICATE_MIC_OFFSET), sent.subarray(AUTHENTICATE_MIC_OFFSET, AUTHENTICATE_MIC_OFFSET + 16)), true);
        },
      ),
      { numRuns: 50 },
    );
    assert.throws(() => computeMIC(new Uint8Array(16), new Uint8Array(0), new Uint8Array(0), new Uint8Array(80), 72), SspiError);
  });

  it('is bound to every byte of the three messages', () => {
    const key = RandomSessionKey;
    const neg = fromHex('4e544c4d5353500001000000');
    const chal = hex('v2_messages', 'expected', 'CHALLENGE_MESSAGE');
    const auth = new Uint8Array(100);
    const mic = computeMIC(key, neg, chal, auth, AUTHENTICATE_MIC_OFFSET);
    const chal2 = chal.slice();
    chal2[30] = chal2[30]! ^ 0x80;
    assert.equal(verifyMIC(computeMIC(key, neg, chal2, auth, AUTHENTICATE_MIC_OFFSET), mic), false);
    assert.equal(verifyMIC(mic, mic.subarray(0, 15)), false);
  });
});

describe('properties', () => {
  it('NTLMv1 client responses always verify at the server, with and without ESS', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20, size: 'max' }), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.boolean(), (pw, sc, cc, essOn) => {
        const K = NTOWFv1(pw);
        const r = ComputeResponseNTLMv1({ ResponseKeyNT: K, ResponseKeyLM: LMOWFv1(pw), ServerChallenge: sc, ClientChallenge: cc, extendedSessionSecurity: essOn });
        assert.equal(r.NtChallengeResponse.length, 24);
        assert.equal(r.LmChallengeResponse.length, 24);
        assert.deepEqual(expectedNTLMv1Response(K, sc, r.LmChallengeResponse, essOn), r.NtChallengeResponse);
      }),
      { numRuns: 30 },
    );
  });

  it('NTLMv2 client responses always verify at the server and agree on the session base key', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 20, size: 'max' }), fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.uint8Array({ maxLength: 64, size: 'max' }),
        (pw, user, dom, sc, cc, time, av) => {
          const K = NTOWFv2(pw, user, dom);
          const r = ComputeResponseNTLMv2({ ResponseKeyNT: K, ResponseKeyLM: K, ServerChallenge: sc, ClientChallenge: cc, Time: time, ServerName: av });
          assert.deepEqual(verifyNTLMv2Response(K, sc, r.NtChallengeResponse), r.SessionBaseKey);
          assert.equal(verifyLMv2Response(K, sc, r.LmChallengeResponse), true);
          assert.deepEqual(NTOWFv2(NTOWFv1(pw), user, dom), K);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('session key encryption round-trips for any keys', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), (kx, rsk) => {
        assert.deepEqual(decryptRandomSessionKey(kx, encryptRandomSessionKey(kx, rsk)), rsk);
      }),
      { numRuns: 50 },
    );
  });
});
