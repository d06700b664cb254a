// RFC 2743 3.1 mechanism-independent token framing:
//   InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE { thisMech MechType, innerContextToken ANY }
// i.e. 0x60, a DER length, the mechanism OID element, then the mechanism's bytes up to the end.
import { derEncodeFail, derFail, guardDecode } from './error.js';
import { oidFromContent } from './oid.js';
import { DerReader } from './reader.js';
import { app, Tag } from './tags.js';
import { DerWriter, oidContent } from './writer.js';

/** Kerberos V5 GSS-API mechanism (RFC 1964 / RFC 4121). */
export const KRB5_MECH_OID = '1.2.840.113554.1.2.2';
/** The truncated Kerberos OID that Windows 2000 put in SPNEGO mechTypes; still seen in the wild. */
export const MS_KRB5_MECH_OID = '1.2.840.48018.1.2.2';
/** SPNEGO (RFC 4178). */
export const SPNEGO_MECH_OID = '1.3.6.1.5.5.2';
/** NTLMSSP as named in SPNEGO mechTypes. */
export const NTLMSSP_MECH_OID = '1.3.6.1.4.1.311.2.2.10';

/** RFC 4121 4.1 TOK_ID values of the Kerberos context establishment tokens (big-endian). */
export const Krb5TokId = {
  KRB_AP_REQ: 0x0100,
  KRB_AP_REP: 0x0200,
  KRB_ERROR: 0x0300,
  /** User-to-user TGT request (draft-ietf-cat-user2user). */
  KRB_TGT_REQ: 0x0400,
  KRB_TGT_REP: 0x0401,
} as const;

export interface InitialContextToken {
  /** thisMech, dotted. */
  mechOid: string;
  /** thisMech content octets (a view), for cheap comparison against known OIDs. */
  mechOidContent: Uint8Array;
  /** innerContextToken: everything after the OID (a view). */
  innerToken: Uint8Array;
}

const GSS_TAG = app(0);

/** Parse the RFC 2743 3.1 framing; the framed value must span the whole input. */
export function parseInitialContextToken(token: Uint8Array): InitialContextToken {
  return guardDecode(() => {
    const r = new DerReader(token);
    r.enter(GSS_TAG);
    const mechOidContent = r.readOidContent(Tag.OBJECT_IDENTIFIER);
    const innerToken = r.readRest();
    r.leave();
    r.finish();
    return { mechOid: oidFromContent(mechOidContent), mechOidContent, innerToken };
  });
}

/** Frame `innerToken` for mechanism `mechOid` (dotted or content octets). */
export function wrapInitialContextToken(mechOid: string | Uint8Array, innerToken: Uint8Array): Uint8Array {
  const oid = typeof mechOid === 'string' ? oidContent(mechOid) : mechOid;
  const w = new DerWriter(innerToken.length + oid.length + 16);
  w.writeBytes(innerToken);
  w.writeOid(oid);
  w.wrap(GSS_TAG, 0);
  return w.toBytes();
}

/** A Kerberos context token: the framing, the 2-byte TOK_ID, and the Kerberos message (RFC 4121 4.1). */
export interface Krb5ContextToken {
  mechOid: string;
  tokId: number;
  /** The DER Kerberos message (AP-REQ, AP-REP or KRB-ERROR), a view. */
  body: Uint8Array;
}

const KRB5_CONTENT = oidContent(KRB5_MECH_OID);
const MS_KRB5_CONTENT = oidContent(MS_KRB5_MECH_OID);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Parse a framed Kerberos token. The mechanism must be Kerberos (either OID) and, when `expectTokId`
 * is given, the TOK_ID must match.
 */
export function parseKrb5Token(token: Uint8Array, expectTokId?: number): Krb5ContextToken {
  const t = parseInitialContextToken(token);
  let mechOid: string;
  if (sameBytes(t.mechOidContent, KRB5_CONTENT)) mechOid = KRB5_MECH_OID;
  else if (sameBytes(t.mechOidContent, MS_KRB5_CONTENT)) mechOid = MS_KRB5_MECH_OID;
  else derFail(`token is for mechanism ${t.mechOid}, not Kerberos`);
  const inner = t.innerToken;
  if (inner.length < 2) derFail('Kerberos token without TOK_ID');
  const tokId = (inner[0]! << 8) | inner[1]!;
  if (expectTokId !== undefined && tokId !== expectTokId) {
    derFail(`unexpected Kerberos TOK_ID 0x${tokId.toString(16).padStart(4, '0')}`);
  }
  return { mechOid, tokId, body: inner.subarray(2) };
}

/** Frame a Kerberos message with its TOK_ID (RFC 4121 4.1). */
export function wrapKrb5Token(tokId: number, body: Uint8Array, mechOid: string = KRB5_MECH_OID): Uint8Array {
  if (!Number.isInteger(tokId) || tokId < 0 || tokId > 0xffff) derEncodeFail('TOK_ID must be 16-bit');
  const oid = oidContent(mechOid);
  const w = new DerWriter(body.length + oid.length + 18);
  w.writeBytes(body);
  w.writeByte(tokId & 0xff);
  w.writeByte(tokId >>> 8);
  w.writeOid(oid);
  w.wrap(GSS_TAG, 0);
  return w.toBytes();
}
