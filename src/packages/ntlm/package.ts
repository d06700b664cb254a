// The NTLM security package (MS-NLMP) on the LSA contract: SpInitLsaModeContext runs the client
// (NEGOTIATE -> CHALLENGE -> AUTHENTICATE), SpAcceptLsaModeContext the server, which never sees a
// password hash: it hands the challenge and the client's response to the account authority
// (MICROSOFT_AUTHENTICATION_PACKAGE_V1_0) through CallPackagePassthrough. A finished context is
// mapped to the user-mode half (usermode.ts) for MakeSignature/EncryptMessage and friends.

import { randomBytes } from '../../crypto/random.js';
import type { LsaModeContextResult, LSA_SEC_HANDLE, LSA_SECPKG_FUNCTION_TABLE, SECPKG_FUNCTION_TABLE, SECPKG_PARAMETERS, SecurityPackageModule } from '../../lsa/types.js';
import { declareFrameUse } from '../../lsa/callContext.js';
import { lsaModeContextCalls, packageModule } from '../../lsa/packageKit.js';
import type { Plain, SecPkgInfo } from '../../sspi/attributes.js';
import { type SecBufferDesc, channelBindingsIn, inputToken, writeOutputToken } from '../../sspi/buffers.js';
import { SspiError } from '../../sspi/error.js';
import { ASC_REQ, ASC_RET, ISC_REQ, ISC_RET, RPC_C_AUTHN, SECPKG_ATTR, SECPKG_CRED, SECPKG_CRED_ATTR, SECPKG_FLAG, hasFlag } from '../../sspi/flags.js';
import { NtStatus, SecurityStatus, type Status, toSecurityStatus } from '../../sspi/status.js';
import { DATE_LIMIT_MS, TIMESTAMP_INFINITE, fileTimeFromUnixMs, timeStampFromUnixMs } from '../../sspi/timestamp.js';
import { concat, constantTimeEqual, zero } from '../../crypto/bytes.js';
import { MSV1_0_ALLOW_LM, MSV1_0_ALLOW_NTLMV1, MSV1_0_PACKAGE_NAME, MSV1_0_PRIMARY_KEY, decodePassthroughResponse, decodePrimaryCredential, encodePassthroughRequest } from '../msv1_0/protocol.js';
import { parseAvPairs, avChannelBindings, avFlags, avString, avTargetName, avTimestamp, avPairsByName, MsvAvDnsComputerName, MsvAvDnsDomainName, MsvAvNbComputerName, MsvAvNbDomainName, setAvPair, writeAvPairs, type AvPairList } from './avpairs.js';
import { ComputeResponseNTLMv1, ComputeResponseNTLMv2, KXKEY, LMOWFv1, NTOWFv1, NTOWFv2, computeMIC, channelBindingsHash, decryptRandomSessionKey, encryptRandomSessionKey } from './crypto.js';
import * as F from './flags.js';
import { type AUTHENTICATE_MESSAGE, type CHALLENGE_MESSAGE, type NEGOTIATE_MESSAGE, type NTLMv2_RESPONSE, parseAuthenticateMessage, parseNtlmv2Response, parseChallengeMessage, parseNegotiateMessage, writeAuthenticateMessage, writeChallengeMessage, writeNegotiateMessage } from './messages.js';
import { packContextData } from './contextData.js';
import { PackedReader, PackedWriter } from '../../lsa/packed.js';
import { NTLM_MAX_TOKEN, NTLM_SIZES, ntlmUserModeTable } from './usermode.js';

export { NTLM_MAX_TOKEN } from './usermode.js';

export const NTLM_PACKAGE_NAME = 'NTLM';
/** MS-NLMP 2.2.2.10: the VERSION we send (Windows Server 2022 numbers, revision 15). */
export const NTLM_VERSION = { ProductMajorVersion: 10, ProductMinorVersion: 0, ProductBuild: 20348, NTLMRevisionCurrent: 15 };
/** MS-NLMP 3.1.5.1.2: without bindings the client sends an all-zero MsvAvChannelBindings. */
const NO_BINDINGS = new Uint8Array(16);
/** The names Windows gives an anonymous logon (the authority reports the same on the acceptor). */
const ANONYMOUS_USER = 'ANONYMOUS LOGON';
const ANONYMOUS_DOMAIN = 'NT AUTHORITY';
/** The layout version of an exported half-built context (ExportLsaModeContext). */
const PARTIAL_VERSION = 1;

