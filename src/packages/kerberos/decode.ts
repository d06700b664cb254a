// A readable decoder for Kerberos tokens, for `tslsa decode`: GSS-framed krb5 context tokens
// (RFC 4121 4.1: AP-REQ, AP-REP, KRB-ERROR), bare RFC 4120 messages (AS/TGS-REQ/REP, AP-REQ/REP,
// KRB-ERROR, KRB-CRED), per-message tokens by TOK_ID (RFC 4121 4.2 MIC 04 04 / Wrap 05 04; RFC 1964
// and RFC 4757 MIC 01 01 / Wrap 02 01), and SPNEGO (RFC 4178) wrappers whose mechanism token is
// decoded as Kerberos or NTLM. Encrypted parts are shown as etype/kvno/length, never decrypted.
import { KRB5_MECH_OID, MS_KRB5_MECH_OID, NTLMSSP_MECH_OID, SPNEGO_MECH_OID, Krb5TokId, parseInitialContextToken } from '../../der/gss.js';
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';
import { NegState, parseNegotiationToken, type NegotiationToken } from '../negotiate/spnego.js';
import { decodeNtlmMessage, type NtlmTree, type NtlmTreeValue } from '../ntlm/decode.js';
import {
  ApOptions, KdcOptions, KrbErrorCode, MessageType, NameType, PaDataType, TicketFlags,
  decodeApRep, decodeApReq, decodeAsRep, decodeKdcReq, decodeTgsRep, decodeKrbCred, decodeKrbError, decodeTicket,
} from './asn1/index.js';
import type { EncryptedData, KdcReq, KdcRep, PaData, PrincipalName, Ticket } from './asn1/index.js';

export type KerberosTree = NtlmTree;
type V = NtlmTreeValue;

const invalid = (d: string): never => {
  throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, d);
};
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hex32 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

const ENCTYPE_NAMES: Record<number, string> = {
  1: 'des-cbc-crc', 3: 'des-cbc-md5', 16: 'des3-cbc-sha1', 17: 'aes128-cts-hmac-sha1-96', 18: 'aes256-cts-hmac-sha1-96',
  19: 'aes128-cts-hmac-sha256-128', 20: 'aes256-cts-hmac-sha384-192', 23: 'rc4-hmac', 24: 'rc4-hmac-exp',
  25: 'camellia128-cts-cmac', 26: 'camellia256-cts-cmac',
};
const CKSUM_NAMES: Record<number, string> = {
  1: 'crc32', 7: 'rsa-md5', 8: 'rsa-md5-des', 12: 'hmac-sha1-des3-kd', 15: 'hmac-sha1-96-aes128', 16: 'hmac-sha1-96-aes256',
  19: 'hmac-sha256-128-aes128', 20: 'hmac-sha384-192-aes256', 0x8003: 'GSS checksum (RFC 4121 4.1.1)', [-138]: 'hmac-md5',
};

function reverse(o: Record<string, number>): Map<number, string> {
  return new Map(Object.entries(o).map(([k, v]) => [v, k]));
}
const MSG_TYPE = reverse(MessageType);
const NAME_TYPE = reverse(NameType as unknown as Record<string, number>);
const PA_TYPE = reverse(PaDataType);
const ERROR_CODE = reverse(KrbErrorCode as unknown as Record<string, number>);

const named = (n: number, names: Map<number, string> | Record<number, string>, prefix = ''): string => {
  const s = names instanceof Map ? names.get(n) : names[n];
  return s ? `${s} (${n})` : `${prefix}${n}`;
};
export const enctypeName = (n: number): string => named(n, ENCTYPE_NAMES, 'enctype ');

function flagNames(v: number, table: Record<string, number>): V {
  const names = Object.entries(table).filter(([, m]) => (v & m) >>> 0 === m >>> 0 && m !== 0).map(([k]) => k);
  return { value: hex32(v), names };
}

const time = (d: Date | undefined): string => (d === undefined ? '' : Number.isNaN(d.getTime()) ? 'invalid time' : d.toISOString());

function principal(p: PrincipalName, realm?: string): string {
  const name = p.nameString.map((c) => c.replace(/[\\/@]/g, (x) => `\\${x}`)).join('/');
  return `${name}${realm !== undefined ? `@${realm}` : ''} (${named(p.nameType, NAME_TYPE, 'name-type ')})`;
}

