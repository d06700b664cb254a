// The request the NTLM acceptor sends to the account authority, and its answer, in the shape of
// MSV1_0's generic pass-through (reference section 7): an MSV1_0_PASSTHROUGH_REQUEST
// (MessageType = MsV1_0GenericPassthrough) whose LogonData is a network-logon record, sent with
// CallPackagePassthrough to the package named MICROSOFT_AUTHENTICATION_PACKAGE_V1_0. The answer is
// an MSV1_0_PASSTHROUGH_RESPONSE whose ValidationData carries the validation result; the logon's
// NTSTATUS travels as the ProtocolStatus. Any package registered under that name (one forwarding
// to a remote domain, say) serves the NTLM package unchanged.
//
// All structures are x64 layout, self-relative: embedded pointers are client addresses relative
// to ClientBufferBase, rebased and bounds-checked by SubmitBufferReader.

import { SubmitBufferReader, SubmitBufferWriter } from '../../lsa/marshal.js';
import { SspiError } from '../../sspi/error.js';
import { NtStatus } from '../../sspi/status.js';

export const MSV1_0_PACKAGE_NAME = 'MICROSOFT_AUTHENTICATION_PACKAGE_V1_0';
/** MSV1_0_PROTOCOL_MESSAGE_TYPE.MsV1_0GenericPassthrough. */
export const MsV1_0GenericPassthrough = 7;
/** The PackageName a network-logon pass-through names (the package whose logon is validated). */
export const NTLM_PACKAGE_NAME = 'NTLM';
export const MSV1_0_CHALLENGE_LENGTH = 8;
export const MSV1_0_USER_SESSION_KEY_LENGTH = 16;
export const MSV1_0_LANMAN_SESSION_KEY_LENGTH = 8;

/** ParameterControl bits (MS-NRPC 2.2.1.4.15) that matter here. */
export const MSV1_0_CLEARTEXT_PASSWORD_ALLOWED = 0x02;
export const MSV1_0_ALLOW_SERVER_TRUST_ACCOUNT = 0x20;
export const MSV1_0_ALLOW_WORKSTATION_TRUST_ACCOUNT = 0x800;
/** tslsa: the acceptor permits NTLMv1 / LM responses (LmCompatibilityLevel < 5 on the server side). */
export const MSV1_0_ALLOW_NTLMV1 = 0x01000000;
export const MSV1_0_ALLOW_LM = 0x02000000;

/** NETLOGON_NETWORK_INFO, the network-logon record (MS-NRPC 2.2.1.4.6), as a typed object. */
export interface NetworkLogonInfo {
  LogonDomainName: string;
  ParameterControl: number;
  UserName: string;
  Workstation: string;
  LmChallenge: Uint8Array;
  NtChallengeResponse: Uint8Array;
  LmChallengeResponse: Uint8Array;
}

/** The validation result (the part of NETLOGON_VALIDATION_SAM_INFO the NTLM package uses). */
export interface NetworkLogonValidation {
  /** The account's canonical names, which the context reports. */
  EffectiveName: string;
  LogonDomainName: string;
  /** SessionBaseKey (MS-NLMP 3.3): UserSessionKey in MSV1_0 terms. */
  UserSessionKey: Uint8Array;
  /** The LM session key for NTLMv1 LM_KEY key exchange (8 bytes, zero for v2). */
  LanmanSessionKey: Uint8Array;
  UserFlags: number;
}

// NETLOGON_NETWORK_INFO, x64: Identity {UNICODE_STRING LogonDomainName @0, ULONG ParameterControl @16,
// pad, OLD_LARGE_INTEGER LogonId @24, UNICODE_STRING UserName @32, UNICODE_STRING Workstation @48},
// LM_CHALLENGE @64 (8), STRING NtChallengeResponse @72 (USHORT len, USHORT max, pad, PCHAR @80),
// STRING LmChallengeResponse @88 (ptr @96). Size 104.
const NETWORK_INFO_SIZE = 104;

function writeString(w: SubmitBufferWriter, offset: number, data: Uint8Array): void {
  const ptr = data.length ? w.append(data) : 0n;
  const len = Math.min(data.length, 0xffff);
  w.u32(offset, len | (len << 16));
  w.u64(offset + 8, ptr);
}

function readString(r: SubmitBufferReader, offset: number): Uint8Array {
  const len = r.u16(offset);
  const max = r.u16(offset + 2);
  if (len > max) throw r.invalid('STRING Length exceeds MaximumLength');
  return r.bytesAt(r.u64(offset + 8), len).slice();
}

/** MSV1_0_PASSTHROUGH_REQUEST with a NETLOGON_NETWORK_INFO as LogonData. */
export function encodePassthroughRequest(info: NetworkLogonInfo, clientBufferBase = 0n): Uint8Array {
  const inner = new SubmitBufferWriter(NETWORK_INFO_SIZE, 0n);
  inner.unicodeString(0, info.LogonDomainName);
  inner.u32(16, info.ParameterControl);
  inner.unicodeString(32, info.UserName);
  inner.unicodeString(48, info.Workstation);
  const fixed = new Uint8Array(8);
  fixed.set(info.LmChallenge.subarray(0, 8));
  inner.u32(64, new DataView(fixed.buffer).getUint32(0, true));
  inner.u32(68, new DataView(fixed.buffer).getUint32(4, true));
  writeString(inner, 72, info.NtChallengeResponse);
  writeString(inner, 88, info.LmChallengeResponse);
  // LogonData is self-relative to its own start (pointers are offsets into it).
  const logonData = inner.finish();
  const outer = new SubmitBufferWriter(64, clientBufferBase);
  outer.u32(0, MsV1_0GenericPassthrough);
  outer.unicodeString(8, info.LogonDomainName);
  outer.unicodeString(24, NTLM_PACKAGE_NAME);
  outer.bytes(40, 48, logonData);
  return outer.finish();
}