export interface NtlmConfig {
  /** NetBIOS and DNS names the acceptor announces in its CHALLENGE target info. */
  computerName?: string;
  domainName?: string;
  dnsComputerName?: string;
  dnsDomainName?: string;
  /** Context lifetime in seconds (0 = none). */
  contextLifetimeSeconds?: number;
  /**
   * Accept an AUTHENTICATE whose NTLMv2 response does not flag a MIC (curl and older clients,
   * which echo the server's MsvAvTimestamp without MsvAvFlags); true by default. When false, a
   * MIC is required (MS-NLMP 3.1.5.1.2 asks for one whenever the CHALLENGE had MsvAvTimestamp,
   * which ours always has). A response that flags a MIC must carry a valid one either way.
   */
  allowMissingMic?: boolean;
  /**
   * Windows' LmCompatibilityLevel, 0 to 5. Initiator: 0 sends LM + NTLMv1, 1 the same with
   * extended session security when the server agrees, 2 NTLMv1 only (the NT response also in
   * the LM field), 3-5 NTLMv2 only. Acceptor: 5 accepts NTLMv2 only, 4 also NTLMv1, 0-3 also LM
   * (which the account store cannot verify: see msv1_0/package.ts). When unset the initiator
   * uses 3 and the acceptor 5; `acceptorLmCompatibilityLevel` sets the acceptor's apart.
   */
  lmCompatibilityLevel?: number;
  acceptorLmCompatibilityLevel?: number;
  /**
   * Allow 56- and 40-bit session keys (NTLMSSP_NEGOTIATE_56, or neither 128 nor 56). Off by
   * default: signing or sealing without NTLMSSP_NEGOTIATE_128 fails with
   * SEC_E_UNSUPPORTED_FUNCTION (MS-NLMP 3.2.5.2.2 ServerRequire128bitEncryption, both sides).
   */
  allowWeakKeys?: boolean;
  /**
   * MS-NLMP 3.2.5.1.2 MaxLifetime: refuse (SEC_E_TIME_SKEW) an NTLMv2 response whose TimeStamp is
   * further than this from the acceptor's clock. 0 (the default) turns the check off, as Windows
   * does not enforce it for network logons by default.
   */
  maxClockSkewSeconds?: number;
  /**
   * The SPNs this acceptor answers to. When set, an NTLMv2 response whose MsvAvTargetName names
   * another service is refused with SEC_E_BAD_BINDINGS (MS-NLMP 3.2.5.1.2, SPN validation);
   * a response without MsvAvTargetName (older clients) is accepted. Compared case-insensitively.
   */
  acceptedTargetNames?: string[];
}

type ResolvedConfig = Required<Omit<NtlmConfig, 'acceptorLmCompatibilityLevel'>> & { acceptorLmCompatibilityLevel: number };

interface Credential {
  use: number;
  user: string;
  domain: string;
  /** NT hash (NTOWFv1). */
  ntHash: Uint8Array | null;
  /** LMOWFv1, kept only when the initiator may send LM responses (level 0/1) and the password fits. */
  lmHash: Uint8Array | null;
  anonymous: boolean;
}

interface ClientCtx {
  side: 'client';
  state: 'negotiate-sent' | 'done';
  cred: Credential;
  req: number;
  target: string | null;
  /** The NEGOTIATE sent; empty in connectionless mode, where there is none (MS-NLMP 3.1.5.2). */
  negotiate: Uint8Array;
  datagram: boolean;
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
  datagram: boolean;
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
  F.NTLMSSP_NEGOTIATE_128 | F.NTLMSSP_NEGOTIATE_KEY_EXCH;

/** What the acceptor offers in a connectionless CHALLENGE, having seen no NEGOTIATE (MS-NLMP 3.2.5.2.1). */
const DATAGRAM_SERVER_FLAGS =
  F.NTLMSSP_NEGOTIATE_UNICODE | F.NTLMSSP_NEGOTIATE_SIGN | F.NTLMSSP_NEGOTIATE_SEAL | F.NTLMSSP_NEGOTIATE_DATAGRAM | F.NTLMSSP_NEGOTIATE_NTLM |
  F.NTLMSSP_NEGOTIATE_ALWAYS_SIGN | F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | F.NTLMSSP_NEGOTIATE_128 | F.NTLMSSP_NEGOTIATE_KEY_EXCH;

function u32(x: number): number {
  return x >>> 0;
}

function level(v: unknown, name: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 5) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, `NTLM ${name} must be an integer 0..5`);
  return v;
}

/** The context attributes NTLM grants for a set of requirements (initiator side). */
function iscGranted(req: number, flags: number, allocated: boolean): number {
  let g: number = ISC_RET.CONNECTION;
  if (hasFlag(req, ISC_REQ.INTEGRITY) || flags & F.NTLMSSP_NEGOTIATE_SIGN) g |= ISC_RET.INTEGRITY;
  if (hasFlag(req, ISC_REQ.CONFIDENTIALITY) && flags & F.NTLMSSP_NEGOTIATE_SEAL) g |= ISC_RET.CONFIDENTIALITY;
  if (hasFlag(req, ISC_REQ.REPLAY_DETECT)) g |= ISC_RET.REPLAY_DETECT;
  if (hasFlag(req, ISC_REQ.SEQUENCE_DETECT)) g |= ISC_RET.SEQUENCE_DETECT;
  if (hasFlag(req, ISC_REQ.DATAGRAM)) g = (g & ~ISC_RET.CONNECTION) | ISC_RET.DATAGRAM;
  // An anonymous logon has no session security (MS-NLMP 3.4): a null session, dummy signatures only.
  if (flags & F.NTLMSSP_NEGOTIATE_ANONYMOUS) g = (g & ~(ISC_RET.INTEGRITY | ISC_RET.CONFIDENTIALITY)) | ISC_RET.NULL_SESSION;
  if (allocated) g |= ISC_RET.ALLOCATED_MEMORY;
  return u32(g);
}

