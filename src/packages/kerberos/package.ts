// The Kerberos security package (RFC 4120, RFC 4121, MS-KILE) on the LSA contract.
// SpAcquireCredentialsHandle gets client credentials from a password (AS exchange), a client
// keytab or a credential cache, or an acceptor keytab; SpInitLsaModeContext sends the AP-REQ
// (service ticket from the cache or a TGS exchange) and checks the AP-REP; SpAcceptLsaModeContext
// checks the AP-REQ against the keytab and the replay cache and answers with an AP-REP or a
// KRB-ERROR. A finished context is mapped to the user-mode half (usermode.ts) for the RFC 4121
// MIC and Wrap tokens.

import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Krb5TokId, parseKrb5Token } from '../../der/gss.js';
import type { LsaModeContextResult, LSA_SEC_HANDLE, SECPKG_FUNCTION_TABLE, SECPKG_PARAMETERS, SecurityPackageModule } from '../../lsa/types.js';
import { declareFrameUse } from '../../lsa/callContext.js';
import { lsaModeContextCalls, packageModule } from '../../lsa/packageKit.js';
import type { Plain, SecPkgInfo } from '../../sspi/attributes.js';
import { type SecBufferDesc, type SecChannelBindings, channelBindingsIn, inputToken, writeOutputToken } from '../../sspi/buffers.js';
import { SspiError } from '../../sspi/error.js';
import { ASC_REQ, ASC_RET, ISC_REQ, ISC_RET, RPC_C_AUTHN, SECPKG_ATTR, SECPKG_CRED, SECPKG_CRED_ATTR, SECPKG_FLAG, hasFlag } from '../../sspi/flags.js';
import { NtStatus, SecurityStatus, type Status } from '../../sspi/status.js';
import { TIMESTAMP_INFINITE, timeStampFromUnixMs } from '../../sspi/timestamp.js';
import { KdcOptions, NameType, TicketFlags, decodeApReq, decodeKrbError } from './asn1/index.js';
import { type Ccache, resolveKeytabName, serializeCcache, writeCcacheFile } from './ccache.js';
import { acquireKerberosCredentials, type AcquireOptions, type KerberosCredentials } from './client/credentials.js';
import { toPrincipalName } from './client/as.js';
import { getServiceTicket } from './client/tgs.js';
import { clientPolicy } from './client/policy.js';
import type { KdcSend, KerberosTicketCredential } from './client/types.js';
import type { CryptoPolicy, KerberosKey } from './crypto/types.js';
import { destroyKey, isKeyLive } from './crypto/index.js';
import { AcceptedTicketCache } from './acceptedTickets.js';
import { SessionKeyCache } from './sessionKeys.js';
import {
  type AcceptedApReq, type BuiltApReq, acceptApReq, buildApRep, buildApReq, buildDceThirdLeg, buildKrbErrorToken, encodeDelegation,
  generateSeqNumber, generateSubkey, krbApError, krbErrorCodeOf, unframeApReq, verifyApRep, verifyDceThirdLeg,
} from './gss/apreq.js';
import { GssFlags } from './gss/checksum.js';
import { isRc4Enctype } from './gss/rc4tokens.js';
import { type KerberosContextData, packContextData } from './contextData.js';
import { type Keytab, type KrbPrincipal, findKeys, formatPrincipal, parsePrincipal, readKeytabFile } from './keytab.js';
import { type Krb5Config, loadKrb5Config } from './krb5conf.js';
import { type Pac, findPac, parsePac, verifyPacServerSignature } from './pac.js';
import { MemoryReplayCache, type ReplayCache } from './replay.js';
import { KERBEROS_MAX_TOKEN, kerberosSizes, kerberosUserModeTable } from './usermode.js';

export { KERBEROS_MAX_TOKEN } from './usermode.js';

export const KERBEROS_PACKAGE_NAME = 'Kerberos';

// Session-key objects a credential handle keeps (see sessionKeys.ts): a client talks to a few
// services; an acceptor sees the tickets of its recent clients (acceptedTickets.ts).
const SHARED_SESSION_KEYS = 16;
const ACCEPTOR_TICKETS = 1024;

/**
 * tslsa extension levels of QueryContextAttributes (Windows has no public equivalent; the values
 * sit below the 0x80000000 range Windows uses for its own package-specific levels).
 */
export const TSLSA_KERB_ATTR = {
  /** Acceptor: { verified: boolean, pac: Pac } or SEC_E_UNSUPPORTED_FUNCTION when the ticket had none. */
  PAC: 0x7ffe0001,
  /** Acceptor: { name: 'FILE:...' | null, principal, ccache: MIT ccache bytes } of the delegated credentials. */
  DELEGATED_CCACHE: 0x7ffe0002,
  /** Both sides: { client, server, realm, user, enctype, endtime } of the ticket. */
  TICKET_INFO: 0x7ffe0003,
  /**
   * Acceptor: { bound: boolean }, whether the AP-REQ was bound to the channel bindings given to
   * AcceptSecurityContext (its Bnd matched them; a zero Bnd let through is not bound).
   */
  CHANNEL_BINDINGS: 0x7ffe0004,
} as const;

export interface KerberosConfig {
  /** krb5.conf: a path (several joined with ':', as KRB5_CONFIG) or a parsed Krb5Config; default KRB5_CONFIG or /etc/krb5.conf. */
  krb5Conf?: string | Krb5Config;
  /** Default acceptor keytab; else KRB5_KTNAME, else default_keytab_name, else /etc/krb5.keytab. */
  keytab?: string;
  /** Acceptor clock skew in seconds; default krb5.conf clockskew (300). */
  clockSkewSeconds?: number;
  /** The acceptor's authenticator replay cache; default one MemoryReplayCache per package. */
  replayCache?: ReplayCache;
  /** Refuse AP-REQs without channel bindings (the acceptor then needs SECBUFFER_CHANNEL_BINDINGS too). */
  requireChannelBindings?: boolean;
  /** Accept rc4-hmac tickets and authenticators at the acceptor even when krb5.conf does not allow weak crypto. */
  allowWeak?: boolean;
  /** Write delegated credentials as FILE ccaches in this directory (removed when the context is deleted). */
  delegatedCcacheDir?: string;
  /** Deadline of one KDC exchange in ms; default 10 000. */
  kdcTimeoutMs?: number;
  /** Ask for forwardable TGTs (AS exchanges of this package); default true, as Windows does. */
  forwardable?: boolean;
  /**
   * ISC_REQ_DELEGATE forwards the TGT only to a service whose ticket is OK-AS-DELEGATE (the realm
   * trusts it for delegation), as Windows does (MS-KILE 3.2.5.1) and MIT's GSS_C_DELEG_POLICY_FLAG;
   * 'always' forwards it to any service, as MIT's GSS_C_DELEG_FLAG (curl --delegation always).
   * Default 'ok-as-delegate'.
   */
  delegation?: 'ok-as-delegate' | 'always';
  /** Replace the KDC transport (tests, custom transports). Not Plain: only through kerberosPackage(config). */
  kdcSend?: KdcSend;
  /** Environment read for KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The acceptor's clock (tests of clock skew and expiry); default the system's. */
  now?: () => Date;
  /** The initiator credentials' clock (TGT refresh, expiry of cached tickets; tests); default the system's. */
  initiatorNow?: () => Date;
}

