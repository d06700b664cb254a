// krb5 GSS context establishment messages (RFC 4121 4.1, RFC 4120 3.2): the initiator's AP-REQ
// with the 0x8003 authenticator checksum, the acceptor's verification of it against a keytab, the
// AP-REP (mutual authentication, acceptor subkey) and the DCE-style third leg (MS-KILE 3.4.5.x).
import { randomInt } from 'node:crypto';
import { KRB5_MECH_OID, Krb5TokId, parseKrb5Token, wrapKrb5Token } from '../../../der/gss.js';
import type { SecChannelBindings } from '../../../sspi/buffers.js';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus, type Status } from '../../../sspi/status.js';
import {
  ApOptions, KeyUsage, KrbErrorCode, TicketFlags, krbErrorName,
  decodeApRep, decodeApReq, decodeAuthenticator, decodeEncApRepPart, decodeEncKrbCredPart, decodeEncTicketPart, decodeKrbCred,
  decodeTicket, encodeApRep, encodeApReq, encodeAuthenticator, encodeEncApRepPart, encodeEncKrbCredPart, encodeKrbCred,
  encodeKrbError, encodeTicket,
} from '../asn1/index.js';
import type {
  ApReq, Authenticator, AuthorizationData, EncKrbCredPart, EncTicketPart, KrbCredInfo, PrincipalName, Ticket,
} from '../asn1/types.js';
import type { Ccache, Credential } from '../ccache.js';
import { decrypt, destroyKey, encrypt, getEnctype, prepareUsages, randomToKey } from '../crypto/index.js';
import { randomConfounder } from '../crypto/random.js';
import type { CryptoPolicy, KerberosKey } from '../crypto/types.js';
import { findKeys, formatPrincipal, type Keytab, type KeytabEntry, type KrbPrincipal } from '../keytab.js';
import { replayKey, type ReplayCache } from '../replay.js';
import type { SessionKeyCache } from '../sessionKeys.js';
import { ticketId, type AcceptedTicketCache } from '../acceptedTickets.js';
import {
  GSS_CHECKSUM_TYPE, GssFlags, channelBindingsBnd, checkChannelBindings, decodeGssChecksum, encodeGssChecksum,
  type GssAuthenticatorChecksum,
} from './checksum.js';

// ---- errors ---------------------------------------------------------------------------------

/**
 * The SSPI status for a KRB_AP_ERR_* the acceptor detects. Windows' Kerberos package turns these
 * into NTSTATUS/SECURITY_STATUS values; where no exact public mapping exists the closest SSPI code
 * is used (noted per line).
 */
const AP_ERROR_STATUS = new Map<number, Status>([
  [KrbErrorCode.KRB_AP_ERR_SKEW, SecurityStatus.SEC_E_TIME_SKEW], // via STATUS_TIME_DIFFERENCE_AT_DC
  [KrbErrorCode.KRB_AP_ERR_TKT_EXPIRED, SecurityStatus.SEC_E_CONTEXT_EXPIRED],
  [KrbErrorCode.KRB_AP_ERR_TKT_NYV, SecurityStatus.SEC_E_TIME_SKEW],
  [KrbErrorCode.KRB_AP_ERR_NOT_US, SecurityStatus.SEC_E_WRONG_PRINCIPAL],
  [KrbErrorCode.KRB_AP_ERR_BADKEYVER, SecurityStatus.SEC_E_WRONG_PRINCIPAL],
  [KrbErrorCode.KRB_AP_ERR_NOKEY, SecurityStatus.SEC_E_NO_KERB_KEY],
  // A ticket our key does not open: the client asked for the wrong principal's key (Windows: 0x80090322).
  [KrbErrorCode.KRB_AP_ERR_MODIFIED, SecurityStatus.SEC_E_WRONG_PRINCIPAL],
  [KrbErrorCode.KRB_AP_ERR_BAD_INTEGRITY, SecurityStatus.SEC_E_LOGON_DENIED],
  [KrbErrorCode.KRB_AP_ERR_BADMATCH, SecurityStatus.SEC_E_LOGON_DENIED],
  [KrbErrorCode.KRB_AP_ERR_REPEAT, SecurityStatus.SEC_E_LOGON_DENIED],
  [KrbErrorCode.KRB_AP_ERR_BADVERSION, SecurityStatus.SEC_E_INVALID_TOKEN],
  [KrbErrorCode.KRB_AP_ERR_MSG_TYPE, SecurityStatus.SEC_E_INVALID_TOKEN],
  [KrbErrorCode.KRB_AP_ERR_INAPP_CKSUM, SecurityStatus.SEC_E_INVALID_TOKEN],
  [KrbErrorCode.KRB_AP_ERR_METHOD, SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION],
  [KrbErrorCode.KRB_AP_ERR_MUT_FAIL, SecurityStatus.SEC_E_MUTUAL_AUTH_FAILED],
  [KrbErrorCode.KRB_AP_ERR_BADSEQ, SecurityStatus.SEC_E_OUT_OF_SEQUENCE],
  [KrbErrorCode.KDC_ERR_ETYPE_NOSUPP, SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE],
]);

