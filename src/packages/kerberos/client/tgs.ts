// The TGS exchange (RFC 4120 3.3): a service ticket for `server` with a TGT. The TGS-REQ carries the
// TGT in a PA-TGS-REQ AP-REQ (5.5.1) whose authenticator checksums the req-body (key usage 6) and
// is encrypted with the TGT session key (usage 7); the reply enc-part decrypts with that same
// session key (usage 8, no subkey is sent).
//
// Cross-realm, the way MIT's krb5_tkt_creds state machine (get_creds.c) walks it:
//  1. a service in another realm needs that realm's TGT: a cached krbtgt/B@* first, else the realm
//     path (realmPath.ts) is walked: ask the current realm for the farthest realm on the path,
//     then for nearer ones after a refusal; any TGT for a realm further along the path is taken
//     and cached; a TGT off the path is chased (at most KRB5_REFERRAL_MAXHOPS, loops refused);
//  2. the service request carries KDC_OPT_CANONICALIZE: a KDC that knows the service is elsewhere
//     answers with a referral TGT krbtgt/X@CURRENT (RFC 6806 8), which is followed to X's KDC,
//     again at most KRB5_REFERRAL_MAXHOPS times and never back to a realm already seen.
// Failures: no path (every realm on it refused) and loops give SEC_E_KDC_UNABLE_TO_REFER (the KDC's
// error is the cause), too many hops SEC_E_MAX_REFERRALS_EXCEEDED; the number of requests is
// bounded, so a misbehaving KDC cannot keep the client walking.

import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { KdcOptions, KeyUsage, KrbErrorCode, NameType, PaDataType, TicketFlags } from '../asn1/constants.js';
import {
  decodeTgsRep,
  encodeApReq,
  encodeAuthenticator,
  encodeKdcReqBody,
  encodeTgsReq,
} from '../asn1/messages.js';
import type { KdcReqBody } from '../asn1/types.js';
import { encrypt, getEnctype, isEnctypeSupported, makeChecksum } from '../crypto/index.js';
import type { Krb5Config } from '../krb5conf.js';
import { formatPrincipal, type KrbPrincipal, principalEquals } from '../keytab.js';
import { fromPrincipalName, newNonce, openKdcRep, parseKdcReply, refuseReply, resolvePrincipal, toPrincipalName } from './as.js';
import type { CredentialCache } from './cache.js';
import { KdcError, kdcErrorFrom, krbErrorToStatus } from './errors.js';
import { type ClientPolicy, clientPolicy } from './policy.js';
import { clientRealmPath } from './realmPath.js';
import { sendToKdc, type SendToKdcOptions } from './transport.js';
import { type KdcSend, type KerberosTicketCredential, isCurrent, isRenewable, ticketCredential } from './types.js';

/** MIT's limit on referral and off-path TGTs followed for one request (k5-int.h). */
export const KRB5_REFERRAL_MAXHOPS = 10;

export interface ServiceTicketOptions {
  config?: Krb5Config;
  /** TGS-REQ etype list (session key enctypes); default default_tgs_enctypes. */
  enctypes?: readonly number[];
  /** Extra KDCOptions bits (asn1 KdcOptions) for the service request. FORWARDABLE is asked when the TGT is forwardable. */
  kdcOptions?: number;
  /** Where cross-realm TGTs are looked up and stored (the client's ccache); none: nothing is cached. */
  cache?: Pick<CredentialCache, 'list' | 'store'>;
  now?: () => Date;
  transport?: SendToKdcOptions;
  send?: KdcSend;
}

/** A service principal from a string: "HTTP/host" or "HTTP/host@REALM" (NT-SRV-INST); no realm: the TGT's. */
export function servicePrincipal(server: KrbPrincipal | string, realm: string, config?: Krb5Config): KrbPrincipal {
  if (typeof server !== 'string') return server;
  const p = resolvePrincipal(server.includes('@') ? server : `${server}@${realm}`, config, NameType.NT_SRV_INST);
  if (p.components.length === 1) p.nameType = NameType.NT_PRINCIPAL;
  return p;
}