interface Resolved {
  krb5: Krb5Config;
  keytab: string | undefined;
  clockSkew: number;
  replayCache: ReplayCache;
  requireChannelBindings: boolean;
  policy: CryptoPolicy;
  /** The initiator's crypto policy (krb5.conf), computed once: it is asked on every handshake. */
  clientCrypto: CryptoPolicy;
  delegatedCcacheDir: string | undefined;
  kdcTimeoutMs: number | undefined;
  forwardable: boolean;
  delegation: 'ok-as-delegate' | 'always';
  send: KdcSend | undefined;
  env: NodeJS.ProcessEnv;
  now: (() => Date) | undefined;
  initiatorNow: (() => Date) | undefined;
}

interface AcceptorKeys {
  name: string;
  keytab: Keytab;
  principal: KrbPrincipal | undefined;
  /** The tickets this handle accepted, opened once and their session keys shared across their AP-REQs (acceptedTickets.ts). */
  tickets: AcceptedTicketCache;
}

interface Credential {
  use: number;
  outbound: KerberosCredentials | null;
  /**
   * Service-ticket session keys as live key objects, by the ticket's DER bytes (sessionKeys.ts):
   * every AP-REQ with a ticket reuses the keys derived from its session key. Zeroed on free.
   */
  sessionKeys: SessionKeyCache<Uint8Array>;
  inbound: AcceptorKeys | null;
}

interface InitiatorCtx {
  side: 'initiator';
  state: 'ap-req-sent' | 'done';
  req: number;
  granted: number;
  cred: KerberosCredentials;
  target: KrbPrincipal;
  ticket: KerberosTicketCredential;
  apReq: BuiltApReq;
  /** The credential's shared session-key object the AP-REQ was made with (see Credential.sessionKeys). */
  sharedKey: KerberosKey;
  delegated: boolean;
  data: KerberosContextData | null;
}

interface AcceptorCtx {
  side: 'acceptor';
  state: 'ap-rep-sent' | 'done';
  req: number;
  granted: number;
  accepted: AcceptedApReq;
  /** What our AP-REP echoed (the DCE third leg must echo it back). */
  repTime: { ctime: Date; cusec: number };
  localSeq: number;
  acceptorSubkey: KerberosKey | undefined;
  pac: { verified: boolean; pac: Pac } | null;
  delegated: { ccache: Ccache; path: string | null } | null;
  data: KerberosContextData | null;
}

type Ctx = InitiatorCtx | AcceptorCtx;

// ---- names --------------------------------------------------------------------------------

/**
 * The service principal of an ISC target name: "svc/host[@REALM]" (SPN), "svc@host" (GSS
 * host-based, RFC 2743 4.1) or "name@REALM" (a principal: the part after '@' is upper case). A
 * missing realm comes from [domain_realm] for the host, then default_realm, then `fallbackRealm`.
 */
export function targetPrincipal(target: string, krb5: Krb5Config, fallbackRealm: string): KrbPrincipal {
  const t = target.trim();
  if (t === '') throw new SspiError(SecurityStatus.SEC_E_TARGET_UNKNOWN, 'empty target name');
  const realmFor = (host: string | undefined): string => (host ? krb5.domainRealm(host) : undefined) ?? krb5.defaultRealm ?? fallbackRealm;
  if (t.includes('/')) {
    const p = parsePrincipal(t, '', NameType.NT_SRV_INST);
    if (p.realm === '') p.realm = realmFor(p.components[1]);
    return p;
  }
  const at = t.lastIndexOf('@');
  if (at > 0) {
    const left = t.slice(0, at);
    const right = t.slice(at + 1);
    if (right !== '' && right === right.toUpperCase() && /[A-Z]/.test(right)) return parsePrincipal(t, '', NameType.NT_PRINCIPAL);
    const host = right.toLowerCase();
    return { realm: realmFor(host), components: [left, host], nameType: NameType.NT_SRV_HST };
  }
  return parsePrincipal(t, realmFor(undefined), NameType.NT_PRINCIPAL);
}

// ---- flags --------------------------------------------------------------------------------

/** The RFC 4121 checksum flags for ISC_REQ flags (MIT always offers confidentiality and integrity). */
function gssFlagsFor(req: number): number {
  let f = GssFlags.GSS_C_CONF_FLAG | GssFlags.GSS_C_INTEG_FLAG;
  if (hasFlag(req, ISC_REQ.MUTUAL_AUTH)) f |= GssFlags.GSS_C_MUTUAL_FLAG;
  if (hasFlag(req, ISC_REQ.REPLAY_DETECT)) f |= GssFlags.GSS_C_REPLAY_FLAG;
  if (hasFlag(req, ISC_REQ.SEQUENCE_DETECT)) f |= GssFlags.GSS_C_SEQUENCE_FLAG;
  if (hasFlag(req, ISC_REQ.USE_DCE_STYLE)) f |= GssFlags.GSS_C_DCE_STYLE | GssFlags.GSS_C_MUTUAL_FLAG;
  if (hasFlag(req, ISC_REQ.IDENTIFY)) f |= GssFlags.GSS_C_IDENTIFY_FLAG;
  if (hasFlag(req, ISC_REQ.EXTENDED_ERROR)) f |= GssFlags.GSS_C_EXTENDED_ERROR_FLAG;
  return f >>> 0;
}