const krbCodes = new WeakMap<SspiError, number>();

/** An SspiError for a Kerberos protocol error; the Kerberos code stays readable with krbErrorCodeOf. */
export function krbApError(code: number, detail: string): SspiError {
  const e = new SspiError(AP_ERROR_STATUS.get(code) ?? SecurityStatus.SEC_E_LOGON_DENIED, `${krbErrorName(code)}: ${detail}`);
  krbCodes.set(e, code);
  return e;
}

/** The RFC 4120 error-code behind an SspiError from this module (to send a KRB-ERROR), if any. */
export function krbErrorCodeOf(e: unknown): number | undefined {
  return e instanceof SspiError ? krbCodes.get(e) : undefined;
}

// ---- shared helpers -----------------------------------------------------------------------

/** MIT's krb5_generate_seq_number: random and kept to 30 bits, for peers that treat it as signed. */
export function generateSeqNumber(): number {
  return randomInt(0, 0x40000000);
}

/** A fresh random key of `enctype` (random-to-key of CSPRNG bytes). */
export function generateSubkey(enctype: number, policy?: CryptoPolicy): KerberosKey {
  // From the CSPRNG pool (one randomFillSync per 4 KiB): a randomBytes call per key costs ~2 µs.
  const seed = randomConfounder(getEnctype(enctype, policy).seedBytes);
  try {
    return randomToKey(enctype, seed, policy);
  } finally {
    seed.fill(0);
  }
}

// Our (ctime, cusec) pairs strictly increase, as MIT's krb5_crypto_us_timeofday: two authenticators
// built in the same millisecond must still differ, or the acceptor's replay cache rightly refuses one.
let lastMicros = 0;

function nowWithMicros(now?: Date): { ctime: Date; cusec: number } {
  let us: number;
  if (now) us = now.getTime() * 1000;
  else {
    us = Date.now() * 1000;
    if (us <= lastMicros) us = lastMicros + 1;
    lastMicros = us;
  }
  const sec = Math.floor(us / 1_000_000);
  return { ctime: new Date(sec * 1000), cusec: us - sec * 1_000_000 };
}

function principalOf(realm: string, name: PrincipalName): KrbPrincipal {
  return { realm, components: name.nameString, nameType: name.nameType };
}

function samePrincipalName(a: PrincipalName, b: PrincipalName): boolean {
  return a.nameString.length === b.nameString.length && a.nameString.every((c, i) => c === b.nameString[i]);
}

function toKey(k: { keytype: number; keyvalue: Uint8Array }): KerberosKey {
  return { enctype: k.keytype, keyvalue: Uint8Array.from(k.keyvalue) };
}

/**
 * A subkey the peer chose (authenticator, RFC 4120 5.5.1; AP-REP, 5.5.2): of an enctype the
 * policy allows (SEC_E_KDC_UNKNOWN_ETYPE / SEC_E_ALGORITHM_MISMATCH) and of that enctype's key
 * size (SEC_E_INVALID_TOKEN). Checked here, the handshake fails instead of every later message.
 */
function peerSubkey(k: { keytype: number; keyvalue: Uint8Array }, policy: CryptoPolicy | undefined): KerberosKey {
  const e = getEnctype(k.keytype, policy);
  if (k.keyvalue.length !== e.keyBytes) throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `a ${k.keyvalue.length}-byte subkey for ${e.name}`);
  return toKey(k);
}