/** The realm whose KDC accepts this TGT: X of krbtgt/X@Y (the issuing realm Y only for a local TGT). */
function tgtRealm(tgt: KerberosTicketCredential): string {
  const s = tgt.server;
  return s.components.length === 2 && s.components[0] === 'krbtgt' ? s.components[1]! : s.realm;
}

/** The realm a krbtgt/X@Y principal leads to, or undefined for any other principal. */
function krbtgtTarget(p: KrbPrincipal): string | undefined {
  return p.components.length === 2 && p.components[0] === 'krbtgt' ? p.components[1] : undefined;
}

const sameComponents = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((c, i) => c === b[i]);

interface Exchange {
  policy: ClientPolicy;
  send: KdcSend;
  now: () => Date;
  config: Krb5Config | undefined;
  cache: ServiceTicketOptions['cache'];
  /** TGTs got on the way and not cached: their keys are zeroed when the request ends. */
  transient: KerberosTicketCredential[];
}

/**
 * One TGS exchange with the KDC of `tgt`'s realm for the name `components` in that realm. The
 * reply may name another principal (a referral, a canonical name): the caller decides.
 */
async function tgsExchange(
  x: Exchange,
  tgt: KerberosTicketCredential,
  components: readonly string[],
  nameType: number,
  kdcOptions: number,
  etypes: readonly number[],
  till: Date = tgt.endtime,
  rtime?: Date,
): Promise<KerberosTicketCredential> {
  const { policy } = x;
  const realm = tgtRealm(tgt);
  const now = x.now();
  if (!isCurrent(tgt, now)) throw new KdcError(32, `the ticket-granting ticket ${formatPrincipal(tgt.server)} has expired`); // KRB_AP_ERR_TKT_EXPIRED
  // The TGT's session key may itself be weak (rc4): using it is allowed only by the same policy.
  getEnctype(tgt.sessionKey.enctype, policy.crypto);
  let options = kdcOptions;
  if (tgt.flags & TicketFlags.FORWARDABLE && policy.forwardable) options |= KdcOptions.FORWARDABLE;
  const sname = { realm, components: [...components], nameType };
  const body: KdcReqBody = {
    kdcOptions: options >>> 0,
    realm,
    sname: toPrincipalName(sname),
    till,
    ...(rtime ? { rtime } : {}),
    nonce: newNonce(),
    etype: [...etypes],
  };
  const bodyBytes = encodeKdcReqBody(body);
  const ms = now.getTime();
  const authenticator = encodeAuthenticator({
    crealm: tgt.client.realm,
    cname: toPrincipalName(tgt.client),
    cksum: {
      cksumtype: getEnctype(tgt.sessionKey.enctype, policy.crypto).checksumType,
      checksum: makeChecksum(tgt.sessionKey, KeyUsage.TGS_REQ_AUTH_CKSUM, bodyBytes, undefined, policy.crypto),
    },
    cusec: (ms % 1000) * 1000,
    ctime: new Date(Math.floor(ms / 1000) * 1000),
  });
  const apReq = encodeApReq({
    apOptions: 0,
    ticket: tgt.ticket,
    authenticator: {
      etype: tgt.sessionKey.enctype,
      cipher: encrypt(tgt.sessionKey, KeyUsage.TGS_REQ_AUTH, authenticator, undefined, policy.crypto),
    },
  });
  const req = encodeTgsReq({ padata: [{ padataType: PaDataType.PA_TGS_REQ, padataValue: apReq }], reqBody: body });
  const reply = await x.send(realm, req);
  const { error, rep } = parseKdcReply(reply, decodeTgsRep);
  if (error) throw kdcErrorFrom(error, `TGS exchange with ${realm} for ${formatPrincipal(sname)}`);
  const r = rep!;
  if (r.encPart.etype !== tgt.sessionKey.enctype) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'TGS-REP enc-part is not under the TGT session key');
  }
  const { enc, sessionKey, client } = openKdcRep('TGS-REP', r, body.nonce, tgt.client, policy.crypto, {
    key: tgt.sessionKey,
    usage: KeyUsage.TGS_REP_ENCPART_SESSKEY,
    errorCode: KrbErrorCode.KRB_AP_ERR_MODIFIED,
    error: 'the TGS-REP does not decrypt with the TGT session key',
  });
  const srep = fromPrincipalName(enc.sname, enc.srealm);
  // Whatever it names, a ticket from this KDC is a ticket of this realm.
  if (srep.realm !== realm) refuseReply(sessionKey, SecurityStatus.SEC_E_INVALID_TOKEN, `the KDC of ${realm} issued a ticket for realm ${srep.realm}`);
  if (!isEnctypeSupported(enc.key.keytype, policy.crypto)) refuseReply(sessionKey, SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, `session key enctype ${enc.key.keytype} is not permitted`);
  return ticketCredential(client, srep, r.ticket, enc, sessionKey);
}