function encPart(e: EncryptedData): KerberosTree {
  const t: KerberosTree = { etype: enctypeName(e.etype) };
  if (e.kvno !== undefined) t.kvno = e.kvno;
  t.cipher = `${e.cipher.length} bytes (encrypted, not shown)`;
  return t;
}

function ticket(t: Ticket): KerberosTree {
  return { sname: principal(t.sname, t.realm), 'enc-part': encPart(t.encPart) };
}

function padata(list: PaData[] | undefined): V {
  return (list ?? []).map((p) => ({ value: named(p.padataType, PA_TYPE, 'padata-type '), length: p.padataValue.length }));
}

function kdcReq(m: KdcReq): KerberosTree {
  const b = m.reqBody;
  const t: KerberosTree = { 'msg-type': named(m.msgType, MSG_TYPE), padata: padata(m.padata), 'kdc-options': flagNames(b.kdcOptions, KdcOptions) };
  if (b.cname) t.cname = principal(b.cname, b.realm);
  t.realm = b.realm;
  if (b.sname) t.sname = principal(b.sname, b.realm);
  if (b.from) t.from = time(b.from);
  t.till = time(b.till);
  if (b.rtime) t.rtime = time(b.rtime);
  t.nonce = b.nonce;
  t.etype = b.etype.map(enctypeName);
  if (b.addresses) t.addresses = b.addresses.map((a) => `type ${a.addrType}: ${hex(a.address)}`);
  if (b.encAuthorizationData) t['enc-authorization-data'] = encPart(b.encAuthorizationData);
  if (b.additionalTickets) t['additional-tickets'] = b.additionalTickets.map(ticket);
  return t;
}

function kdcRep(m: KdcRep): KerberosTree {
  return {
    'msg-type': named(m.msgType, MSG_TYPE), padata: padata(m.padata), cname: principal(m.cname, m.crealm),
    ticket: ticket(m.ticket), 'enc-part': encPart(m.encPart),
  };
}

/** A bare RFC 4120 message, by its [APPLICATION n] tag. */
export function decodeKerberosMessage(bytes: Uint8Array): KerberosTree {
  if (bytes.length < 2) return invalid('Kerberos message too short');
  const tag = bytes[0]!;
  if ((tag & 0xe0) !== 0x60) return invalid(`not a Kerberos message (tag 0x${tag.toString(16)})`);
  const app = tag & 0x1f;
  switch (app) {
    case MessageType.KRB_AS_REQ:
    case MessageType.KRB_TGS_REQ:
      return kdcReq(decodeKdcReq(bytes));
    case MessageType.KRB_AS_REP:
      return kdcRep(decodeAsRep(bytes));
    case MessageType.KRB_TGS_REP:
      return kdcRep(decodeTgsRep(bytes));
    case MessageType.KRB_AP_REQ: {
      const m = decodeApReq(bytes);
      return {
        'msg-type': named(MessageType.KRB_AP_REQ, MSG_TYPE), 'ap-options': flagNames(m.apOptions, ApOptions),
        ticket: ticket(m.ticket), authenticator: encPart(m.authenticator),
      };
    }
    case MessageType.KRB_AP_REP:
      return { 'msg-type': named(MessageType.KRB_AP_REP, MSG_TYPE), 'enc-part': encPart(decodeApRep(bytes).encPart) };
    case MessageType.KRB_ERROR: {
      const m = decodeKrbError(bytes);
      const t: KerberosTree = { 'msg-type': named(MessageType.KRB_ERROR, MSG_TYPE) };
      if (m.ctime) t.ctime = time(m.ctime);
      if (m.cusec !== undefined) t.cusec = m.cusec;
      t.stime = time(m.stime);
      t.susec = m.susec;
      t['error-code'] = named(m.errorCode, ERROR_CODE, 'error ');
      if (m.cname) t.cname = principal(m.cname, m.crealm);
      else if (m.crealm) t.crealm = m.crealm;
      t.sname = principal(m.sname, m.realm);
      if (m.eText !== undefined) t['e-text'] = m.eText;
      if (m.eData) t['e-data'] = `${m.eData.length} bytes: ${hex(m.eData.subarray(0, 64))}${m.eData.length > 64 ? '...' : ''}`;
      return t;
    }
    case MessageType.KRB_CRED: {
      const m = decodeKrbCred(bytes);
      return { 'msg-type': named(MessageType.KRB_CRED, MSG_TYPE), tickets: m.tickets.map(ticket), 'enc-part': encPart(m.encPart) };
    }
    case 1:
      return { type: 'Ticket', ...ticket(decodeTicket(bytes)) };
    default:
      return invalid(`unknown Kerberos message [APPLICATION ${app}]`);
  }
}