const MUTUAL_USAGES = [KeyUsage.AP_REQ_AUTH, KeyUsage.AP_REP_ENCPART];

/** Hex of the last 24 bytes (the integrity tag of every enctype here, so unique per ticket in practice). */
// ---- initiator: AP-REQ ----------------------------------------------------------------------

export interface BuildApReqInput {
  /** The service ticket, DER (as in a ccache) or decoded. */
  ticket: Uint8Array | Ticket;
  /** The ticket's session key. */
  sessionKey: KerberosKey;
  crealm: string;
  cname: PrincipalName;
  /** GSS flags for the checksum (GssFlags); GSS_C_DELEG_FLAG is set from `delegation`. */
  gssFlags: number;
  channelBindings?: SecChannelBindings | null;
  /** A DER KRB-CRED to delegate (see encodeDelegation). */
  delegation?: Uint8Array;
  /** Initiator subkey: default a random key of the session key's enctype; null for none. */
  subkey?: KerberosKey | null;
  /** Initial sequence number: default generateSeqNumber(). */
  seqNumber?: number;
  authorizationData?: AuthorizationData;
  now?: Date;
  mechOid?: string;
  policy?: CryptoPolicy;
}

export interface BuiltApReq {
  /** The InitialContextToken (RFC 2743 3.1) with TOK_ID 01 00. */
  token: Uint8Array;
  /** The bare DER AP-REQ. */
  apReq: Uint8Array;
  authenticator: Authenticator;
  subkey?: KerberosKey;
  seqNumber: number;
  /** Mutual authentication was requested (ap-options mutual-required, an AP-REP is due). */
  mutual: boolean;
}

/** Build the initiator's AP-REQ token (RFC 4121 4.1, RFC 4120 5.5.1): authenticator encrypted with usage 11. */
export function buildApReq(i: BuildApReqInput): BuiltApReq {
  const ticket = i.ticket instanceof Uint8Array ? decodeTicket(i.ticket) : i.ticket;
  let flags = i.gssFlags & ~GssFlags.GSS_C_DELEG_FLAG;
  if (i.delegation) flags |= GssFlags.GSS_C_DELEG_FLAG;
  // DCE style always runs the AP-REP leg (MS-KILE 3.2.5.2).
  const mutual = (flags & (GssFlags.GSS_C_MUTUAL_FLAG | GssFlags.GSS_C_DCE_STYLE)) !== 0;
  const cks: GssAuthenticatorChecksum = { bnd: channelBindingsBnd(i.channelBindings), flags };
  if (i.delegation) cks.deleg = i.delegation;
  const subkey = i.subkey === null ? undefined : (i.subkey ?? generateSubkey(i.sessionKey.enctype, i.policy));
  const seqNumber = i.seqNumber ?? generateSeqNumber();
  const { ctime, cusec } = nowWithMicros(i.now);
  const authenticator: Authenticator = {
    crealm: i.crealm,
    cname: i.cname,
    cksum: { cksumtype: GSS_CHECKSUM_TYPE, checksum: encodeGssChecksum(cks) },
    cusec,
    ctime,
    seqNumber,
  };
  if (subkey) authenticator.subkey = { keytype: subkey.enctype, keyvalue: subkey.keyvalue };
  if (i.authorizationData) authenticator.authorizationData = i.authorizationData;
  const plain = encodeAuthenticator(authenticator);
  // The AP-REP will be opened with the same fresh key: derive both usages' keys in one pass.
  if (mutual) prepareUsages(i.sessionKey, MUTUAL_USAGES);
  const cipher = encrypt(i.sessionKey, KeyUsage.AP_REQ_AUTH, plain, undefined, i.policy);
  plain.fill(0);
  const apReq = encodeApReq({
    apOptions: mutual ? ApOptions.MUTUAL_REQUIRED : 0,
    ticket,
    authenticator: { etype: i.sessionKey.enctype, cipher },
  });
  const out: BuiltApReq = {
    token: wrapKrb5Token(Krb5TokId.KRB_AP_REQ, apReq, i.mechOid ?? KRB5_MECH_OID),
    apReq, authenticator, seqNumber, mutual,
  };
  if (subkey) out.subkey = subkey;
  return out;
}

// ---- acceptor: verify the AP-REQ ----------------------------------------------------------------

