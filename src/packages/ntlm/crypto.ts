// NTLM cryptography (MS-NLMP 3.3 responses, 3.4.5 key derivation, 3.1.5.1.2 MIC, 2.2.2.1 channel
// bindings). Pure functions over bytes: no clock, no randomness, no message parsing; callers pass
// the time, challenges and serialized AV pairs in.
import { concat, constantTimeEqual, utf16le, zero } from '../../crypto/bytes.js';
import { des7 } from '../../crypto/des.js';
import { hmacMd5, md5 } from '../../crypto/hmac.js';
import { md4 } from '../../crypto/md4.js';
import { rc4 } from '../../crypto/rc4.js';
import type { SecChannelBindings } from '../../sspi/buffers.js';
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';

import {
  NTLMSSP_NEGOTIATE_128 as NEGOTIATE_128,
  NTLMSSP_NEGOTIATE_56 as NEGOTIATE_56,
  NTLMSSP_NEGOTIATE_DATAGRAM as NEGOTIATE_DATAGRAM,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY as NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_KEY_EXCH as NEGOTIATE_KEY_EXCH,
  NTLMSSP_NEGOTIATE_LM_KEY as NEGOTIATE_LM_KEY,
  NTLMSSP_REQUEST_NON_NT_SESSION_KEY as REQUEST_NON_NT_SESSION_KEY,
  NTLMSSP_REVISION_W2K3,
} from './flags.js';

export { AUTHENTICATE_MIC_OFFSET, NTLMSSP_REVISION_W2K3 } from './flags.js';

/** The negotiated options that change key derivation and message security (MS-NLMP 3.4.5). */
export interface NegotiatedSecurity {
  /** NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY. Always true for NTLMv2 in practice. */
  extendedSessionSecurity: boolean;
  /** NTLMSSP_NEGOTIATE_128. */
  negotiate128: boolean;
  /** NTLMSSP_NEGOTIATE_56. */
  negotiate56: boolean;
  /** NTLMSSP_NEGOTIATE_LM_KEY (NTLMv1 without ESS only). */
  lmKey: boolean;
  /** NTLMSSP_NEGOTIATE_DATAGRAM (connectionless). */
  datagram: boolean;
  /** NTLMSSP_NEGOTIATE_KEY_EXCH. */
  keyExchange: boolean;
  /** NTLMSSP_REQUEST_NON_NT_SESSION_KEY. */
  requestNonNtSessionKey: boolean;
}

/** Reads the options of NegotiatedSecurity out of a NegotiateFlags value. */
export function negotiatedSecurityFromFlags(NegFlg: number): NegotiatedSecurity {
  const f = NegFlg >>> 0;
  return {
    extendedSessionSecurity: (f & NEGOTIATE_EXTENDED_SESSIONSECURITY) !== 0,
    negotiate128: (f & NEGOTIATE_128) !== 0,
    negotiate56: (f & NEGOTIATE_56) !== 0,
    lmKey: (f & NEGOTIATE_LM_KEY) !== 0,
    datagram: (f & NEGOTIATE_DATAGRAM) !== 0,
    keyExchange: (f & NEGOTIATE_KEY_EXCH) !== 0,
    requestNonNtSessionKey: (f & REQUEST_NON_NT_SESSION_KEY) !== 0,
  };
}

function requireLength(name: string, b: Uint8Array, n: number): void {
  if (b.length !== n) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `${name} must be ${n} bytes, got ${b.length}`);
  }
}

// ---------------------------------------------------------------------------------------------
// One-way functions (MS-NLMP 3.3.1, 3.3.2)

/** MS-NLMP 3.3.1 NTOWFv1: MD4(UNICODE(Passwd)), the NT hash. */
export function NTOWFv1(Passwd: string): Uint8Array {
  const u = utf16le(Passwd);
  try {
    return md4(u);
  } finally {
    u.fill(0);
  }
}

// "KGS!@#$%", the constant LM encrypts with its password halves (MS-NLMP 3.3.1).
const LM_MAGIC = Uint8Array.from([0x4b, 0x47, 0x53, 0x21, 0x40, 0x23, 0x24, 0x25]);

