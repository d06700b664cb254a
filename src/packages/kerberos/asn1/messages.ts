// RFC 4120 section 5 messages: decode once into typed objects, encode from them.
// Every decodeX rejects anything but the single DER encoding of an X with SEC_E_INVALID_TOKEN;
// every encodeX throws SEC_E_INVALID_PARAMETER for values the schema cannot carry.
import { app, type DerReader, type DerWriter, derDecode, derEncode, derEncodeFail } from '../../../der/index.js';
import {
  C0,
  C1,
  C10,
  C11,
  C12,
  C2,
  C3,
  C4,
  C5,
  C6,
  C7,
  C8,
  C9,
  opt,
  rFlags,
  rInt32,
  rMicroseconds,
  rMsgType,
  rOctets,
  rPvno,
  rString,
  rTime,
  rUInt32,
  readAuthorizationData,
  readChecksum,
  readEncryptedData,
  readEncryptionKey,
  readHostAddress,
  readHostAddresses,
  readPaDataList,
  readPrincipalName,
  readSequenceOf,
  readTicket,
  SEQ,
  wFlags,
  wInt32,
  wMicroseconds,
  wOctets,
  wString,
  wTime,
  wUInt32,
  wrapped,
  writeAuthorizationData,
  writeChecksum,
  writeEncryptedData,
  writeEncryptionKey,
  writeHostAddress,
  writeHostAddresses,
  writePaDataList,
  writePrincipalName,
  writeSequenceOf,
  writeTicket,
} from './common.js';
import { ApplicationTag, KRB5_PVNO, MessageType } from './constants.js';
import type {
  ApRep,
  ApReq,
  Authenticator,
  EncApRepPart,
  EncKdcRepPart,
  EncKrbCredPart,
  EncTicketPart,
  KdcRep,
  KdcReq,
  KdcReqBody,
  KrbCred,
  KrbCredInfo,
  KrbError,
  LastReq,
  Ticket,
  TransitedEncoding,
} from './types.js';

const A = {
  AS_REQ: app(MessageType.KRB_AS_REQ),
  AS_REP: app(MessageType.KRB_AS_REP),
  TGS_REQ: app(MessageType.KRB_TGS_REQ),
  TGS_REP: app(MessageType.KRB_TGS_REP),
  AP_REQ: app(MessageType.KRB_AP_REQ),
  AP_REP: app(MessageType.KRB_AP_REP),
  KRB_CRED: app(MessageType.KRB_CRED),
  KRB_ERROR: app(MessageType.KRB_ERROR),
  Authenticator: app(ApplicationTag.Authenticator),
  EncTicketPart: app(ApplicationTag.EncTicketPart),
  EncASRepPart: app(ApplicationTag.EncASRepPart),
  EncTGSRepPart: app(ApplicationTag.EncTGSRepPart),
  EncAPRepPart: app(ApplicationTag.EncAPRepPart),
  EncKrbCredPart: app(ApplicationTag.EncKrbCredPart),
} as const;

// Size hints so the common messages encode without the writer growing its buffer.
const HINT_SMALL = 256;
const HINT_LARGE = 2048;

function field<T>(r: DerReader, tag: number, fn: (r: DerReader) => T): T {
  r.enter(tag);
  const v = fn(r);
  r.leave();
  return v;
}

// ---------------------------------------------------------------- Ticket (RFC 4120 5.3)

export function decodeTicket(bytes: Uint8Array): Ticket {
  return derDecode(bytes, readTicket);
}

export function encodeTicket(v: Ticket): Uint8Array {
  return derEncode((w) => writeTicket(w, v), HINT_LARGE);
}

/** TransitedEncoding (RFC 4120 5.3). */
export function readTransitedEncoding(r: DerReader): TransitedEncoding {
  r.enter(SEQ);
  const trType = rInt32(r, C0);
  const contents = rOctets(r, C1);
  r.leave();
  return { trType, contents };
}

export function writeTransitedEncoding(w: DerWriter, v: TransitedEncoding): void {
  const m = w.mark();
  wOctets(w, C1, v.contents);
  wInt32(w, C0, v.trType);
  w.wrap(SEQ, m);
}