/** A current krbtgt/REALM@<any realm> for `client` from the cache (MIT: KRB5_TC_MATCH_SRV_NAMEONLY). */
async function cachedTgt(x: Exchange, client: KrbPrincipal, realm: string): Promise<KerberosTicketCredential | undefined> {
  if (!x.cache) return undefined;
  let all: KerberosTicketCredential[];
  try {
    all = await x.cache.list();
  } catch {
    return undefined; // no cache yet: nothing cached
  }
  const now = x.now();
  return all.find(
    (t) => principalEquals(t.client, client) && krbtgtTarget(t.server) === realm && isCurrent(t, now) && isEnctypeSupported(t.sessionKey.enctype, x.policy.crypto),
  );
}

async function remember(x: Exchange, t: KerberosTicketCredential): Promise<void> {
  // Best effort, as MIT's krb5_cc_store_cred here: a read-only cache costs only the reuse.
  await x.cache?.store(t).catch(() => undefined);
}

const loop = (realm: string, what: string): SspiError =>
  new SspiError(SecurityStatus.SEC_E_KDC_UNABLE_TO_REFER, `${what} led back to realm ${realm} (a referral loop)`);

const tooMany = (what: string): SspiError =>
  new SspiError(SecurityStatus.SEC_E_MAX_REFERRALS_EXCEEDED, `${what}: more than ${KRB5_REFERRAL_MAXHOPS} referrals`);

/**
 * A TGT for `target` starting from `local` (a TGT of another realm): step 1 above. MIT's
 * begin_get_tgt / step_get_tgt / step_get_tgt_offpath.
 */
async function foreignTgt(x: Exchange, local: KerberosTicketCredential, target: string): Promise<KerberosTicketCredential> {
  const hit = await cachedTgt(x, local.client, target);
  if (hit) return hit;
  const path = clientRealmPath(x.config, tgtRealm(local), target);
  const last = path.length - 1;
  const what = `cross-realm TGT from ${path[0]} to ${target}`;
  const seen = new Set<string>([path[0]!]);
  let cur = local;
  let curIdx = 0;
  let nextIdx = last;
  for (;;) {
    if (nextIdx !== last) {
      const cached = await cachedTgt(x, local.client, path[nextIdx]!);
      if (cached) {
        cur = cached;
        curIdx = nextIdx;
        nextIdx = last;
        continue;
      }
    }
    let got: KerberosTicketCredential;
    try {
      got = await tgsExchange(x, cur, ['krbtgt', path[nextIdx]!], NameType.NT_SRV_INST, 0, x.policy.tgsEnctypes);
    } catch (e) {
      // A refusal (a KRB-ERROR) means "try a nearer realm"; anything else (no KDC, a bad reply) stops here.
      if (!(e instanceof KdcError)) throw e;
      nextIdx--;
      if (nextIdx === curIdx) {
        throw new SspiError(
          SecurityStatus.SEC_E_KDC_UNABLE_TO_REFER,
          `no ${what} (path ${path.join(' -> ')}): ${tgtRealm(cur)} refused every step (${e.krbErrorName})`,
          { cause: e },
        );
      }
      continue;
    }
    const realm = krbtgtTarget(got.server);
    if (realm === undefined || seen.has(realm)) {
      got.sessionKey.keyvalue.fill(0); // refused before it could be kept or used
      throw realm === undefined ? new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `asked for a TGT, the KDC of ${tgtRealm(cur)} sent ${formatPrincipal(got.server)}`) : loop(realm, what);
    }
    seen.add(realm);
    cur = got;
    const idx = path.indexOf(realm, curIdx + 1);
    if (idx < 0) {
      x.transient.push(cur);
      return offPathTgt(x, cur, target, seen, what);
    }
    await remember(x, cur);
    if (idx === last) return cur;
    curIdx = idx;
    nextIdx = last;
  }
}

