// The NTLM security package (MS-NLMP) on the LSA contract: SpInitLsaModeContext runs the client
// (NEGOTIATE -> CHALLENGE -> AUTHENTICATE), SpAcceptLsaModeContext the server, which never sees a
// password hash: it hands the challenge and the client's response to the account authority
// (MICROSOFT_AUTHENTICATION_PACKAGE_V1_0) through CallPackagePassthrough. A finished context is
// mapped to the user-mode half (usermode.ts) for MakeSignature/EncryptMessage and friends.

import { randomBytes } from 'node:crypto';
import type { LsaModeContextResult, LSA_SEC_HANDLE, LSA_SECPKG_FUNCTION_TABLE, SECPKG_FUNCTION_TABLE, SECPKG_PARAMETERS, SecurityPackageModule } from '../../lsa/types.js';
import type { Plain, SecPkgInfo } from '../../sspi/attributes.js';
import { type SecBufferDesc, bufferBytes, findBuffer, parseChannelBindings, writeOutputToken } from '../../sspi/buffers.js';
import { SspiError } from '../../sspi/error.js';
import { ASC_REQ, ASC_RET, ISC_REQ, ISC_RET, RPC_C_AUTHN, SECBUFFER, SECPKG_ATTR, SECPKG_CRED, SECPKG_CRED_ATTR, SECPKG_FLAG, SECPKG_INTERFACE_VERSION_2, hasFlag } from '../../sspi/flags.js';
import { NtStatus, SecurityStatus, type Status, toSecurityStatus } from '../../sspi/status.js';
import { TIMESTAMP_INFINITE, fileTimeFromUnixMs, timeStampFromUnixMs } from '../../sspi/timestamp.js';
import { concat, constantTimeEqual, zero } from '../../crypto/bytes.js';
import { MSV1_0_PACKAGE_NAME, decodePassthroughResponse, encodePassthroughRequest } from '../msv1_0/protocol.js';
import { parseAvPairs, avChannelBindings, avFlags, avString, avTargetName, avTimestamp, avPairsByName, MsvAvDnsComputerName, MsvAvDnsDomainName, MsvAvNbComputerName, MsvAvNbDomainName, setAvPair, writeAvPairs, type AvPairList } from './avpairs.js';
import { ComputeResponseNTLMv2, KXKEY, NTOWFv1, NTOWFv2, computeMIC, channelBindingsHash, decryptRandomSessionKey, encryptRandomSessionKey } from './crypto.js';
import * as F from './flags.js';
import { type AUTHENTICATE_MESSAGE, type CHALLENGE_MESSAGE, type NEGOTIATE_MESSAGE, parseAuthenticateMessage, parseChallengeMessage, parseNegotiateMessage, writeAuthenticateMessage, writeChallengeMessage, writeNegotiateMessage } from './messages.js';
import { packContextData } from './contextData.js';
import { NTLM_MAX_TOKEN, NTLM_SIZES, ntlmUserModeTable } from './usermode.js';

export { NTLM_MAX_TOKEN } from './usermode.js';

export const NTLM_PACKAGE_NAME = 'NTLM';
/** MS-NLMP 2.2.2.10: the VERSION we send (Windows Server 2022 numbers, revision 15). */
export const NTLM_VERSION = { ProductMajorVersion: 10, ProductMinorVersion: 0, ProductBuild: 20348, NTLMRevisionCurrent: 15 };
/** MS-NLMP 3.1.5.1.2: without bindings the client sends an all-zero MsvAvChannelBindings. */
const NO_BINDINGS = new Uint8Array(16);

export interface NtlmConfig {
  /** NetBIOS and DNS names the acceptor announces in its CHALLENGE target info. */
  computerName?: string;
  domainName?: string;
  dnsComputerName?: string;
  dnsDomainName?: string;
  /** Context lifetime in seconds (0 = none). */
  contextLifetimeSeconds?: number;
  /** Accept an AUTHENTICATE without a MIC (curl and older clients); true by default. */
  allowMissingMic?: boolean;
}

