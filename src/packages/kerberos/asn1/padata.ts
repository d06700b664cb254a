// Pre-authentication data, authorization data containers and error data (RFC 4120 5.2.6, 5.2.7,
// 5.9.1; MS-KILE 2.2), plus top-level encode/decode of the small RFC 4120 5.2 types, which travel
// inside OCTET STRINGs (padata-value, ad-data, e-data) or are encrypted on their own.
import { type DerReader, type DerWriter, derDecode, derEncode, derEncodeFail } from '../../../der/index.js';
import {
  C0,
  C1,
  C2,
  opt,
  rBool,
  rInt32,
  rMicroseconds,
  rOctets,
  rString,
  rTime,
  readAuthorizationData,
  readChecksum,
  readEncryptedData,
  readEncryptionKey,
  readHostAddresses,
  readPaData,
  readPaDataList,
  readPrincipalName,
  readSequenceOf,
  SEQ,
  wBool,
  wInt32,
  wMicroseconds,
  wOctets,
  wString,
  wTime,
  writeAuthorizationData,
  writeChecksum,
  writeEncryptedData,
  writeEncryptionKey,
  writeHostAddresses,
  writePaData,
  writePaDataList,
  writePrincipalName,
  writeSequenceOf,
} from './common.js';
import type {
  AuthorizationData,
  Checksum,
  EncryptedData,
  EncryptionKey,
  EtypeInfo2Entry,
  EtypeInfoEntry,
  HostAddresses,
  KerbErrorData,
  KerbPaPacRequest,
  MethodData,
  PaData,
  PaEncTsEnc,
  PrincipalName,
  TypedDataEntry,
} from './types.js';

const HINT = 128;

// ---- the 5.2 building blocks on their own ----

export const decodePrincipalName = (b: Uint8Array): PrincipalName => derDecode(b, readPrincipalName);
export const encodePrincipalName = (v: PrincipalName): Uint8Array => derEncode((w) => writePrincipalName(w, v), HINT);
export const decodeHostAddresses = (b: Uint8Array): HostAddresses => derDecode(b, readHostAddresses);
export const encodeHostAddresses = (v: HostAddresses): Uint8Array => derEncode((w) => writeHostAddresses(w, v), HINT);
/** EncryptedData; also PA-ENC-TIMESTAMP ::= EncryptedData (RFC 4120 5.2.7.2). */
export const decodeEncryptedData = (b: Uint8Array): EncryptedData => derDecode(b, readEncryptedData);
export const encodeEncryptedData = (v: EncryptedData): Uint8Array => derEncode((w) => writeEncryptedData(w, v), HINT);
export const decodeEncryptionKey = (b: Uint8Array): EncryptionKey => derDecode(b, readEncryptionKey);
export const encodeEncryptionKey = (v: EncryptionKey): Uint8Array => derEncode((w) => writeEncryptionKey(w, v), HINT);
export const decodeChecksum = (b: Uint8Array): Checksum => derDecode(b, readChecksum);
export const encodeChecksum = (v: Checksum): Uint8Array => derEncode((w) => writeChecksum(w, v), HINT);
export const decodePaData = (b: Uint8Array): PaData => derDecode(b, readPaData);
export const encodePaData = (v: PaData): Uint8Array => derEncode((w) => writePaData(w, v), HINT);

/** AuthorizationData (RFC 4120 5.2.6). */
export const decodeAuthorizationData = (b: Uint8Array): AuthorizationData => derDecode(b, readAuthorizationData);
export const encodeAuthorizationData = (v: AuthorizationData): Uint8Array =>
  derEncode((w) => writeAuthorizationData(w, v), HINT);

/** AD-IF-RELEVANT ::= AuthorizationData (RFC 4120 5.2.6.1): the ad-data of an ad-type 1 element. */
export const decodeAdIfRelevant = decodeAuthorizationData;
export const encodeAdIfRelevant = encodeAuthorizationData;

/** METHOD-DATA ::= SEQUENCE OF PA-DATA (RFC 4120 5.9.1), the e-data of KDC_ERR_PREAUTH_REQUIRED. */
export const decodeMethodData = (b: Uint8Array): MethodData => derDecode(b, readPaDataList);
export const encodeMethodData = (v: MethodData): Uint8Array => derEncode((w) => writePaDataList(w, v), HINT);

// ---- PA-ENC-TS-ENC (RFC 4120 5.2.7.2) ----

export function readPaEncTsEnc(r: DerReader): PaEncTsEnc {
  r.enter(SEQ);
  const patimestamp = rTime(r, C0);
  const pausec = r.peekTag() === C1 ? rMicroseconds(r, C1) : undefined;
  r.leave();
  return pausec === undefined ? { patimestamp } : { patimestamp, pausec };
}

export function writePaEncTsEnc(w: DerWriter, v: PaEncTsEnc): void {
  const m = w.mark();
  if (v.pausec !== undefined) wMicroseconds(w, C1, v.pausec);
  wTime(w, C0, v.patimestamp);
  w.wrap(SEQ, m);
}

export const decodePaEncTsEnc = (b: Uint8Array): PaEncTsEnc => derDecode(b, readPaEncTsEnc);
export const encodePaEncTsEnc = (v: PaEncTsEnc): Uint8Array => derEncode((w) => writePaEncTsEnc(w, v), 64);

// ---- ETYPE-INFO (RFC 4120 5.2.7.4) and ETYPE-INFO2 (5.2.7.5) ----

export function readEtypeInfoEntry(r: DerReader): EtypeInfoEntry {
  r.enter(SEQ);
  const etype = rInt32(r, C0);
  const salt = r.peekTag() === C1 ? rOctets(r, C1) : undefined;
  r.leave();
  return salt === undefined ? { etype } : { etype, salt };
}