/**
 * MS-NLMP 3.3.1 LMOWFv1: DES(UpperCase(Passwd)[0..6], "KGS!@#$%") || DES(...[7..13], ...).
 * The OEM code page is approximated by Latin-1 ('?' for other characters), and the password is
 * truncated or zero-padded to 14 bytes as the spec says. Windows itself stores no LM hash for
 * passwords over 14 characters; callers that want that rule pass no ResponseKeyLM instead.
 */
export function LMOWFv1(Passwd: string): Uint8Array {
  const upper = Passwd.toUpperCase();
  const oem = new Uint8Array(14);
  for (let i = 0; i < 14 && i < upper.length; i++) {
    const c = upper.charCodeAt(i);
    oem[i] = c < 0x100 ? c : 0x3f;
  }
  try {
    return concat(des7(oem.subarray(0, 7), LM_MAGIC), des7(oem.subarray(7, 14), LM_MAGIC));
  } finally {
    oem.fill(0);
  }
}

/**
 * MS-NLMP 3.3.2 NTOWFv2: HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(ConcatenationOf(Uppercase(User),
 * UserDom))). `PasswdOrNtHash` is either the password or its 16-byte NT hash (NTOWFv1), so a
 * credential can be held as user + NT hash.
 */
export function NTOWFv2(PasswdOrNtHash: string | Uint8Array, User: string, UserDom: string): Uint8Array {
  let ntHash: Uint8Array;
  if (typeof PasswdOrNtHash === 'string') {
    ntHash = NTOWFv1(PasswdOrNtHash);
  } else {
    requireLength('NT hash', PasswdOrNtHash, 16);
    ntHash = PasswdOrNtHash;
  }
  const id = utf16le(User.toUpperCase() + UserDom);
  try {
    return hmacMd5(ntHash, id);
  } finally {
    if (ntHash !== PasswdOrNtHash) ntHash.fill(0);
  }
}

/** MS-NLMP 3.3.2 LMOWFv2: identical to NTOWFv2. */
export function LMOWFv2(PasswdOrNtHash: string | Uint8Array, User: string, UserDom: string): Uint8Array {
  return NTOWFv2(PasswdOrNtHash, User, UserDom);
}

/**
 * MS-NLMP 6 DESL(K, D): three DES encryptions of the 8-byte D under K[0..6], K[7..13] and
 * K[14..15] || Z(5), concatenated into 24 bytes.
 */
export function DESL(K: Uint8Array, D: Uint8Array): Uint8Array {
  requireLength('DESL key', K, 16);
  requireLength('DESL data', D, 8);
  const k3 = new Uint8Array(7);
  k3[0] = K[14]!;
  k3[1] = K[15]!;
  const out = new Uint8Array(24);
  out.set(des7(K.subarray(0, 7), D), 0);
  out.set(des7(K.subarray(7, 14), D), 8);
  out.set(des7(k3, D), 16);
  k3.fill(0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// NTLMv1 (MS-NLMP 3.3.1)

export interface NTLMv1ResponseInput {
  /** NTOWFv1(Passwd). */
  ResponseKeyNT: Uint8Array;
  /** LMOWFv1(Passwd); null/absent when only the NT hash is known (the NT response is then reused). */
  ResponseKeyLM?: Uint8Array | null;
  /** CHALLENGE_MESSAGE.ServerChallenge, 8 bytes. */
  ServerChallenge: Uint8Array;
  /** 8 random bytes; required with extended session security. */
  ClientChallenge?: Uint8Array;
  /** NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY negotiated. */
  extendedSessionSecurity: boolean;
  /** NoLMResponseNTLMv1: send the NT response in place of the LM response. */
  noLMResponse?: boolean;
  /** Anonymous authentication (empty user and password). */
  anonymous?: boolean;
}

export interface ChallengeResponses {
  NtChallengeResponse: Uint8Array;
  LmChallengeResponse: Uint8Array;
  SessionBaseKey: Uint8Array;
}

/** MS-NLMP 3.3.1 ComputeResponse for NTLM v1 (with and without extended session security). */
export function ComputeResponseNTLMv1(input: NTLMv1ResponseInput): ChallengeResponses {
  const { ResponseKeyNT, ServerChallenge } = input;
  requireLength('ServerChallenge', ServerChallenge, 8);
  if (input.anonymous) {
    // No session security for anonymous (MS-NLMP 3.2.5.1.2); the key is never used.
    return { NtChallengeResponse: new Uint8Array(0), LmChallengeResponse: new Uint8Array(1), SessionBaseKey: new Uint8Array(16) };
  }
  requireLength('ResponseKeyNT', ResponseKeyNT, 16);
  let NtChallengeResponse: Uint8Array;
  let LmChallengeResponse: Uint8Array;
  if (input.extendedSessionSecurity) {
    const cc = input.ClientChallenge;
    if (!cc) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'extended session security needs a ClientChallenge');
    requireLength('ClientChallenge', cc, 8);
    NtChallengeResponse = DESL(ResponseKeyNT, md5(ServerChallenge, cc).subarray(0, 8));
    LmChallengeResponse = new Uint8Array(24);
    LmChallengeResponse.set(cc, 0);
  } else {
    NtChallengeResponse = DESL(ResponseKeyNT, ServerChallenge);
    const lm = input.ResponseKeyLM;
    LmChallengeResponse = input.noLMResponse || !lm ? NtChallengeResponse.slice() : DESL(lm, ServerChallenge);
  }
  return { NtChallengeResponse, LmChallengeResponse, SessionBaseKey: md4(ResponseKeyNT) };
}

/**
 * Server side of MS-NLMP 3.3.1: recomputes the NTLMv1 NT response for comparison. With ESS the
 * client challenge is LmChallengeResponse[0..7] (MS-NLMP 3.2.5.1.2).
 */
export function expectedNTLMv1Response(
  ResponseKeyNT: Uint8Array,
  ServerChallenge: Uint8Array,
  LmChallengeResponse: Uint8Array,
  extendedSessionSecurity: boolean,
): Uint8Array {
  if (extendedSessionSecurity && LmChallengeResponse.length < 8) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'LmChallengeResponse too short for extended session security');
  }
  const ClientChallenge = extendedSessionSecurity ? LmChallengeResponse.subarray(0, 8) : undefined;
  const r = ComputeResponseNTLMv1({ ResponseKeyNT, ServerChallenge, extendedSessionSecurity, ...(ClientChallenge ? { ClientChallenge } : {}) });
  zero(r.SessionBaseKey);
  return r.NtChallengeResponse;
}

