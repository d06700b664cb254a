// The AS exchange (RFC 4120 3.1): an initial ticket (normally a TGT) from a password or from
// long-term keys. The first AS-REQ carries no pre-authentication; a KDC_ERR_PREAUTH_REQUIRED reply
// names the enctype, salt and s2kparams (PA-ETYPE-INFO2, 5.2.7.5, or the older PA-ETYPE-INFO) and
// the request is sent again with PA-ENC-TIMESTAMP (5.2.7.2).

import { randomInt } from 'node:crypto';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus, type Status } from '../../../sspi/status.js';
import { KdcOptions, KeyUsage, KrbErrorCode, NameType, PaDataType } from '../asn1/constants.js';
import { decodeAsRep, decodeEncASRepPart, decodeEncTGSRepPart, decodeKrbError, encodeAsReq } from '../asn1/messages.js';
import {
  decodeEtypeInfo,
  decodeEtypeInfo2,
  decodeMethodData,
  encodeEncryptedData,
  encodePaEncTsEnc,
} from '../asn1/padata.js';
import type { EncKdcRepPart, EtypeInfo2Entry, KdcRep, KdcReqBody, PaData, PrincipalName } from '../asn1/types.js';
import { decrypt, destroyKey, encrypt, isEnctypeSupported, stringToKey } from '../crypto/index.js';
import type { CryptoPolicy, KerberosKey } from '../crypto/types.js';
import type { Krb5Config } from '../krb5conf.js';
import { type KrbPrincipal, parsePrincipal, principalEquals } from '../keytab.js';
import { KdcError, kdcErrorFrom } from './errors.js';
import { clientPolicy } from './policy.js';
import { sendToKdc, type SendToKdcOptions } from './transport.js';
import { type KdcSend, type KerberosTicketCredential, ticketCredential } from './types.js';

export interface InitialTicketOptions {
  /** The client, "name@REALM" or parsed; a missing realm takes default_realm. */
  principal: KrbPrincipal | string;
  /** Password (string-to-key with the KDC's salt), or... */
  password?: string;
  /** ...long-term keys of the principal (a client keytab), one per enctype. */
  keys?: readonly KerberosKey[];
  config?: Krb5Config;
  /** AS-REQ etype list; default default_tkt_enctypes (limited to permitted_enctypes). */
  enctypes?: readonly number[];
  /** Service of the ticket; default krbtgt/REALM@REALM. */
  service?: KrbPrincipal | string;
  /** Requested lifetime in seconds; default ticket_lifetime. */
  lifetime?: number;
  /** Requested renewable lifetime in seconds; default renew_lifetime (0: none). */
  renewLifetime?: number;
  forwardable?: boolean;
  /** Clock; default the system's. */
  now?: () => Date;
  /** Transport options (timeouts, KDC list). */
  transport?: SendToKdcOptions;
  /** Replace the transport altogether. */
  send?: KdcSend;
  /** Hand back a copy of the reply key (InitialTicketResult.replyKey): a credential refreshes its TGT with it instead of keeping the password. */
  keepReplyKey?: boolean;
}

export interface InitialTicketResult {
  credential: KerberosTicketCredential;
  /** The enctype of the reply key (the client's long-term key used). */
  replyEnctype: number;
  /** Whether the exchange used pre-authentication. */
  preauthenticated: boolean;
  /** KDC time minus local time in seconds, from the reply. */
  kdcOffsetSeconds: number;
  /** With keepReplyKey: a copy of the client's long-term key the reply decrypted with (the caller zeroes it). */
  replyKey?: KerberosKey;
}

const MAX_ROUNDS = 3;

export function toPrincipalName(p: KrbPrincipal): PrincipalName {
  return { nameType: p.nameType, nameString: [...p.components] };
}

/** The checked contents of an AS-REP or TGS-REP enc-part (RFC 4120 3.1.5 / 3.3.4). */
export interface OpenedKdcRep {
  enc: EncKdcRepPart;
  /** A copy of enc.key: the decoded key is a view into plaintext that is zeroed here. */
  sessionKey: KerberosKey;
  /** cname@crealm of the reply, checked against the requesting client. */
  client: KrbPrincipal;
}