function ascGranted(req: number, flags: number, allocated: boolean): number {
  let g: number = ASC_RET.CONNECTION;
  if (hasFlag(req, ASC_REQ.INTEGRITY) || flags & F.NTLMSSP_NEGOTIATE_SIGN) g |= ASC_RET.INTEGRITY;
  if (hasFlag(req, ASC_REQ.CONFIDENTIALITY) && flags & F.NTLMSSP_NEGOTIATE_SEAL) g |= ASC_RET.CONFIDENTIALITY;
  if (hasFlag(req, ASC_REQ.REPLAY_DETECT)) g |= ASC_RET.REPLAY_DETECT;
  if (hasFlag(req, ASC_REQ.SEQUENCE_DETECT)) g |= ASC_RET.SEQUENCE_DETECT;
  if (flags & F.NTLMSSP_NEGOTIATE_DATAGRAM) g = (g & ~ASC_RET.CONNECTION) | ASC_RET.DATAGRAM;
  // An anonymous logon has no session security (MS-NLMP 3.4): a null session, dummy signatures only.
  if (flags & F.NTLMSSP_NEGOTIATE_ANONYMOUS) g = (g & ~(ASC_RET.INTEGRITY | ASC_RET.CONFIDENTIALITY)) | ASC_RET.NULL_SESSION;
  if (allocated) g |= ASC_RET.ALLOCATED_MEMORY;
  return u32(g);
}

/** Signing or sealing with less than a 128-bit key (NTLMSSP_NEGOTIATE_56 or 40-bit). */
function weakKeys(flags: number): boolean {
  return (flags & (F.NTLMSSP_NEGOTIATE_SIGN | F.NTLMSSP_NEGOTIATE_SEAL)) !== 0 && !(flags & F.NTLMSSP_NEGOTIATE_128);
}

// The MsvAvChannelBindings value (MS-NLMP 2.2.2.1) for the caller's SEC_CHANNEL_BINDINGS, when it gave any.
function bindingsOf(desc: SecBufferDesc | null): Uint8Array | null {
  const cb = channelBindingsIn(desc);
  return cb ? channelBindingsHash(cb) : null;
}

// MS-NLMP 3.3.1: an anonymous AUTHENTICATE has no user, an empty NT response and an LM response
// that is empty or Z(1).
function isAnonymousAuth(auth: AUTHENTICATE_MESSAGE): boolean {
  const lm = auth.LmChallengeResponse;
  return auth.UserName === '' && auth.NtChallengeResponse.length === 0 && (lm.length === 0 || (lm.length === 1 && lm[0] === 0));
}

