// Read/write helpers for the RFC 4120 5.2 building blocks. Readers consume from a DerReader in
// field order; writers prepend to a DerWriter, so composite writers emit fields last-first.
import { ctx, type DerReader, type DerWriter, derEncodeFail, derFail, Tag } from '../../../der/index.js';
import type {
  AuthorizationData,
  Checksum,
  EncryptedData,
  EncryptionKey,
  HostAddress,
  HostAddresses,
  PaData,
  PrincipalName,
  Ticket,
} from './types.js';
import { ApplicationTag, KRB5_PVNO } from './constants.js';

export const SEQ = Tag.SEQUENCE;
export const C0 = ctx(0);
export const C1 = ctx(1);
export const C2 = ctx(2);
export const C3 = ctx(3);
export const C4 = ctx(4);
export const C5 = ctx(5);
export const C6 = ctx(6);
export const C7 = ctx(7);
export const C8 = ctx(8);
export const C9 = ctx(9);
export const C10 = ctx(10);
export const C11 = ctx(11);
export const C12 = ctx(12);

// ---- field readers: [n] EXPLICIT <primitive> ----

export function rInt32(r: DerReader, tag: number): number {
  r.enter(tag);
  const v = r.readInt32();
  r.leave();
  return v;
}

/**
 * UInt32 fields (nonce, seq-number, kvno). Older Windows and MIT encoders wrote them as signed 32-bit
 * values, so a negative Int32 is accepted and taken modulo 2^32, as MIT does.
 */
export function rUInt32(r: DerReader, tag: number): number {
  r.enter(tag);
  const v = r.readInteger() >>> 0;
  r.leave();
  return v;
}

/** Microseconds ::= INTEGER (0..999999) (RFC 4120 5.2.4). */
export function rMicroseconds(r: DerReader, tag: number): number {
  r.enter(tag);
  const v = r.readInt32();
  if (v < 0 || v > 999999) derFail('Microseconds out of range');
  r.leave();
  return v;
}

/** pvno / tkt-vno / authenticator-vno: INTEGER (5). */
export function rPvno(r: DerReader, tag: number): void {
  r.enter(tag);
  const v = r.readInt32();
  if (v !== KRB5_PVNO) derFail(`protocol version ${v}, expected 5`);
  r.leave();
}

/** msg-type, which must repeat the APPLICATION tag it sits in. */
export function rMsgType(r: DerReader, tag: number, expected: number): void {
  r.enter(tag);
  const v = r.readInt32();
  if (v !== expected) derFail(`msg-type ${v}, expected ${expected}`);
  r.leave();
}

export function rString(r: DerReader, tag: number): string {
  r.enter(tag);
  const v = r.readGeneralString();
  r.leave();
  return v;
}

export function rTime(r: DerReader, tag: number): Date {
  r.enter(tag);
  const v = r.readKerberosTime();
  r.leave();
  return v;
}

export function rOctets(r: DerReader, tag: number): Uint8Array {
  r.enter(tag);
  const v = r.readOctetString();
  r.leave();
  return v;
}

export function rFlags(r: DerReader, tag: number): number {
  r.enter(tag);
  const v = r.readKerberosFlags();
  r.leave();
  return v;
}

export function rBool(r: DerReader, tag: number): boolean {
  r.enter(tag);
  const v = r.readBoolean();
  r.leave();
  return v;
}

// ---- field writers (prepend) ----

export function wInt32(w: DerWriter, tag: number, v: number): void {
  const m = w.mark();
  w.writeInt32(v);
  w.wrap(tag, m);
}

export function wUInt32(w: DerWriter, tag: number, v: number): void {
  const m = w.mark();
  w.writeUInt32(v);
  w.wrap(tag, m);
}

export function wMicroseconds(w: DerWriter, tag: number, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 999999) derEncodeFail(`Microseconds ${v} out of range`);
  wInt32(w, tag, v);
}

export function wString(w: DerWriter, tag: number, v: string): void {
  const m = w.mark();
  w.writeGeneralString(v);
  w.wrap(tag, m);
}