interface Credential {
  use: number;
  user: string;
  domain: string;
  /** NT hash (NTOWFv1). */
  ntHash: Uint8Array | null;
}

interface ClientCtx {
  side: 'client';
  state: 'negotiate-sent' | 'done';
  cred: Credential;
  req: number;
  target: string | null;
  negotiate: Uint8Array;
  flags: number;
  granted: number;
  sessionKey: Uint8Array | null;
  expiresAt: number;
}

interface ServerCtx {
  side: 'server';
  state: 'challenge-sent' | 'done';
  req: number;
  negotiate: Uint8Array;
  challenge: Uint8Array;
  challengeMsg: CHALLENGE_MESSAGE;
  serverChallenge: Uint8Array;
  flags: number;
  granted: number;
  sessionKey: Uint8Array | null;
  user: string;
  domain: string;
  workstation: string;
  expiresAt: number;
}

const CLIENT_FLAGS =
  F.NTLMSSP_NEGOTIATE_UNICODE | F.NTLMSSP_REQUEST_TARGET | F.NTLMSSP_NEGOTIATE_SIGN | F.NTLMSSP_NEGOTIATE_SEAL | F.NTLMSSP_NEGOTIATE_NTLM |
  F.NTLMSSP_NEGOTIATE_ALWAYS_SIGN | F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | F.NTLMSSP_NEGOTIATE_VERSION |
  F.NTLMSSP_NEGOTIATE_128 | F.NTLMSSP_NEGOTIATE_KEY_EXCH | F.NTLMSSP_NEGOTIATE_56;

function u32(x: number): number {
  return x >>> 0;
}

/** The context attributes NTLM grants for a set of requirements (initiator side). */
function iscGranted(req: number, flags: number, allocated: boolean): number {
  let g: number = ISC_RET.CONNECTION;
  if (hasFlag(req, ISC_REQ.INTEGRITY) || flags & F.NTLMSSP_NEGOTIATE_SIGN) g |= ISC_RET.INTEGRITY;
  if (hasFlag(req, ISC_REQ.CONFIDENTIALITY) && flags & F.NTLMSSP_NEGOTIATE_SEAL) g |= ISC_RET.CONFIDENTIALITY;
  if (hasFlag(req, ISC_REQ.REPLAY_DETECT)) g |= ISC_RET.REPLAY_DETECT;
  if (hasFlag(req, ISC_REQ.SEQUENCE_DETECT)) g |= ISC_RET.SEQUENCE_DETECT;
  if (hasFlag(req, ISC_REQ.DATAGRAM)) g = (g & ~ISC_RET.CONNECTION) | ISC_RET.DATAGRAM;
  if (allocated) g |= ISC_RET.ALLOCATED_MEMORY;
  return u32(g);
}

function ascGranted(req: number, flags: number, allocated: boolean): number {
  let g: number = ASC_RET.CONNECTION;
  if (hasFlag(req, ASC_REQ.INTEGRITY) || flags & F.NTLMSSP_NEGOTIATE_SIGN) g |= ASC_RET.INTEGRITY;
  if (hasFlag(req, ASC_REQ.CONFIDENTIALITY) && flags & F.NTLMSSP_NEGOTIATE_SEAL) g |= ASC_RET.CONFIDENTIALITY;
  if (hasFlag(req, ASC_REQ.REPLAY_DETECT)) g |= ASC_RET.REPLAY_DETECT;
  if (hasFlag(req, ASC_REQ.SEQUENCE_DETECT)) g |= ASC_RET.SEQUENCE_DETECT;
  if (allocated) g |= ASC_RET.ALLOCATED_MEMORY;
  return u32(g);
}

function tokenOf(desc: SecBufferDesc | null): Uint8Array | null {
  const b = findBuffer(desc, SECBUFFER.TOKEN);
  return b ? bufferBytes(b) : null;
}

function bindingsOf(desc: SecBufferDesc | null): Uint8Array | null {
  const b = findBuffer(desc, SECBUFFER.CHANNEL_BINDINGS);
  if (!b) return null;
  const cb = parseChannelBindings(bufferBytes(b));
  if (!cb) throw new SspiError(SecurityStatus.SEC_E_BAD_BINDINGS, 'malformed SEC_CHANNEL_BINDINGS');
  return channelBindingsHash(cb);
}

