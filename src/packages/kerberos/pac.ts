// MS-PAC: the Privilege Attribute Certificate in AD-WIN2K-PAC (ad-type 128) authorization data.
// PACTYPE (2.3) with its PAC_INFO_BUFFERs, PAC_CLIENT_INFO (2.7), UPN_DNS_INFO (2.10),
// PAC_SIGNATURE_DATA (2.8), KERB_VALIDATION_INFO (2.5, NDR) and the server signature check (2.8.1).
// Every offset and length is bounds-checked; malformed input is SEC_E_INVALID_TOKEN.
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';
import { KeyUsage } from './asn1/constants.js';
import type { AuthorizationData } from './asn1/types.js';
import { readAuthorizationData } from './asn1/common.js';
import { derDecode } from '../../der/reader.js';
import { verifyChecksum } from './crypto/index.js';
import type { CryptoPolicy, KerberosKey } from './crypto/types.js';

/** MS-PAC 2.4 ulType values. */
export const PacBufferType = {
  LOGON_INFO: 1,
  CREDENTIALS_INFO: 2,
  SERVER_CHECKSUM: 6,
  PRIVSVR_CHECKSUM: 7,
  CLIENT_INFO: 10,
  DELEGATION_INFO: 11,
  UPN_DNS_INFO: 12,
  CLIENT_CLAIMS_INFO: 13,
  DEVICE_INFO: 14,
  DEVICE_CLAIMS_INFO: 15,
  TICKET_CHECKSUM: 16,
  ATTRIBUTES_INFO: 17,
  REQUESTOR: 18,
  FULL_PAC_CHECKSUM: 19,
} as const;

export const AD_IF_RELEVANT = 1;
export const AD_WIN2K_PAC = 128;

export interface PacBuffer {
  type: number;
  /** Offset of the buffer in the PAC (for the signature zeroing). */
  offset: number;
  data: Uint8Array;
}

export interface PacSignature {
  signatureType: number;
  signature: Uint8Array;
  /** Offset of the signature bytes within the whole PAC. */
  signatureOffset: number;
  rodcIdentifier?: number;
}

export interface PacClientInfo {
  /** ClientId FILETIME as 100 ns ticks since 1601 (bigint: exact). */
  clientId: bigint;
  name: string;
}

export interface UpnDnsInfo {
  upn: string;
  dnsDomainName: string;
  flags: number;
  samName?: string;
  sid?: string;
}

export interface GroupMembership {
  relativeId: number;
  attributes: number;
}

export interface SidAndAttributes {
  sid: string;
  attributes: number;
}

/** KERB_VALIDATION_INFO (MS-PAC 2.5); times as FILETIME bigints, strings decoded. */
export interface KerbValidationInfo {
  logonTime: bigint;
  logoffTime: bigint;
  kickOffTime: bigint;
  passwordLastSet: bigint;
  passwordCanChange: bigint;
  passwordMustChange: bigint;
  effectiveName: string;
  fullName: string;
  logonScript: string;
  profilePath: string;
  homeDirectory: string;
  homeDirectoryDrive: string;
  logonCount: number;
  badPasswordCount: number;
  userId: number;
  primaryGroupId: number;
  groupIds: GroupMembership[];
  userFlags: number;
  logonServer: string;
  logonDomainName: string;
  logonDomainId?: string;
  userAccountControl: number;
  extraSids: SidAndAttributes[];
  resourceGroupDomainSid?: string;
  resourceGroupIds: GroupMembership[];
}

export interface Pac {
  version: number;
  buffers: PacBuffer[];
  /** The PAC bytes as given (a view). */
  raw: Uint8Array;
  serverSignature?: PacSignature;
  kdcSignature?: PacSignature;
  clientInfo?: PacClientInfo;
  upnDnsInfo?: UpnDnsInfo;
  logonInfo?: KerbValidationInfo;
}

const invalid = (d: string): SspiError => new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `PAC: ${d}`);
const MAX_BUFFERS = 1024;