/** EncTicketPart ::= [APPLICATION 3] SEQUENCE (RFC 4120 5.3). */
export function readEncTicketPart(r: DerReader): EncTicketPart {
  r.enter(A.EncTicketPart);
  r.enter(SEQ);
  const flags = rFlags(r, C0);
  const key = field(r, C1, readEncryptionKey);
  const crealm = rString(r, C2);
  const cname = field(r, C3, readPrincipalName);
  const transited = field(r, C4, readTransitedEncoding);
  const authtime = rTime(r, C5);
  const starttime = opt(r, C6, readTime);
  const endtime = rTime(r, C7);
  const renewTill = opt(r, C8, readTime);
  const caddr = opt(r, C9, readHostAddresses);
  const authorizationData = opt(r, C10, readAuthorizationData);
  r.leave();
  r.leave();
  const v: EncTicketPart = { flags, key, crealm, cname, transited, authtime, endtime };
  if (starttime) v.starttime = starttime;
  if (renewTill) v.renewTill = renewTill;
  if (caddr) v.caddr = caddr;
  if (authorizationData) v.authorizationData = authorizationData;
  return v;
}

function readTime(r: DerReader): Date {
  return r.readKerberosTime();
}

export function writeEncTicketPart(w: DerWriter, v: EncTicketPart): void {
  const m = w.mark();
  if (v.authorizationData) wrapped(w, C10, v.authorizationData, writeAuthorizationData);
  if (v.caddr) wrapped(w, C9, v.caddr, writeHostAddresses);
  if (v.renewTill) wTime(w, C8, v.renewTill);
  wTime(w, C7, v.endtime);
  if (v.starttime) wTime(w, C6, v.starttime);
  wTime(w, C5, v.authtime);
  wrapped(w, C4, v.transited, writeTransitedEncoding);
  wrapped(w, C3, v.cname, writePrincipalName);
  wString(w, C2, v.crealm);
  wrapped(w, C1, v.key, writeEncryptionKey);
  wFlags(w, C0, v.flags);
  w.wrap(SEQ, m);
  w.wrap(A.EncTicketPart, m);
}

export function decodeEncTicketPart(bytes: Uint8Array): EncTicketPart {
  return derDecode(bytes, readEncTicketPart);
}

export function encodeEncTicketPart(v: EncTicketPart): Uint8Array {
  return derEncode((w) => writeEncTicketPart(w, v), HINT_LARGE);
}

// ---------------------------------------------------------------- KDC-REQ (RFC 4120 5.4.1)

export function readKdcReqBody(r: DerReader): KdcReqBody {
  r.enter(SEQ);
  const kdcOptions = rFlags(r, C0);
  const cname = opt(r, C1, readPrincipalName);
  const realm = rString(r, C2);
  const sname = opt(r, C3, readPrincipalName);
  const from = opt(r, C4, readTime);
  const till = rTime(r, C5);
  const rtime = opt(r, C6, readTime);
  const nonce = rUInt32(r, C7);
  const etype = field(r, C8, (r) => readSequenceOf(r, (r) => r.readInt32()));
  const addresses = opt(r, C9, readHostAddresses);
  const encAuthorizationData = opt(r, C10, readEncryptedData);
  const additionalTickets = opt(r, C11, (r) => readSequenceOf(r, readTicket));
  r.leave();
  const v: KdcReqBody = { kdcOptions, realm, till, nonce, etype };
  if (cname) v.cname = cname;
  if (sname) v.sname = sname;
  if (from) v.from = from;
  if (rtime) v.rtime = rtime;
  if (addresses) v.addresses = addresses;
  if (encAuthorizationData) v.encAuthorizationData = encAuthorizationData;
  if (additionalTickets) v.additionalTickets = additionalTickets;
  return v;
}