export interface AcceptApReqOptions {
  keytab: Keytab | readonly KeytabEntry[];
  /** When set, tickets for other principals fail with KRB_AP_ERR_NOT_US. */
  servicePrincipal?: KrbPrincipal;
  channelBindings?: SecChannelBindings | null;
  /** Refuse initiators that sent a zero Bnd (ASC_REQ / policy "require channel binding"). */
  requireChannelBindings?: boolean;
  /** Allowed clock skew in seconds (krb5.conf clockskew); default 300. */
  clockSkew?: number;
  replayCache?: ReplayCache;
  /** Share one session-key object (and its derived keys) across the AP-REQs of one ticket. */
  sessionKeys?: SessionKeyCache<string>;
  /** Open each ticket once: later AP-REQs with the same ticket skip its decryption (acceptedTickets.ts). */
  tickets?: AcceptedTicketCache;
  now?: Date;
  policy?: CryptoPolicy;
}

export interface AcceptedApReq {
  apOptions: number;
  ticket: Ticket;
  encTicketPart: EncTicketPart;
  /** The service principal and key entry used. */
  server: KrbPrincipal;
  kvno: number;
  client: KrbPrincipal;
  /** The ticket session key: the caller's own copy, to zero when done. */
  sessionKey: KerberosKey;
  /** The same key as the shared object of `tickets` or `sessionKeys` (when given): for the AP-REP, not to be destroyed. */
  sharedSessionKey?: KerberosKey;
  authenticator: Authenticator;
  checksum: GssAuthenticatorChecksum;
  gssFlags: number;
  /** The authenticator's Bnd matched the acceptor's channel bindings (a zero Bnd let through is not bound). */
  channelBound: boolean;
  initiatorSubkey?: KerberosKey;
  /** The initiator's initial sequence number (0 when absent, as MIT). */
  remoteSeq: number;
  /** An AP-REP must be sent (mutual-required or DCE style). */
  mutualRequired: boolean;
  /** Delegated credentials as a ccache for the client, when GSS_C_DELEG_FLAG carried a KRB-CRED. */
  delegated?: Ccache;
}

/** The AP-REQ inside a framed token (RFC 4121 4.1) or a raw AP-REQ (first byte 0x6e). */
export function unframeApReq(token: Uint8Array): Uint8Array {
  if (token.length > 0 && token[0] === 0x6e) return token;
  return parseKrb5Token(token, Krb5TokId.KRB_AP_REQ).body;
}