// ---------------------------------------------------------------------------------------------
// NTLMv2 (MS-NLMP 3.3.2)

function timeBytes(Time: Uint8Array | bigint): Uint8Array {
  if (typeof Time === 'bigint') {
    const t = new Uint8Array(8);
    new DataView(t.buffer).setBigUint64(0, BigInt.asUintN(64, Time), true);
    return t;
  }
  requireLength('Time', Time, 8);
  return Time;
}

/**
 * MS-NLMP 3.3.2 temp: Responserversion(1) || HiResponserversion(1) || Z(6) || Time ||
 * ClientChallenge || Z(4) || ServerName || Z(4). `ServerName` is the serialized AV pair list
 * (including MsvAvEOL); `Time` is a FILETIME as 8 little-endian bytes or a bigint.
 */
export function NTLMv2Temp(Time: Uint8Array | bigint, ClientChallenge: Uint8Array, ServerName: Uint8Array): Uint8Array {
  requireLength('ClientChallenge', ClientChallenge, 8);
  const t = timeBytes(Time);
  const temp = new Uint8Array(28 + ServerName.length + 4);
  temp[0] = 1; // Responserversion
  temp[1] = 1; // HiResponserversion
  temp.set(t, 8);
  temp.set(ClientChallenge, 16);
  temp.set(ServerName, 28);
  return temp;
}

export interface NTLMv2ResponseInput {
  /** NTOWFv2(Passwd, User, UserDom). */
  ResponseKeyNT: Uint8Array;
  /** LMOWFv2(...); the same value as ResponseKeyNT. */
  ResponseKeyLM: Uint8Array;
  ServerChallenge: Uint8Array;
  ClientChallenge: Uint8Array;
  /** FILETIME, 8 little-endian bytes or a bigint. */
  Time: Uint8Array | bigint;
  /** The serialized AV pairs the client sends (from CHALLENGE TargetInfo, possibly amended). */
  ServerName: Uint8Array;
  /** Send Z(24) instead of the LMv2 response (MS-NLMP 3.1.5.1.2, when MsvAvTimestamp is present). */
  omitLMv2Response?: boolean;
  anonymous?: boolean;
}

export interface NTLMv2Responses extends ChallengeResponses {
  NTProofStr: Uint8Array;
}