function iscGranted(req: number, gss: number, delegated: boolean, allocated: boolean): number {
  let g = 0;
  if (gss & GssFlags.GSS_C_MUTUAL_FLAG) g |= ISC_RET.MUTUAL_AUTH;
  if (gss & GssFlags.GSS_C_REPLAY_FLAG) g |= ISC_RET.REPLAY_DETECT;
  if (gss & GssFlags.GSS_C_SEQUENCE_FLAG) g |= ISC_RET.SEQUENCE_DETECT;
  if (hasFlag(req, ISC_REQ.CONFIDENTIALITY)) g |= ISC_RET.CONFIDENTIALITY;
  if (hasFlag(req, ISC_REQ.INTEGRITY)) g |= ISC_RET.INTEGRITY;
  if (gss & GssFlags.GSS_C_DCE_STYLE) g |= ISC_RET.USED_DCE_STYLE;
  if (gss & GssFlags.GSS_C_IDENTIFY_FLAG) g |= ISC_RET.IDENTIFY;
  if (gss & GssFlags.GSS_C_EXTENDED_ERROR_FLAG) g |= ISC_RET.EXTENDED_ERROR;
  if (hasFlag(req, ISC_REQ.CONNECTION)) g |= ISC_RET.CONNECTION;
  if (delegated) g |= ISC_RET.DELEGATE;
  if (allocated) g |= ISC_RET.ALLOCATED_MEMORY;
  return g >>> 0;
}

function ascGranted(req: number, gss: number, mutual: boolean, delegated: boolean, allocated: boolean): number {
  let g = 0;
  if (mutual) g |= ASC_RET.MUTUAL_AUTH;
  if (gss & GssFlags.GSS_C_REPLAY_FLAG) g |= ASC_RET.REPLAY_DETECT;
  if (gss & GssFlags.GSS_C_SEQUENCE_FLAG) g |= ASC_RET.SEQUENCE_DETECT;
  if (gss & GssFlags.GSS_C_CONF_FLAG) g |= ASC_RET.CONFIDENTIALITY;
  if (gss & GssFlags.GSS_C_INTEG_FLAG) g |= ASC_RET.INTEGRITY;
  if (gss & GssFlags.GSS_C_DCE_STYLE) g |= ASC_RET.USED_DCE_STYLE;
  if (gss & GssFlags.GSS_C_IDENTIFY_FLAG) g |= ASC_RET.IDENTIFY;
  if (hasFlag(req, ASC_REQ.CONNECTION)) g |= ASC_RET.CONNECTION;
  if (delegated) g |= ASC_RET.DELEGATE;
  if (allocated) g |= ASC_RET.ALLOCATED_MEMORY;
  return g >>> 0;
}

/** The Kerberos error code of a KRB-ERROR context token (framed TOK_ID 03 00, or raw [APPLICATION 30]); undefined otherwise. */
function krbErrorIn(token: Uint8Array): number | undefined {
  if (token.length > 0 && token[0] === 0x7e) return decodeKrbError(token).errorCode;
  if (token.length > 0 && token[0] === 0x60) {
    const t = parseKrb5Token(token);
    if (t.tokId === Krb5TokId.KRB_ERROR) return decodeKrbError(t.body).errorCode;
  }
  return undefined;
}

// ---- the package --------------------------------------------------------------------------