/** Acceptor side of RFC 4120 3.2.3 with the RFC 4121 checksum, keyed from a keytab. */
export async function acceptApReq(token: Uint8Array, o: AcceptApReqOptions): Promise<AcceptedApReq> {
  const apReq: ApReq = decodeApReq(unframeApReq(token));
  if ((apReq.apOptions & ApOptions.USE_SESSION_KEY) !== 0) throw krbApError(KrbErrorCode.KRB_AP_ERR_METHOD, 'user-to-user tickets are not accepted here');
  const ticket = apReq.ticket;
  const server = principalOf(ticket.realm, ticket.sname);
  if (o.servicePrincipal && !(o.servicePrincipal.realm === server.realm && samePrincipalName(ticket.sname, { nameType: 0, nameString: o.servicePrincipal.components }))) {
    throw krbApError(KrbErrorCode.KRB_AP_ERR_NOT_US, `ticket is for ${formatPrincipal(server)}`);
  }
  const anyVersion = findKeys(o.keytab, server);
  if (anyVersion.length === 0) throw krbApError(KrbErrorCode.KRB_AP_ERR_NOT_US, `no key for ${formatPrincipal(server)}`);
  const kvno = ticket.encPart.kvno;
  const sameVersion = kvno === undefined ? anyVersion : findKeys(o.keytab, server, kvno);
  if (sameVersion.length === 0) throw krbApError(KrbErrorCode.KRB_AP_ERR_BADKEYVER, `no key version ${kvno} for ${formatPrincipal(server)}`);
  const entry = sameVersion.find((e) => e.key.enctype === ticket.encPart.etype);
  if (!entry) throw krbApError(KrbErrorCode.KRB_AP_ERR_NOKEY, `no ${ticket.encPart.etype} key for ${formatPrincipal(server)}`);

  // The keytab's own key object: derived keys and cipher objects are cached per key object, so
  // every AP-REQ for this service reuses them instead of deriving them again.
  const serviceKey: KerberosKey = entry.key;
  const now = (o.now ?? new Date()).getTime();
  const skewMs = (o.clockSkew ?? 300) * 1000;
  const cipher = ticket.encPart.cipher;
  let encTicketPart: EncTicketPart;
  // A ticket's AP-REQs share one key object: the ticket cache's, else the session-key cache's (by
  // the ticket's MAC, public; the bytes are compared too).
  let shared: KerberosKey | undefined;
  // The opened ticket when no cache took it: ours to zero if the AP-REQ is refused.
  let ownPlainTicket: Uint8Array | undefined;
  const opened = o.tickets?.lookup(serviceKey, cipher, now - skewMs);
  if (opened) ({ encTicketPart, sharedSessionKey: shared } = opened);
  else {
    let plainTicket: Uint8Array;
    try {
      plainTicket = decrypt(serviceKey, KeyUsage.KDC_REP_TICKET, cipher, o.policy);
    } catch (e) {
      if (SspiError.is(e, SecurityStatus.SEC_E_MESSAGE_ALTERED)) throw krbApError(KrbErrorCode.KRB_AP_ERR_MODIFIED, 'ticket does not decrypt with the service key');
      throw e;
    }
    let part: EncTicketPart;
    try {
      part = decodeEncTicketPart(plainTicket);
    } catch (e) {
      plainTicket.fill(0);
      throw e;
    }
    if (o.tickets) ({ encTicketPart, sharedSessionKey: shared } = o.tickets.store(serviceKey, cipher, plainTicket, part));
    else {
      encTicketPart = part;
      ownPlainTicket = plainTicket;
    }
  }
  const sessionKey = toKey(encTicketPart.key); // a copy: the decoded views into the plaintext stay for the caller (PAC)
  let initiatorSubkey: KerberosKey | undefined;
  let authenticator: Authenticator | undefined;
  try {
    if (apReq.authenticator.etype !== sessionKey.enctype) {
      throw krbApError(KrbErrorCode.KDC_ERR_ETYPE_NOSUPP, 'authenticator etype differs from the session key');
    }
    shared ??= o.sessionKeys?.get(ticketId(cipher), sessionKey);
    const authKey = shared ?? sessionKey;
    // A mutual handshake encrypts the AP-REP with the same key: derive both usages' keys at once.
    if ((apReq.apOptions & ApOptions.MUTUAL_REQUIRED) !== 0) prepareUsages(authKey, MUTUAL_USAGES);
    try {
      const plain = decrypt(authKey, KeyUsage.AP_REQ_AUTH, apReq.authenticator.cipher, o.policy);
      authenticator = decodeAuthenticator(plain);
    } catch (e) {
      if (SspiError.is(e, SecurityStatus.SEC_E_MESSAGE_ALTERED)) throw krbApError(KrbErrorCode.KRB_AP_ERR_BAD_INTEGRITY, 'authenticator does not decrypt with the session key');
      throw e;
    }
    if (authenticator.crealm !== encTicketPart.crealm || !samePrincipalName(authenticator.cname, encTicketPart.cname)) {
      throw krbApError(KrbErrorCode.KRB_AP_ERR_BADMATCH, 'authenticator client differs from the ticket client');
    }
    if (Math.abs(now - authenticator.ctime.getTime()) > skewMs) throw krbApError(KrbErrorCode.KRB_AP_ERR_SKEW, 'authenticator time outside the allowed clock skew');
    const start = (encTicketPart.starttime ?? encTicketPart.authtime).getTime();
    if ((encTicketPart.flags & TicketFlags.INVALID) !== 0 || start - skewMs > now) throw krbApError(KrbErrorCode.KRB_AP_ERR_TKT_NYV, 'ticket not yet valid');
    if (encTicketPart.endtime.getTime() + skewMs < now) throw krbApError(KrbErrorCode.KRB_AP_ERR_TKT_EXPIRED, 'ticket expired');

    const cksum = authenticator.cksum;
    if (!cksum || cksum.cksumtype !== GSS_CHECKSUM_TYPE) throw krbApError(KrbErrorCode.KRB_AP_ERR_INAPP_CKSUM, 'authenticator lacks the GSS checksum (0x8003)');
    const checksum = decodeGssChecksum(cksum.checksum);
    const channelBound = checkChannelBindings(checksum.bnd, o.channelBindings, o.requireChannelBindings ?? false);

    const client = principalOf(encTicketPart.crealm, encTicketPart.cname);
    if (o.replayCache) {
      const key = replayKey({ server: formatPrincipal(server), authenticatorCipher: apReq.authenticator.cipher });
      const fresh = await o.replayCache.checkAndStore(key, authenticator.ctime.getTime() + skewMs);
      if (!fresh) throw krbApError(KrbErrorCode.KRB_AP_ERR_REPEAT, 'authenticator replayed');
    }

    if (authenticator.subkey) {
      // Our own copy; the decoded field is a view into the decrypted authenticator.
      try {
        initiatorSubkey = peerSubkey(authenticator.subkey, o.policy);
      } finally {
        authenticator.subkey.keyvalue.fill(0);
      }
    }
    const out: AcceptedApReq = {
      apOptions: apReq.apOptions,
      ticket, encTicketPart, server, kvno: entry.kvno, client, sessionKey, authenticator, checksum,
      gssFlags: checksum.flags,
      channelBound,
      remoteSeq: authenticator.seqNumber ?? 0,
      mutualRequired: (apReq.apOptions & ApOptions.MUTUAL_REQUIRED) !== 0 || (checksum.flags & GssFlags.GSS_C_DCE_STYLE) !== 0,
    };
    if (initiatorSubkey) out.initiatorSubkey = initiatorSubkey;
    if (shared) out.sharedSessionKey = shared;
    if (checksum.deleg) {
      const keys = initiatorSubkey ? [initiatorSubkey, sessionKey] : [sessionKey];
      out.delegated = delegationToCcache(checksum.deleg, keys, client, o.policy);
    }
    return out;
  } catch (e) {
    // The key copies made here die with the call; a shared key belongs to its cache.
    destroyKey(sessionKey);
    if (initiatorSubkey) destroyKey(initiatorSubkey);
    encTicketPart.key.keyvalue.fill(0);
    ownPlainTicket?.fill(0);
    authenticator?.subkey?.keyvalue.fill(0);
    throw e;
  }
}