function tokFlags(f: number): V {
  const names = [];
  if (f & 1) names.push('SentByAcceptor');
  if (f & 2) names.push('Sealed');
  if (f & 4) names.push('AcceptorSubkey');
  if (f & ~7) names.push(`unknown bits 0x${(f & ~7).toString(16)}`);
  return { value: `0x${f.toString(16).padStart(2, '0')}`, names };
}

const be64 = (b: Uint8Array, o: number): string => {
  const hi = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  const lo = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
  return (BigInt(hi) * 0x100000000n + BigInt(lo)).toString();
};

/** RFC 4121 4.2 MIC (04 04) or Wrap (05 04): the 16-byte header and what follows. */
function cfxToken(b: Uint8Array): KerberosTree {
  if (b.length < 16) return invalid('RFC 4121 token shorter than its 16-byte header');
  const wrapTok = b[0] === 0x05;
  const flags = b[2]!;
  const t: KerberosTree = { 'TOK_ID': wrapTok ? '05 04 (Wrap, RFC 4121)' : '04 04 (MIC, RFC 4121)', Flags: tokFlags(flags) };
  if (wrapTok) {
    if (b[3] !== 0xff) return invalid('Wrap filler is not FF');
    t.EC = (b[4]! << 8) | b[5]!;
    t.RRC = (b[6]! << 8) | b[7]!;
  } else {
    for (let i = 3; i < 8; i++) if (b[i] !== 0xff) return invalid('MIC filler is not FF');
  }
  t.SND_SEQ = be64(b, 8);
  const rest = b.length - 16;
  if (!wrapTok) t.SGN_CKSUM = `${rest} bytes: ${hex(b.subarray(16))}`;
  else if (flags & 2) t.Data = `${rest} bytes (encrypted: confounder, data, filler, header copy, checksum; not shown)`;
  else t.Data = `${rest} bytes (plaintext + ${t.EC}-byte checksum)`;
  return t;
}

/** RFC 1964 / RFC 4757 MIC (01 01) or Wrap (02 01) after the GSS framing. */
function v1Token(b: Uint8Array): KerberosTree {
  if (b.length < 24) return invalid('RFC 1964 token shorter than 24 bytes');
  const wrapTok = b[0] === 0x02;
  const sgn = b[2]! | (b[3]! << 8);
  const seal = b[4]! | (b[5]! << 8);
  const SGN: Record<number, string> = { 0x0000: 'DES MAC MD5', 0x0001: 'MD2.5', 0x0002: 'DES MAC', 0x0004: 'HMAC SHA1 DES3-KD', 0x0011: 'HMAC MD5 (RFC 4757)' };
  const SEAL: Record<number, string> = { 0x0000: 'DES', 0x0002: 'DES3-KD', 0x0010: 'RC4 (RFC 4757)', 0xffff: 'none' };
  const t: KerberosTree = { 'TOK_ID': wrapTok ? '02 01 (Wrap, RFC 1964)' : '01 01 (MIC, RFC 1964)', SGN_ALG: `0x${sgn.toString(16).padStart(4, '0')} ${SGN[sgn] ?? 'unknown'}` };
  if (wrapTok) t.SEAL_ALG = `0x${seal.toString(16).padStart(4, '0')} ${SEAL[seal] ?? 'unknown'}`;
  t.SND_SEQ = `${hex(b.subarray(8, 16))} (encrypted sequence number and direction)`;
  t.SGN_CKSUM = hex(b.subarray(16, 24));
  if (wrapTok) t.Data = `${b.length - 24} bytes (confounder, data, padding${seal === 0xffff ? '' : '; encrypted, not shown'})`;
  return t;
}

function krb5Inner(inner: Uint8Array): KerberosTree {
  if (inner.length < 2) return invalid('Kerberos token without TOK_ID');
  const tokId = (inner[0]! << 8) | inner[1]!;
  const body = inner.subarray(2);
  switch (tokId) {
    case Krb5TokId.KRB_AP_REQ: return { 'TOK_ID': '01 00 (KRB_AP_REQ)', ...decodeKerberosMessage(body) };
    case Krb5TokId.KRB_AP_REP: return { 'TOK_ID': '02 00 (KRB_AP_REP)', ...decodeKerberosMessage(body) };
    case Krb5TokId.KRB_ERROR: return { 'TOK_ID': '03 00 (KRB_ERROR)', ...decodeKerberosMessage(body) };
    case 0x0101:
    case 0x0201: return v1Token(inner);
    default: return invalid(`unknown Kerberos TOK_ID 0x${tokId.toString(16).padStart(4, '0')}`);
  }
}

