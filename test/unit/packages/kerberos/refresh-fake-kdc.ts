// A fake KDC on an injectable clock for the credential refresh tests: alice@EXAMPLE.TEST with a
// password-derived aes256 key (pre-authentication with PA-ENC-TIMESTAMP), krbtgt, HTTP services,
// renewable TGTs and the RENEW option (RFC 4120 3.3.3.1). It counts what it issues, so a test can
// tell an AS exchange from a renewal from a cached ticket.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  decodeApReq, decodeAsReq, decodeAuthenticator, decodeEncryptedData, decodeEncTicketPart, decodePaEncTsEnc, decodeTgsReq,
  encodeAsRep, encodeEncASRepPart, encodeEncTGSRepPart, encodeEncTicketPart, encodeEtypeInfo2, encodeKrbError, encodeMethodData, encodeTgsRep,
  type EncTicketPart, type KdcReq, type Ticket,
} from '../../../../src/packages/kerberos/asn1/index.js';
import { decrypt, encrypt, randomToKey, stringToKey } from '../../../../src/packages/kerberos/crypto/index.js';
import type { KerberosKey } from '../../../../src/packages/kerberos/crypto/types.js';
import { type KeytabEntry } from '../../../../src/packages/kerberos/keytab.js';
import { parseKrb5Conf } from '../../../../src/packages/kerberos/krb5conf.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';

export const REALM = 'EXAMPLE.TEST';
export const PASSWORD = 'Alice-Refresh-pw1';
export const HOUR = 3600_000;
export const config = parseKrb5Conf(`[libdefaults]
 default_realm = ${REALM}
 permitted_enctypes = aes256-cts-hmac-sha1-96
[domain_realm]
 .example.test = ${REALM}
`);

const KDC_OPT_RENEWABLE = 0x00800000;
const KDC_OPT_RENEW = 0x00000002;
const TKT_FLG_FORWARDABLE = 0x40000000;
const TKT_FLG_RENEWABLE = 0x00800000;
const TKT_FLG_INITIAL = 0x00400000;

const sec = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

/** A clock tests move by hand. */
export function testClock(start = Date.parse('2031-03-01T08:00:00Z')) {
  let t = start;
  return {
    now: (): Date => new Date(t),
    advance(ms: number): void {
      t += ms;
    },
    get ms(): number {
      return t;
    },
  };
}

export interface RefreshKdcOptions {
  now: () => Date;
  /** TGT lifetime granted (ms); default 10 h. */
  tgtLifeMs?: number;
  /** Longest renewable life granted (ms); default 7 days. */
  maxRenewMs?: number;
  /** Service ticket lifetime (ms, capped at the TGT's endtime); default 10 h. */
  serviceLifeMs?: number;
  /** Time skew the KDC allows on PA-ENC-TIMESTAMP (ms); default 5 min. */
  skewMs?: number;
}