// ---- delegation (KRB-CRED, RFC 4120 3.6 / 5.8) -------------------------------------------------

export interface DelegatedCredential {
  /** The ticket (DER or decoded). */
  ticket: Uint8Array | Ticket;
  info: KrbCredInfo;
}

/**
 * A KRB-CRED for the Deleg field. `key` null writes MIT's unencrypted form (etype 0, the
 * EncKrbCredPart in the clear, usable because the authenticator around it is encrypted).
 */
export function encodeDelegation(creds: readonly DelegatedCredential[], key: KerberosKey | null, policy?: CryptoPolicy): Uint8Array {
  const part: EncKrbCredPart = { ticketInfo: creds.map((c) => c.info) };
  const plain = encodeEncKrbCredPart(part);
  const encPart = key ? { etype: key.enctype, cipher: encrypt(key, KeyUsage.KRB_CRED_ENCPART, plain, undefined, policy) } : { etype: 0, cipher: plain };
  const out = encodeKrbCred({ tickets: creds.map((c) => (c.ticket instanceof Uint8Array ? decodeTicket(c.ticket) : c.ticket)), encPart });
  if (key) plain.fill(0);
  return out;
}

// A ccache holds a credential's enctype and address types in 16 bits and its times as unsigned
// 32-bit seconds (MIT's FILE format); RFC 4120 allows more (Int32, KerberosTime to 9999). A
// delegated credential outside that cannot be handed over: the token is refused, as MIT fails
// gss_accept_sec_context when it cannot store the forwarded credentials.
function fits16(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `delegated KRB-CRED: ${what} ${v} does not fit a credential cache`);
  return v;
}
function secs(d: Date | undefined, what: string): number {
  if (!d) return 0;
  const t = Math.floor(d.getTime() / 1000);
  if (!(t >= 0 && t <= 0xffffffff)) throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `delegated KRB-CRED: ${what} outside 1970-2106 does not fit a credential cache`);
  return t;
}