class LeReader {
  readonly dv: DataView;
  pos = 0;
  constructor(readonly b: Uint8Array, readonly what: string) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  need(n: number): void {
    if (n < 0 || this.pos + n > this.b.length) throw invalid(`${this.what} truncated at ${this.pos} (+${n} of ${this.b.length})`);
  }
  u8(): number { this.need(1); return this.b[this.pos++]!; }
  u16(): number { this.need(2); const v = this.dv.getUint16(this.pos, true); this.pos += 2; return v; }
  u32(): number { this.need(4); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  u64(): bigint { this.need(8); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v; }
  bytes(n: number): Uint8Array { this.need(n); const v = this.b.subarray(this.pos, this.pos + n); this.pos += n; return v; }
  align(n: number): void { const p = (this.pos + n - 1) & ~(n - 1); this.need(p - this.pos); this.pos = p; }
}

function utf16(b: Uint8Array): string {
  if (b.length % 2 !== 0) throw invalid('odd UTF-16 length');
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf16le');
}

function signatureSize(type: number): number {
  switch (type) {
    case -138: return 16; // KERB_CHECKSUM_HMAC_MD5
    case 15: case 16: return 12; // HMAC_SHA1_96_AES128/256
    case 19: return 16;
    case 20: return 24;
    default: throw invalid(`unknown signature type ${type}`);
  }
}

/** PACTYPE (MS-PAC 2.3): header, buffers, and the buffers this module understands decoded. */
export function parsePac(raw: Uint8Array): Pac {
  const r = new LeReader(raw, 'PACTYPE');
  const count = r.u32();
  const version = r.u32();
  if (version !== 0) throw invalid(`version ${version}`);
  if (count > MAX_BUFFERS || 8 + count * 16 > raw.length) throw invalid(`${count} buffers do not fit`);
  const buffers: PacBuffer[] = [];
  const pac: Pac = { version, buffers, raw };
  for (let i = 0; i < count; i++) {
    const type = r.u32();
    const size = r.u32();
    const off = r.u64();
    if (off % 8n !== 0n) throw invalid(`buffer ${type} offset not 8-aligned`);
    if (off < BigInt(8 + count * 16) || off + BigInt(size) > BigInt(raw.length)) throw invalid(`buffer ${type} outside the PAC`);
    const offset = Number(off);
    buffers.push({ type, offset, data: raw.subarray(offset, offset + size) });
  }
  const once = (t: number): PacBuffer | undefined => {
    const all = buffers.filter((b) => b.type === t);
    if (all.length > 1) throw invalid(`buffer type ${t} appears ${all.length} times`);
    return all[0];
  };
  const sig = (b: PacBuffer | undefined): PacSignature | undefined => {
    if (!b) return undefined;
    const s = new LeReader(b.data, 'PAC_SIGNATURE_DATA');
    const signatureType = s.u32() | 0;
    const n = signatureSize(signatureType);
    const signatureOffset = b.offset + s.pos;
    const signature = s.bytes(n);
    const out: PacSignature = { signatureType, signature, signatureOffset };
    if (s.pos + 2 <= b.data.length) out.rodcIdentifier = s.u16();
    return out;
  };
  const server = sig(once(PacBufferType.SERVER_CHECKSUM));
  if (server) pac.serverSignature = server;
  const kdc = sig(once(PacBufferType.PRIVSVR_CHECKSUM));
  if (kdc) pac.kdcSignature = kdc;
  const ci = once(PacBufferType.CLIENT_INFO);
  if (ci) {
    const c = new LeReader(ci.data, 'PAC_CLIENT_INFO');
    const clientId = c.u64();
    const len = c.u16();
    pac.clientInfo = { clientId, name: utf16(c.bytes(len)) };
  }
  const upn = once(PacBufferType.UPN_DNS_INFO);
  if (upn) pac.upnDnsInfo = parseUpnDnsInfo(upn.data);
  const li = once(PacBufferType.LOGON_INFO);
  if (li) pac.logonInfo = parseKerbValidationInfo(li.data);
  return pac;
}

/** UPN_DNS_INFO (MS-PAC 2.10); offsets are from the start of the buffer. */
export function parseUpnDnsInfo(b: Uint8Array): UpnDnsInfo {
  const r = new LeReader(b, 'UPN_DNS_INFO');
  const str = (len: number, off: number): string => {
    if (off + len > b.length) throw invalid('UPN_DNS_INFO string outside the buffer');
    return utf16(b.subarray(off, off + len));
  };
  const upnLen = r.u16(), upnOff = r.u16(), dnsLen = r.u16(), dnsOff = r.u16(), flags = r.u32();
  const out: UpnDnsInfo = { upn: str(upnLen, upnOff), dnsDomainName: str(dnsLen, dnsOff), flags };
  if (flags & 2) {
    // S flag: SamName and Sid follow (MS-PAC 2.10.1).
    const samLen = r.u16(), samOff = r.u16(), sidLen = r.u16(), sidOff = r.u16();
    out.samName = str(samLen, samOff);
    if (sidOff + sidLen > b.length) throw invalid('UPN_DNS_INFO SID outside the buffer');
    out.sid = sidToString(new LeReader(b.subarray(sidOff, sidOff + sidLen), 'SID'), undefined);
  }
  return out;
}

/** RPC_SID (MS-DTYP 2.4.2.3) as S-1-...; `count` is the NDR conformance when known. */
function sidToString(r: LeReader, count: number | undefined): string {
  const rev = r.u8();
  const n = r.u8();
  if (rev !== 1 || n > 15 || (count !== undefined && count !== n)) throw invalid('malformed SID');
  const auth = r.bytes(6);
  let ia = 0;
  for (const x of auth) ia = ia * 256 + x;
  const parts = [`S-1-${ia}`];
  // Sub-authorities are little-endian in RPC_SID.
  for (let i = 0; i < n; i++) parts.push(String(r.u32()));
  return parts.join('-');
}

/** KERB_VALIDATION_INFO (MS-PAC 2.5): NDR type serialization v1 (MS-RPCE 2.2.6), pointees after the struct. */
export function parseKerbValidationInfo(b: Uint8Array): KerbValidationInfo {
  const r = new LeReader(b, 'KERB_VALIDATION_INFO');
  if (r.u8() !== 1 || r.u8() !== 0x10 || r.u16() !== 8) throw invalid('bad NDR common header');
  r.u32(); // filler
  const objLen = r.u32();
  r.u32();
  if (objLen > b.length - 16) throw invalid('NDR object length past the buffer');
  if (r.u32() === 0) throw invalid('null KERB_VALIDATION_INFO');
  const ft = () => r.u64();
  const times = [ft(), ft(), ft(), ft(), ft(), ft()] as const;
  const ustr = () => ({ len: r.u16(), max: r.u16(), ptr: r.u32() });
  const names = [ustr(), ustr(), ustr(), ustr(), ustr(), ustr()];
  const logonCount = r.u16();
  const badPasswordCount = r.u16();
  const userId = r.u32();
  const primaryGroupId = r.u32();
  const groupCount = r.u32();
  const groupPtr = r.u32();
  const userFlags = r.u32();
  r.bytes(16); // UserSessionKey: zero in a PAC
  const logonServer = ustr();
  const logonDomain = ustr();
  const domainIdPtr = r.u32();
  r.u32(); r.u32(); // Reserved1
  const userAccountControl = r.u32();
  r.u32(); // SubAuthStatus
  r.u64(); r.u64(); r.u32(); r.u32(); // LastSuccessfulILogon, LastFailedILogon, FailedILogonCount, Reserved3
  const sidCount = r.u32();
  const extraSidsPtr = r.u32();
  const resDomainPtr = r.u32();
  const resCount = r.u32();
  const resPtr = r.u32();

  const readString = (s: { len: number; max: number; ptr: number }): string => {
    if (s.ptr === 0) return '';
    r.align(4);
    const max = r.u32(), off = r.u32(), actual = r.u32();
    if (off !== 0 || actual > max || actual * 2 !== s.len || s.len > s.max) throw invalid('inconsistent RPC_UNICODE_STRING');
    const v = utf16(r.bytes(actual * 2));
    return v;
  };
  const readGroups = (ptr: number, count: number): GroupMembership[] => {
    if (ptr === 0) { if (count !== 0) throw invalid('group count without groups'); return []; }
    r.align(4);
    const max = r.u32();
    if (max !== count || count > (r.b.length - r.pos) / 8) throw invalid('group array count mismatch');
    const out: GroupMembership[] = [];
    for (let i = 0; i < count; i++) out.push({ relativeId: r.u32(), attributes: r.u32() });
    return out;
  };
  const readSid = (ptr: number): string | undefined => {
    if (ptr === 0) return undefined;
    r.align(4);
    const n = r.u32();
    return sidToString(r, n);
  };
  const str = names.map(readString);
  const groupIds = readGroups(groupPtr, groupCount);
  const logonServerName = readString(logonServer);
  const logonDomainName = readString(logonDomain);
  const logonDomainId = readSid(domainIdPtr);
  const extraSids: SidAndAttributes[] = [];
  if (extraSidsPtr !== 0) {
    r.align(4);
    if (r.u32() !== sidCount || sidCount > (r.b.length - r.pos) / 8) throw invalid('extra SID count mismatch');
    const entries: { ptr: number; attributes: number }[] = [];
    for (let i = 0; i < sidCount; i++) entries.push({ ptr: r.u32(), attributes: r.u32() });
    for (const e of entries) {
      const sid = readSid(e.ptr);
      if (sid === undefined) throw invalid('null extra SID');
      extraSids.push({ sid, attributes: e.attributes });
    }
  } else if (sidCount !== 0) throw invalid('SID count without SIDs');
  const resourceGroupDomainSid = readSid(resDomainPtr);
  const resourceGroupIds = readGroups(resPtr, resCount);
  const out: KerbValidationInfo = {
    logonTime: times[0], logoffTime: times[1], kickOffTime: times[2], passwordLastSet: times[3], passwordCanChange: times[4], passwordMustChange: times[5],
    effectiveName: str[0]!, fullName: str[1]!, logonScript: str[2]!, profilePath: str[3]!, homeDirectory: str[4]!, homeDirectoryDrive: str[5]!,
    logonCount, badPasswordCount, userId, primaryGroupId, groupIds, userFlags,
    logonServer: logonServerName, logonDomainName, userAccountControl, extraSids, resourceGroupIds,
  };
  if (logonDomainId) out.logonDomainId = logonDomainId;
  if (resourceGroupDomainSid) out.resourceGroupDomainSid = resourceGroupDomainSid;
  return out;
}

/**
 * MS-PAC 2.8.1: the server signature is a keyed checksum, with the service key and key usage 17,
 * over the whole PAC with the signature bytes of both the server and KDC signatures zeroed.
 */
export function verifyPacServerSignature(pac: Pac, serviceKey: KerberosKey, policy?: CryptoPolicy): boolean {
  const s = pac.serverSignature;
  const k = pac.kdcSignature;
  if (!s || !k) throw invalid('PAC without server and KDC signatures');
  const copy = Uint8Array.from(pac.raw);
  copy.fill(0, s.signatureOffset, s.signatureOffset + s.signature.length);
  copy.fill(0, k.signatureOffset, k.signatureOffset + k.signature.length);
  return verifyChecksum(serviceKey, KeyUsage.KERB_NON_KERB_CKSUM_SALT, copy, s.signature, s.signatureType, policy);
}

/** The AD-WIN2K-PAC element inside a ticket's authorization-data (it sits in AD-IF-RELEVANT, RFC 4120 5.2.6.1). */
export function findPac(ad: AuthorizationData | undefined): Uint8Array | undefined {
  for (const e of ad ?? []) {
    if (e.adType === AD_WIN2K_PAC) return e.adData;
    if (e.adType === AD_IF_RELEVANT) {
      const inner = findPac(derDecode(e.adData, readAuthorizationData));
      if (inner) return inner;
    }
  }
  return undefined;
}