export function kerberosPackage(config: KerberosConfig = {}): SecurityPackageModule {
  const creds = new Map<LSA_SEC_HANDLE, Credential>();
  const ctxs = new Map<LSA_SEC_HANDLE, Ctx>();
  let next = 1n;
  let cfg!: Resolved;
  let configError: SspiError | null = null;

  const info: SecPkgInfo = {
    // Windows' Kerberos also claims DATAGRAM and READONLY_WITH_CHECKSUM; neither is implemented here.
    fCapabilities: SECPKG_FLAG.INTEGRITY | SECPKG_FLAG.PRIVACY | SECPKG_FLAG.TOKEN_ONLY | SECPKG_FLAG.CONNECTION | SECPKG_FLAG.MULTI_REQUIRED |
      SECPKG_FLAG.EXTENDED_ERROR | SECPKG_FLAG.IMPERSONATION | SECPKG_FLAG.ACCEPT_WIN32_NAME | SECPKG_FLAG.NEGOTIABLE | SECPKG_FLAG.GSS_COMPATIBLE |
      SECPKG_FLAG.LOGON | SECPKG_FLAG.MUTUAL_AUTH | SECPKG_FLAG.DELEGATION,
    wVersion: 1,
    wRPCID: RPC_C_AUTHN.GSS_KERBEROS,
    cbMaxToken: KERBEROS_MAX_TOKEN,
    Name: KERBEROS_PACKAGE_NAME,
    Comment: 'Microsoft Kerberos V1.0',
  };

  const expiry = (ms: number): bigint => (Number.isFinite(ms) ? timeStampFromUnixMs(ms) : TIMESTAMP_INFINITE);

  function transport(): AcquireOptions['transport'] {
    return cfg.kdcTimeoutMs !== undefined ? { timeoutMs: cfg.kdcTimeoutMs, perTryTimeoutMs: Math.min(3000, cfg.kdcTimeoutMs) } : {};
  }

  function commonAcquire(): Partial<AcquireOptions> {
    return { config: cfg.krb5, env: cfg.env, transport: transport(), ...(cfg.send ? { send: cfg.send } : {}), ...(cfg.initiatorNow ? { now: cfg.initiatorNow } : {}) };
  }

  // ---- credentials ----

  async function outboundCredential(principal: string | null, authData: Record<string, unknown> | null): Promise<KerberosCredentials> {
    const a = authData ?? {};
    const base = commonAcquire();
    if (typeof a.User === 'string' && a.User !== '') {
      // SEC_WINNT_AUTH_IDENTITY: User may be a UPN ("user@REALM"); Domain is the realm (upper-cased, as Windows maps a DNS domain).
      const domain = typeof a.Domain === 'string' ? a.Domain : '';
      const name = a.User.includes('@') ? a.User : domain !== '' ? `${a.User}@${domain.toUpperCase()}` : a.User;
      if (typeof a.Password !== 'string') throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, 'SEC_WINNT_AUTH_IDENTITY without a password');
      return acquireKerberosCredentials({ ...base, principal: name, password: a.Password, forwardable: cfg.forwardable });
    }
    if (typeof a.keytab === 'string') {
      const p = typeof a.principal === 'string' ? a.principal : principal ?? undefined;
      return acquireKerberosCredentials({ ...base, keytab: a.keytab, ...(p ? { principal: p } : {}), forwardable: cfg.forwardable });
    }
    const cc = typeof a.ccache === 'string' ? a.ccache : true;
    return acquireKerberosCredentials({ ...base, ccache: cc, ...(principal ? { principal } : {}) });
  }

  function inboundKeys(principal: string | null, authData: Record<string, unknown> | null): AcceptorKeys {
    const a = authData ?? {};
    let name = typeof a.keytab === 'string' ? a.keytab : cfg.keytab;
    if (name === undefined) {
      const r = resolveKeytabName({ env: cfg.env, ...(cfg.krb5.defaultKeytabName ? { configDefault: cfg.krb5.defaultKeytabName } : {}) });
      name = r.path ?? `${r.type}:${r.residual}`;
    }
    const keytab = readKeytabFile(name);
    const pname = typeof a.principal === 'string' ? a.principal : principal;
    let restrict: KrbPrincipal | undefined;
    try {
      if (pname) {
        restrict = parsePrincipal(pname, cfg.krb5.defaultRealm ?? '', NameType.NT_SRV_INST);
        if (findKeys(keytab, restrict).length === 0) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `keytab ${name} has no key for ${formatPrincipal(restrict)}`);
      } else if (keytab.entries.length === 0) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `keytab ${name} is empty`);
    } catch (e) {
      destroyKeytab(keytab);
      throw e;
    }
    return { name, keytab, principal: restrict, tickets: new AcceptedTicketCache(ACCEPTOR_TICKETS) };
  }

  /** The service keys a credential read: zeroed when it is freed or could not be used. */
  function destroyKeytab(keytab: Keytab): void {
    for (const e of keytab.entries) destroyKey(e.key);
  }

  // ---- initiator ----

  async function forwardedTgt(cred: KerberosCredentials, ticket: KerberosTicketCredential): Promise<KerberosTicketCredential | null> {
    let tgt: KerberosTicketCredential;
    try {
      tgt = await cred.currentTgt();
    } catch {
      return null;
    }
    if (!(tgt.flags & TicketFlags.FORWARDABLE)) return null;
    // Windows: no TGT to a service the realm does not trust for delegation; the context goes on without.
    if (cfg.delegation !== 'always' && !(ticket.flags & TicketFlags.OK_AS_DELEGATE)) return null;
    const realm = tgt.server.realm;
    try {
      return await getServiceTicket(tgt, { realm, components: ['krbtgt', realm], nameType: NameType.NT_SRV_INST }, {
        config: cfg.krb5,
        kdcOptions: KdcOptions.FORWARDED | KdcOptions.FORWARDABLE,
        transport: transport(),
        ...(cfg.send ? { send: cfg.send } : {}),
        ...(cfg.initiatorNow ? { now: cfg.initiatorNow } : {}),
      });
    } catch {
      // As Windows and MIT do: the context goes ahead without delegation.
      void ticket;
      return null;
    }
  }

  function initiatorData(ctx: InitiatorCtx, acceptorSubkey: KerberosKey | undefined, remoteSeq: number): KerberosContextData {
    const gss = gssFlagsFor(ctx.req);
    return {
      side: 'initiator',
      replayDetect: (gss & GssFlags.GSS_C_REPLAY_FLAG) !== 0,
      sequenceDetect: (gss & GssFlags.GSS_C_SEQUENCE_FLAG) !== 0,
      dceStyle: (gss & GssFlags.GSS_C_DCE_STYLE) !== 0,
      ContextAttributes: ctx.granted,
      sendSeq: ctx.apReq.seqNumber,
      recvSeq: remoteSeq,
      endtime: ctx.ticket.endtime.getTime(),
      key: ctx.apReq.subkey ?? ctx.ticket.sessionKey,
      ...(acceptorSubkey ? { acceptorSubkey } : {}),
      client: formatPrincipal(ctx.cred.principal),
      server: formatPrincipal(ctx.target),
      ...(cfg.clientCrypto.allowWeak === true ? { allowWeak: true as const } : {}),
    };
  }

  // Target names resolved through krb5.conf ([domain_realm], default_realm), per target string:
  // the configuration is fixed for the package's life and a client names the same few services.
  const targets = new Map<string, KrbPrincipal>();
  function targetOf(target: string, fallbackRealm: string): KrbPrincipal {
    const id = `${fallbackRealm}\0${target}`;
    let p = targets.get(id);
    if (p === undefined) {
      p = targetPrincipal(target, cfg.krb5, fallbackRealm);
      if (targets.size >= 256) targets.clear();
      targets.set(id, p);
    }
    return { realm: p.realm, components: [...p.components], nameType: p.nameType };
  }

  /** InitializeSecurityContext, first call: the AP-REQ (RFC 4121 4.1) for `target`. */
  async function firstInitLeg(credH: LSA_SEC_HANDLE, target: string | null, req: number, input: SecBufferDesc | null, output: SecBufferDesc | null, allocate: boolean): Promise<LsaModeContextResult> {
    const cred = creds.get(credH);
    if (!cred) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
    if (!(cred.use & SECPKG_CRED.OUTBOUND) || !cred.outbound) return { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
    if (target === null || target === '') return { status: SecurityStatus.SEC_E_TARGET_UNKNOWN };
    const c = cred.outbound;
    const sname = targetOf(target, c.principal.realm);
    const cached = await c.getServiceTicket(sname);
    // The context's own copy of the session key: the credential's cache may be zeroed first.
    const ticket: KerberosTicketCredential = { ...cached, sessionKey: { enctype: cached.sessionKey.enctype, keyvalue: Uint8Array.from(cached.sessionKey.keyvalue) } };
    const policy = cfg.clientCrypto;
    let gss = gssFlagsFor(req);
    const subkey = generateSubkey(ticket.sessionKey.enctype, policy);
    // Until the context holds them, the subkey and the ticket's key copy die with a failure here.
    let kept = false;
    try {
      let delegation: Uint8Array | undefined;
      if (hasFlag(req, ISC_REQ.DELEGATE)) {
        const fwd = await forwardedTgt(c, ticket);
        if (fwd) {
          try {
            // RFC 4120 5.8: the KRB-CRED is encrypted with the authenticator subkey (as MIT does).
            delegation = encodeDelegation([{
              ticket: fwd.ticketBytes,
              info: {
                key: { keytype: fwd.sessionKey.enctype, keyvalue: fwd.sessionKey.keyvalue },
                prealm: fwd.client.realm, pname: toPrincipalName(fwd.client), flags: fwd.flags, authtime: fwd.authtime,
                ...(fwd.starttime ? { starttime: fwd.starttime } : {}), endtime: fwd.endtime, ...(fwd.renewTill ? { renewTill: fwd.renewTill } : {}),
                srealm: fwd.server.realm, sname: toPrincipalName(fwd.server),
              },
            }], subkey, policy);
          } finally {
            fwd.sessionKey.keyvalue.fill(0);
          }
          gss |= GssFlags.GSS_C_DELEG_FLAG;
        }
      }
      const sharedKey = cred.sessionKeys.get(ticket.ticketBytes, ticket.sessionKey);
      const apReq = buildApReq({
        ticket: ticket.ticketBytes, sessionKey: sharedKey, crealm: c.principal.realm, cname: toPrincipalName(c.principal),
        gssFlags: gss, channelBindings: channelBindingsIn(input), ...(delegation ? { delegation } : {}), subkey, policy,
      });
      const st = writeOutputToken(output, apReq.token, allocate);
      if (st !== SecurityStatus.SEC_E_OK) return { status: st };
      const h = next++;
      const ctx: InitiatorCtx = { side: 'initiator', state: 'ap-req-sent', req, granted: 0, cred: c, target: sname, ticket, apReq, sharedKey, delegated: delegation !== undefined, data: null };
      ctx.granted = iscGranted(req, gss, ctx.delegated, allocate);
      ctxs.set(h, ctx);
      kept = true;
      if (apReq.mutual) {
        return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h, ContextAttributes: ctx.granted, ExpirationTime: expiry(ticket.endtime.getTime()) };
      }
      // No AP-REP: the acceptor numbers its tokens from our sequence number (RFC 4121 4.2.3 as MIT does).
      ctx.state = 'done';
      ctx.data = initiatorData(ctx, undefined, apReq.seqNumber);
      return { status: SecurityStatus.SEC_E_OK, NewContextHandle: h, ContextAttributes: ctx.granted, ExpirationTime: expiry(ticket.endtime.getTime()), MappedContext: true, ContextData: packContextData(ctx.data) };
    } finally {
      if (!kept) {
        destroyKey(subkey);
        destroyKey(ticket.sessionKey);
      }
    }
  }

  async function initContext(credH: LSA_SEC_HANDLE, ctxH: LSA_SEC_HANDLE, target: string | null, req: number, input: SecBufferDesc | null, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ISC_REQ.ALLOCATE_MEMORY);
    const existing = ctxs.get(ctxH);
    if (!existing) return firstInitLeg(credH, target, req, input, output, allocate);
    if (existing.side !== 'initiator' || existing.state !== 'ap-req-sent') return { status: SecurityStatus.SEC_E_OUT_OF_SEQUENCE };
    const ctx = existing;
    const tok = inputToken(input);
    if (!tok || tok.length === 0) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
    const code = krbErrorIn(tok);
    if (code !== undefined) return { status: krbApError(code, 'the acceptor refused the AP-REQ').status };
    const policy = cfg.clientCrypto;
    // The shared key object is gone when the credential handle was freed meanwhile: the context's own copy then.
    const v = verifyApRep(tok, isKeyLive(ctx.sharedKey) ? ctx.sharedKey : ctx.ticket.sessionKey, ctx.apReq.authenticator, policy);
    ctx.state = 'done';
    // MIT's rule for RFC 1964-style (rc4) contexts: an acceptor subkey of our own subkey's enctype
    // is ignored outside DCE style (tokens keep using ours); any other one upgrades to RFC 4121.
    const own = ctx.apReq.subkey ?? ctx.ticket.sessionKey;
    let accSubkey = v.subkey;
    if (accSubkey && isRc4Enctype(own.enctype) && accSubkey.enctype === own.enctype && !hasFlag(gssFlagsFor(ctx.req), GssFlags.GSS_C_DCE_STYLE)) {
      destroyKey(accSubkey);
      accSubkey = undefined;
    }
    ctx.data = initiatorData(ctx, accSubkey, v.seqNumber ?? 0);
    ctx.granted = iscGranted(ctx.req, gssFlagsFor(ctx.req), ctx.delegated, false);
    ctx.data.ContextAttributes = ctx.granted;
    if (ctx.data.dceStyle) {
      // MS-KILE 3.2.5.2: DCE style answers the acceptor's AP-REP with one of our own.
      const third = buildDceThirdLeg(ctx.ticket.sessionKey, v, ctx.apReq.seqNumber, policy);
      const st = writeOutputToken(output, third, allocate);
      if (st !== SecurityStatus.SEC_E_OK) return { status: st };
      if (allocate) ctx.granted |= ISC_RET.ALLOCATED_MEMORY;
    }
    return { status: SecurityStatus.SEC_E_OK, NewContextHandle: ctxH, ContextAttributes: ctx.granted, ExpirationTime: expiry(ctx.ticket.endtime.getTime()), MappedContext: true, ContextData: packContextData(ctx.data) };
  }

  // ---- acceptor ----

  function acceptorData(ctx: AcceptorCtx, remoteSeq: number): KerberosContextData {
    const a = ctx.accepted;
    return {
      side: 'acceptor',
      replayDetect: (a.gssFlags & GssFlags.GSS_C_REPLAY_FLAG) !== 0,
      sequenceDetect: (a.gssFlags & GssFlags.GSS_C_SEQUENCE_FLAG) !== 0,
      dceStyle: (a.gssFlags & GssFlags.GSS_C_DCE_STYLE) !== 0,
      ContextAttributes: ctx.granted,
      sendSeq: ctx.localSeq,
      recvSeq: remoteSeq,
      endtime: a.encTicketPart.endtime.getTime(),
      key: a.initiatorSubkey ?? a.sessionKey,
      ...(ctx.acceptorSubkey ? { acceptorSubkey: ctx.acceptorSubkey } : {}),
      client: formatPrincipal(a.client),
      server: formatPrincipal(a.server),
      ...(cfg.policy.allowWeak === true ? { allowWeak: true as const } : {}),
    };
  }

  async function verifyAp(token: Uint8Array, keys: AcceptorKeys, bindings: SecChannelBindings | null): Promise<AcceptedApReq> {
    const opts = {
      ...(keys.principal ? { servicePrincipal: keys.principal } : {}),
      channelBindings: bindings,
      requireChannelBindings: cfg.requireChannelBindings,
      clockSkew: cfg.clockSkew,
      replayCache: cfg.replayCache,
      tickets: keys.tickets,
      policy: cfg.policy,
      ...(cfg.now ? { now: cfg.now() } : {}),
    };
    try {
      return await acceptApReq(token, { ...opts, keytab: keys.keytab });
    } catch (e) {
      // A key we lack may have been added since the keytab was read (kvno rotation): read it again once.
      const code = krbErrorCodeOf(e);
      if (code !== 35 && code !== 44 && code !== 45) throw e; // KRB_AP_ERR_NOT_US, BADKEYVER, NOKEY
      let fresh: Keytab;
      try {
        fresh = readKeytabFile(keys.name);
      } catch {
        throw e;
      }
      // The old keys go now: an AP-REQ opens its ticket before its first await, so none in flight
      // still needs them, and the ticket cache only matches the live key objects of the new keytab.
      const old = keys.keytab;
      keys.keytab = fresh;
      destroyKeytab(old);
      return acceptApReq(token, { ...opts, keytab: fresh });
    }
  }

  // The PAC of a ticket the ticket cache opened before comes in the same authorization-data
  // array (acceptedTickets.ts shares it): parsed and its signature checked once per ticket.
  const pacs = new WeakMap<object, { verified: boolean; pac: Pac }>();

  function pacOf(a: AcceptedApReq, keys: AcceptorKeys): { verified: boolean; pac: Pac } | null {
    const ad = a.encTicketPart.authorizationData;
    const known = ad ? pacs.get(ad) : undefined;
    if (known) return known;
    const raw = findPac(ad);
    if (!raw) return null;
    const pac = parsePac(raw);
    const entry = findKeys(keys.keytab, a.server, a.kvno, a.ticket.encPart.etype)[0];
    const verified = entry !== undefined && verifyPacServerSignature(pac, entry.key, cfg.policy);
    const out = { verified, pac };
    if (ad) pacs.set(ad, out);
    return out;
  }

  function saveDelegated(ccache: Ccache): string | null {
    if (!cfg.delegatedCcacheDir) return null;
    const path = join(cfg.delegatedCcacheDir, `krb5cc_tslsa_${randomBytes(8).toString('hex')}`);
    writeCcacheFile(path, ccache);
    return path;
  }

  async function acceptContext(credH: LSA_SEC_HANDLE, ctxH: LSA_SEC_HANDLE, input: SecBufferDesc | null, req: number, output: SecBufferDesc | null): Promise<LsaModeContextResult> {
    const allocate = hasFlag(req, ASC_REQ.ALLOCATE_MEMORY);
    const tok = inputToken(input);
    if (!tok || tok.length === 0) return { status: SecurityStatus.SEC_E_INVALID_TOKEN };
    const existing = ctxs.get(ctxH);
    if (existing) {
      if (existing.side !== 'acceptor' || existing.state !== 'ap-rep-sent') return { status: SecurityStatus.SEC_E_OUT_OF_SEQUENCE };
      // The DCE third leg (MS-KILE 3.4.5.2): the initiator's AP-REP echoes our ctime/cusec.
      const remote = verifyDceThirdLeg(tok, existing.accepted.sessionKey, existing.repTime, cfg.policy);
      existing.state = 'done';
      existing.data = acceptorData(existing, remote ?? existing.accepted.remoteSeq);
      return { status: SecurityStatus.SEC_E_OK, NewContextHandle: ctxH, ContextAttributes: existing.granted, ExpirationTime: expiry(existing.data.endtime), MappedContext: true, ContextData: packContextData(existing.data) };
    }
    const cred = creds.get(credH);
    if (!cred) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
    if (!(cred.use & SECPKG_CRED.INBOUND) || !cred.inbound) return { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
    const keys = cred.inbound;
    let a: AcceptedApReq;
    try {
      a = await verifyAp(tok, keys, channelBindingsIn(input));
    } catch (e) {
      // RFC 4121 4.1 / MIT: a refused AP-REQ is answered with a KRB-ERROR token when we can name the service.
      const code = krbErrorCodeOf(e);
      if (code !== undefined) {
        const server = serverOf(tok) ?? keys.principal;
        if (server) writeOutputToken(output, buildKrbErrorToken(code, server), allocate);
      }
      throw e;
    }
    let pac: AcceptorCtx['pac'] | undefined;
    try {
      pac = pacOf(a, keys);
    } catch {
      pac = undefined;
    }
    // MS-PAC 2.8: a PAC that does not parse, or whose server signature does not verify, makes the ticket worthless.
    if (pac === undefined || (pac && !pac.verified)) {
      dropAccepted(a, null);
      return { status: SecurityStatus.SEC_E_LOGON_DENIED };
    }
    let delegated: AcceptorCtx['delegated'] = null;
    if (a.delegated) {
      try {
        delegated = { ccache: a.delegated, path: saveDelegated(a.delegated) };
      } catch (e) {
        dropAccepted(a, { ccache: a.delegated, path: null });
        throw e;
      }
    }
    const ctx: AcceptorCtx = {
      side: 'acceptor', state: 'done', req, granted: 0, accepted: a, repTime: { ctime: a.authenticator.ctime, cusec: a.authenticator.cusec },
      localSeq: a.remoteSeq, acceptorSubkey: undefined, pac, delegated, data: null,
    };
    const dce = (a.gssFlags & GssFlags.GSS_C_DCE_STYLE) !== 0;
    let out: Uint8Array | null = null;
    if (a.mutualRequired) {
      // As MIT: no acceptor subkey for an RFC 1964-style (rc4) context outside DCE style, since
      // its tokens cannot say which key protects them (RFC 4121 2, RFC 4757 7).
      const base = (a.initiatorSubkey ?? a.sessionKey).enctype;
      if (dce || !isRc4Enctype(base)) ctx.acceptorSubkey = generateSubkey(base, cfg.policy);
      ctx.localSeq = generateSeqNumber();
      out = buildApRep({ sessionKey: a.sharedSessionKey && isKeyLive(a.sharedSessionKey) ? a.sharedSessionKey : a.sessionKey, ctime: ctx.repTime.ctime, cusec: ctx.repTime.cusec, subkey: ctx.acceptorSubkey, seqNumber: ctx.localSeq, raw: dce, policy: cfg.policy });
    }
    ctx.granted = ascGranted(req, a.gssFlags, a.mutualRequired, delegated !== null, allocate && out !== null);
    if (out) {
      const st = writeOutputToken(output, out, allocate);
      if (st !== SecurityStatus.SEC_E_OK) {
        dropAcceptor(ctx);
        return { status: st };
      }
    }
    const h = next++;
    ctxs.set(h, ctx);
    const exp = expiry(a.encTicketPart.endtime.getTime());
    if (dce) {
      ctx.state = 'ap-rep-sent';
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: h, ContextAttributes: ctx.granted, ExpirationTime: exp };
    }
    ctx.data = acceptorData(ctx, a.remoteSeq);
    return { status: SecurityStatus.SEC_E_OK, NewContextHandle: h, ContextAttributes: ctx.granted, ExpirationTime: exp, MappedContext: true, ContextData: packContextData(ctx.data) };
  }

  function serverOf(token: Uint8Array): KrbPrincipal | undefined {
    try {
      const t = decodeApReq(unframeApReq(token)).ticket;
      return { realm: t.realm, components: [...t.sname.nameString], nameType: t.sname.nameType };
    } catch {
      return undefined;
    }
  }

  function dropAcceptor(c: AcceptorCtx): void {
    if (c.acceptorSubkey) destroyKey(c.acceptorSubkey);
    dropAccepted(c.accepted, c.delegated);
  }

  /** Zeroes what an accepted AP-REQ brought: its keys and any delegated credentials (file too). */
  function dropAccepted(a: AcceptedApReq, delegated: AcceptorCtx['delegated']): void {
    destroyKey(a.sessionKey);
    if (a.initiatorSubkey) destroyKey(a.initiatorSubkey);
    a.encTicketPart.key.keyvalue.fill(0);
    // Refused before its credentials were saved (a PAC that fails): the delegated keys are only in memory.
    const ccache = delegated?.ccache ?? a.delegated;
    if (ccache) for (const x of ccache.credentials) x.key.keyvalue.fill(0);
    if (delegated?.path) rmSync(delegated.path, { force: true });
  }

  function dropInitiator(c: InitiatorCtx): void {
    if (c.apReq.subkey) destroyKey(c.apReq.subkey);
    destroyKey(c.ticket.sessionKey);
    // The acceptor's subkey from its AP-REP lives only in the context data.
    if (c.data?.acceptorSubkey) destroyKey(c.data.acceptorSubkey);
  }

  function ticketInfo(c: Ctx): Plain {
    if (c.side === 'initiator') {
      return { client: formatPrincipal(c.cred.principal), server: formatPrincipal(c.target), realm: c.cred.principal.realm, user: c.cred.principal.components.join('/'), enctype: c.ticket.sessionKey.enctype, endtime: c.ticket.endtime.getTime() };
    }
    const a = c.accepted;
    return { client: formatPrincipal(a.client), server: formatPrincipal(a.server), realm: a.client.realm, user: a.client.components.join('/'), enctype: a.ticket.encPart.etype, kvno: a.kvno, endtime: a.encTicketPart.endtime.getTime() };
  }

  const table: SECPKG_FUNCTION_TABLE = {
    async Initialize(_id: number, params: SECPKG_PARAMETERS): Promise<Status> {
      const pc = (params.PackageConfig ?? {}) as KerberosConfig;
      const m: KerberosConfig = { ...pc, ...config };
      const env = m.env ?? process.env;
      // A broken krb5.conf must not keep the LSA (and the other packages) from loading: it is
      // reported by every AcquireCredentialsHandle instead, as MIT's krb5_init_context would.
      let krb5: Krb5Config;
      configError = null;
      try {
        krb5 = typeof m.krb5Conf === 'string' ? loadKrb5Config(m.krb5Conf.split(':').filter((p) => p !== ''), { env }) : m.krb5Conf ?? loadKrb5Config(undefined, { env });
      } catch (e) {
        if (!(e instanceof SspiError)) throw e;
        configError = e;
        krb5 = loadKrb5Config([], { env });
      }
      const skew = m.clockSkewSeconds ?? krb5.clockskew;
      if (typeof skew !== 'number' || !(skew >= 0)) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'Kerberos clockSkewSeconds must be >= 0');
      if (m.kdcTimeoutMs !== undefined && !(typeof m.kdcTimeoutMs === 'number' && m.kdcTimeoutMs > 0)) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'Kerberos kdcTimeoutMs must be > 0');
      const replay = m.replayCache ?? new MemoryReplayCache();
      if (typeof replay.checkAndStore !== 'function') throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'Kerberos replayCache must implement checkAndStore');
      if (m.delegation !== undefined && m.delegation !== 'ok-as-delegate' && m.delegation !== 'always') throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, `Kerberos delegation must be 'ok-as-delegate' or 'always'`);
      targets.clear();
      cfg = {
        krb5,
        keytab: m.keytab,
        clockSkew: skew,
        replayCache: replay,
        requireChannelBindings: m.requireChannelBindings === true,
        policy: { allowWeak: m.allowWeak === true || clientPolicy(krb5).crypto.allowWeak === true },
        clientCrypto: clientPolicy(krb5).crypto,
        delegatedCcacheDir: m.delegatedCcacheDir,
        kdcTimeoutMs: m.kdcTimeoutMs,
        forwardable: m.forwardable ?? true,
        delegation: m.delegation ?? 'ok-as-delegate',
        send: m.kdcSend,
        env,
        now: m.now,
        initiatorNow: m.initiatorNow,
      };
      return NtStatus.STATUS_SUCCESS;
    },
    async GetInfo() {
      return { status: SecurityStatus.SEC_E_OK, PackageInfo: { ...info } };
    },
    async Shutdown() {
      // The shared session-key objects (sessionKeys.ts) are zeroed with the LSA, not left to GC.
      for (const c of creds.values()) {
        c.sessionKeys.clear();
        c.inbound?.tickets.clear();
      }
      return NtStatus.STATUS_SUCCESS;
    },
    async AcquireCredentialsHandle(principal, use, _logonId, authData: Plain) {
      const a = authData && typeof authData === 'object' && !(authData instanceof Uint8Array) && !Array.isArray(authData) ? (authData as Record<string, unknown>) : null;
      if (configError) return { status: configError.status };
      const cred: Credential = { use, outbound: null, inbound: null, sessionKeys: new SessionKeyCache(SHARED_SESSION_KEYS) };
      try {
        if (use & SECPKG_CRED.OUTBOUND) {
          cred.outbound = await outboundCredential(principal, a);
        }
        if (use & SECPKG_CRED.INBOUND) cred.inbound = inboundKeys(principal, a);
        if (!cred.outbound && !cred.inbound) return { status: SecurityStatus.SEC_E_NO_CREDENTIALS };
        const h = next++;
        creds.set(h, cred);
        const exp = cred.outbound ? expiry(cred.outbound.tgt.endtime.getTime()) : TIMESTAMP_INFINITE;
        return { status: SecurityStatus.SEC_E_OK, CredentialHandle: h, ExpirationTime: exp };
      } catch (e) {
        // BOTH with no usable keytab: the outbound half already acquired (TGT, keys) goes too.
        if (cred.outbound) await cred.outbound.destroy().catch(() => undefined);
        if (e instanceof SspiError) return { status: e.status };
        throw e;
      }
    },
    async QueryCredentialsAttributes(h, attr) {
      const c = creds.get(h);
      if (!c) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      if (attr !== SECPKG_CRED_ATTR.NAMES) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
      const name = c.outbound ? formatPrincipal(c.outbound.principal) : c.inbound?.principal ? formatPrincipal(c.inbound.principal) : '';
      return { status: SecurityStatus.SEC_E_OK, Buffer: { sUserName: name } };
    },
    async FreeCredentialsHandle(h) {
      const c = creds.get(h);
      if (!c) return SecurityStatus.SEC_E_INVALID_HANDLE;
      creds.delete(h);
      c.sessionKeys.clear();
      c.inbound?.tickets.clear();
      if (c.inbound) destroyKeytab(c.inbound.keytab);
      // Contexts hold copies of their keys, so they outlive the handle (as on Windows).
      // The credential zeroes the keys it keeps for refreshing and empties its own cache (password,
      // keytab); a user's ccache is left alone.
      if (c.outbound) await c.outbound.destroy().catch(() => undefined);
      return SecurityStatus.SEC_E_OK;
    },
    ...lsaModeContextCalls(initContext, acceptContext),
    async DeleteContext(h) {
      const c = ctxs.get(h);
      if (!c) return SecurityStatus.SEC_E_INVALID_HANDLE;
      if (c.side === 'acceptor') dropAcceptor(c);
      else dropInitiator(c);
      ctxs.delete(h);
      return SecurityStatus.SEC_E_OK;
    },
    async QueryContextAttributes(h, attr) {
      const c = ctxs.get(h);
      if (!c) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      const done = c.state === 'done';
      switch (attr) {
        case SECPKG_ATTR.NAMES: {
          if (!done) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
          const client = c.side === 'initiator' ? c.cred.principal : c.accepted.client;
          return { status: SecurityStatus.SEC_E_OK, Buffer: { sUserName: formatPrincipal(client) } };
        }
        case SECPKG_ATTR.NATIVE_NAMES: {
          const t = ticketInfo(c) as { client: string; server: string };
          return { status: SecurityStatus.SEC_E_OK, Buffer: { sClientName: t.client, sServerName: t.server } };
        }
        case SECPKG_ATTR.FLAGS:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { Flags: c.granted } };
        case SECPKG_ATTR.SIZES: {
          const key = c.data ? c.data.acceptorSubkey ?? c.data.key : c.side === 'initiator' ? c.ticket.sessionKey : c.accepted.sessionKey;
          return { status: SecurityStatus.SEC_E_OK, Buffer: kerberosSizes(key) };
        }
        case TSLSA_KERB_ATTR.TICKET_INFO:
          return { status: SecurityStatus.SEC_E_OK, Buffer: ticketInfo(c) };
        case TSLSA_KERB_ATTR.CHANNEL_BINDINGS:
          if (c.side !== 'acceptor') return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
          return { status: SecurityStatus.SEC_E_OK, Buffer: { bound: c.accepted.channelBound } };
        case TSLSA_KERB_ATTR.PAC:
          if (c.side !== 'acceptor' || !c.pac) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
          return { status: SecurityStatus.SEC_E_OK, Buffer: { verified: c.pac.verified, pac: c.pac.pac } };
        case TSLSA_KERB_ATTR.DELEGATED_CCACHE:
          if (c.side !== 'acceptor' || !c.delegated) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
          return {
            status: SecurityStatus.SEC_E_OK,
            Buffer: { name: c.delegated.path ? `FILE:${c.delegated.path}` : null, principal: formatPrincipal(c.delegated.ccache.defaultPrincipal), ccache: serializeCcache(c.delegated.ccache) },
          };
        default:
          // LIFESPAN (the ticket endtime is the context's expiry), PACKAGE_INFO and NEGOTIATION_INFO are answered by the LSA.
          return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
      }
    },
  };

  // No entry point asks who is calling (callContext.ts).
  return declareFrameUse(packageModule(table, kerberosUserModeTable), []);
}

const defaultModule = kerberosPackage();

/** Module-level entry points, so the package loads like a third-party one (`tslsa packages --load`). */
export function SpLsaModeInitialize(LsaVersion: number): ReturnType<SecurityPackageModule['SpLsaModeInitialize']> {
  return defaultModule.SpLsaModeInitialize(LsaVersion);
}

export function SpUserModeInitialize(LsaVersion: number): ReturnType<NonNullable<SecurityPackageModule['SpUserModeInitialize']>> {
  return defaultModule.SpUserModeInitialize!(LsaVersion);
}