export function writeKdcReqBody(w: DerWriter, v: KdcReqBody): void {
  const m = w.mark();
  if (v.additionalTickets) wrapped(w, C11, v.additionalTickets, (w, t) => writeSequenceOf(w, t, writeTicket));
  if (v.encAuthorizationData) wrapped(w, C10, v.encAuthorizationData, writeEncryptedData);
  if (v.addresses) wrapped(w, C9, v.addresses, writeHostAddresses);
  wrapped(w, C8, v.etype, (w, e) => writeSequenceOf(w, e, (w, n) => w.writeInt32(n)));
  wUInt32(w, C7, v.nonce);
  if (v.rtime) wTime(w, C6, v.rtime);
  wTime(w, C5, v.till);
  if (v.from) wTime(w, C4, v.from);
  if (v.sname) wrapped(w, C3, v.sname, writePrincipalName);
  wString(w, C2, v.realm);
  if (v.cname) wrapped(w, C1, v.cname, writePrincipalName);
  wFlags(w, C0, v.kdcOptions);
  w.wrap(SEQ, m);
}

/** The req-body alone, for the PA-TGS-REQ authenticator checksum (RFC 4120 5.5.1 cksum). */
export function encodeKdcReqBody(v: KdcReqBody): Uint8Array {
  return derEncode((w) => writeKdcReqBody(w, v), HINT_SMALL);
}

export function decodeKdcReqBody(bytes: Uint8Array): KdcReqBody {
  return derDecode(bytes, readKdcReqBody);
}

function readKdcReq(r: DerReader, msgType: 10 | 12): KdcReq {
  r.enter(msgType === 10 ? A.AS_REQ : A.TGS_REQ);
  r.enter(SEQ);
  rPvno(r, C1);
  rMsgType(r, C2, msgType);
  const padata = opt(r, C3, readPaDataList);
  r.enter(C4);
  const start = r.pos;
  const reqBody = readKdcReqBody(r);
  const reqBodyBytes = r.buf.subarray(start, r.pos);
  r.leave();
  r.leave();
  r.leave();
  const v: KdcReq = { msgType, reqBody, reqBodyBytes };
  if (padata) v.padata = padata;
  return v;
}

function writeKdcReq(w: DerWriter, v: KdcReq): void {
  if (v.msgType !== 10 && v.msgType !== 12) derEncodeFail(`KDC-REQ msg-type ${String(v.msgType)}`);
  const m = w.mark();
  wrapped(w, C4, v.reqBody, writeKdcReqBody);
  if (v.padata) wrapped(w, C3, v.padata, writePaDataList);
  wInt32(w, C2, v.msgType);
  wInt32(w, C1, KRB5_PVNO);
  w.wrap(SEQ, m);
  w.wrap(v.msgType === 10 ? A.AS_REQ : A.TGS_REQ, m);
}

/** AS-REQ ::= [APPLICATION 10] KDC-REQ. */
export function decodeAsReq(bytes: Uint8Array): KdcReq {
  return derDecode(bytes, (r) => readKdcReq(r, 10));
}

/** TGS-REQ ::= [APPLICATION 12] KDC-REQ. */
export function decodeTgsReq(bytes: Uint8Array): KdcReq {
  return derDecode(bytes, (r) => readKdcReq(r, 12));
}

/** Either request, by its tag (what a KDC receives). */
export function decodeKdcReq(bytes: Uint8Array): KdcReq {
  return derDecode(bytes, (r) => readKdcReq(r, r.peekTag() === A.TGS_REQ ? 12 : 10));
}

export function encodeAsReq(v: Omit<KdcReq, 'msgType'> & { msgType?: 10 }): Uint8Array {
  return derEncode((w) => writeKdcReq(w, { ...v, msgType: 10 }), HINT_SMALL);
}

export function encodeTgsReq(v: Omit<KdcReq, 'msgType'> & { msgType?: 12 }): Uint8Array {
  return derEncode((w) => writeKdcReq(w, { ...v, msgType: 12 }), HINT_LARGE);
}

export function encodeKdcReq(v: KdcReq): Uint8Array {
  return derEncode((w) => writeKdcReq(w, v), HINT_LARGE);
}

// ---------------------------------------------------------------- KDC-REP (RFC 4120 5.4.2)