/** Open a delegated KRB-CRED (usage 14 with the subkey or session key, or etype 0) into a ccache for `client`. */
export function delegationToCcache(krbCred: Uint8Array, keys: readonly KerberosKey[], client: KrbPrincipal, policy?: CryptoPolicy): Ccache {
  const cred = decodeKrbCred(krbCred);
  let part: EncKrbCredPart | undefined;
  // The decrypted EncKrbCredPart (keys inside): zeroed once the credentials hold copies.
  let plain: Uint8Array | undefined;
  if (cred.encPart.etype === 0) {
    part = decodeEncKrbCredPart(cred.encPart.cipher);
  } else {
    for (const k of keys) {
      if (k.enctype !== cred.encPart.etype) continue;
      try {
        plain = decrypt(k, KeyUsage.KRB_CRED_ENCPART, cred.encPart.cipher, policy);
        part = decodeEncKrbCredPart(plain);
        break;
      } catch (e) {
        plain?.fill(0);
        plain = undefined;
        if (!SspiError.is(e, SecurityStatus.SEC_E_MESSAGE_ALTERED)) throw e;
      }
    }
    if (!part) throw new SspiError(SecurityStatus.SEC_E_MESSAGE_ALTERED, 'delegated KRB-CRED does not decrypt with the context keys');
  }
  try {
    if (part.ticketInfo.length !== cred.tickets.length) throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'KRB-CRED ticket and ticket-info counts differ');
    // Every field is checked before any key is copied, so a refusal leaves no copy behind.
    const credentials: Credential[] = cred.tickets.map((t, idx) => {
      const info = part.ticketInfo[idx]!;
      return {
        client: info.pname ? principalOf(info.prealm ?? client.realm, info.pname) : client,
        server: info.sname ? principalOf(info.srealm ?? t.realm, info.sname) : principalOf(t.realm, t.sname),
        key: { enctype: fits16(info.key.keytype, 'key type'), keyvalue: info.key.keyvalue },
        authtime: secs(info.authtime, 'authtime'),
        starttime: secs(info.starttime, 'starttime'),
        endtime: secs(info.endtime, 'endtime'),
        renewTill: secs(info.renewTill, 'renew-till'),
        isSkey: false,
        ticketFlags: (info.flags ?? 0) >>> 0,
        addresses: (info.caddr ?? []).map((a) => ({ addrType: fits16(a.addrType, 'address type'), address: Uint8Array.from(a.address) })),
        authdata: [],
        ticket: encodeTicket(t),
        secondTicket: new Uint8Array(0),
      };
    });
    for (const c of credentials) c.key.keyvalue = Uint8Array.from(c.key.keyvalue);
    return { version: 0x0504, defaultPrincipal: client, credentials };
  } finally {
    plain?.fill(0);
  }
}

// ---- AP-REP (RFC 4120 5.5.2) and the DCE third leg ------------------------------------------------

export interface BuildApRepInput {
  sessionKey: KerberosKey;
  /** ctime/cusec of the authenticator being answered. */
  ctime: Date;
  cusec: number;
  subkey?: KerberosKey;
  seqNumber?: number;
  /**
   * Send the bare AP-REP without the RFC 2743 framing: DCE style (the acceptor's AP-REP and the
   * initiator's third-leg AP-REP travel raw, as Windows and MIT do for DCE RPC).
   */
  raw?: boolean;
  mechOid?: string;
  policy?: CryptoPolicy;
}

/** EncAPRepPart encrypted with the session key, usage 12; framed with TOK_ID 02 00 unless raw. */
export function buildApRep(i: BuildApRepInput): Uint8Array {
  const part = { ctime: i.ctime, cusec: i.cusec, ...(i.subkey ? { subkey: { keytype: i.subkey.enctype, keyvalue: i.subkey.keyvalue } } : {}), ...(i.seqNumber !== undefined ? { seqNumber: i.seqNumber } : {}) };
  const plain = encodeEncApRepPart(part);
  const cipher = encrypt(i.sessionKey, KeyUsage.AP_REP_ENCPART, plain, undefined, i.policy);
  plain.fill(0);
  const apRep = encodeApRep({ encPart: { etype: i.sessionKey.enctype, cipher } });
  return i.raw ? apRep : wrapKrb5Token(Krb5TokId.KRB_AP_REP, apRep, i.mechOid ?? KRB5_MECH_OID);
}