/**
 * Decrypts and decodes a KDC reply's enc-part, then checks the nonce and client against the
 * request. A decryption failure is reported as the KDC error `key.errorCode` (the key was wrong).
 */
export function openKdcRep(
  label: 'AS-REP' | 'TGS-REP',
  r: KdcRep,
  nonce: number,
  client: KrbPrincipal,
  crypto: CryptoPolicy,
  key: { key: KerberosKey; usage: number; errorCode: number; error: string },
): OpenedKdcRep {
  let plain: Uint8Array;
  try {
    plain = decrypt(key.key, key.usage, r.encPart.cipher, crypto);
  } catch (e) {
    if (SspiError.is(e, SecurityStatus.SEC_E_MESSAGE_ALTERED)) throw new KdcError(key.errorCode, key.error);
    throw e;
  }
  const enc = label === 'AS-REP' ? decodeEncASRepPart(plain) : decodeEncTGSRepPart(plain);
  const sessionKey = { enctype: enc.key.keytype, keyvalue: Uint8Array.from(enc.key.keyvalue) };
  plain.fill(0);
  if (enc.nonce !== nonce) refuseReply(sessionKey, SecurityStatus.SEC_E_INVALID_TOKEN, `${label} nonce does not match the request`);
  const crep = fromPrincipalName(r.cname, r.crealm);
  if (!principalEquals(crep, client)) refuseReply(sessionKey, SecurityStatus.SEC_E_WRONG_PRINCIPAL, `${label} is for another client`);
  return { enc, sessionKey, client: crep };
}

/** A KDC reply refused after its session key was copied out: the copy is zeroed, then the error thrown. */
export function refuseReply(sessionKey: { keyvalue: Uint8Array }, status: Status, why: string): never {
  sessionKey.keyvalue.fill(0);
  throw new SspiError(status, why);
}

export function fromPrincipalName(n: PrincipalName, realm: string): KrbPrincipal {
  return { realm, components: [...n.nameString], nameType: n.nameType };
}

/** RFC 4120 4: the default salt is the realm followed by every name component, no separators. */
export function defaultSalt(p: KrbPrincipal): string {
  return p.realm + p.components.join('');
}

export function resolvePrincipal(p: KrbPrincipal | string, config?: Krb5Config, nameType: number = NameType.NT_PRINCIPAL): KrbPrincipal {
  const out = typeof p === 'string' ? parsePrincipal(p, config?.defaultRealm ?? '', nameType) : p;
  if (out.realm === '') throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'principal has no realm and no default_realm is configured');
  if (out.components.length === 0 || out.components.some((c) => c === '')) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'principal has an empty name component');
  }
  return out;
}

/** A fresh nonce; MIT keeps it to 31 bits because some KDCs read it as a signed integer. */
export function newNonce(): number {
  return randomInt(0, 0x7fffffff);
}

/** Parses a KDC reply: KRB-ERROR or the expected KDC-REP (anything else: SEC_E_INVALID_TOKEN). */
export function parseKdcReply(reply: Uint8Array, decodeRep: (b: Uint8Array) => KdcRep): { error?: ReturnType<typeof decodeKrbError>; rep?: KdcRep } {
  if (reply[0] === 0x7e) return { error: decodeKrbError(reply) };
  return { rep: decodeRep(reply) };
}