function readKdcRep(r: DerReader, msgType: 11 | 13): KdcRep {
  r.enter(msgType === 11 ? A.AS_REP : A.TGS_REP);
  r.enter(SEQ);
  rPvno(r, C0);
  rMsgType(r, C1, msgType);
  const padata = opt(r, C2, readPaDataList);
  const crealm = rString(r, C3);
  const cname = field(r, C4, readPrincipalName);
  const ticket = field(r, C5, readTicket);
  const encPart = field(r, C6, readEncryptedData);
  r.leave();
  r.leave();
  const v: KdcRep = { msgType, crealm, cname, ticket, encPart };
  if (padata) v.padata = padata;
  return v;
}

function writeKdcRep(w: DerWriter, v: KdcRep): void {
  if (v.msgType !== 11 && v.msgType !== 13) derEncodeFail(`KDC-REP msg-type ${String(v.msgType)}`);
  const m = w.mark();
  wrapped(w, C6, v.encPart, writeEncryptedData);
  wrapped(w, C5, v.ticket, writeTicket);
  wrapped(w, C4, v.cname, writePrincipalName);
  wString(w, C3, v.crealm);
  if (v.padata) wrapped(w, C2, v.padata, writePaDataList);
  wInt32(w, C1, v.msgType);
  wInt32(w, C0, KRB5_PVNO);
  w.wrap(SEQ, m);
  w.wrap(v.msgType === 11 ? A.AS_REP : A.TGS_REP, m);
}

export function decodeAsRep(bytes: Uint8Array): KdcRep {
  return derDecode(bytes, (r) => readKdcRep(r, 11));
}

export function decodeTgsRep(bytes: Uint8Array): KdcRep {
  return derDecode(bytes, (r) => readKdcRep(r, 13));
}

export function encodeAsRep(v: Omit<KdcRep, 'msgType'> & { msgType?: 11 }): Uint8Array {
  return derEncode((w) => writeKdcRep(w, { ...v, msgType: 11 }), HINT_LARGE);
}

export function encodeTgsRep(v: Omit<KdcRep, 'msgType'> & { msgType?: 13 }): Uint8Array {
  return derEncode((w) => writeKdcRep(w, { ...v, msgType: 13 }), HINT_LARGE);
}

export function encodeKdcRep(v: KdcRep): Uint8Array {
  return derEncode((w) => writeKdcRep(w, v), HINT_LARGE);
}

/** LastReq (RFC 4120 5.4.2). */
export function readLastReq(r: DerReader): LastReq {
  return readSequenceOf(r, (r) => {
    r.enter(SEQ);
    const lrType = rInt32(r, C0);
    const lrValue = rTime(r, C1);
    r.leave();
    return { lrType, lrValue };
  });
}

export function writeLastReq(w: DerWriter, v: LastReq): void {
  writeSequenceOf(w, v, (w, e) => {
    const m = w.mark();
    wTime(w, C1, e.lrValue);
    wInt32(w, C0, e.lrType);
    w.wrap(SEQ, m);
  });
}

/**
 * EncASRepPart [25] / EncTGSRepPart [26]. RFC 4120 5.4.2 lets receivers relax the tag check because
 * some KDCs (Windows among them) send 26 in AS replies, so either tag is accepted here.
 */
export function readEncKdcRepPart(r: DerReader): EncKdcRepPart {
  const t = r.peekTag();
  r.enter(t === A.EncASRepPart ? A.EncASRepPart : A.EncTGSRepPart);
  r.enter(SEQ);
  const key = field(r, C0, readEncryptionKey);
  const lastReq = field(r, C1, readLastReq);
  const nonce = rUInt32(r, C2);
  const keyExpiration = opt(r, C3, readTime);
  const flags = rFlags(r, C4);
  const authtime = rTime(r, C5);
  const starttime = opt(r, C6, readTime);
  const endtime = rTime(r, C7);
  const renewTill = opt(r, C8, readTime);
  const srealm = rString(r, C9);
  const sname = field(r, C10, readPrincipalName);
  const caddr = opt(r, C11, readHostAddresses);
  const encryptedPaData = opt(r, C12, readPaDataList);
  r.leave();
  r.leave();
  const v: EncKdcRepPart = { key, lastReq, nonce, flags, authtime, endtime, srealm, sname };
  if (keyExpiration) v.keyExpiration = keyExpiration;
  if (starttime) v.starttime = starttime;
  if (renewTill) v.renewTill = renewTill;
  if (caddr) v.caddr = caddr;
  if (encryptedPaData) v.encryptedPaData = encryptedPaData;
  return v;
}