/** A KDC on the path sent a TGT for a realm off it: ask each such realm for the target's TGT directly. */
async function offPathTgt(x: Exchange, start: KerberosTicketCredential, target: string, seen: Set<string>, what: string): Promise<KerberosTicketCredential> {
  let cur = start;
  for (let hops = 1; ; hops++) {
    if (hops > KRB5_REFERRAL_MAXHOPS) throw tooMany(what);
    let got: KerberosTicketCredential;
    try {
      got = await tgsExchange(x, cur, ['krbtgt', target], NameType.NT_SRV_INST, 0, x.policy.tgsEnctypes);
    } catch (e) {
      if (e instanceof KdcError) throw new SspiError(SecurityStatus.SEC_E_KDC_UNABLE_TO_REFER, `no ${what} through ${tgtRealm(cur)}: ${e.krbErrorName}`, { cause: e });
      throw e;
    }
    x.transient.push(got);
    const realm = krbtgtTarget(got.server);
    if (realm === undefined) throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `asked for a TGT, the KDC of ${tgtRealm(cur)} sent ${formatPrincipal(got.server)}`);
    if (seen.has(realm)) throw loop(realm, what);
    seen.add(realm);
    cur = got;
    if (realm === target) return cur;
  }
}

/**
 * Gets a ticket for `server` with `tgt` (normally the client's local TGT), crossing realms when the
 * service is elsewhere: through the realm path to the service realm's TGT, then following the
 * KDCs' referrals. The ticket comes back under the name asked for (as MIT stores it).
 */
export async function getServiceTicket(
  tgt: KerberosTicketCredential,
  server: KrbPrincipal | string,
  opts: ServiceTicketOptions = {},
): Promise<KerberosTicketCredential> {
  const policy = clientPolicy(opts.config);
  const sname = servicePrincipal(server, tgtRealm(tgt), opts.config);
  const x: Exchange = {
    policy,
    send: opts.send ?? ((r, b) => sendToKdc(r, b, { config: opts.config, ...opts.transport })),
    now: opts.now ?? (() => new Date()),
    config: opts.config,
    cache: opts.cache,
    transient: [],
  };
  if (!isCurrent(tgt, x.now())) throw new KdcError(32, 'the ticket-granting ticket has expired'); // KRB_AP_ERR_TKT_EXPIRED
  const etypes = opts.enctypes ? opts.enctypes.filter((e) => isEnctypeSupported(e, policy.crypto)) : policy.tgsEnctypes;
  if (etypes.length === 0) throw new SspiError(SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, 'no usable enctype for the TGS request');

  try {
    return await serviceRequest(x, sname.realm === tgtRealm(tgt) ? tgt : await foreignTgt(x, tgt, sname.realm), sname, etypes, (opts.kdcOptions ?? 0) >>> 0);
  } finally {
    for (const t of x.transient) t.sessionKey.keyvalue.fill(0);
  }
}