export function writeEtypeInfoEntry(w: DerWriter, v: EtypeInfoEntry): void {
  const m = w.mark();
  if (v.salt !== undefined) wOctets(w, C1, v.salt);
  wInt32(w, C0, v.etype);
  w.wrap(SEQ, m);
}

/** ETYPE-INFO ::= SEQUENCE OF ETYPE-INFO-ENTRY. */
export const decodeEtypeInfo = (b: Uint8Array): EtypeInfoEntry[] => derDecode(b, (r) => readSequenceOf(r, readEtypeInfoEntry));
export const encodeEtypeInfo = (v: EtypeInfoEntry[]): Uint8Array =>
  derEncode((w) => writeSequenceOf(w, v, writeEtypeInfoEntry), HINT);

export function readEtypeInfo2Entry(r: DerReader): EtypeInfo2Entry {
  r.enter(SEQ);
  const etype = rInt32(r, C0);
  const v: EtypeInfo2Entry = { etype };
  if (r.peekTag() === C1) v.salt = rString(r, C1);
  if (r.peekTag() === C2) v.s2kparams = rOctets(r, C2);
  r.leave();
  return v;
}

export function writeEtypeInfo2Entry(w: DerWriter, v: EtypeInfo2Entry): void {
  const m = w.mark();
  if (v.s2kparams !== undefined) wOctets(w, C2, v.s2kparams);
  if (v.salt !== undefined) wString(w, C1, v.salt);
  wInt32(w, C0, v.etype);
  w.wrap(SEQ, m);
}

/** ETYPE-INFO2 ::= SEQUENCE SIZE (1..MAX) OF ETYPE-INFO2-ENTRY: an empty list is rejected. */
export const decodeEtypeInfo2 = (b: Uint8Array): EtypeInfo2Entry[] =>
  derDecode(b, (r) => readSequenceOf(r, readEtypeInfo2Entry, true));
export const encodeEtypeInfo2 = (v: EtypeInfo2Entry[]): Uint8Array =>
  derEncode((w) => writeSequenceOf(w, nonEmpty(v, 'ETYPE-INFO2'), writeEtypeInfo2Entry), HINT);

// ---- KERB-PA-PAC-REQUEST (MS-KILE 2.2.3) ----

export function readKerbPaPacRequest(r: DerReader): KerbPaPacRequest {
  r.enter(SEQ);
  const includePac = rBool(r, C0);
  r.leave();
  return { includePac };
}

export function writeKerbPaPacRequest(w: DerWriter, v: KerbPaPacRequest): void {
  const m = w.mark();
  wBool(w, C0, v.includePac);
  w.wrap(SEQ, m);
}

export const decodeKerbPaPacRequest = (b: Uint8Array): KerbPaPacRequest => derDecode(b, readKerbPaPacRequest);
export const encodeKerbPaPacRequest = (v: KerbPaPacRequest): Uint8Array =>
  derEncode((w) => writeKerbPaPacRequest(w, v), 16);

// ---- TYPED-DATA (RFC 4120 5.9.1) and KERB-ERROR-DATA (MS-KILE 2.2.2): KRB-ERROR e-data ----

export function readTypedDataEntry(r: DerReader): TypedDataEntry {
  r.enter(SEQ);
  const dataType = rInt32(r, C0);
  const dataValue = r.peekTag() === C1 ? rOctets(r, C1) : undefined;
  r.leave();
  return dataValue === undefined ? { dataType } : { dataType, dataValue };
}

export function writeTypedDataEntry(w: DerWriter, v: TypedDataEntry): void {
  const m = w.mark();
  if (v.dataValue !== undefined) wOctets(w, C1, v.dataValue);
  wInt32(w, C0, v.dataType);
  w.wrap(SEQ, m);
}

/** TYPED-DATA ::= SEQUENCE SIZE (1..MAX) OF SEQUENCE { data-type [0], data-value [1] OPTIONAL }. */
export const decodeTypedData = (b: Uint8Array): TypedDataEntry[] =>
  derDecode(b, (r) => readSequenceOf(r, readTypedDataEntry, true));
export const encodeTypedData = (v: TypedDataEntry[]): Uint8Array =>
  derEncode((w) => writeSequenceOf(w, nonEmpty(v, 'TYPED-DATA'), writeTypedDataEntry), HINT);

/** KERB-ERROR-DATA ::= SEQUENCE { data-type [1] INTEGER, data-value [2] OCTET STRING OPTIONAL }. */
export function readKerbErrorData(r: DerReader): KerbErrorData {
  r.enter(SEQ);
  const dataType = rInt32(r, C1);
  const dataValue = opt(r, C2, (r) => r.readOctetString());
  r.leave();
  return dataValue === undefined ? { dataType } : { dataType, dataValue };
}

export function writeKerbErrorData(w: DerWriter, v: KerbErrorData): void {
  const m = w.mark();
  if (v.dataValue !== undefined) wOctets(w, C2, v.dataValue);
  wInt32(w, C1, v.dataType);
  w.wrap(SEQ, m);
}

export const decodeKerbErrorData = (b: Uint8Array): KerbErrorData => derDecode(b, readKerbErrorData);
export const encodeKerbErrorData = (v: KerbErrorData): Uint8Array => derEncode((w) => writeKerbErrorData(w, v), 64);

function nonEmpty<T>(v: T[], what: string): T[] {
  if (v.length === 0) derEncodeFail(`${what} must not be empty`);
  return v;
}