/** MS-NLMP 3.3.2 ComputeResponse for NTLM v2. */
export function ComputeResponseNTLMv2(input: NTLMv2ResponseInput): NTLMv2Responses {
  const { ResponseKeyNT, ResponseKeyLM, ServerChallenge, ClientChallenge } = input;
  requireLength('ServerChallenge', ServerChallenge, 8);
  if (input.anonymous) {
    return {
      NtChallengeResponse: new Uint8Array(0),
      LmChallengeResponse: new Uint8Array(1),
      SessionBaseKey: new Uint8Array(16),
      NTProofStr: new Uint8Array(0),
    };
  }
  requireLength('ResponseKeyNT', ResponseKeyNT, 16);
  requireLength('ResponseKeyLM', ResponseKeyLM, 16);
  const temp = NTLMv2Temp(input.Time, ClientChallenge, input.ServerName);
  const NTProofStr = hmacMd5(ResponseKeyNT, ServerChallenge, temp);
  const NtChallengeResponse = concat(NTProofStr, temp);
  const LmChallengeResponse = input.omitLMv2Response
    ? new Uint8Array(24)
    : concat(hmacMd5(ResponseKeyLM, ServerChallenge, ClientChallenge), ClientChallenge);
  const SessionBaseKey = hmacMd5(ResponseKeyNT, NTProofStr);
  return { NtChallengeResponse, LmChallengeResponse, SessionBaseKey, NTProofStr };
}

// NTProofStr(16) + the fixed 28-byte head of temp (MS-NLMP 2.2.2.7 NTLMv2_CLIENT_CHALLENGE).
const NTLMV2_RESPONSE_MIN = 16 + 28;

/** Splits an NTLMv2 NtChallengeResponse into NTProofStr and temp (MS-NLMP 2.2.2.8). */
export function splitNTLMv2Response(NtChallengeResponse: Uint8Array): { NTProofStr: Uint8Array; temp: Uint8Array } {
  if (NtChallengeResponse.length < NTLMV2_RESPONSE_MIN) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `NTLMv2 response of ${NtChallengeResponse.length} bytes is too short`);
  }
  return { NTProofStr: NtChallengeResponse.subarray(0, 16), temp: NtChallengeResponse.subarray(16) };
}

/**
 * Server side of MS-NLMP 3.3.2 (3.2.5.1.2): recomputes NTProofStr over the client's temp and
 * compares in constant time. Returns the SessionBaseKey on success, null on a wrong proof.
 */
export function verifyNTLMv2Response(
  ResponseKeyNT: Uint8Array,
  ServerChallenge: Uint8Array,
  NtChallengeResponse: Uint8Array,
): Uint8Array | null {
  requireLength('ResponseKeyNT', ResponseKeyNT, 16);
  requireLength('ServerChallenge', ServerChallenge, 8);
  const { NTProofStr, temp } = splitNTLMv2Response(NtChallengeResponse);
  const expected = hmacMd5(ResponseKeyNT, ServerChallenge, temp);
  const ok = constantTimeEqual(expected, NTProofStr);
  const key = ok ? hmacMd5(ResponseKeyNT, expected) : null;
  expected.fill(0);
  return key;
}