export function writeEncKdcRepPart(w: DerWriter, v: EncKdcRepPart, appTag: number): void {
  const m = w.mark();
  if (v.encryptedPaData) wrapped(w, C12, v.encryptedPaData, writePaDataList);
  if (v.caddr) wrapped(w, C11, v.caddr, writeHostAddresses);
  wrapped(w, C10, v.sname, writePrincipalName);
  wString(w, C9, v.srealm);
  if (v.renewTill) wTime(w, C8, v.renewTill);
  wTime(w, C7, v.endtime);
  if (v.starttime) wTime(w, C6, v.starttime);
  wTime(w, C5, v.authtime);
  wFlags(w, C4, v.flags);
  if (v.keyExpiration) wTime(w, C3, v.keyExpiration);
  wUInt32(w, C2, v.nonce);
  wrapped(w, C1, v.lastReq, writeLastReq);
  wrapped(w, C0, v.key, writeEncryptionKey);
  w.wrap(SEQ, m);
  w.wrap(appTag, m);
}

/** Decrypted enc-part of an AS-REP: [APPLICATION 25], or 26 as Windows sends it. */
export function decodeEncASRepPart(bytes: Uint8Array): EncKdcRepPart {
  return derDecode(bytes, readEncKdcRepPart);
}

/** Decrypted enc-part of a TGS-REP: [APPLICATION 26] (25 tolerated as well, RFC 4120 5.4.2). */
export function decodeEncTGSRepPart(bytes: Uint8Array): EncKdcRepPart {
  return derDecode(bytes, readEncKdcRepPart);
}

export function encodeEncASRepPart(v: EncKdcRepPart): Uint8Array {
  return derEncode((w) => writeEncKdcRepPart(w, v, A.EncASRepPart), HINT_SMALL);
}

export function encodeEncTGSRepPart(v: EncKdcRepPart): Uint8Array {
  return derEncode((w) => writeEncKdcRepPart(w, v, A.EncTGSRepPart), HINT_SMALL);
}

// ---------------------------------------------------------------- AP-REQ / AP-REP (RFC 4120 5.5)

export function readApReq(r: DerReader): ApReq {
  r.enter(A.AP_REQ);
  r.enter(SEQ);
  rPvno(r, C0);
  rMsgType(r, C1, MessageType.KRB_AP_REQ);
  const apOptions = rFlags(r, C2);
  const ticket = field(r, C3, readTicket);
  const authenticator = field(r, C4, readEncryptedData);
  r.leave();
  r.leave();
  return { apOptions, ticket, authenticator };
}

export function writeApReq(w: DerWriter, v: ApReq): void {
  const m = w.mark();
  wrapped(w, C4, v.authenticator, writeEncryptedData);
  wrapped(w, C3, v.ticket, writeTicket);
  wFlags(w, C2, v.apOptions);
  wInt32(w, C1, MessageType.KRB_AP_REQ);
  wInt32(w, C0, KRB5_PVNO);
  w.wrap(SEQ, m);
  w.wrap(A.AP_REQ, m);
}

export function decodeApReq(bytes: Uint8Array): ApReq {
  return derDecode(bytes, readApReq);
}

export function encodeApReq(v: ApReq): Uint8Array {
  return derEncode((w) => writeApReq(w, v), HINT_LARGE);
}

