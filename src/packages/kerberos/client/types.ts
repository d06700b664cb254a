// What the client hands to its users (the Kerberos security package, the CLI): one ticket with its
// session key, as RFC 4120 5.3 / 5.4.2 describe it, plus the raw DER the AP-REQ must carry.

import { encodeTicket } from '../asn1/messages.js';
import type { EncKdcRepPart, Ticket } from '../asn1/types.js';
import type { KerberosKey } from '../crypto/types.js';
import type { KrbPrincipal } from '../keytab.js';

export interface KerberosTicketCredential {
  /** cname@crealm of the ticket. */
  client: KrbPrincipal;
  /** sname@srealm of the ticket (krbtgt/REALM@REALM for a TGT). */
  server: KrbPrincipal;
  ticket: Ticket;
  /** The Ticket exactly as the KDC sent it (DER), for AP-REQ and the ccache. */
  ticketBytes: Uint8Array;
  /** The session key (EncKDCRepPart key). Zero it with destroyTicketCredential when done. */
  sessionKey: KerberosKey;
  /** TicketFlags as a uint32 mask (asn1 TicketFlags). */
  flags: number;
  authtime: Date;
  starttime?: Date;
  endtime: Date;
  renewTill?: Date;
}

/**
 * The credential an AS-REP or TGS-REP grants (RFC 4120 5.4.2). `sessionKey` is passed separately because
 * it must be copied out of the decrypted EncKDCRepPart before that plaintext is zeroed.
 */
export function ticketCredential(
  client: KrbPrincipal,
  server: KrbPrincipal,
  ticket: Ticket,
  enc: EncKdcRepPart,
  sessionKey: KerberosKey,
): KerberosTicketCredential {
  const c: KerberosTicketCredential = {
    client,
    server,
    ticket,
    ticketBytes: encodeTicket(ticket),
    sessionKey,
    flags: enc.flags,
    authtime: enc.authtime,
    endtime: enc.endtime,
  };
  if (enc.starttime) c.starttime = enc.starttime;
  if (enc.renewTill) c.renewTill = enc.renewTill;
  return c;
}

/** Injectable KDC exchange (tests, or a caller with its own transport): realm and DER request in, DER reply out. */
export type KdcSend = (realm: string, request: Uint8Array) => Promise<Uint8Array>;

/** Zeroes the session key of a credential. */
export function destroyTicketCredential(c: KerberosTicketCredential): void {
  c.sessionKey.keyvalue.fill(0);
}

/** Whether a credential is valid at `now` (starttime, when set, has passed and endtime has not). */
export function isCurrent(c: KerberosTicketCredential, now: Date = new Date()): boolean {
  const t = now.getTime();
  return (c.starttime === undefined || c.starttime.getTime() <= t + 300_000) && c.endtime.getTime() > t;
}

/** Whether `c` is a TGT for `realm` (krbtgt/REALM@REALM). */
export function isTgtFor(c: KerberosTicketCredential, realm: string): boolean {
  return c.server.components.length === 2 && c.server.components[0] === 'krbtgt' && c.server.components[1] === realm && c.server.realm === realm;
}

/** TicketFlags RENEWABLE (RFC 4120 5.3). */
const TKT_FLG_RENEWABLE = 0x00800000;

/**
 * Whether `c` can be renewed at `now` (RFC 4120 3.3.3.1): RENEWABLE, not yet expired, and its
 * renew-till still ahead. A renewal past endtime is refused by the KDC (KRB_AP_ERR_TKT_EXPIRED).
 */
export function isRenewable(c: KerberosTicketCredential, now: Date = new Date()): boolean {
  const t = now.getTime();
  return (c.flags & TKT_FLG_RENEWABLE) !== 0 && c.renewTill !== undefined && c.renewTill.getTime() > t && c.endtime.getTime() > t;
}