export function wTime(w: DerWriter, tag: number, v: Date): void {
  const m = w.mark();
  w.writeKerberosTime(v);
  w.wrap(tag, m);
}

export function wOctets(w: DerWriter, tag: number, v: Uint8Array): void {
  const m = w.mark();
  w.writeOctetString(v);
  w.wrap(tag, m);
}

export function wFlags(w: DerWriter, tag: number, v: number): void {
  const m = w.mark();
  w.writeKerberosFlags(v);
  w.wrap(tag, m);
}

export function wBool(w: DerWriter, tag: number, v: boolean): void {
  const m = w.mark();
  w.writeBoolean(v);
  w.wrap(tag, m);
}

/** Optional field helper: read with `fn` inside [tag] when present. */
export function opt<T>(r: DerReader, tag: number, fn: (r: DerReader) => T): T | undefined {
  if (!r.enterIf(tag)) return undefined;
  const v = fn(r);
  r.leave();
  return v;
}

/** Explicit [tag] around a composite writer. */
export function wrapped<T>(w: DerWriter, tag: number, v: T, fn: (w: DerWriter, v: T) => void): void {
  const m = w.mark();
  fn(w, v);
  w.wrap(tag, m);
}

/** SEQUENCE OF: read elements with `fn` until the sequence ends. */
export function readSequenceOf<T>(r: DerReader, fn: (r: DerReader) => T, nonEmpty = false): T[] {
  r.enter(SEQ);
  const out: T[] = [];
  while (!r.atEnd()) out.push(fn(r));
  r.leave();
  if (nonEmpty && out.length === 0) derFail('empty SEQUENCE OF where SIZE (1..MAX)');
  return out;
}

/** SEQUENCE OF: prepend elements in reverse so they appear in order. */
export function writeSequenceOf<T>(w: DerWriter, items: readonly T[], fn: (w: DerWriter, v: T) => void): void {
  const m = w.mark();
  for (let i = items.length - 1; i >= 0; i--) fn(w, items[i]!);
  w.wrap(SEQ, m);
}

// ---- RFC 4120 5.2 types ----

/** PrincipalName (RFC 4120 5.2.2). */
export function readPrincipalName(r: DerReader): PrincipalName {
  r.enter(SEQ);
  const nameType = rInt32(r, C0);
  r.enter(C1);
  r.enter(SEQ);
  const nameString: string[] = [];
  while (!r.atEnd()) nameString.push(r.readGeneralString());
  r.leave();
  r.leave();
  r.leave();
  return { nameType, nameString };
}

export function writePrincipalName(w: DerWriter, v: PrincipalName): void {
  const m = w.mark();
  const m1 = w.mark();
  const ns = v.nameString;
  for (let i = ns.length - 1; i >= 0; i--) w.writeGeneralString(ns[i]!);
  w.wrap(SEQ, m1);
  w.wrap(C1, m1);
  wInt32(w, C0, v.nameType);
  w.wrap(SEQ, m);
}

/** HostAddress (RFC 4120 5.2.5). */
export function readHostAddress(r: DerReader): HostAddress {
  r.enter(SEQ);
  const addrType = rInt32(r, C0);
  const address = rOctets(r, C1);
  r.leave();
  return { addrType, address };
}

export function writeHostAddress(w: DerWriter, v: HostAddress): void {
  const m = w.mark();
  wOctets(w, C1, v.address);
  wInt32(w, C0, v.addrType);
  w.wrap(SEQ, m);
}

export function readHostAddresses(r: DerReader): HostAddresses {
  return readSequenceOf(r, readHostAddress);
}

export function writeHostAddresses(w: DerWriter, v: HostAddresses): void {
  writeSequenceOf(w, v, writeHostAddress);
}

/** AuthorizationData (RFC 4120 5.2.6). */
export function readAuthorizationData(r: DerReader): AuthorizationData {
  return readSequenceOf(r, (r) => {
    r.enter(SEQ);
    const adType = rInt32(r, C0);
    const adData = rOctets(r, C1);
    r.leave();
    return { adType, adData };
  });
}