/** Authenticator ::= [APPLICATION 2] SEQUENCE (RFC 4120 5.5.1). */
export function readAuthenticator(r: DerReader): Authenticator {
  r.enter(A.Authenticator);
  r.enter(SEQ);
  rPvno(r, C0);
  const crealm = rString(r, C1);
  const cname = field(r, C2, readPrincipalName);
  const cksum = opt(r, C3, readChecksum);
  const cusec = rMicroseconds(r, C4);
  const ctime = rTime(r, C5);
  const subkey = opt(r, C6, readEncryptionKey);
  const seqNumber = r.peekTag() === C7 ? rUInt32(r, C7) : undefined;
  const authorizationData = opt(r, C8, readAuthorizationData);
  r.leave();
  r.leave();
  const v: Authenticator = { crealm, cname, cusec, ctime };
  if (cksum) v.cksum = cksum;
  if (subkey) v.subkey = subkey;
  if (seqNumber !== undefined) v.seqNumber = seqNumber;
  if (authorizationData) v.authorizationData = authorizationData;
  return v;
}

export function writeAuthenticator(w: DerWriter, v: Authenticator): void {
  const m = w.mark();
  if (v.authorizationData) wrapped(w, C8, v.authorizationData, writeAuthorizationData);
  if (v.seqNumber !== undefined) wUInt32(w, C7, v.seqNumber);
  if (v.subkey) wrapped(w, C6, v.subkey, writeEncryptionKey);
  wTime(w, C5, v.ctime);
  wMicroseconds(w, C4, v.cusec);
  if (v.cksum) wrapped(w, C3, v.cksum, writeChecksum);
  wrapped(w, C2, v.cname, writePrincipalName);
  wString(w, C1, v.crealm);
  wInt32(w, C0, KRB5_PVNO);
  w.wrap(SEQ, m);
  w.wrap(A.Authenticator, m);
}

export function decodeAuthenticator(bytes: Uint8Array): Authenticator {
  return derDecode(bytes, readAuthenticator);
}

export function encodeAuthenticator(v: Authenticator): Uint8Array {
  return derEncode((w) => writeAuthenticator(w, v), HINT_SMALL);
}

export function readApRep(r: DerReader): ApRep {
  r.enter(A.AP_REP);
  r.enter(SEQ);
  rPvno(r, C0);
  rMsgType(r, C1, MessageType.KRB_AP_REP);
  const encPart = field(r, C2, readEncryptedData);
  r.leave();
  r.leave();
  return { encPart };
}

export function writeApRep(w: DerWriter, v: ApRep): void {
  const m = w.mark();
  wrapped(w, C2, v.encPart, writeEncryptedData);
  wInt32(w, C1, MessageType.KRB_AP_REP);
  wInt32(w, C0, KRB5_PVNO);
  w.wrap(SEQ, m);
  w.wrap(A.AP_REP, m);
}

export function decodeApRep(bytes: Uint8Array): ApRep {
  return derDecode(bytes, readApRep);
}

export function encodeApRep(v: ApRep): Uint8Array {
  return derEncode((w) => writeApRep(w, v), HINT_SMALL);
}

/** EncAPRepPart ::= [APPLICATION 27] SEQUENCE (RFC 4120 5.5.2). */
export function readEncApRepPart(r: DerReader): EncApRepPart {
  r.enter(A.EncAPRepPart);
  r.enter(SEQ);
  const ctime = rTime(r, C0);
  const cusec = rMicroseconds(r, C1);
  const subkey = opt(r, C2, readEncryptionKey);
  const seqNumber = r.peekTag() === C3 ? rUInt32(r, C3) : undefined;
  r.leave();
  r.leave();
  const v: EncApRepPart = { ctime, cusec };
  if (subkey) v.subkey = subkey;
  if (seqNumber !== undefined) v.seqNumber = seqNumber;
  return v;
}

export function writeEncApRepPart(w: DerWriter, v: EncApRepPart): void {
  const m = w.mark();
  if (v.seqNumber !== undefined) wUInt32(w, C3, v.seqNumber);
  if (v.subkey) wrapped(w, C2, v.subkey, writeEncryptionKey);
  wMicroseconds(w, C1, v.cusec);
  wTime(w, C0, v.ctime);
  w.wrap(SEQ, m);
  w.wrap(A.EncAPRepPart, m);
}

export function decodeEncApRepPart(bytes: Uint8Array): EncApRepPart {
  return derDecode(bytes, readEncApRepPart);
}

export function encodeEncApRepPart(v: EncApRepPart): Uint8Array {
  return derEncode((w) => writeEncApRepPart(w, v), HINT_SMALL);
}