/** Step 2 above: the service request from the service realm's TGT, following referrals (MIT's step_referrals). */
async function serviceRequest(x: Exchange, start: KerberosTicketCredential, sname: KrbPrincipal, etypes: readonly number[], extra: number): Promise<KerberosTicketCredential> {
  let cur = start;
  const what = `service ticket for ${formatPrincipal(sname)}`;
  const seen = new Set<string>([tgtRealm(cur)]);
  let canonicalize = true;
  // Counted apart from `seen`: the hop limit must hold even if a loop went unnoticed.
  let referrals = 0;
  for (let requests = 1; ; requests++) {
    let rep: KerberosTicketCredential;
    try {
      rep = await tgsExchange(x, cur, sname.components, sname.nameType, extra | (canonicalize ? KdcOptions.CANONICALIZE : 0), etypes);
    } catch (e) {
      // MIT's try_fallback: a KDC that rejects the canonicalize option gets the plain request.
      if (canonicalize && requests === 1 && e instanceof KdcError && e.krbErrorCode === KrbErrorCode.KDC_ERR_BADOPTION) {
        canonicalize = false;
        continue;
      }
      throw e;
    }
    if (sameComponents(rep.server.components, sname.components)) {
      return { ...rep, server: { realm: sname.realm, components: [...sname.components], nameType: sname.nameType } };
    }
    const referral = krbtgtTarget(rep.server);
    if (referral === undefined || referral === tgtRealm(cur)) {
      rep.sessionKey.keyvalue.fill(0);
      // Old Active Directory rewrites the name, some KDCs answer with their own TGT: ask plainly once (MIT does).
      if (canonicalize) {
        canonicalize = false;
        continue;
      }
      throw new SspiError(SecurityStatus.SEC_E_WRONG_PRINCIPAL, `TGS-REP is for ${formatPrincipal(rep.server)}, not ${formatPrincipal(sname)}`);
    }
    // RFC 6806 8: a referral TGT krbtgt/X@CURRENT; the first one is cached (MIT caches it from the local realm).
    if (++referrals === 1) await remember(x, rep);
    else x.transient.push(rep);
    if (referrals >= KRB5_REFERRAL_MAXHOPS) throw tooMany(what);
    if (seen.has(referral)) throw loop(referral, what);
    seen.add(referral);
    cur = rep;
  }
}

/**
 * Renews a ticket (normally a TGT) with a TGS exchange carrying the RENEW option (RFC 4120 3.3.3.1):
 * the ticket itself is the one in the PA-TGS-REQ, and the KDC gives it a new lifetime (at most
 * renew-till) under a new session key. Only a RENEWABLE ticket that has not yet expired can be
 * renewed; anything else is refused here without asking the KDC.
 */
export async function renewTicket(ticket: KerberosTicketCredential, opts: Omit<ServiceTicketOptions, 'enctypes' | 'kdcOptions' | 'cache'> = {}): Promise<KerberosTicketCredential> {
  const policy = clientPolicy(opts.config);
  const x: Exchange = {
    policy,
    send: opts.send ?? ((r, b) => sendToKdc(r, b, { config: opts.config, ...opts.transport })),
    now: opts.now ?? (() => new Date()),
    config: opts.config,
    cache: undefined,
    transient: [],
  };
  const now = x.now();
  const name = formatPrincipal(ticket.server);
  // What the KDC would answer (KDC_ERR_BADOPTION, "TICKET NOT RENEWABLE"), said without the round trip.
  if (!(ticket.flags & TicketFlags.RENEWABLE) || ticket.renewTill === undefined) {
    throw new SspiError(krbErrorToStatus(KrbErrorCode.KDC_ERR_BADOPTION), `the ticket ${name} is not renewable (get a renewable one: kinit -r)`);
  }
  if (!isRenewable(ticket, now)) {
    // Expired credentials: SEC_E_CONTEXT_EXPIRED, the code of KRB_AP_ERR_TKT_EXPIRED.
    throw new SspiError(krbErrorToStatus(KrbErrorCode.KRB_AP_ERR_TKT_EXPIRED), `the ticket ${name} can no longer be renewed (expired ${ticket.endtime.toISOString()}, renewable until ${ticket.renewTill.toISOString()}): run kinit`);
  }
  const sname = ticket.server;
  // The ticket's own flags are asked for again (MIT's KDC_TKT_COMMON_MASK), RENEWABLE with its
  // renew-till as rtime: a KDC grants a renewed ticket only the options the request names.
  const keep = ticket.flags & (TicketFlags.FORWARDABLE | TicketFlags.PROXIABLE | TicketFlags.MAY_POSTDATE | TicketFlags.RENEWABLE);
  const r = await tgsExchange(x, ticket, sname.components, sname.nameType, KdcOptions.RENEW | keep, policy.tgsEnctypes, ticket.renewTill, ticket.renewTill);
  if (!sameComponents(r.server.components, sname.components) || r.server.realm !== sname.realm) {
    r.sessionKey.keyvalue.fill(0);
    throw new SspiError(SecurityStatus.SEC_E_WRONG_PRINCIPAL, `asked to renew ${name}, the KDC sent ${formatPrincipal(r.server)}`);
  }
  return { ...r, server: { realm: sname.realm, components: [...sname.components], nameType: sname.nameType } };
}