export interface PassthroughRequest {
  MessageType: number;
  DomainName: string;
  PackageName: string;
  LogonData: Uint8Array;
}

export function decodePassthroughRequest(buf: Uint8Array, clientBufferBase: bigint, length = buf.length): PassthroughRequest {
  const r = new SubmitBufferReader(buf, clientBufferBase, length);
  return {
    MessageType: r.u32(0),
    DomainName: r.unicodeString(8),
    PackageName: r.unicodeString(24),
    LogonData: r.bytesAt(r.u64(48), r.u32(40)).slice(),
  };
}

export function decodeNetworkLogonInfo(logonData: Uint8Array): NetworkLogonInfo {
  const r = new SubmitBufferReader(logonData, 0n);
  return {
    LogonDomainName: r.unicodeString(0),
    ParameterControl: r.u32(16),
    UserName: r.unicodeString(32),
    Workstation: r.unicodeString(48),
    LmChallenge: r.bytesAt(64n, 8).slice(),
    NtChallengeResponse: readString(r, 72),
    LmChallengeResponse: readString(r, 88),
  };
}

// MSV1_0_PASSTHROUGH_RESPONSE, x64: MessageType @0, Pad @4, DataLength @8, ValidationData @16. Size 24.
// ValidationData: UserSessionKey[16] @0, LanmanSessionKey[8] @16, ULONG UserFlags @24, pad,
// UNICODE_STRING EffectiveName @32, UNICODE_STRING LogonDomainName @48. Size 64.
export function encodePassthroughResponse(v: NetworkLogonValidation | null): Uint8Array {
  const w = new SubmitBufferWriter(24, 0n);
  w.u32(0, MsV1_0GenericPassthrough);
  if (!v) {
    w.u32(8, 0);
    return w.finish();
  }
  const vd = new SubmitBufferWriter(64, 0n);
  const fixed = new Uint8Array(24);
  fixed.set(v.UserSessionKey.subarray(0, 16), 0);
  fixed.set(v.LanmanSessionKey.subarray(0, 8), 16);
  const dv = new DataView(fixed.buffer);
  for (let i = 0; i < 24; i += 4) vd.u32(i, dv.getUint32(i, true));
  vd.u32(24, v.UserFlags);
  vd.unicodeString(32, v.EffectiveName);
  vd.unicodeString(48, v.LogonDomainName);
  const data = vd.finish();
  fixed.fill(0);
  w.bytes(8, 16, data);
  return w.finish();
}

export function decodePassthroughResponse(buf: Uint8Array): NetworkLogonValidation | null {
  const r = new SubmitBufferReader(buf, 0n);
  const len = r.u32(8);
  if (len === 0) return null;
  const data = r.bytesAt(r.u64(16), len);
  const v = new SubmitBufferReader(data, 0n);
  return {
    UserSessionKey: v.bytesAt(0n, 16).slice(),
    LanmanSessionKey: v.bytesAt(16n, 8).slice(),
    UserFlags: v.u32(24),
    EffectiveName: v.unicodeString(32),
    LogonDomainName: v.unicodeString(48),
  };
}

/** The key MSV1_0 files a logon session's primary credential under (AddCredential PrimaryKeyValue). */
export const MSV1_0_PRIMARY_KEY = new Uint8Array(Buffer.from('Primary', 'latin1'));

/**
 * MSV1_0_PRIMARY_CREDENTIAL: what a logon leaves in its logon session for the NTLM initiator's
 * default credentials (AcquireCredentialsHandle with no auth data). NT hash only, as the store.
 */
export interface MSV1_0_PRIMARY_CREDENTIAL {
  LogonDomainName: string;
  UserName: string;
  NtOwfPassword: Uint8Array;
}

// x64, self-relative: UNICODE_STRING LogonDomainName @0, UNICODE_STRING UserName @16,
// NtOwfPassword[16] @32, LmOwfPassword[16] @48 (always zero here), BOOLEAN NtPasswordPresent @64,
// BOOLEAN LmPasswordPresent @65. Size 72.
const PRIMARY_CREDENTIAL_SIZE = 72;

export function encodePrimaryCredential(c: MSV1_0_PRIMARY_CREDENTIAL): Uint8Array {
  if (c.NtOwfPassword.length !== 16) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'NtOwfPassword must be 16 bytes');
  const w = new SubmitBufferWriter(PRIMARY_CREDENTIAL_SIZE, 0n);
  w.unicodeString(0, c.LogonDomainName);
  w.unicodeString(16, c.UserName);
  const dv = new DataView(c.NtOwfPassword.buffer, c.NtOwfPassword.byteOffset, 16);
  for (let i = 0; i < 16; i += 4) w.u32(32 + i, dv.getUint32(i, true));
  w.u32(64, 1);
  return w.finish();
}

export function decodePrimaryCredential(buf: Uint8Array): MSV1_0_PRIMARY_CREDENTIAL {
  const r = new SubmitBufferReader(buf, 0n);
  if ((r.u16(64) & 0xff) === 0) throw r.invalid('MSV1_0_PRIMARY_CREDENTIAL without an NT password');
  return { LogonDomainName: r.unicodeString(0), UserName: r.unicodeString(16), NtOwfPassword: r.bytesAt(32n, 16).slice() };
}