// ---------------------------------------------------------------- KRB-ERROR (RFC 4120 5.9.1)

export function readKrbError(r: DerReader): KrbError {
  r.enter(A.KRB_ERROR);
  r.enter(SEQ);
  rPvno(r, C0);
  rMsgType(r, C1, MessageType.KRB_ERROR);
  const ctime = opt(r, C2, readTime);
  const cusec = r.peekTag() === C3 ? rMicroseconds(r, C3) : undefined;
  const stime = rTime(r, C4);
  const susec = rMicroseconds(r, C5);
  const errorCode = rInt32(r, C6);
  const crealm = r.peekTag() === C7 ? rString(r, C7) : undefined;
  const cname = opt(r, C8, readPrincipalName);
  const realm = rString(r, C9);
  const sname = field(r, C10, readPrincipalName);
  const eText = r.peekTag() === C11 ? rString(r, C11) : undefined;
  const eData = r.peekTag() === C12 ? rOctets(r, C12) : undefined;
  r.leave();
  r.leave();
  const v: KrbError = { stime, susec, errorCode, realm, sname };
  if (ctime) v.ctime = ctime;
  if (cusec !== undefined) v.cusec = cusec;
  if (crealm !== undefined) v.crealm = crealm;
  if (cname) v.cname = cname;
  if (eText !== undefined) v.eText = eText;
  if (eData) v.eData = eData;
  return v;
}

export function writeKrbError(w: DerWriter, v: KrbError): void {
  const m = w.mark();
  if (v.eData) wOctets(w, C12, v.eData);
  if (v.eText !== undefined) wString(w, C11, v.eText);
  wrapped(w, C10, v.sname, writePrincipalName);
  wString(w, C9, v.realm);
  if (v.cname) wrapped(w, C8, v.cname, writePrincipalName);
  if (v.crealm !== undefined) wString(w, C7, v.crealm);
  wInt32(w, C6, v.errorCode);
  wMicroseconds(w, C5, v.susec);
  wTime(w, C4, v.stime);
  if (v.cusec !== undefined) wMicroseconds(w, C3, v.cusec);
  if (v.ctime) wTime(w, C2, v.ctime);
  wInt32(w, C1, MessageType.KRB_ERROR);
  wInt32(w, C0, KRB5_PVNO);
  w.wrap(SEQ, m);
  w.wrap(A.KRB_ERROR, m);
}

export function decodeKrbError(bytes: Uint8Array): KrbError {
  return derDecode(bytes, readKrbError);
}

export function encodeKrbError(v: KrbError): Uint8Array {
  return derEncode((w) => writeKrbError(w, v), HINT_SMALL);
}

// ---------------------------------------------------------------- KRB-CRED (RFC 4120 5.8)

export function readKrbCred(r: DerReader): KrbCred {
  r.enter(A.KRB_CRED);
  r.enter(SEQ);
  rPvno(r, C0);
  rMsgType(r, C1, MessageType.KRB_CRED);
  const tickets = field(r, C2, (r) => readSequenceOf(r, readTicket));
  const encPart = field(r, C3, readEncryptedData);
  r.leave();
  r.leave();
  return { tickets, encPart };
}

export function writeKrbCred(w: DerWriter, v: KrbCred): void {
  const m = w.mark();
  wrapped(w, C3, v.encPart, writeEncryptedData);
  wrapped(w, C2, v.tickets, (w, t) => writeSequenceOf(w, t, writeTicket));
  wInt32(w, C1, MessageType.KRB_CRED);
  wInt32(w, C0, KRB5_PVNO);
  w.wrap(SEQ, m);
  w.wrap(A.KRB_CRED, m);
}

export function decodeKrbCred(bytes: Uint8Array): KrbCred {
  return derDecode(bytes, readKrbCred);
}

export function encodeKrbCred(v: KrbCred): Uint8Array {
  return derEncode((w) => writeKrbCred(w, v), HINT_LARGE);
}