/** Server side of MS-NLMP 3.3.2: checks an LMv2 response (HMAC_MD5(K, SC||CC) || CC). */
export function verifyLMv2Response(ResponseKeyLM: Uint8Array, ServerChallenge: Uint8Array, LmChallengeResponse: Uint8Array): boolean {
  if (LmChallengeResponse.length !== 24) return false;
  const cc = LmChallengeResponse.subarray(16, 24);
  const expected = hmacMd5(ResponseKeyLM, ServerChallenge, cc);
  const ok = constantTimeEqual(expected, LmChallengeResponse.subarray(0, 16));
  expected.fill(0);
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Key derivation (MS-NLMP 3.4.5)

export interface KXKEYInput {
  SessionBaseKey: Uint8Array;
  LmChallengeResponse: Uint8Array;
  ServerChallenge: Uint8Array;
  /** LMOWF (ResponseKeyLM); needed only for the LM_KEY and NON_NT_SESSION_KEY variants. */
  LMOWF?: Uint8Array | null;
  /** NTLMv2 was used: the key exchange key is the SessionBaseKey (MS-NLMP 3.4.5.1). */
  ntlmv2?: boolean;
  extendedSessionSecurity?: boolean;
  lmKey?: boolean;
  requestNonNtSessionKey?: boolean;
}

/** MS-NLMP 3.4.5.1 KXKEY: all NTLMv1 variants, and identity for NTLMv2. */
export function KXKEY(input: KXKEYInput): Uint8Array {
  const { SessionBaseKey, LmChallengeResponse, ServerChallenge } = input;
  requireLength('SessionBaseKey', SessionBaseKey, 16);
  if (input.ntlmv2) return SessionBaseKey.slice();
  if (input.extendedSessionSecurity) {
    if (LmChallengeResponse.length < 8) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'LmChallengeResponse too short for KXKEY');
    }
    return hmacMd5(SessionBaseKey, ServerChallenge, LmChallengeResponse.subarray(0, 8));
  }
  if (input.lmKey || input.requestNonNtSessionKey) {
    const lm = input.LMOWF;
    if (!lm) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'this KXKEY variant needs the LMOWF');
    requireLength('LMOWF', lm, 16);
    if (input.lmKey) {
      if (LmChallengeResponse.length < 8) {
        throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'LmChallengeResponse too short for KXKEY');
      }
      const d = LmChallengeResponse.subarray(0, 8);
      const k2 = Uint8Array.from([lm[7]!, 0xbd, 0xbd, 0xbd, 0xbd, 0xbd, 0xbd]);
      const out = concat(des7(lm.subarray(0, 7), d), des7(k2, d));
      k2.fill(0);
      return out;
    }
    const out = new Uint8Array(16);
    out.set(lm.subarray(0, 8), 0);
    return out;
  }
  return SessionBaseKey.slice();
}

/** MS-NLMP 3.1.5.1.2 / 3.2.5.1.2: EncryptedRandomSessionKey = RC4K(KeyExchangeKey, RandomSessionKey). */
export function encryptRandomSessionKey(KeyExchangeKey: Uint8Array, RandomSessionKey: Uint8Array): Uint8Array {
  requireLength('KeyExchangeKey', KeyExchangeKey, 16);
  requireLength('RandomSessionKey', RandomSessionKey, 16);
  return rc4(KeyExchangeKey, RandomSessionKey);
}

/** The server's inverse of encryptRandomSessionKey (RC4 is its own inverse). */
export function decryptRandomSessionKey(KeyExchangeKey: Uint8Array, EncryptedRandomSessionKey: Uint8Array): Uint8Array {
  if (EncryptedRandomSessionKey.length !== 16) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `EncryptedRandomSessionKey of ${EncryptedRandomSessionKey.length} bytes`);
  }
  requireLength('KeyExchangeKey', KeyExchangeKey, 16);
  return rc4(KeyExchangeKey, EncryptedRandomSessionKey);
}

export type Mode = 'Client' | 'Server';

// The magic constants of MS-NLMP 3.4.5.2/3.4.5.3, hashed with their terminating NUL.
const ascii0 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s + '\0', 'latin1'));
const CLIENT_SIGN = ascii0('session key to client-to-server signing key magic constant');
const SERVER_SIGN = ascii0('session key to server-to-client signing key magic constant');
const CLIENT_SEAL = ascii0('session key to client-to-server sealing key magic constant');
const SERVER_SEAL = ascii0('session key to server-to-client sealing key magic constant');

/** MS-NLMP 3.4.5.2 SIGNKEY: null when extended session security is not negotiated. */
export function SIGNKEY(NegFlg: Pick<NegotiatedSecurity, 'extendedSessionSecurity'>, ExportedSessionKey: Uint8Array, Mode: Mode): Uint8Array | null {
  if (!NegFlg.extendedSessionSecurity) return null;
  return md5(ExportedSessionKey, Mode === 'Client' ? CLIENT_SIGN : SERVER_SIGN);
}

/**
 * MS-NLMP 3.4.5.3 SEALKEY. With ESS: MD5 of the 128/56/40-bit prefix and the direction's
 * constant. Without: the 56- or 40-bit weakened 8-byte key for LM_KEY (or datagram from revision
 * W2K3 on), else the exported key itself.
 */