export function ntlmPackage(config: NtlmConfig = {}): SecurityPackageModule {
  const creds = new Map<LSA_SEC_HANDLE, Credential>();
  const ctxs = new Map<LSA_SEC_HANDLE, ClientCtx | ServerCtx>();
  let lsa!: LSA_SECPKG_FUNCTION_TABLE;
  let next = 1n;
  let cfg: Required<NtlmConfig>;

  const info: SecPkgInfo = {
    fCapabilities: SECPKG_FLAG.INTEGRITY | SECPKG_FLAG.PRIVACY | SECPKG_FLAG.TOKEN_ONLY | SECPKG_FLAG.CONNECTION | SECPKG_FLAG.MULTI_REQUIRED |
      SECPKG_FLAG.IMPERSONATION | SECPKG_FLAG.ACCEPT_WIN32_NAME | SECPKG_FLAG.NEGOTIABLE | SECPKG_FLAG.LOGON,
    wVersion: 1,
    wRPCID: RPC_C_AUTHN.WINNT,
    cbMaxToken: NTLM_MAX_TOKEN,
    Name: NTLM_PACKAGE_NAME,
    Comment: 'NTLM Security Package',
  };

  const expiry = (at: number) => (Number.isFinite(at) ? timeStampFromUnixMs(at) : TIMESTAMP_INFINITE);
  const lifetime = () => (cfg.contextLifetimeSeconds > 0 ? Date.now() + cfg.contextLifetimeSeconds * 1000 : Infinity);

  function mapped(ctx: ClientCtx | ServerCtx): Uint8Array {
    const user = ctx.side === 'client' ? ctx.cred.user : ctx.user;
    const domain = ctx.side === 'client' ? ctx.cred.domain : ctx.domain;
    return packContextData({ side: ctx.side, NegotiateFlags: ctx.flags, ContextAttributes: ctx.granted, sendSeqNum: 0, recvSeqNum: 0, ExportedSessionKey: ctx.sessionKey!, UserName: user, DomainName: domain });
  }

  async function initContext(credH: LSA_SEC_HANDLE, ctxH: LSA_SEC_HANDLE, target: string | null, req: number, input: SecBufferDesc | null, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ISC_REQ.ALLOCATE_MEMORY);
    const existing = ctxs.get(ctxH);
    if (!existing) {
      const cred = creds.get(credH);
      if (!cred) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      if (!(cred.use & SECPKG_CRED.OUTBOUND)) return { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
      const flags = CLIENT_FLAGS;
      const neg: NEGOTIATE_MESSAGE = { NegotiateFlags: u32(flags), DomainName: '', Workstation: '', Version: NTLM_VERSION };
      const bytes = writeNegotiateMessage(neg);
      const st = writeOutputToken(output, bytes, allocate);
      if (st !== SecurityStatus.SEC_E_OK) return { status: st };
      const h = next++;
      const ctx: ClientCtx = { side: 'client', state: 'negotiate-sent', cred, req, target, negotiate: bytes, flags: u32(flags), granted: 0, sessionKey: null, expiresAt: lifetime() };
      ctxs.set(h, ctx);
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h, ContextAttributes: iscGranted(req, flags, allocate), ExpirationTime: expiry(ctx.expiresAt) };
    }
    if (existing.side !== 'client' || existing.state !== 'negotiate-sent') return { status: SecurityStatus.SEC_E_OUT_OF_SEQUENCE };
    const ctx = existing;
    const tok = tokenOf(input);
    if (!tok) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
    const challenge = parseChallengeMessage(tok);
    // MS-NLMP 3.1.5.1.2: the client keeps only the flags both sides agreed to.
    const flags = u32(challenge.NegotiateFlags & ctx.flags) | u32(challenge.NegotiateFlags & F.NTLMSSP_NEGOTIATE_TARGET_INFO);
    if (!(flags & F.NTLMSSP_NEGOTIATE_UNICODE)) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
    const cred = ctx.cred;
    const ResponseKeyNT = NTOWFv2(cred.ntHash!, cred.user, cred.domain);
    // Target info, amended as MS-NLMP 3.1.5.1.2 says: MIC flag, timestamp, target name, bindings.
    let pairs: AvPairList = challenge.TargetInfoPairs ?? { pairs: [] };
    const serverTime = avPairsByName(pairs).MsvAvTimestamp;
    pairs = setAvPair(pairs, avFlags((avPairsByName(pairs).MsvAvFlags ?? 0) | F.MSV_AV_FLAGS_MIC_PRESENT));
    if (serverTime === undefined) pairs = setAvPair(pairs, avTimestamp(fileTimeFromUnixMs(Date.now())));
    if (ctx.target) pairs = setAvPair(pairs, avTargetName(ctx.target));
    pairs = setAvPair(pairs, avChannelBindings(bindingsOf(input) ?? NO_BINDINGS));
    const serverName = writeAvPairs(pairs);
    const time = serverTime ?? fileTimeFromUnixMs(Date.now());
    const r = ComputeResponseNTLMv2({ ResponseKeyNT, ResponseKeyLM: ResponseKeyNT, ServerChallenge: challenge.ServerChallenge, ClientChallenge: randomBytes(8), Time: time, ServerName: concat(serverName, new Uint8Array(4)), omitLMv2Response: serverTime !== undefined });
    const KeyExchangeKey = KXKEY({ SessionBaseKey: r.SessionBaseKey, LmChallengeResponse: r.LmChallengeResponse, ServerChallenge: challenge.ServerChallenge, ntlmv2: true });
    let exported: Uint8Array = KeyExchangeKey;
    let encrypted: Uint8Array = new Uint8Array(0);
    if (flags & F.NTLMSSP_NEGOTIATE_KEY_EXCH) {
      exported = new Uint8Array(randomBytes(16));
      encrypted = encryptRandomSessionKey(KeyExchangeKey, exported);
      zero(KeyExchangeKey);
    }
    const auth: AUTHENTICATE_MESSAGE = {
      NegotiateFlags: flags,
      LmChallengeResponse: r.LmChallengeResponse,
      NtChallengeResponse: r.NtChallengeResponse,
      DomainName: cred.domain,
      UserName: cred.user,
      Workstation: '',
      EncryptedRandomSessionKey: encrypted,
      Version: NTLM_VERSION,
      MIC: new Uint8Array(16),
    };
    const withZeroMic = writeAuthenticateMessage(auth);
    const mic = computeMIC(exported, ctx.negotiate, challenge.raw ?? tok, withZeroMic);
    const final = withZeroMic.slice();
    final.set(mic, 72);
    zero(ResponseKeyNT);
    zero(r.SessionBaseKey);
    const st = writeOutputToken(output, final, allocate);
    if (st !== SecurityStatus.SEC_E_OK) return { status: st };
    ctx.state = 'done';
    ctx.flags = flags;
    ctx.sessionKey = exported;
    ctx.granted = iscGranted(ctx.req, flags, allocate);
    return { status: SecurityStatus.SEC_E_OK, NewContextHandle: ctxH, ContextAttributes: ctx.granted, ExpirationTime: expiry(ctx.expiresAt), MappedContext: true, ContextData: mapped(ctx) };
  }

  function targetInfo(): AvPairList {
    return {
      pairs: [
        avString(MsvAvNbDomainName, cfg.domainName),
        avString(MsvAvNbComputerName, cfg.computerName),
        avString(MsvAvDnsDomainName, cfg.dnsDomainName),
        avString(MsvAvDnsComputerName, cfg.dnsComputerName),
        avTimestamp(fileTimeFromUnixMs(Date.now())),
      ],
    };
  }

  async function acceptContext(credH: LSA_SEC_HANDLE, ctxH: LSA_SEC_HANDLE, input: SecBufferDesc | null, req: number, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ASC_REQ.ALLOCATE_MEMORY);
    const tok = tokenOf(input);
    if (!tok) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
    const existing = ctxs.get(ctxH);
    if (!existing) {
      const cred = creds.get(credH);
      if (!cred) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      if (!(cred.use & SECPKG_CRED.INBOUND)) return { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
      const neg = parseNegotiateMessage(tok);
      const c = u32(neg.NegotiateFlags);
      // MS-NLMP 3.2.5.1.1: answer in Unicode when offered, and with what both support.
      let flags = F.NTLMSSP_NEGOTIATE_NTLM | F.NTLMSSP_NEGOTIATE_TARGET_INFO | F.NTLMSSP_TARGET_TYPE_DOMAIN | F.NTLMSSP_NEGOTIATE_VERSION | F.NTLMSSP_REQUEST_TARGET;
      flags |= c & F.NTLMSSP_NEGOTIATE_UNICODE ? F.NTLMSSP_NEGOTIATE_UNICODE : F.NTLM_NEGOTIATE_OEM;
      for (const f of [F.NTLMSSP_NEGOTIATE_SIGN, F.NTLMSSP_NEGOTIATE_SEAL, F.NTLMSSP_NEGOTIATE_ALWAYS_SIGN, F.NTLMSSP_NEGOTIATE_128, F.NTLMSSP_NEGOTIATE_56, F.NTLMSSP_NEGOTIATE_KEY_EXCH, F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY]) {
        if (c & f) flags |= f;
      }
      const serverChallenge = new Uint8Array(randomBytes(8));
      const challengeMsg: CHALLENGE_MESSAGE = { NegotiateFlags: u32(flags), TargetName: cfg.domainName, ServerChallenge: serverChallenge, TargetInfo: new Uint8Array(0), TargetInfoPairs: targetInfo(), Version: NTLM_VERSION };
      const bytes = writeChallengeMessage(challengeMsg);
      const st = writeOutputToken(output, bytes, allocate);
      if (st !== SecurityStatus.SEC_E_OK) return { status: st };
      const h = next++;
      const ctx: ServerCtx = { side: 'server', state: 'challenge-sent', req, negotiate: neg.raw ?? tok.slice(), challenge: bytes, challengeMsg, serverChallenge, flags: u32(flags), granted: 0, sessionKey: null, user: '', domain: '', workstation: '', expiresAt: lifetime() };
      ctxs.set(h, ctx);
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h, ContextAttributes: ascGranted(req, flags, allocate), ExpirationTime: expiry(ctx.expiresAt) };
    }
    if (existing.side !== 'server' || existing.state !== 'challenge-sent') return { status: SecurityStatus.SEC_E_OUT_OF_SEQUENCE };
    const ctx = existing;
    const auth = parseAuthenticateMessage(tok);
    const flags = u32(auth.NegotiateFlags & ctx.flags) || ctx.flags;
    // The authority validates the response; this package never sees a password hash.
    const submit = encodePassthroughRequest({
      LogonDomainName: auth.DomainName,
      ParameterControl: 0,
      UserName: auth.UserName,
      Workstation: auth.Workstation,
      LmChallenge: ctx.serverChallenge,
      NtChallengeResponse: auth.NtChallengeResponse,
      LmChallengeResponse: auth.LmChallengeResponse,
    });
    const call = await lsa.CallPackagePassthrough(MSV1_0_PACKAGE_NAME, 0n, submit, submit.length);
    if (call.status !== NtStatus.STATUS_SUCCESS) {
      return { status: call.status === NtStatus.STATUS_NO_SUCH_PACKAGE ? SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY : toSecurityStatus(call.status) };
    }
    if (call.ProtocolStatus !== NtStatus.STATUS_SUCCESS) return { status: toSecurityStatus(call.ProtocolStatus) };
    const v = call.ProtocolReturnBuffer ? decodePassthroughResponse(call.ProtocolReturnBuffer) : null;
    lsa.FreeReturnBuffer(call.ProtocolReturnBuffer);
    if (!v) return { status: SecurityStatus.SEC_E_LOGON_DENIED };
    const KeyExchangeKey = KXKEY({ SessionBaseKey: v.UserSessionKey, LmChallengeResponse: auth.LmChallengeResponse, ServerChallenge: ctx.serverChallenge, ntlmv2: auth.NtChallengeResponse.length > 24 });
    let exported: Uint8Array = KeyExchangeKey;
    if (flags & F.NTLMSSP_NEGOTIATE_KEY_EXCH && auth.EncryptedRandomSessionKey.length) {
      exported = decryptRandomSessionKey(KeyExchangeKey, auth.EncryptedRandomSessionKey);
      zero(KeyExchangeKey);
    }
    zero(v.UserSessionKey);
    // MS-NLMP 3.2.5.1.2: the MIC, when the client says it sent one; channel bindings when given.
    const blob = auth.NtChallengeResponse.length > 24 ? parseBlobPairs(auth.NtChallengeResponse) : null;
    const micFlag = ((blob?.MsvAvFlags ?? 0) & F.MSV_AV_FLAGS_MIC_PRESENT) !== 0;
    if (micFlag || (auth.MIC && !cfg.allowMissingMic)) {
      if (!auth.MIC || auth.MicOffset === undefined) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
      const want = computeMIC(exported, ctx.negotiate, ctx.challenge, auth.raw ?? tok, auth.MicOffset);
      if (!constantTimeEqual(want, auth.MIC)) return { status: SecurityStatus.SEC_E_MESSAGE_ALTERED };
    } else if (!cfg.allowMissingMic) {
      return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
    }
    const expected = bindingsOf(input);
    if (expected) {
      const got = blob?.MsvAvChannelBindings;
      if (!got || !constantTimeEqual(got, expected)) return { status: SecurityStatus.SEC_E_BAD_BINDINGS };
    }
    ctx.state = 'done';
    ctx.flags = flags;
    ctx.sessionKey = exported;
    ctx.user = v.EffectiveName;
    ctx.domain = v.LogonDomainName;
    ctx.workstation = auth.Workstation;
    ctx.granted = ascGranted(ctx.req, flags, allocate);
    return { status: SecurityStatus.SEC_E_OK, NewContextHandle: ctxH, ContextAttributes: ctx.granted, ExpirationTime: expiry(ctx.expiresAt), MappedContext: true, ContextData: mapped(ctx) };
  }

  const table: SECPKG_FUNCTION_TABLE = {
    async Initialize(_id: number, params: SECPKG_PARAMETERS, functions: LSA_SECPKG_FUNCTION_TABLE): Promise<Status> {
      lsa = functions;
      const pc = (params.PackageConfig ?? {}) as NtlmConfig;
      const merged = { ...pc, ...config };
      const computer = (merged.computerName ?? 'TSLSA').toUpperCase();
      const domain = (merged.domainName ?? params.DomainName ?? 'WORKGROUP').toUpperCase();
      cfg = {
        computerName: computer,
        domainName: domain,
        dnsComputerName: merged.dnsComputerName ?? computer.toLowerCase(),
        dnsDomainName: merged.dnsDomainName ?? (params.DnsDomainName || domain.toLowerCase()),
        contextLifetimeSeconds: merged.contextLifetimeSeconds ?? 0,
        allowMissingMic: merged.allowMissingMic ?? true,
      };
      return NtStatus.STATUS_SUCCESS;
    },
    async GetInfo() {
      return { status: SecurityStatus.SEC_E_OK, PackageInfo: { ...info } };
    },
    async AcquireCredentialsHandle(_principal, use, _logonId, authData: Plain) {
      const a = (authData ?? null) as { User?: unknown; Domain?: unknown; Password?: unknown; NtHash?: unknown } | null;
      const inbound = (use & SECPKG_CRED.BOTH) === SECPKG_CRED.INBOUND;
      let cred: Credential;
      if (a && typeof a.User === 'string') {
        let ntHash: Uint8Array | null = null;
        if (typeof a.Password === 'string') ntHash = NTOWFv1(a.Password);
        else if (a.NtHash instanceof Uint8Array && a.NtHash.length === 16) ntHash = a.NtHash.slice();
        else if (!inbound) return { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
        cred = { use, user: a.User, domain: typeof a.Domain === 'string' ? a.Domain : '', ntHash };
      } else if (inbound) {
        cred = { use, user: '', domain: '', ntHash: null };
      } else {
        return { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
      }
      const h = next++;
      creds.set(h, cred);
      return { status: SecurityStatus.SEC_E_OK, CredentialHandle: h, ExpirationTime: TIMESTAMP_INFINITE };
    },
    async QueryCredentialsAttributes(h, attr) {
      const c = creds.get(h);
      if (!c) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      if (attr !== SECPKG_CRED_ATTR.NAMES) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
      return { status: SecurityStatus.SEC_E_OK, Buffer: { sUserName: c.domain ? `${c.domain}\\${c.user}` : c.user } };
    },
    async FreeCredentialsHandle(h) {
      const c = creds.get(h);
      if (!c) return SecurityStatus.SEC_E_INVALID_HANDLE;
      zero(c.ntHash);
      creds.delete(h);
      return SecurityStatus.SEC_E_OK;
    },
    async InitLsaModeContext(credH, ctxH, target, req, _rep, input, output) {
      return guard(() => initContext(credH, ctxH, target, req, input, output));
    },
    async AcceptLsaModeContext(credH, ctxH, input, req, _rep, output) {
      return guard(() => acceptContext(credH, ctxH, input, req, output));
    },
    async DeleteContext(h) {
      const c = ctxs.get(h);
      if (!c) return SecurityStatus.SEC_E_INVALID_HANDLE;
      zero(c.sessionKey);
      ctxs.delete(h);
      return SecurityStatus.SEC_E_OK;
    },
    async QueryContextAttributes(h, attr) {
      const c = ctxs.get(h);
      if (!c) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      switch (attr) {
        case SECPKG_ATTR.NAMES: {
          if (c.state !== 'done') return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
          const user = c.side === 'client' ? c.cred.user : c.user;
          const dom = c.side === 'client' ? c.cred.domain : c.domain;
          return { status: SecurityStatus.SEC_E_OK, Buffer: { sUserName: dom ? `${dom}\\${user}` : user } };
        }
        case SECPKG_ATTR.NATIVE_NAMES: {
          const user = c.side === 'client' ? c.cred.user : c.user;
          const dom = c.side === 'client' ? c.cred.domain : c.domain;
          const target = c.side === 'client' ? c.target ?? '' : '';
          return { status: SecurityStatus.SEC_E_OK, Buffer: { sClientName: dom ? `${dom}\\${user}` : user, sServerName: target } };
        }
        case SECPKG_ATTR.FLAGS:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { Flags: c.granted } };
        case SECPKG_ATTR.SIZES:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { ...NTLM_SIZES } };
        default:
          // LIFESPAN, PACKAGE_INFO and NEGOTIATION_INFO are answered by the LSA for every package.
          return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
      }
    },
  };

  return {
    async SpLsaModeInitialize() {
      return { status: NtStatus.STATUS_SUCCESS, PackageVersion: SECPKG_INTERFACE_VERSION_2, ppTables: [table] };
    },
    async SpUserModeInitialize() {
      return { status: NtStatus.STATUS_SUCCESS, PackageVersion: SECPKG_INTERFACE_VERSION_2, ppTables: [ntlmUserModeTable()] };
    },
  };
}

function parseBlobPairs(nt: Uint8Array) {
  // NTLMv2_RESPONSE: NTProofStr(16), then RespType..ChallengeFromClient (28), then AV pairs.
  try {
    return avPairsByName(parseAvPairsLoose(nt.subarray(44)));
  } catch {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'malformed NTLMv2 response');
  }
}

function parseAvPairsLoose(b: Uint8Array): AvPairList {
  return parseAvPairs(b, { allowTrailing: true });
}

async function guard(fn: () => Promise<LsaModeContextResult>): Promise<LsaModeContextResult> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof SspiError) return { status: e.status };
    throw e;
  }
}