export function ntlmPackage(config: NtlmConfig = {}): SecurityPackageModule {
  const creds = new Map<LSA_SEC_HANDLE, Credential>();
  const ctxs = new Map<LSA_SEC_HANDLE, ClientCtx | ServerCtx>();
  let lsa!: LSA_SECPKG_FUNCTION_TABLE;
  let packageId = 0;
  let next = 1n;
  let cfg: ResolvedConfig;

  const info: SecPkgInfo = {
    fCapabilities: SECPKG_FLAG.INTEGRITY | SECPKG_FLAG.PRIVACY | SECPKG_FLAG.TOKEN_ONLY | SECPKG_FLAG.CONNECTION | SECPKG_FLAG.DATAGRAM | SECPKG_FLAG.MULTI_REQUIRED |
      SECPKG_FLAG.IMPERSONATION | SECPKG_FLAG.ACCEPT_WIN32_NAME | SECPKG_FLAG.NEGOTIABLE | SECPKG_FLAG.LOGON,
    wVersion: 1,
    wRPCID: RPC_C_AUTHN.WINNT,
    cbMaxToken: NTLM_MAX_TOKEN,
    Name: NTLM_PACKAGE_NAME,
    Comment: 'NTLM Security Package',
  };

  const expiry = (at: number) => (Number.isFinite(at) ? timeStampFromUnixMs(at) : TIMESTAMP_INFINITE);
  const lifetime = () => (cfg.contextLifetimeSeconds > 0 ? Date.now() + cfg.contextLifetimeSeconds * 1000 : Infinity);

  function names(ctx: ClientCtx | ServerCtx): { user: string; domain: string } {
    if (ctx.side === 'server') return { user: ctx.user, domain: ctx.domain };
    return ctx.cred.anonymous ? { user: ANONYMOUS_USER, domain: ANONYMOUS_DOMAIN } : { user: ctx.cred.user, domain: ctx.cred.domain };
  }

  function mapped(ctx: ClientCtx | ServerCtx): Uint8Array {
    const n = names(ctx);
    return packContextData({ side: ctx.side, NegotiateFlags: ctx.flags, ContextAttributes: ctx.granted, sendSeqNum: 0, recvSeqNum: 0, ExportedSessionKey: ctx.sessionKey!, UserName: n.user, DomainName: n.domain });
  }

  // The NEGOTIATE flags for the initiator's LmCompatibilityLevel (level 0 has no ESS).
  function clientFlags(datagram: boolean): number {
    let f = CLIENT_FLAGS;
    if (cfg.lmCompatibilityLevel === 0) f &= ~F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY;
    if (cfg.allowWeakKeys) f |= F.NTLMSSP_NEGOTIATE_56;
    if (datagram) f |= F.NTLMSSP_NEGOTIATE_DATAGRAM;
    return u32(f);
  }

  async function initContext(credH: LSA_SEC_HANDLE, ctxH: LSA_SEC_HANDLE, target: string | null, req: number, input: SecBufferDesc | null, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ISC_REQ.ALLOCATE_MEMORY);
    const existing = ctxs.get(ctxH);
    if (!existing) {
      const cred = creds.get(credH);
      if (!cred) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      if (!(cred.use & SECPKG_CRED.OUTBOUND)) return { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
      const datagram = hasFlag(req, ISC_REQ.DATAGRAM);
      const flags = clientFlags(datagram);
      // MS-NLMP 3.1.5.2: connectionless NTLM sends no NEGOTIATE; the server speaks first.
      const bytes = datagram ? new Uint8Array(0) : writeNegotiateMessage({ NegotiateFlags: flags, DomainName: '', Workstation: '', Version: NTLM_VERSION } satisfies NEGOTIATE_MESSAGE);
      const st = writeOutputToken(output, bytes, allocate);
      if (st !== SecurityStatus.SEC_E_OK) return { status: st };
      const h = next++;
      const ctx: ClientCtx = { side: 'client', state: 'negotiate-sent', cred, req, target, negotiate: bytes, datagram, flags, granted: 0, sessionKey: null, expiresAt: lifetime() };
      ctxs.set(h, ctx);
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h, ContextAttributes: iscGranted(req, flags, allocate && bytes.length > 0), ExpirationTime: expiry(ctx.expiresAt) };
    }
    if (existing.side !== 'client' || existing.state !== 'negotiate-sent') return { status: SecurityStatus.SEC_E_OUT_OF_SEQUENCE };
    const ctx = existing;
    const tok = inputToken(input);
    if (!tok) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
    const challenge = parseChallengeMessage(tok);
    // MS-NLMP 3.1.5.1.2: the client keeps only the flags both sides agreed to.
    let flags = u32(challenge.NegotiateFlags & ctx.flags) | u32(challenge.NegotiateFlags & F.NTLMSSP_NEGOTIATE_TARGET_INFO);
    if (!(flags & F.NTLMSSP_NEGOTIATE_UNICODE)) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
    if (ctx.datagram) {
      // MS-NLMP 3.1.5.2.1: a connectionless CHALLENGE must say so, and key exchange is mandatory.
      if (!(challenge.NegotiateFlags & F.NTLMSSP_NEGOTIATE_DATAGRAM) || !(flags & F.NTLMSSP_NEGOTIATE_KEY_EXCH)) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
    }
    if (!cfg.allowWeakKeys && weakKeys(flags)) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
    const cred = ctx.cred;
    const ess = (flags & F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) !== 0;
    let resp: { NtChallengeResponse: Uint8Array; LmChallengeResponse: Uint8Array; SessionBaseKey: Uint8Array };
    let KeyExchangeKey: Uint8Array;
    if (cred.anonymous) {
      // MS-NLMP 3.3.1/3.3.2 anonymous: NT response empty, LM response Z(1), SessionBaseKey Z(16),
      // taken as the KeyExchangeKey on both sides.
      flags |= F.NTLMSSP_NEGOTIATE_ANONYMOUS;
      resp = ComputeResponseNTLMv1({ ResponseKeyNT: new Uint8Array(16), ServerChallenge: challenge.ServerChallenge, extendedSessionSecurity: ess, anonymous: true });
      KeyExchangeKey = resp.SessionBaseKey.slice();
    } else if (cfg.lmCompatibilityLevel >= 3) {
      // Read before the key exists: malformed bindings throw SEC_E_BAD_BINDINGS.
      const bindings = bindingsOf(input) ?? NO_BINDINGS;
      const ResponseKeyNT = NTOWFv2(cred.ntHash!, cred.user, cred.domain);
      // Target info, amended as MS-NLMP 3.1.5.1.2 says: MIC flag, timestamp, target name, bindings.
      let pairs: AvPairList = challenge.TargetInfoPairs ?? { pairs: [] };
      const serverTime = avPairsByName(pairs).MsvAvTimestamp;
      pairs = setAvPair(pairs, avFlags((avPairsByName(pairs).MsvAvFlags ?? 0) | F.MSV_AV_FLAGS_MIC_PRESENT));
      if (serverTime === undefined) pairs = setAvPair(pairs, avTimestamp(fileTimeFromUnixMs(Date.now())));
      if (ctx.target) pairs = setAvPair(pairs, avTargetName(ctx.target));
      pairs = setAvPair(pairs, avChannelBindings(bindings));
      const serverName = writeAvPairs(pairs);
      const time = serverTime ?? fileTimeFromUnixMs(Date.now());
      resp = ComputeResponseNTLMv2({ ResponseKeyNT, ResponseKeyLM: ResponseKeyNT, ServerChallenge: challenge.ServerChallenge, ClientChallenge: randomBytes(8), Time: time, ServerName: concat(serverName, new Uint8Array(4)), omitLMv2Response: serverTime !== undefined });
      zero(ResponseKeyNT);
      KeyExchangeKey = KXKEY({ SessionBaseKey: resp.SessionBaseKey, LmChallengeResponse: resp.LmChallengeResponse, ServerChallenge: challenge.ServerChallenge, ntlmv2: true });
    } else {
      // MS-NLMP 3.3.1 NTLMv1: levels 0/1 add the LM response when the LM hash is known, level 2
      // repeats the NT response in its place; with ESS the LM field carries the client challenge.
      flags &= ~F.NTLMSSP_NEGOTIATE_LM_KEY;
      resp = ComputeResponseNTLMv1({
        ResponseKeyNT: cred.ntHash!,
        ResponseKeyLM: cfg.lmCompatibilityLevel < 2 ? cred.lmHash : null,
        ServerChallenge: challenge.ServerChallenge,
        ClientChallenge: new Uint8Array(randomBytes(8)),
        extendedSessionSecurity: ess,
        noLMResponse: cfg.lmCompatibilityLevel >= 2,
      });
      KeyExchangeKey = KXKEY({ SessionBaseKey: resp.SessionBaseKey, LmChallengeResponse: resp.LmChallengeResponse, ServerChallenge: challenge.ServerChallenge, extendedSessionSecurity: ess });
    }
    let exported: Uint8Array = KeyExchangeKey;
    let encrypted: Uint8Array = new Uint8Array(0);
    if (flags & F.NTLMSSP_NEGOTIATE_KEY_EXCH) {
      exported = new Uint8Array(randomBytes(16));
      encrypted = encryptRandomSessionKey(KeyExchangeKey, exported);
      zero(KeyExchangeKey);
    }
    const auth: AUTHENTICATE_MESSAGE = {
      NegotiateFlags: u32(flags),
      LmChallengeResponse: resp.LmChallengeResponse,
      NtChallengeResponse: resp.NtChallengeResponse,
      DomainName: cred.domain,
      UserName: cred.user,
      Workstation: '',
      EncryptedRandomSessionKey: encrypted,
      Version: NTLM_VERSION,
      MIC: new Uint8Array(16),
    };
    // The context keeps the session key only once the AUTHENTICATE is in the caller's buffer.
    let sent = false;
    try {
      const withZeroMic = writeAuthenticateMessage(auth);
      const mic = computeMIC(exported, ctx.negotiate, challenge.raw ?? tok, withZeroMic);
      const final = withZeroMic.slice();
      final.set(mic, F.AUTHENTICATE_MIC_OFFSET);
      const st = writeOutputToken(output, final, allocate);
      if (st !== SecurityStatus.SEC_E_OK) return { status: st };
      sent = true;
    } finally {
      zero(resp.SessionBaseKey);
      if (!sent) zero(exported);
    }
    ctx.state = 'done';
    ctx.flags = u32(flags);
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

  // MSV1_0 ParameterControl for the acceptor's LmCompatibilityLevel: the authority enforces it.
  function parameterControl(): number {
    const l = cfg.acceptorLmCompatibilityLevel;
    return u32((l < 5 ? MSV1_0_ALLOW_NTLMV1 : 0) | (l < 4 ? MSV1_0_ALLOW_LM : 0));
  }

  // MS-NLMP 3.2.5.1.2 checks of the client's NTLMv2 AV pairs that need no key: the response's age
  // (MaxLifetime, when configured) and the target SPN (when the acceptor knows its own).
  function checkResponsePairs(v2: NTLMv2_RESPONSE | null): Status {
    if (!v2) return SecurityStatus.SEC_E_OK;
    if (cfg.maxClockSkewSeconds > 0) {
      const skewMs = Math.abs(Date.now() - fileTimeToUnixMs(v2.ClientChallenge.TimeStamp));
      if (skewMs > cfg.maxClockSkewSeconds * 1000) return SecurityStatus.SEC_E_TIME_SKEW;
    }
    if (cfg.acceptedTargetNames.length) {
      const name = avPairsByName(v2.ClientChallenge.AvPairs).MsvAvTargetName;
      if (name && !cfg.acceptedTargetNames.some((n) => n.toLowerCase() === name.toLowerCase())) return SecurityStatus.SEC_E_BAD_BINDINGS;
    }
    return SecurityStatus.SEC_E_OK;
  }

  function issueChallenge(req: number, negotiate: Uint8Array, flags: number, datagram: boolean, allocate: boolean, output: SecBufferDesc | null): LsaModeContextResult {
    const serverChallenge = new Uint8Array(randomBytes(8));
    const challengeMsg: CHALLENGE_MESSAGE = { NegotiateFlags: u32(flags), TargetName: cfg.domainName, ServerChallenge: serverChallenge, TargetInfo: new Uint8Array(0), TargetInfoPairs: targetInfo(), Version: NTLM_VERSION };
    const bytes = writeChallengeMessage(challengeMsg);
    const st = writeOutputToken(output, bytes, allocate);
    if (st !== SecurityStatus.SEC_E_OK) return { status: st };
    const h = next++;
    const ctx: ServerCtx = { side: 'server', state: 'challenge-sent', req, negotiate, datagram, challenge: bytes, challengeMsg, serverChallenge, flags: u32(flags), granted: 0, sessionKey: null, user: '', domain: '', workstation: '', expiresAt: lifetime() };
    ctxs.set(h, ctx);
    return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h, ContextAttributes: ascGranted(req, flags, allocate), ExpirationTime: expiry(ctx.expiresAt) };
  }

  async function acceptContext(credH: LSA_SEC_HANDLE, ctxH: LSA_SEC_HANDLE, input: SecBufferDesc | null, req: number, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ASC_REQ.ALLOCATE_MEMORY);
    const tok = inputToken(input);
    const existing = ctxs.get(ctxH);
    if (!existing) {
      const cred = creds.get(credH);
      if (!cred) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      if (!(cred.use & SECPKG_CRED.INBOUND)) return { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
      if (hasFlag(req, ASC_REQ.DATAGRAM) && (!tok || tok.length === 0)) {
        // MS-NLMP 3.2.5.2.1: connectionless, the server sends the first message.
        const flags = DATAGRAM_SERVER_FLAGS | F.NTLMSSP_NEGOTIATE_TARGET_INFO | F.NTLMSSP_TARGET_TYPE_DOMAIN | F.NTLMSSP_NEGOTIATE_VERSION | (cfg.allowWeakKeys ? F.NTLMSSP_NEGOTIATE_56 : 0);
        return issueChallenge(req, new Uint8Array(0), flags, true, allocate, output);
      }
      if (!tok) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
      const neg = parseNegotiateMessage(tok);
      const c = u32(neg.NegotiateFlags);
      // MS-NLMP 3.2.5.1.1: answer in Unicode when offered, and with what both support.
      let flags = F.NTLMSSP_NEGOTIATE_NTLM | F.NTLMSSP_NEGOTIATE_TARGET_INFO | F.NTLMSSP_TARGET_TYPE_DOMAIN | F.NTLMSSP_NEGOTIATE_VERSION | F.NTLMSSP_REQUEST_TARGET;
      flags |= c & F.NTLMSSP_NEGOTIATE_UNICODE ? F.NTLMSSP_NEGOTIATE_UNICODE : F.NTLM_NEGOTIATE_OEM;
      for (const f of [F.NTLMSSP_NEGOTIATE_SIGN, F.NTLMSSP_NEGOTIATE_SEAL, F.NTLMSSP_NEGOTIATE_ALWAYS_SIGN, F.NTLMSSP_NEGOTIATE_128, F.NTLMSSP_NEGOTIATE_KEY_EXCH, F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY]) {
        if (c & f) flags |= f;
      }
      if (cfg.allowWeakKeys && c & F.NTLMSSP_NEGOTIATE_56) flags |= F.NTLMSSP_NEGOTIATE_56;
      // MS-NLMP 3.2.5.2.2 ServerRequire128bitEncryption.
      if (!cfg.allowWeakKeys && weakKeys(flags)) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
      return issueChallenge(req, neg.raw ?? tok.slice(), flags, false, allocate, output);
    }
    if (existing.side !== 'server' || existing.state !== 'challenge-sent') return { status: SecurityStatus.SEC_E_OUT_OF_SEQUENCE };
    if (!tok) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
    const ctx = existing;
    const auth = parseAuthenticateMessage(tok);
    const flags = u32(auth.NegotiateFlags & ctx.flags) || ctx.flags;
    if (ctx.datagram && (!(auth.NegotiateFlags & F.NTLMSSP_NEGOTIATE_DATAGRAM) || !(flags & F.NTLMSSP_NEGOTIATE_KEY_EXCH))) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
    if (!cfg.allowWeakKeys && weakKeys(flags)) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
    const anonymous = isAnonymousAuth(auth);
    const v2 = auth.NtChallengeResponse.length > 24 ? parseV2(auth.NtChallengeResponse) : null;
    const early = checkResponsePairs(v2);
    if (early !== SecurityStatus.SEC_E_OK) return { status: early };
    // Malformed bindings throw SEC_E_BAD_BINDINGS here, before any key exists.
    const expected = bindingsOf(input);
    // The authority validates the response; this package never sees a password hash.
    const submit = encodePassthroughRequest({
      LogonDomainName: auth.DomainName,
      ParameterControl: parameterControl(),
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
    // Every way out before the context holds the session key zeroes it (and the keys it came from).
    let exported: Uint8Array | null = null;
    let kept = false;
    try {
      // KXKEY (MS-NLMP 3.4.5.1): identity for NTLMv2 and anonymous, the ESS/v1 variants otherwise.
      const KeyExchangeKey = KXKEY({
        SessionBaseKey: v.UserSessionKey,
        LmChallengeResponse: auth.LmChallengeResponse,
        ServerChallenge: ctx.serverChallenge,
        ntlmv2: v2 !== null || anonymous,
        extendedSessionSecurity: (flags & F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) !== 0,
      });
      exported = KeyExchangeKey;
      if (flags & F.NTLMSSP_NEGOTIATE_KEY_EXCH && auth.EncryptedRandomSessionKey.length) {
        try {
          exported = decryptRandomSessionKey(KeyExchangeKey, auth.EncryptedRandomSessionKey);
        } finally {
          zero(KeyExchangeKey);
        }
      }
      // MS-NLMP 3.2.5.1.2: a response that flags a MIC must carry a valid one; a MIC is required
      // outright unless the acceptor allows clients without (see NtlmConfig.allowMissingMic).
      const blob = v2 ? avPairsByName(v2.ClientChallenge.AvPairs) : null;
      const micFlag = ((blob?.MsvAvFlags ?? 0) & F.MSV_AV_FLAGS_MIC_PRESENT) !== 0;
      if (micFlag || !cfg.allowMissingMic) {
        if (!auth.MIC || auth.MicOffset === undefined) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
        const want = computeMIC(exported, ctx.negotiate, ctx.challenge, auth.raw ?? tok, auth.MicOffset);
        if (!constantTimeEqual(want, auth.MIC)) return { status: SecurityStatus.SEC_E_MESSAGE_ALTERED };
      }
      if (expected) {
        const got = blob?.MsvAvChannelBindings;
        if (!got || !constantTimeEqual(got, expected)) return { status: SecurityStatus.SEC_E_BAD_BINDINGS };
      }
      kept = true;
    } finally {
      zero(v.UserSessionKey);
      if (!kept && exported) zero(exported);
    }
    ctx.state = 'done';
    // The user-mode half reads NTLMSSP_NEGOTIATE_ANONYMOUS: no session security (MS-NLMP 3.4).
    ctx.flags = anonymous ? u32(flags | F.NTLMSSP_NEGOTIATE_ANONYMOUS) : flags;
    ctx.sessionKey = exported;
    ctx.user = v.EffectiveName;
    ctx.domain = v.LogonDomainName;
    ctx.workstation = auth.Workstation;
    ctx.granted = ascGranted(ctx.req, ctx.flags, allocate);
    return { status: SecurityStatus.SEC_E_OK, NewContextHandle: ctxH, ContextAttributes: ctx.granted, ExpirationTime: expiry(ctx.expiresAt), MappedContext: true, ContextData: mapped(ctx) };
  }

  // Default credentials (no auth data): the primary credential MSV1_0 left in the caller's logon
  // session, or the session named by LogonId when the caller holds TCB.
  async function defaultCredential(use: number, logonId: bigint | null): Promise<Credential | Status> {
    const client = lsa.GetClientInfo();
    const own = client.ClientInfo?.LogonId;
    let id = own;
    if (logonId !== null && logonId !== undefined && logonId !== own) {
      if (!client.ClientInfo?.HasTcbPrivilege) return SecurityStatus.SEC_E_NOT_OWNER;
      id = logonId;
    }
    if (id === undefined) return SecurityStatus.SEC_E_NO_CREDENTIALS;
    const r = await lsa.GetCredentials(id, packageId, 0, false, MSV1_0_PRIMARY_KEY);
    if (r.status !== NtStatus.STATUS_SUCCESS || !r.Credentials) return SecurityStatus.SEC_E_NO_CREDENTIALS;
    try {
      const p = decodePrimaryCredential(r.Credentials);
      return { use, user: p.UserName, domain: p.LogonDomainName, ntHash: p.NtOwfPassword, lmHash: null, anonymous: false };
    } catch {
      return SecurityStatus.SEC_E_NO_CREDENTIALS;
    } finally {
      zero(r.Credentials);
    }
  }

  const table: SECPKG_FUNCTION_TABLE = {
    async Initialize(id: number, params: SECPKG_PARAMETERS, functions: LSA_SECPKG_FUNCTION_TABLE): Promise<Status> {
      lsa = functions;
      packageId = id;
      const pc = (params.PackageConfig ?? {}) as NtlmConfig;
      const merged = { ...pc, ...config };
      const computer = (merged.computerName ?? 'TSLSA').toUpperCase();
      const domain = (merged.domainName ?? params.DomainName ?? 'WORKGROUP').toUpperCase();
      const clientLevel = level(merged.lmCompatibilityLevel, 'lmCompatibilityLevel', 3);
      const names = merged.acceptedTargetNames ?? [];
      if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'NTLM acceptedTargetNames must be strings');
      const skew = merged.maxClockSkewSeconds ?? 0;
      if (typeof skew !== 'number' || !(skew >= 0)) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'NTLM maxClockSkewSeconds must be >= 0');
      cfg = {
        computerName: computer,
        domainName: domain,
        dnsComputerName: merged.dnsComputerName ?? computer.toLowerCase(),
        dnsDomainName: merged.dnsDomainName ?? (params.DnsDomainName || domain.toLowerCase()),
        contextLifetimeSeconds: merged.contextLifetimeSeconds ?? 0,
        allowMissingMic: merged.allowMissingMic ?? true,
        lmCompatibilityLevel: clientLevel,
        acceptorLmCompatibilityLevel: level(merged.acceptorLmCompatibilityLevel, 'acceptorLmCompatibilityLevel', merged.lmCompatibilityLevel === undefined ? 5 : clientLevel),
        allowWeakKeys: merged.allowWeakKeys === true,
        maxClockSkewSeconds: skew,
        acceptedTargetNames: [...names],
      };
      return NtStatus.STATUS_SUCCESS;
    },
    async GetInfo() {
      return { status: SecurityStatus.SEC_E_OK, PackageInfo: { ...info } };
    },
    async AcquireCredentialsHandle(_principal, use, logonId, authData: Plain) {
      const a = (authData ?? null) as { User?: unknown; Domain?: unknown; Password?: unknown; NtHash?: unknown } | null;
      const inbound = (use & SECPKG_CRED.BOTH) === SECPKG_CRED.INBOUND;
      let cred: Credential;
      if (a && typeof a.User === 'string') {
        const domain = typeof a.Domain === 'string' ? a.Domain : '';
        // SEC_WINNT_AUTH_IDENTITY with empty user, domain and password: anonymous (MS-NLMP 3.2.5.1.2).
        if (a.User === '' && domain === '' && (a.Password === '' || a.Password === undefined) && a.NtHash === undefined) {
          cred = { use, user: '', domain: '', ntHash: null, lmHash: null, anonymous: true };
        } else {
          let ntHash: Uint8Array | null = null;
          let lmHash: Uint8Array | null = null;
          if (typeof a.Password === 'string') {
            ntHash = NTOWFv1(a.Password);
            // Windows keeps no LM hash for passwords over 14 characters.
            if (cfg.lmCompatibilityLevel < 2 && a.Password.length <= 14) lmHash = LMOWFv1(a.Password);
          } else if (a.NtHash instanceof Uint8Array && a.NtHash.length === 16) ntHash = a.NtHash.slice();
          else if (!inbound) return { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
          cred = { use, user: a.User, domain, ntHash, lmHash, anonymous: false };
        }
      } else if (inbound) {
        cred = { use, user: '', domain: '', ntHash: null, lmHash: null, anonymous: false };
      } else {
        const d = await defaultCredential(use, logonId);
        if (typeof d === 'number') return { status: d };
        cred = d;
      }
      const h = next++;
      creds.set(h, cred);
      return { status: SecurityStatus.SEC_E_OK, CredentialHandle: h, ExpirationTime: TIMESTAMP_INFINITE };
    },
    async QueryCredentialsAttributes(h, attr) {
      const c = creds.get(h);
      if (!c) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      if (attr !== SECPKG_CRED_ATTR.NAMES) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
      if (c.anonymous) return { status: SecurityStatus.SEC_E_OK, Buffer: { sUserName: `${ANONYMOUS_DOMAIN}\\${ANONYMOUS_USER}` } };
      return { status: SecurityStatus.SEC_E_OK, Buffer: { sUserName: c.domain ? `${c.domain}\\${c.user}` : c.user } };
    },
    async FreeCredentialsHandle(h) {
      const c = creds.get(h);
      if (!c) return SecurityStatus.SEC_E_INVALID_HANDLE;
      zero(c.ntHash);
      zero(c.lmHash);
      creds.delete(h);
      return SecurityStatus.SEC_E_OK;
    },
    ...lsaModeContextCalls(initContext, acceptContext),
    async DeleteContext(h) {
      const c = ctxs.get(h);
      if (!c) return SecurityStatus.SEC_E_INVALID_HANDLE;
      zero(c.sessionKey);
      ctxs.delete(h);
      return SecurityStatus.SEC_E_OK;
    },
    // A handshake parked between legs in a store shared by several nodes: the NEGOTIATE and
    // CHALLENGE already on the wire, and the request flags. Nothing secret: the server challenge
    // is in the CHALLENGE the client saw.
    async ExportLsaModeContext(h) {
      const c = ctxs.get(h);
      if (!c) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      if (c.state === 'done') return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
      const w = new PackedWriter().u8(PARTIAL_VERSION).u8(c.side === 'client' ? 1 : 2).u32(c.req).u8(c.datagram ? 1 : 0).f64(c.expiresAt).bytes(c.negotiate);
      if (c.side === 'server') w.bytes(c.challenge);
      else w.u32(c.flags).u8(c.target === null ? 0 : 1).text(c.target ?? '');
      return { status: SecurityStatus.SEC_E_OK, PackedContext: w.finish() };
    },
    async ImportLsaModeContext(credH, packed) {
      const cred = creds.get(credH);
      if (!cred) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      const rd = new PackedReader(packed, 'NTLM handshake state');
      if (rd.u8() !== PARTIAL_VERSION) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
      const side = rd.u8();
      const req = rd.u32();
      const datagram = rd.u8() === 1;
      const expiresAt = rd.f64();
      const negotiate = rd.bytes(NTLM_MAX_TOKEN);
      // +Infinity (no lifetime set) or an instant a Date can hold.
      if (!(expiresAt > 0) || (expiresAt !== Infinity && expiresAt > DATE_LIMIT_MS)) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
      if (expiresAt <= Date.now()) return { status: SecurityStatus.SEC_E_CONTEXT_EXPIRED };
      // The NEGOTIATE goes into the MIC: it must be one (connectionless NTLM has none).
      if (datagram && negotiate.length) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
      if (!datagram) parseNegotiateMessage(negotiate);
      let ctx: ClientCtx | ServerCtx;
      if (side === 2) {
        if (!(cred.use & SECPKG_CRED.INBOUND)) return { status: SecurityStatus.SEC_E_WRONG_CREDENTIAL_HANDLE };
        const challenge = rd.bytes(NTLM_MAX_TOKEN);
        rd.end();
        const challengeMsg = parseChallengeMessage(challenge);
        ctx = { side: 'server', state: 'challenge-sent', req, negotiate, datagram, challenge, challengeMsg, serverChallenge: challengeMsg.ServerChallenge.slice(), flags: u32(challengeMsg.NegotiateFlags), granted: 0, sessionKey: null, user: '', domain: '', workstation: '', expiresAt };
      } else if (side === 1) {
        if (!(cred.use & SECPKG_CRED.OUTBOUND)) return { status: SecurityStatus.SEC_E_WRONG_CREDENTIAL_HANDLE };
        const flags = rd.u32();
        const hasTarget = rd.u8() === 1;
        const target = rd.text();
        rd.end();
        ctx = { side: 'client', state: 'negotiate-sent', cred, req, target: hasTarget ? target : null, negotiate, datagram, flags, granted: 0, sessionKey: null, expiresAt };
      } else {
        return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
      }
      const nh = next++;
      ctxs.set(nh, ctx);
      const granted = ctx.side === 'server' ? ascGranted(req, ctx.flags, false) : iscGranted(req, ctx.flags, false);
      return { status: SecurityStatus.SEC_E_OK, NewContextHandle: nh, ContextAttributes: granted, ExpirationTime: expiry(expiresAt) };
    },
    async QueryContextAttributes(h, attr) {
      const c = ctxs.get(h);
      if (!c) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      switch (attr) {
        case SECPKG_ATTR.NAMES: {
          if (c.state !== 'done') return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
          const { user, domain: dom } = names(c);
          return { status: SecurityStatus.SEC_E_OK, Buffer: { sUserName: dom ? `${dom}\\${user}` : user } };
        }
        case SECPKG_ATTR.NATIVE_NAMES: {
          const { user, domain: dom } = names(c);
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

  // Default credentials come from the caller's logon session (GetClientInfo, after awaits).
  return declareFrameUse(packageModule(table, ntlmUserModeTable), ['AcquireCredentialsHandle']);
}

// FILETIME (100 ns since 1601) to Unix milliseconds.
function fileTimeToUnixMs(ft: bigint): number {
  return Number(ft / 10000n) - 11644473600000;
}

function parseV2(nt: Uint8Array): NTLMv2_RESPONSE {
  try {
    return parseNtlmv2Response(nt);
  } catch {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'malformed NTLMv2 response');
  }
}