export function SEALKEY(
  NegFlg: Pick<NegotiatedSecurity, 'extendedSessionSecurity' | 'negotiate128' | 'negotiate56' | 'lmKey' | 'datagram'>,
  ExportedSessionKey: Uint8Array,
  Mode: Mode,
  NTLMRevisionCurrent: number = NTLMSSP_REVISION_W2K3,
): Uint8Array {
  requireLength('ExportedSessionKey', ExportedSessionKey, 16);
  if (NegFlg.extendedSessionSecurity) {
    const n = NegFlg.negotiate128 ? 16 : NegFlg.negotiate56 ? 7 : 5;
    return md5(ExportedSessionKey.subarray(0, n), Mode === 'Client' ? CLIENT_SEAL : SERVER_SEAL);
  }
  if (NegFlg.lmKey || (NegFlg.datagram && NTLMRevisionCurrent >= NTLMSSP_REVISION_W2K3)) {
    const k = new Uint8Array(8);
    if (NegFlg.negotiate56) {
      k.set(ExportedSessionKey.subarray(0, 7), 0);
      k[7] = 0xa0;
    } else {
      k.set(ExportedSessionKey.subarray(0, 5), 0);
      k[5] = 0xe5;
      k[6] = 0x38;
      k[7] = 0xb0;
    }
    return k;
  }
  return ExportedSessionKey.slice();
}

// ---------------------------------------------------------------------------------------------
// MIC and channel bindings

/**
 * MS-NLMP 3.1.5.1.2 / 3.2.5.1.2: MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE_MESSAGE ||
 * CHALLENGE_MESSAGE || AUTHENTICATE_MESSAGE) with the AUTHENTICATE MIC field zeroed. When
 * `micOffset` is given, the 16 bytes there are zeroed in a copy first (the caller's bytes are
 * untouched); otherwise the caller must pass them already zeroed. An empty NEGOTIATE (the
 * connectionless case) contributes nothing.
 */
export function computeMIC(
  ExportedSessionKey: Uint8Array,
  negotiateMessage: Uint8Array,
  challengeMessage: Uint8Array,
  authenticateMessage: Uint8Array,
  micOffset?: number,
): Uint8Array {
  let auth = authenticateMessage;
  if (micOffset !== undefined) {
    if (micOffset < 0 || micOffset + 16 > auth.length) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'AUTHENTICATE_MESSAGE too short for a MIC');
    }
    auth = auth.slice();
    auth.fill(0, micOffset, micOffset + 16);
  }
  return hmacMd5(ExportedSessionKey, negotiateMessage, challengeMessage, auth);
}

/** Compares a received MIC against the recomputed one in constant time. */
export function verifyMIC(expected: Uint8Array, received: Uint8Array): boolean {
  return expected.length === 16 && constantTimeEqual(expected, received);
}

/**
 * MS-NLMP 2.2.2.1 MsvAvChannelBindings: MD5 over the gss_channel_bindings_struct of RFC 2744 3.11
 * as RFC 4121 4.1.1.2 serializes it: initiator_addrtype, initiator_address (ULONG length + bytes),
 * acceptor_addrtype, acceptor_address, application_data; every ULONG little-endian.
 */
export function channelBindingsHash(cb: SecChannelBindings): Uint8Array {
  const ia = cb.initiatorAddress;
  const aa = cb.acceptorAddress;
  const app = cb.applicationData;
  const buf = new Uint8Array(20 + ia.length + aa.length + app.length);
  const v = new DataView(buf.buffer);
  let off = 0;
  v.setUint32(off, cb.dwInitiatorAddrType >>> 0, true);
  v.setUint32(off + 4, ia.length, true);
  buf.set(ia, off + 8);
  off += 8 + ia.length;
  v.setUint32(off, cb.dwAcceptorAddrType >>> 0, true);
  v.setUint32(off + 4, aa.length, true);
  buf.set(aa, off + 8);
  off += 8 + aa.length;
  v.setUint32(off, app.length, true);
  buf.set(app, off + 4);
  return md5(buf);
}

/** channelBindingsHash with zero addresses, the usual TLS case ("tls-server-end-point:" + hash). */
export function channelBindingsHashFromApplicationData(applicationData: Uint8Array): Uint8Array {
  const empty = new Uint8Array(0);
  return channelBindingsHash({
    dwInitiatorAddrType: 0,
    initiatorAddress: empty,
    dwAcceptorAddrType: 0,
    acceptorAddress: empty,
    applicationData,
  });
}