/** KrbCredInfo (RFC 4120 5.8.1). */
export function readKrbCredInfo(r: DerReader): KrbCredInfo {
  r.enter(SEQ);
  const key = field(r, C0, readEncryptionKey);
  const v: KrbCredInfo = { key };
  if (r.peekTag() === C1) v.prealm = rString(r, C1);
  const pname = opt(r, C2, readPrincipalName);
  if (pname) v.pname = pname;
  if (r.peekTag() === C3) v.flags = rFlags(r, C3);
  const authtime = opt(r, C4, readTime);
  if (authtime) v.authtime = authtime;
  const starttime = opt(r, C5, readTime);
  if (starttime) v.starttime = starttime;
  const endtime = opt(r, C6, readTime);
  if (endtime) v.endtime = endtime;
  const renewTill = opt(r, C7, readTime);
  if (renewTill) v.renewTill = renewTill;
  if (r.peekTag() === C8) v.srealm = rString(r, C8);
  const sname = opt(r, C9, readPrincipalName);
  if (sname) v.sname = sname;
  const caddr = opt(r, C10, readHostAddresses);
  if (caddr) v.caddr = caddr;
  r.leave();
  return v;
}

export function writeKrbCredInfo(w: DerWriter, v: KrbCredInfo): void {
  const m = w.mark();
  if (v.caddr) wrapped(w, C10, v.caddr, writeHostAddresses);
  if (v.sname) wrapped(w, C9, v.sname, writePrincipalName);
  if (v.srealm !== undefined) wString(w, C8, v.srealm);
  if (v.renewTill) wTime(w, C7, v.renewTill);
  if (v.endtime) wTime(w, C6, v.endtime);
  if (v.starttime) wTime(w, C5, v.starttime);
  if (v.authtime) wTime(w, C4, v.authtime);
  if (v.flags !== undefined) wFlags(w, C3, v.flags);
  if (v.pname) wrapped(w, C2, v.pname, writePrincipalName);
  if (v.prealm !== undefined) wString(w, C1, v.prealm);
  wrapped(w, C0, v.key, writeEncryptionKey);
  w.wrap(SEQ, m);
}

/** EncKrbCredPart ::= [APPLICATION 29] SEQUENCE (RFC 4120 5.8.1). */
export function readEncKrbCredPart(r: DerReader): EncKrbCredPart {
  r.enter(A.EncKrbCredPart);
  r.enter(SEQ);
  const ticketInfo = field(r, C0, (r) => readSequenceOf(r, readKrbCredInfo));
  const v: EncKrbCredPart = { ticketInfo };
  if (r.peekTag() === C1) v.nonce = rUInt32(r, C1);
  const timestamp = opt(r, C2, readTime);
  if (timestamp) v.timestamp = timestamp;
  if (r.peekTag() === C3) v.usec = rMicroseconds(r, C3);
  const sAddress = opt(r, C4, readHostAddress);
  if (sAddress) v.sAddress = sAddress;
  const rAddress = opt(r, C5, readHostAddress);
  if (rAddress) v.rAddress = rAddress;
  r.leave();
  r.leave();
  return v;
}

export function writeEncKrbCredPart(w: DerWriter, v: EncKrbCredPart): void {
  const m = w.mark();
  if (v.rAddress) wrapped(w, C5, v.rAddress, writeHostAddress);
  if (v.sAddress) wrapped(w, C4, v.sAddress, writeHostAddress);
  if (v.usec !== undefined) wMicroseconds(w, C3, v.usec);
  if (v.timestamp) wTime(w, C2, v.timestamp);
  if (v.nonce !== undefined) wUInt32(w, C1, v.nonce);
  wrapped(w, C0, v.ticketInfo, (w, t) => writeSequenceOf(w, t, writeKrbCredInfo));
  w.wrap(SEQ, m);
  w.wrap(A.EncKrbCredPart, m);
}

export function decodeEncKrbCredPart(bytes: Uint8Array): EncKrbCredPart {
  return derDecode(bytes, readEncKrbCredPart);
}

export function encodeEncKrbCredPart(v: EncKrbCredPart): Uint8Array {
  return derEncode((w) => writeEncKrbCredPart(w, v), HINT_SMALL);
}