export function refreshKdc(o: RefreshKdcOptions) {
  let userKey = stringToKey(18, PASSWORD, `${REALM}alice`);
  let kvno = 1;
  const tgtKey = randomToKey(18, randomBytes(32));
  const svcKeys = new Map<string, KerberosKey>();
  const counts = { as: 0, tgs: 0, renew: 0, asRefused: 0 };
  /** AS-REQ etype lists as sent (to see which keys a refresh uses). */
  const asEtypes: number[][] = [];
  /** The endtime of the TGT each TGS-REQ (service or renewal) carried. */
  const tgsTgtEndtimes: number[] = [];
  const state = { asError: undefined as number | undefined, renewError: undefined as number | undefined, down: false };

  const err = (code: number, eData?: Uint8Array): Uint8Array =>
    encodeKrbError({ stime: sec(o.now().getTime()), susec: 0, errorCode: code, realm: REALM, sname: { nameType: 2, nameString: ['krbtgt', REALM] }, ...(eData ? { eData } : {}) });

  const svcKey = (host: string): KerberosKey => {
    let k = svcKeys.get(host);
    if (!k) svcKeys.set(host, (k = randomToKey(18, randomBytes(32))));
    return k;
  };

  interface Grant {
    flags: number;
    authtime: Date;
    starttime: Date;
    endtime: Date;
    renewTill?: Date;
  }
  const reply = (req: KdcReq, replyKey: KerberosKey, ticketKey: KerberosKey, tgs: boolean, g: Grant): Uint8Array => {
    const sk = randomToKey(18, randomBytes(32));
    const sname = req.reqBody.sname!;
    const cname = { nameType: 1, nameString: ['alice'] };
    const times = { authtime: g.authtime, starttime: g.starttime, endtime: g.endtime, ...(g.renewTill ? { renewTill: g.renewTill } : {}) };
    const encTicket = encodeEncTicketPart({
      flags: g.flags, key: { keytype: sk.enctype, keyvalue: sk.keyvalue }, crealm: REALM, cname, transited: { trType: 1, contents: new Uint8Array(0) }, ...times,
    });
    const ticket: Ticket = { realm: REALM, sname, encPart: { etype: ticketKey.enctype, kvno: 2, cipher: encrypt(ticketKey, 2, encTicket) } };
    const part = { key: { keytype: sk.enctype, keyvalue: sk.keyvalue }, lastReq: [], nonce: req.reqBody.nonce, flags: g.flags, ...times, srealm: REALM, sname };
    const rep = { crealm: REALM, cname, ticket, encPart: { etype: replyKey.enctype, cipher: encrypt(replyKey, tgs ? 8 : 3, tgs ? encodeEncTGSRepPart(part) : encodeEncASRepPart(part)) } };
    return tgs ? encodeTgsRep(rep) : encodeAsRep(rep);
  };

  const asReq = (bytes: Uint8Array): Uint8Array => {
    const req = decodeAsReq(bytes);
    if (req.reqBody.cname!.nameString[0] !== 'alice') return err(6);
    const pa = req.padata?.find((p) => p.padataType === 2);
    if (!pa) {
      return err(25, encodeMethodData([
        { padataType: 19, padataValue: encodeEtypeInfo2([{ etype: 18, salt: `${REALM}alice` }]) },
        { padataType: 2, padataValue: new Uint8Array(0) },
      ]));
    }
    try {
      const ts = decodePaEncTsEnc(decrypt(userKey, 1, decodeEncryptedData(pa.padataValue).cipher));
      if (Math.abs(ts.patimestamp.getTime() - o.now().getTime()) > (o.skewMs ?? 300_000)) return err(37);
    } catch {
      return err(24); // KDC_ERR_PREAUTH_FAILED
    }
    if (state.asError !== undefined) {
      counts.asRefused++;
      return err(state.asError);
    }
    counts.as++;
    asEtypes.push([...req.reqBody.etype]);
    const now = sec(o.now().getTime()).getTime();
    const g: Grant = { flags: TKT_FLG_INITIAL | (req.reqBody.kdcOptions & TKT_FLG_FORWARDABLE), authtime: new Date(now), starttime: new Date(now), endtime: new Date(Math.min(req.reqBody.till.getTime(), now + (o.tgtLifeMs ?? 10 * HOUR))) };
    if (req.reqBody.kdcOptions & KDC_OPT_RENEWABLE && req.reqBody.rtime) {
      g.flags |= TKT_FLG_RENEWABLE;
      g.renewTill = new Date(Math.min(req.reqBody.rtime.getTime(), now + (o.maxRenewMs ?? 7 * 24 * HOUR)));
    }
    return reply(req, userKey, tgtKey, false, g);
  };

  const tgsReq = (bytes: Uint8Array): Uint8Array => {
    const req = decodeTgsReq(bytes);
    const ap = decodeApReq(req.padata!.find((p) => p.padataType === 1)!.padataValue);
    const tkt: EncTicketPart = decodeEncTicketPart(decrypt(tgtKey, 2, ap.ticket.encPart.cipher));
    const skey = { enctype: tkt.key.keytype, keyvalue: Uint8Array.from(tkt.key.keyvalue) };
    const auth = decodeAuthenticator(decrypt(skey, 7, ap.authenticator.cipher));
    assert.deepEqual(auth.cname.nameString, ['alice']);
    tgsTgtEndtimes.push(tkt.endtime.getTime());
    const now = sec(o.now().getTime()).getTime();
    if (tkt.endtime.getTime() <= now) return err(32); // KRB_AP_ERR_TKT_EXPIRED
    const sname = req.reqBody.sname!.nameString;
    if (req.reqBody.kdcOptions & KDC_OPT_RENEW) {
      if (state.renewError !== undefined) return err(state.renewError);
      if (!(tkt.flags & TKT_FLG_RENEWABLE) || !tkt.renewTill) return err(13); // KDC_ERR_BADOPTION
      if (tkt.renewTill.getTime() <= now) return err(32);
      counts.renew++;
      const life = tkt.endtime.getTime() - (tkt.starttime ?? tkt.authtime).getTime();
      // As MIT's KDC: the renewed ticket is RENEWABLE (with a renew-till) only when the request asks for it again.
      const again = (req.reqBody.kdcOptions & KDC_OPT_RENEWABLE) !== 0 && req.reqBody.rtime !== undefined;
      const g: Grant = { flags: tkt.flags & ~TKT_FLG_INITIAL & ~(again ? 0 : TKT_FLG_RENEWABLE), authtime: tkt.authtime, starttime: new Date(now), endtime: new Date(Math.min(tkt.renewTill.getTime(), now + life)) };
      if (again) g.renewTill = new Date(Math.min(tkt.renewTill.getTime(), req.reqBody.rtime!.getTime()));
      return reply(req, skey, tgtKey, true, g);
    }
    if (sname[0] !== 'HTTP' || sname[1] === undefined) return err(7);
    counts.tgs++;
    const g: Grant = { flags: 0, authtime: tkt.authtime, starttime: new Date(now), endtime: new Date(Math.min(tkt.endtime.getTime(), now + (o.serviceLifeMs ?? 10 * HOUR))) };
    return reply(req, skey, svcKey(sname[1]), true, g);
  };

  const send = async (realm: string, bytes: Uint8Array): Promise<Uint8Array> => {
    assert.equal(realm, REALM);
    if (state.down) throw new SspiError(SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY, 'no KDC answered (fake KDC down)');
    return bytes[0] === 0x6a ? asReq(bytes) : tgsReq(bytes);
  };

  return {
    send,
    counts,
    asEtypes,
    tgsTgtEndtimes,
    state,
    /** Alice's keytab entries at the current kvno. */
    aliceKeytab(): KeytabEntry[] {
      return [{ principal: { realm: REALM, components: ['alice'], nameType: 1 }, timestamp: 0, kvno, kvno8: kvno & 0xff, key: { enctype: userKey.enctype, keyvalue: Uint8Array.from(userKey.keyvalue) } }];
    },
    /** The acceptor keytab of HTTP/<host>. */
    serviceKeytab(host: string): KeytabEntry[] {
      const k = svcKey(host);
      return [{ principal: { realm: REALM, components: ['HTTP', host], nameType: 2 }, timestamp: 0, kvno: 2, kvno8: 2, key: { enctype: k.enctype, keyvalue: Uint8Array.from(k.keyvalue) } }];
    },
    /** A new random key for alice (a keytab rotation: the old key stops working). */
    rotateAliceKey(): void {
      userKey = randomToKey(18, randomBytes(32));
      kvno++;
    },
  };
}