export function writeAuthorizationData(w: DerWriter, v: AuthorizationData): void {
  writeSequenceOf(w, v, (w, e) => {
    const m = w.mark();
    wOctets(w, C1, e.adData);
    wInt32(w, C0, e.adType);
    w.wrap(SEQ, m);
  });
}

/** PA-DATA (RFC 4120 5.2.7): note the tags start at [1]. */
export function readPaData(r: DerReader): PaData {
  r.enter(SEQ);
  const padataType = rInt32(r, C1);
  const padataValue = rOctets(r, C2);
  r.leave();
  return { padataType, padataValue };
}

export function writePaData(w: DerWriter, v: PaData): void {
  const m = w.mark();
  wOctets(w, C2, v.padataValue);
  wInt32(w, C1, v.padataType);
  w.wrap(SEQ, m);
}

export function readPaDataList(r: DerReader): PaData[] {
  return readSequenceOf(r, readPaData);
}

export function writePaDataList(w: DerWriter, v: readonly PaData[]): void {
  writeSequenceOf(w, v, writePaData);
}

/** EncryptedData (RFC 4120 5.2.9). */
export function readEncryptedData(r: DerReader): EncryptedData {
  r.enter(SEQ);
  const etype = rInt32(r, C0);
  const kvno = r.enterIf(C1) ? leaveWith(r, r.readInteger() >>> 0) : undefined;
  const cipher = rOctets(r, C2);
  r.leave();
  return kvno === undefined ? { etype, cipher } : { etype, kvno, cipher };
}

function leaveWith<T>(r: DerReader, v: T): T {
  r.leave();
  return v;
}

export function writeEncryptedData(w: DerWriter, v: EncryptedData): void {
  const m = w.mark();
  wOctets(w, C2, v.cipher);
  if (v.kvno !== undefined) wUInt32(w, C1, v.kvno);
  wInt32(w, C0, v.etype);
  w.wrap(SEQ, m);
}

/** EncryptionKey (RFC 4120 5.2.9). */
export function readEncryptionKey(r: DerReader): EncryptionKey {
  r.enter(SEQ);
  const keytype = rInt32(r, C0);
  const keyvalue = rOctets(r, C1);
  r.leave();
  return { keytype, keyvalue };
}

export function writeEncryptionKey(w: DerWriter, v: EncryptionKey): void {
  const m = w.mark();
  wOctets(w, C1, v.keyvalue);
  wInt32(w, C0, v.keytype);
  w.wrap(SEQ, m);
}

/** Checksum (RFC 4120 5.2.9). */
export function readChecksum(r: DerReader): Checksum {
  r.enter(SEQ);
  const cksumtype = rInt32(r, C0);
  const checksum = rOctets(r, C1);
  r.leave();
  return { cksumtype, checksum };
}

export function writeChecksum(w: DerWriter, v: Checksum): void {
  const m = w.mark();
  wOctets(w, C1, v.checksum);
  wInt32(w, C0, v.cksumtype);
  w.wrap(SEQ, m);
}

const APP_TICKET = 0x60 | ApplicationTag.Ticket;

/** Ticket ::= [APPLICATION 1] SEQUENCE (RFC 4120 5.3). */
export function readTicket(r: DerReader): Ticket {
  r.enter(APP_TICKET);
  r.enter(SEQ);
  rPvno(r, C0);
  const realm = rString(r, C1);
  r.enter(C2);
  const sname = readPrincipalName(r);
  r.leave();
  r.enter(C3);
  const encPart = readEncryptedData(r);
  r.leave();
  r.leave();
  r.leave();
  return { realm, sname, encPart };
}

export function writeTicket(w: DerWriter, v: Ticket): void {
  const m = w.mark();
  wrapped(w, C3, v.encPart, writeEncryptedData);
  wrapped(w, C2, v.sname, writePrincipalName);
  wString(w, C1, v.realm);
  wInt32(w, C0, KRB5_PVNO);
  w.wrap(SEQ, m);
  w.wrap(APP_TICKET, m);
}