/** Gets an initial ticket (a TGT unless `service` says otherwise) from the KDC of the principal's realm. */
export async function getInitialTicket(opts: InitialTicketOptions): Promise<InitialTicketResult> {
  if ((opts.password === undefined) === (opts.keys === undefined)) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'give exactly one of password or keys');
  }
  const policy = clientPolicy(opts.config);
  const client = resolvePrincipal(opts.principal, opts.config);
  const realm = client.realm;
  const service = opts.service
    ? resolvePrincipal(opts.service, opts.config, NameType.NT_SRV_INST)
    : { realm, components: ['krbtgt', realm], nameType: NameType.NT_SRV_INST };
  const nowFn = opts.now ?? (() => new Date());
  const send: KdcSend = opts.send ?? ((r, b) => sendToKdc(r, b, { config: opts.config, ...opts.transport }));

  let etypes = opts.enctypes ? opts.enctypes.filter((e) => isEnctypeSupported(e, policy.crypto)) : policy.tktEnctypes;
  if (opts.keys) etypes = etypes.filter((e) => opts.keys!.some((k) => k.enctype === e));
  if (etypes.length === 0) {
    throw new SspiError(SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, 'no usable enctype for the AS request (check permitted_enctypes and the keys)');
  }

  const derived: KerberosKey[] = [];
  const keyFor = (etype: number, salt: string | undefined, s2kparams?: Uint8Array): KerberosKey | undefined => {
    if (!etypes.includes(etype)) return undefined;
    if (opts.keys) return opts.keys.find((k) => k.enctype === etype);
    const k = stringToKey(etype, opts.password!, salt ?? defaultSalt(client), s2kparams, policy.crypto);
    derived.push(k);
    return k;
  };

  try {
    let padata: PaData[] | undefined;
    let preauthKey: KerberosKey | undefined;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const now = nowFn();
      const body: KdcReqBody = {
        kdcOptions: kdcOptionsFor(opts, policy.forwardable, policy.renewLifetime),
        cname: toPrincipalName(client),
        realm,
        sname: toPrincipalName(service),
        till: new Date(Math.floor(now.getTime() / 1000) * 1000 + (opts.lifetime ?? policy.ticketLifetime) * 1000),
        nonce: newNonce(),
        etype: [...etypes],
      };
      const renew = opts.renewLifetime ?? policy.renewLifetime;
      if (renew > 0) body.rtime = new Date(Math.floor(now.getTime() / 1000) * 1000 + renew * 1000);
      const req = encodeAsReq(padata ? { padata, reqBody: body } : { reqBody: body });
      const reply = await send(realm, req);
      const { error, rep } = parseKdcReply(reply, decodeAsRep);
      if (error) {
        if (error.errorCode === KrbErrorCode.KDC_ERR_PREAUTH_REQUIRED && padata === undefined) {
          const choice = choosePreauth(error.eData, etypes);
          preauthKey = keyFor(choice.etype, choice.salt, choice.s2kparams);
          if (!preauthKey) throw new SspiError(SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, 'no key for any enctype the KDC offers');
          padata = [encTimestamp(preauthKey, nowFn(), policy.crypto)];
          continue;
        }
        throw kdcErrorFrom(error, `AS exchange for ${client.components.join('/')}@${realm}`);
      }
      const r = rep!;
      // The reply key: the pre-authentication key, or one derived with the salt the reply names.
      let replyKey = preauthKey && preauthKey.enctype === r.encPart.etype ? preauthKey : undefined;
      if (!replyKey) {
        const info = replyEtypeInfo(r.padata, r.encPart.etype);
        replyKey = keyFor(r.encPart.etype, info?.salt, info?.s2kparams);
      }
      if (!replyKey) throw new SspiError(SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, `AS-REP enc-part uses enctype ${r.encPart.etype}, which was not requested`);
      // A wrong password without pre-authentication shows up as a bad decryption (Windows: KRB_AP_ERR_MODIFIED).
      const { enc, sessionKey, client: crep } = openKdcRep('AS-REP', r, body.nonce, client, policy.crypto, {
        key: replyKey,
        usage: KeyUsage.AS_REP_ENCPART,
        errorCode: KrbErrorCode.KRB_AP_ERR_BAD_INTEGRITY,
        error: 'the AS-REP does not decrypt with the client key',
      });
      const srep = fromPrincipalName(enc.sname, enc.srealm);
      if (!principalEquals(srep, service)) refuseReply(sessionKey, SecurityStatus.SEC_E_WRONG_PRINCIPAL, 'AS-REP is for another service');
      if (!policy.permitted.includes(enc.key.keytype) && opts.enctypes === undefined) {
        refuseReply(sessionKey, SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, `session key enctype ${enc.key.keytype} is not permitted`);
      }
      const result: InitialTicketResult = {
        credential: ticketCredential(crep, srep, r.ticket, enc, sessionKey),
        replyEnctype: replyKey.enctype,
        preauthenticated: padata !== undefined,
        kdcOffsetSeconds: Math.round((enc.authtime.getTime() - nowFn().getTime()) / 1000),
      };
      if (opts.keepReplyKey) result.replyKey = { enctype: replyKey.enctype, keyvalue: Uint8Array.from(replyKey.keyvalue) };
      return result;
    }
    throw new SspiError(SecurityStatus.SEC_E_LOGON_DENIED, 'the KDC kept asking for pre-authentication');
  } finally {
    for (const k of derived) destroyKey(k);
  }
}