export interface VerifiedApRep {
  ctime: Date;
  cusec: number;
  subkey?: KerberosKey;
  seqNumber?: number;
}

/**
 * Open an AP-REP (framed, or raw when it starts with [APPLICATION 15]) and check it answers our
 * authenticator (ctime/cusec equal, RFC 4120 3.2.5): otherwise SEC_E_MUTUAL_AUTH_FAILED.
 */
export function verifyApRep(token: Uint8Array, sessionKey: KerberosKey, expect: { ctime: Date; cusec: number }, policy?: CryptoPolicy): VerifiedApRep {
  const body = token.length > 0 && token[0] === 0x6f ? token : parseKrb5Token(token, Krb5TokId.KRB_AP_REP).body;
  const apRep = decodeApRep(body);
  if (apRep.encPart.etype !== sessionKey.enctype) throw krbApError(KrbErrorCode.KRB_AP_ERR_MUT_FAIL, 'AP-REP etype differs from the session key');
  let plain: Uint8Array;
  try {
    plain = decrypt(sessionKey, KeyUsage.AP_REP_ENCPART, apRep.encPart.cipher, policy);
  } catch (e) {
    if (SspiError.is(e, SecurityStatus.SEC_E_MESSAGE_ALTERED)) throw krbApError(KrbErrorCode.KRB_AP_ERR_MUT_FAIL, 'AP-REP does not decrypt with the session key');
    throw e;
  }
  // The plaintext holds the acceptor's subkey: zeroed on every way out, the caller gets a copy.
  try {
    const part = decodeEncApRepPart(plain);
    if (part.ctime.getTime() !== expect.ctime.getTime() || part.cusec !== expect.cusec) {
      throw krbApError(KrbErrorCode.KRB_AP_ERR_MUT_FAIL, 'AP-REP does not answer our authenticator');
    }
    const out: VerifiedApRep = { ctime: part.ctime, cusec: part.cusec };
    if (part.subkey) out.subkey = peerSubkey(part.subkey, policy);
    if (part.seqNumber !== undefined) out.seqNumber = part.seqNumber;
    return out;
  } finally {
    plain.fill(0);
  }
}

/**
 * DCE style third leg (MS-KILE 3.2.5.2 / 3.4.5.2): the initiator answers the acceptor's AP-REP
 * with a raw AP-REP of its own, under the session key, echoing the acceptor's ctime/cusec and
 * carrying the initiator's sequence number, no subkey.
 */
export function buildDceThirdLeg(sessionKey: KerberosKey, acceptorApRep: { ctime: Date; cusec: number }, initiatorSeq: number, policy?: CryptoPolicy): Uint8Array {
  return buildApRep({ sessionKey, ctime: acceptorApRep.ctime, cusec: acceptorApRep.cusec, seqNumber: initiatorSeq, raw: true, ...(policy ? { policy } : {}) });
}

/** Acceptor check of the DCE third leg: must echo the ctime/cusec we sent; returns the initiator's seq. */
export function verifyDceThirdLeg(token: Uint8Array, sessionKey: KerberosKey, sent: { ctime: Date; cusec: number }, policy?: CryptoPolicy): number | undefined {
  const v = verifyApRep(token, sessionKey, sent, policy);
  if (v.subkey) destroyKey(v.subkey); // MS-KILE: none is expected here, and none is used
  return v.seqNumber;
}

/** The acceptor's AP-REP timestamp: the answered authenticator's, or for DCE style a fresh one. */
export function apRepTime(now?: Date): { ctime: Date; cusec: number } {
  return nowWithMicros(now);
}

// ---- KRB-ERROR token ------------------------------------------------------------------------------

/** A KRB-ERROR in a GSS token (TOK_ID 03 00), e.g. KRB_AP_ERR_SKEW so the client can retry with the server time. */
export function buildKrbErrorToken(errorCode: number, server: KrbPrincipal, now?: Date, mechOid?: string): Uint8Array {
  const { ctime, cusec } = nowWithMicros(now);
  const body = encodeKrbError({
    stime: ctime, susec: cusec, errorCode, realm: server.realm,
    sname: { nameType: server.nameType, nameString: server.components },
  });
  return wrapKrb5Token(Krb5TokId.KRB_ERROR, body, mechOid ?? KRB5_MECH_OID);
}

