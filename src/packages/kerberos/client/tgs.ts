// The TGS exchange (RFC 4120 3.3): a service ticket for `server` with a TGT. The TGS-REQ carries the
// TGT in a PA-TGS-REQ AP-REQ (5.5.1) whose authenticator checksums the req-body (key usage 6) and
// is encrypted with the TGT session key (usage 7); the reply enc-part decrypts with that same
// session key (usage 8, no subkey is sent).

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
import { fromPrincipalName, newNonce, openKdcRep, parseKdcReply, resolvePrincipal, toPrincipalName } from './as.js';
import { KdcError, kdcErrorFrom } from './errors.js';
import { clientPolicy } from './policy.js';
import { sendToKdc, type SendToKdcOptions } from './transport.js';
import { type KdcSend, type KerberosTicketCredential, isCurrent, ticketCredential } from './types.js';

export interface ServiceTicketOptions {
  config?: Krb5Config;
  /** TGS-REQ etype list (session key enctypes); default default_tgs_enctypes. */
  enctypes?: readonly number[];
  /** Extra KDCOptions bits (asn1 KdcOptions). FORWARDABLE is asked when the TGT is forwardable. */
  kdcOptions?: number;
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

/** Gets a ticket for `server` from the KDC of the TGT's realm. Cross-realm referrals are not followed. */
export async function getServiceTicket(
  tgt: KerberosTicketCredential,
  server: KrbPrincipal | string,
  opts: ServiceTicketOptions = {},
): Promise<KerberosTicketCredential> {
  const policy = clientPolicy(opts.config);
  const realm = tgt.server.realm;
  const sname = servicePrincipal(server, realm, opts.config);
  const nowFn = opts.now ?? (() => new Date());
  const now = nowFn();
  if (!isCurrent(tgt, now)) throw new KdcError(32, 'the ticket-granting ticket has expired'); // KRB_AP_ERR_TKT_EXPIRED
  const send: KdcSend = opts.send ?? ((r, b) => sendToKdc(r, b, { config: opts.config, ...opts.transport }));
  const etypes = opts.enctypes ? opts.enctypes.filter((e) => isEnctypeSupported(e, policy.crypto)) : policy.tgsEnctypes;
  if (etypes.length === 0) throw new SspiError(SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, 'no usable enctype for the TGS request');
  // The TGT's session key may itself be weak (rc4): using it is allowed only by the same policy.
  getEnctype(tgt.sessionKey.enctype, policy.crypto);

  let options = opts.kdcOptions ?? 0;
  if (tgt.flags & TicketFlags.FORWARDABLE && policy.forwardable) options |= KdcOptions.FORWARDABLE;
  const body: KdcReqBody = {
    kdcOptions: options >>> 0,
    realm: sname.realm,
    sname: toPrincipalName(sname),
    till: tgt.endtime,
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
  const reply = await send(realm, req);
  const { error, rep } = parseKdcReply(reply, decodeTgsRep);
  if (error) throw kdcErrorFrom(error, `TGS exchange for ${formatPrincipal(sname)}`);
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
  if (!principalEquals(srep, sname)) {
    const referral = srep.components[0] === 'krbtgt';
    throw new SspiError(
      referral ? SecurityStatus.SEC_E_KDC_UNABLE_TO_REFER : SecurityStatus.SEC_E_WRONG_PRINCIPAL,
      referral ? `the KDC sent a referral to ${formatPrincipal(srep)}; cross-realm is not supported` : 'TGS-REP is for another service',
    );
  }
  if (!isEnctypeSupported(enc.key.keytype, policy.crypto)) {
    throw new SspiError(SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE, `session key enctype ${enc.key.keytype} is not permitted`);
  }
  return ticketCredential(client, { ...srep, nameType: sname.nameType }, r.ticket, enc, sessionKey);
}