function kdcOptionsFor(opts: InitialTicketOptions, forwardableDefault: boolean, renewDefault: number): number {
  let o = 0;
  if (opts.forwardable ?? forwardableDefault) o |= KdcOptions.FORWARDABLE;
  if ((opts.renewLifetime ?? renewDefault) > 0) o |= KdcOptions.RENEWABLE;
  return o >>> 0;
}

/** PA-ENC-TIMESTAMP (RFC 4120 5.2.7.2): PA-ENC-TS-ENC encrypted with the client key, usage 1. */
function encTimestamp(key: KerberosKey, now: Date, crypto: { allowWeak?: boolean }): PaData {
  const ms = now.getTime();
  const ts = encodePaEncTsEnc({ patimestamp: new Date(Math.floor(ms / 1000) * 1000), pausec: (ms % 1000) * 1000 });
  const cipher = encrypt(key, KeyUsage.AS_REQ_PA_ENC_TIMESTAMP, ts, undefined, crypto);
  return { padataType: PaDataType.PA_ENC_TIMESTAMP, padataValue: encodeEncryptedData({ etype: key.enctype, cipher }) };
}

interface PreauthChoice {
  etype: number;
  salt?: string;
  s2kparams?: Uint8Array;
}

/**
 * The enctype/salt to pre-authenticate with, from the METHOD-DATA of KDC_ERR_PREAUTH_REQUIRED:
 * the first ETYPE-INFO2 entry (the KDC lists them in its preference) we can use; then ETYPE-INFO;
 * with neither, our first enctype and the default salt.
 */
function choosePreauth(eData: Uint8Array | undefined, etypes: readonly number[]): PreauthChoice {
  if (eData === undefined || eData.length === 0) return { etype: etypes[0]! };
  let methods: PaData[];
  try {
    methods = decodeMethodData(eData);
  } catch {
    return { etype: etypes[0]! };
  }
  const info2 = methods.find((m) => m.padataType === PaDataType.PA_ETYPE_INFO2);
  if (info2) {
    for (const e of decodeEtypeInfo2(info2.padataValue)) if (etypes.includes(e.etype)) return withoutUndefined(e);
    throw new SspiError(SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, 'the KDC offers no enctype we requested');
  }
  const info = methods.find((m) => m.padataType === PaDataType.PA_ETYPE_INFO);
  if (info) {
    for (const e of decodeEtypeInfo(info.padataValue)) {
      if (etypes.includes(e.etype)) return e.salt ? { etype: e.etype, salt: new TextDecoder().decode(e.salt) } : { etype: e.etype };
    }
  }
  if (!methods.some((m) => m.padataType === PaDataType.PA_ENC_TIMESTAMP)) {
    throw new SspiError(SecurityStatus.SEC_E_UNSUPPORTED_PREAUTH, 'the KDC does not offer encrypted-timestamp pre-authentication');
  }
  return { etype: etypes[0]! };
}

function withoutUndefined(e: EtypeInfo2Entry): PreauthChoice {
  const c: PreauthChoice = { etype: e.etype };
  if (e.salt !== undefined) c.salt = e.salt;
  if (e.s2kparams !== undefined) c.s2kparams = e.s2kparams;
  return c;
}

/** The salt for the reply key when there was no pre-authentication: PA-ETYPE-INFO2 / PA-PW-SALT in the AS-REP padata. */
function replyEtypeInfo(padata: PaData[] | undefined, etype: number): PreauthChoice | undefined {
  for (const p of padata ?? []) {
    if (p.padataType === PaDataType.PA_ETYPE_INFO2) {
      const e = decodeEtypeInfo2(p.padataValue).find((x) => x.etype === etype);
      if (e) return withoutUndefined(e);
    }
    if (p.padataType === PaDataType.PA_PW_SALT) return { etype, salt: new TextDecoder().decode(p.padataValue) };
  }
  return undefined;
}