const MECH_NAMES: Record<string, string> = {
  [KRB5_MECH_OID]: 'Kerberos 5', [MS_KRB5_MECH_OID]: 'Kerberos 5 (Microsoft OID)', [NTLMSSP_MECH_OID]: 'NTLMSSP',
  [SPNEGO_MECH_OID]: 'SPNEGO', '1.2.840.113554.1.2.2.3': 'Kerberos 5 user-to-user', '1.3.6.1.4.1.311.2.2.30': 'NEGOEX',
};
const mechName = (oid: string): string => `${oid}${MECH_NAMES[oid] ? ` (${MECH_NAMES[oid]})` : ''}`;

/** A mechanism token inside SPNEGO: Kerberos (framed or a per-message token) or NTLM, else hex. */
function mechToken(b: Uint8Array, mech: string | undefined): V {
  if (b.length >= 8 && Buffer.from(b.subarray(0, 8)).toString('latin1') === 'NTLMSSP\0') return { mechanism: 'NTLMSSP', ...decodeNtlmMessage(b) };
  try {
    return decodeKerberosToken(b);
  } catch {
    return `${b.length} bytes${mech ? ` for ${mechName(mech)}` : ''}: ${hex(b.subarray(0, 64))}${b.length > 64 ? '...' : ''}`;
  }
}

function spnego(t: NegotiationToken, framed: boolean): KerberosTree {
  if (t.kind === 'init') {
    const o: KerberosTree = { SPNEGO: framed ? 'NegTokenInit (framed, RFC 2743 3.1)' : 'NegTokenInit', mechTypes: t.mechTypes.map(mechName) };
    if (t.reqFlags !== undefined) o.reqFlags = hex32(t.reqFlags);
    if (t.mechToken) o.mechToken = mechToken(t.mechToken, t.mechTypes[0]);
    if (t.negHints?.hintName !== undefined) o.hintName = t.negHints.hintName;
    if (t.mechListMIC) o.mechListMIC = hex(t.mechListMIC);
    return o;
  }
  const o: KerberosTree = { SPNEGO: 'NegTokenResp' };
  if (t.negState !== undefined) o.negState = named(t.negState, reverse(NegState));
  if (t.supportedMech) o.supportedMech = mechName(t.supportedMech);
  if (t.responseToken) o.responseToken = mechToken(t.responseToken, t.supportedMech);
  if (t.mechListMIC) o.mechListMIC = hex(t.mechListMIC);
  return o;
}

/**
 * Any Kerberos-side token: GSS-framed krb5 or SPNEGO, a bare NegTokenResp, a bare RFC 4120 message,
 * or an RFC 4121 per-message token. SEC_E_INVALID_TOKEN when it is none of these.
 */
export function decodeKerberosToken(bytes: Uint8Array): KerberosTree {
  if (bytes.length < 2) return invalid('token too short');
  const b0 = bytes[0]!;
  if (b0 === 0x60) {
    let framed;
    try {
      framed = parseInitialContextToken(bytes);
    } catch (e) {
      // A bare [APPLICATION 0] is no Kerberos message, so the framing was the only reading.
      return invalid(`bad GSS framing: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (framed.mechOid === SPNEGO_MECH_OID) return spnego(parseNegotiationToken(bytes), true);
    if (framed.mechOid === KRB5_MECH_OID || framed.mechOid === MS_KRB5_MECH_OID) {
      return { mechanism: mechName(framed.mechOid), ...krb5Inner(framed.innerToken) };
    }
    return invalid(`GSS token for mechanism ${framed.mechOid}, not Kerberos or SPNEGO`);
  }
  if (b0 === 0xa0 || b0 === 0xa1) return spnego(parseNegotiationToken(bytes), false);
  if ((b0 === 0x04 || b0 === 0x05) && bytes[1] === 0x04) return cfxToken(bytes);
  if ((b0 & 0xe0) === 0x60) return decodeKerberosMessage(bytes);
  return invalid('not a Kerberos, SPNEGO or GSS token');
}
