// NTLM authentication messages (MS-NLMP 2.2.1): NEGOTIATE_MESSAGE, CHALLENGE_MESSAGE and
// AUTHENTICATE_MESSAGE parsed once into typed objects and written from them, plus the NTLMv2
// response structures (MS-NLMP 2.2.2.8, 2.2.2.7) and the VERSION structure (MS-NLMP 2.2.2.10).
//
// Strings: Unicode (UTF-16LE) when NTLMSSP_NEGOTIATE_UNICODE is set in the message's own flags, else
// OEM. The OEM code page is unknowable on the wire; it is treated as latin1 (a superset of ASCII that
// maps every byte to one code unit), so OEM text round-trips byte-exactly and non-ASCII bytes decode
// as the matching U+0080..U+00FF. NEGOTIATE_MESSAGE strings are always OEM (MS-NLMP 2.2.1.1).
//
// Header shape: the fixed headers grew over time (VERSION, then MIC in AUTHENTICATE; Reserved and
// TargetInfo, then VERSION in CHALLENGE). Flags do not say which slots a sender laid out (curl sets
// no VERSION flag and sends no slot; some senders set the flag and still omit the slot), so the
// parser decides from the layout itself:
//   payloadStart = min(BufferOffset of every non-empty payload field, message length)
// and an optional slot is present exactly when it ends at or before payloadStart:
//   NEGOTIATE:    fields if length >= 32; Version if payloadStart >= 40
//   CHALLENGE:    Reserved if >= 40; TargetInfoFields if >= 48; Version if >= 56
//   AUTHENTICATE: Version if >= 72; MIC (at offset 72) if >= 88
// A non-empty field pointing into the fixed part that always exists is rejected.
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';
import { NTLMSSP_NEGOTIATE_UNICODE, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY } from './flags.js';
import { type AvPairList, parseAvPairs, writeAvPairs } from './avpairs.js';

/** 'N','T','L','M','S','S','P','\0' (MS-NLMP 2.2.1). */
export const NTLMSSP_SIGNATURE: Uint8Array = new Uint8Array([0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0x00]);
/** MessageType values (MS-NLMP 2.2.1). */
export const NtLmNegotiate = 0x00000001;
export const NtLmChallenge = 0x00000002;
export const NtLmAuthenticate = 0x00000003;
import { AUTHENTICATE_MIC_OFFSET } from './flags.js';
export { AUTHENTICATE_MIC_OFFSET, NTLMSSP_REVISION_W2K3 } from './flags.js';
/**
 * Largest message accepted. Field lengths are 16-bit, so nothing legitimate is near this; the limit
 * only stops absurd inputs before any work is done.
 */
export const NTLM_MAX_MESSAGE_SIZE = 0x10000;

/** VERSION (MS-NLMP 2.2.2.10): for debugging only, never interpreted by the protocol. */
export interface VERSION {
  ProductMajorVersion: number;
  ProductMinorVersion: number;
  ProductBuild: number;
  /** The 3 reserved bytes; present only when the sender put something other than zeros there. */
  Reserved?: Uint8Array;
  NTLMRevisionCurrent: number;
}

/** One Len/MaxLen/BufferOffset descriptor as it was on the wire (MS-NLMP 2.2.1.1 "...Fields"). */
export interface PayloadField {
  Len: number;
  MaxLen: number;
  BufferOffset: number;
}

/**
 * Where a parsed message had its parts. A writer given the same object back reuses this layout
 * when every field still has its old length, so write(parse(x)) reproduces x (bytes the layout
 * leaves unused are written as zeros); otherwise it lays the payload out afresh.
 */
export interface MessageLayout<F extends string> {
  /** Start of the payload by the rule above (the fixed header plus any gap the sender left). */
  PayloadStart: number;
  /** Total length of the message. */
  Length: number;
  /** Descriptors of the fields the header had, by spec field name. */
  Fields: Partial<Record<F, PayloadField>>;
}

export type NegotiateField = 'DomainName' | 'Workstation';
export type ChallengeField = 'TargetName' | 'TargetInfo';
export type AuthenticateField =
  | 'LmChallengeResponse'
  | 'NtChallengeResponse'
  | 'DomainName'
  | 'UserName'
  | 'Workstation'
  | 'EncryptedRandomSessionKey';

/** NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1). */
export interface NEGOTIATE_MESSAGE {
  NegotiateFlags: number;
  /** OEM; '' when empty or when the 16-byte form has no field at all. */
  DomainName: string;
  /** OEM; '' when empty or absent. */
  Workstation: string;
  /** Present when the header has the VERSION slot (40-byte form); the writer then emits it. */
  Version?: VERSION;
  /** Set by the parser. */
  layout?: MessageLayout<NegotiateField>;
  /** The exact message bytes, set by the parser: input to the MIC (MS-NLMP 3.1.5.1.2). */
  raw?: Uint8Array;
}

/** CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2). */
export interface CHALLENGE_MESSAGE {
  NegotiateFlags: number;
  /** Unicode or OEM per NegotiateFlags. */
  TargetName: string;
  /** 8 bytes. */
  ServerChallenge: Uint8Array;
  /** The 8 reserved bytes (once a context handle); present only when the slot exists and is non-zero. */
  Reserved?: Uint8Array;
  /** The TargetInfo bytes as sent (empty when absent). */
  TargetInfo: Uint8Array;
  /** TargetInfo parsed; undefined when empty. When set, the writer serializes this, not `TargetInfo`. */
  TargetInfoPairs?: AvPairList;
  Version?: VERSION;
  layout?: MessageLayout<ChallengeField>;
  raw?: Uint8Array;
}

/** AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3). */
export interface AUTHENTICATE_MESSAGE {
  NegotiateFlags: number;
  LmChallengeResponse: Uint8Array;
  NtChallengeResponse: Uint8Array;
  /** Unicode or OEM per this message's NegotiateFlags. */
  DomainName: string;
  UserName: string;
  Workstation: string;
  /** Empty when the sender did not do key exchange. */
  EncryptedRandomSessionKey: Uint8Array;
  /** Present when the header has the VERSION slot (72- and 88-byte forms). */
  Version?: VERSION;
  /** 16 bytes; present only in the 88-byte form. A writer given a MIC also emits a VERSION slot. */
  MIC?: Uint8Array;
  /** Byte offset of the MIC in `raw` (always AUTHENTICATE_MIC_OFFSET), set by the parser. */
  MicOffset?: number;
  layout?: MessageLayout<AuthenticateField>;
  raw?: Uint8Array;
}

export type NTLM_MESSAGE = NEGOTIATE_MESSAGE | CHALLENGE_MESSAGE | AUTHENTICATE_MESSAGE;

// ---------------------------------------------------------------------------------------------
// Shared helpers

function invalid(detail: string): never {
  throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, detail);
}

function badParam(detail: string): never {
  throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, detail);
}

/** A plain Uint8Array view: Buffer.slice() aliases memory, Uint8Array.slice() copies. */
function plain(b: Uint8Array): Uint8Array {
  if (!(b instanceof Uint8Array)) invalid('NTLM input is not a byte array');
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Check signature, type and minimum size; every parser starts here (MS-NLMP 2.2.1). */
function prelude(bytes: Uint8Array, type: number, minLength: number, name: string): DataView {
  if (!(bytes instanceof Uint8Array)) invalid(`${name}: not a byte array`);
  if (bytes.length > NTLM_MAX_MESSAGE_SIZE) invalid(`${name}: ${bytes.length} bytes is larger than any NTLM message`);
  const got = ntlmMessageType(bytes);
  if (got !== type) invalid(`${name}: MessageType is ${got}, expected ${type}`);
  if (bytes.length < minLength) invalid(`${name}: ${bytes.length} bytes, header needs ${minLength}`);
  return view(bytes);
}

/** True when `bytes` starts with the NTLMSSP signature and a MessageType. */
export function isNtlmMessage(bytes: Uint8Array): boolean {
  if (bytes.length < 12) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== NTLMSSP_SIGNATURE[i]) return false;
  return true;
}

/** The MessageType of an NTLM message (1, 2, 3, or whatever else it says); SEC_E_INVALID_TOKEN if not NTLM. */
export function ntlmMessageType(bytes: Uint8Array): number {
  if (!(bytes instanceof Uint8Array) || bytes.length < 12) invalid('NTLM message shorter than its 12-byte prefix');
  if (!isNtlmMessage(bytes)) invalid('NTLM message without the "NTLMSSP\\0" signature');
  return view(bytes).getUint32(8, true);
}

/** Read one descriptor and check it lies inside the message; non-empty data may not start before `minOffset`. */
function readField(dv: DataView, at: number, name: string, minOffset: number): PayloadField {
  const Len = dv.getUint16(at, true);
  const MaxLen = dv.getUint16(at + 2, true);
  const BufferOffset = dv.getUint32(at + 4, true);
  const length = dv.byteLength;
  if (Len > 0) {
    if (BufferOffset < minOffset) invalid(`${name} at offset ${BufferOffset} overlaps the fixed header`);
    if (BufferOffset + Len > length) invalid(`${name} (offset ${BufferOffset}, length ${Len}) runs past the ${length}-byte message`);
  } else if (BufferOffset > length) {
    invalid(`${name} offset ${BufferOffset} is outside the ${length}-byte message`);
  }
  return { Len, MaxLen, BufferOffset };
}

function fieldBytes(bytes: Uint8Array, f: PayloadField): Uint8Array {
  return f.Len === 0 ? new Uint8Array(0) : bytes.slice(f.BufferOffset, f.BufferOffset + f.Len);
}

function payloadStart(fields: Iterable<PayloadField>, length: number): number {
  let start = length;
  for (const f of fields) if (f.Len > 0 && f.BufferOffset < start) start = f.BufferOffset;
  return start;
}

function decodeString(data: Uint8Array, unicode: boolean, name: string): string {
  if (!unicode) return Buffer.from(data).toString('latin1');
  if (data.length % 2 !== 0) invalid(`${name}: Unicode string with odd length ${data.length}`);
  return Buffer.from(data).toString('utf16le');
}

function encodeString(s: string, unicode: boolean, name: string): Uint8Array {
  if (unicode) return Buffer.from(s, 'utf16le');
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) badParam(`${name}: character U+${s.charCodeAt(i).toString(16)} has no OEM (latin1) form`);
  }
  return Buffer.from(s, 'latin1');
}

function readVersion(b: Uint8Array, at: number): VERSION {
  const dv = view(b);
  const v: VERSION = {
    ProductMajorVersion: b[at]!,
    ProductMinorVersion: b[at + 1]!,
    ProductBuild: dv.getUint16(at + 2, true),
    NTLMRevisionCurrent: b[at + 7]!,
  };
  if (b[at + 4] !== 0 || b[at + 5] !== 0 || b[at + 6] !== 0) v.Reserved = b.slice(at + 4, at + 7);
  return v;
}

function writeVersion(buf: Buffer, at: number, v: VERSION): void {
  buf[at] = v.ProductMajorVersion & 0xff;
  buf[at + 1] = v.ProductMinorVersion & 0xff;
  buf.writeUInt16LE(v.ProductBuild & 0xffff, at + 2);
  if (v.Reserved) {
    if (v.Reserved.length !== 3) badParam('VERSION.Reserved must be 3 bytes');
    buf.set(v.Reserved, at + 4);
  }
  buf[at + 7] = v.NTLMRevisionCurrent & 0xff;
}

function isZero(b: Uint8Array | undefined): boolean {
  return !b || b.every((x) => x === 0);
}

interface OutField<F extends string> {
  name: F;
  /** Where the descriptor sits in the header. */
  descAt: number;
  data: Uint8Array;
}

/**
 * Lay out the payload and write descriptors and data. Uses `layout` when it still fits the data
 * exactly (same lengths, same payload start, no overlaps), else packs the fields in order after
 * `headerLength`, with empty fields pointing at the current end (as Windows does).
 */
function assemble<F extends string>(
  fields: OutField<F>[],
  headerLength: number,
  layout: MessageLayout<F> | undefined,
): Buffer {
  for (const f of fields) if (f.data.length > 0xffff) badParam(`${f.name} longer than 65535 bytes`);
  const placed = layout && layoutFits(fields, headerLength, layout) ? layout : undefined;
  if (placed) {
    const buf = Buffer.alloc(placed.Length);
    for (const f of fields) {
      const d = placed.Fields[f.name]!;
      buf.writeUInt16LE(d.Len, f.descAt);
      buf.writeUInt16LE(d.MaxLen, f.descAt + 2);
      buf.writeUInt32LE(d.BufferOffset, f.descAt + 4);
      if (d.Len > 0) buf.set(f.data, d.BufferOffset);
    }
    return buf;
  }
  const total = fields.reduce((n, f) => n + f.data.length, headerLength);
  if (total > NTLM_MAX_MESSAGE_SIZE) badParam(`message of ${total} bytes is too large`);
  const buf = Buffer.alloc(total);
  let cursor = headerLength;
  for (const f of fields) {
    buf.writeUInt16LE(f.data.length, f.descAt);
    buf.writeUInt16LE(f.data.length, f.descAt + 2);
    buf.writeUInt32LE(cursor, f.descAt + 4);
    buf.set(f.data, cursor);
    cursor += f.data.length;
  }
  return buf;
}

function layoutFits<F extends string>(fields: OutField<F>[], headerLength: number, layout: MessageLayout<F>): boolean {
  const { PayloadStart, Length } = layout;
  if (!Number.isInteger(Length) || Length > NTLM_MAX_MESSAGE_SIZE || !Number.isInteger(PayloadStart) || PayloadStart < headerLength || PayloadStart > Length) return false;
  const used: Array<[number, number]> = [];
  for (const f of fields) {
    const d = layout.Fields[f.name];
    if (!d || d.Len !== f.data.length) return false;
    if (!Number.isInteger(d.MaxLen) || d.MaxLen < 0 || d.MaxLen > 0xffff || !Number.isInteger(d.BufferOffset) || d.BufferOffset < 0) return false;
    if (d.Len === 0) {
      if (d.BufferOffset > Length) return false;
      continue;
    }
    if (d.BufferOffset < PayloadStart || d.BufferOffset + d.Len > Length) return false;
    for (const [s, e] of used) if (d.BufferOffset < e && s < d.BufferOffset + d.Len) return false;
    used.push([d.BufferOffset, d.BufferOffset + d.Len]);
  }
  // The parser must find the same payload start again, or the header shape would change.
  return payloadStart(fields.map((f) => layout.Fields[f.name]!), Length) === PayloadStart;
}

function finishHeader(buf: Buffer, type: number, flagsAt: number, flags: number): Uint8Array {
  buf.set(NTLMSSP_SIGNATURE, 0);
  buf.writeUInt32LE(type, 8);
  buf.writeUInt32LE(flags >>> 0, flagsAt);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

// ---------------------------------------------------------------------------------------------
// NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1)

/** Parse a NEGOTIATE_MESSAGE: 16-byte (flags only), 32-byte (curl) and 40-byte (with VERSION) forms. */
export function parseNegotiateMessage(input: Uint8Array): NEGOTIATE_MESSAGE {
  const bytes = plain(input);
  const dv = prelude(bytes, NtLmNegotiate, 16, 'NEGOTIATE_MESSAGE');
  const NegotiateFlags = dv.getUint32(12, true);
  const msg: NEGOTIATE_MESSAGE = { NegotiateFlags, DomainName: '', Workstation: '' };
  const Fields: Partial<Record<NegotiateField, PayloadField>> = {};
  let start = bytes.length;
  if (bytes.length >= 32) {
    Fields.DomainName = readField(dv, 16, 'DomainName', 32);
    Fields.Workstation = readField(dv, 24, 'Workstation', 32);
    start = payloadStart(Object.values(Fields), bytes.length);
    // Always OEM here: Unicode has not been negotiated yet (MS-NLMP 2.2.1.1).
    msg.DomainName = decodeString(fieldBytes(bytes, Fields.DomainName), false, 'DomainName');
    msg.Workstation = decodeString(fieldBytes(bytes, Fields.Workstation), false, 'Workstation');
    if (start >= 40) msg.Version = readVersion(bytes, 32);
  }
  msg.layout = { PayloadStart: start, Length: bytes.length, Fields };
  msg.raw = bytes.slice();
  return msg;
}

/**
 * Write a NEGOTIATE_MESSAGE: 40 bytes + payload when `Version` is set, else 32 (the curl shape).
 * Flags are written as given; set NTLMSSP_NEGOTIATE_OEM_*_SUPPLIED yourself when sending names.
 */
export function writeNegotiateMessage(msg: NEGOTIATE_MESSAGE): Uint8Array {
  const domain = encodeString(msg.DomainName, false, 'DomainName');
  const workstation = encodeString(msg.Workstation, false, 'Workstation');
  const hasVersion = msg.Version !== undefined;
  let layout = msg.layout;
  let headerLength = hasVersion ? 40 : 32;
  let fields: OutField<NegotiateField>[] = [
    { name: 'DomainName', descAt: 16, data: domain },
    { name: 'Workstation', descAt: 24, data: workstation },
  ];
  if (layout) {
    const s = layout.PayloadStart;
    if (s < 32 && !hasVersion && domain.length === 0 && workstation.length === 0) {
      // The 16-byte form has no descriptors at all.
      headerLength = 16;
      fields = [];
    } else if ((s >= 40) !== hasVersion || s < 32) {
      layout = undefined;
    }
  }
  const buf = assemble(fields, headerLength, layout);
  if (msg.Version) writeVersion(buf, 32, msg.Version);
  return finishHeader(buf, NtLmNegotiate, 12, msg.NegotiateFlags);
}

// ---------------------------------------------------------------------------------------------
// CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2)

/** Parse a CHALLENGE_MESSAGE: 56-byte form, and the older 48-, 40- and 32-byte forms. */
export function parseChallengeMessage(input: Uint8Array): CHALLENGE_MESSAGE {
  const bytes = plain(input);
  const dv = prelude(bytes, NtLmChallenge, 32, 'CHALLENGE_MESSAGE');
  const NegotiateFlags = dv.getUint32(20, true);
  const Fields: Partial<Record<ChallengeField, PayloadField>> = {};
  Fields.TargetName = readField(dv, 12, 'TargetName', 32);
  let start = payloadStart([Fields.TargetName], bytes.length);
  if (start >= 48) {
    Fields.TargetInfo = readField(dv, 40, 'TargetInfo', 48);
    start = payloadStart([Fields.TargetName, Fields.TargetInfo], bytes.length);
  }
  const unicode = (NegotiateFlags & NTLMSSP_NEGOTIATE_UNICODE) !== 0;
  const msg: CHALLENGE_MESSAGE = {
    NegotiateFlags,
    TargetName: decodeString(fieldBytes(bytes, Fields.TargetName), unicode, 'TargetName'),
    ServerChallenge: bytes.slice(24, 32),
    TargetInfo: Fields.TargetInfo ? fieldBytes(bytes, Fields.TargetInfo) : new Uint8Array(0),
  };
  if (start >= 40 && !isZero(bytes.subarray(32, 40))) msg.Reserved = bytes.slice(32, 40);
  if (msg.TargetInfo.length > 0) msg.TargetInfoPairs = parseAvPairs(msg.TargetInfo, { what: 'TargetInfo' });
  if (start >= 56) msg.Version = readVersion(bytes, 48);
  msg.layout = { PayloadStart: start, Length: bytes.length, Fields };
  msg.raw = bytes.slice();
  return msg;
}

/** Write a CHALLENGE_MESSAGE: 56 bytes + payload when `Version` is set, else 48. */
export function writeChallengeMessage(msg: CHALLENGE_MESSAGE): Uint8Array {
  if (!(msg.ServerChallenge instanceof Uint8Array) || msg.ServerChallenge.length !== 8) badParam('ServerChallenge must be 8 bytes');
  if (msg.Reserved && msg.Reserved.length !== 8) badParam('CHALLENGE_MESSAGE Reserved must be 8 bytes');
  const unicode = (msg.NegotiateFlags & NTLMSSP_NEGOTIATE_UNICODE) !== 0;
  const targetName = encodeString(msg.TargetName, unicode, 'TargetName');
  const targetInfo = msg.TargetInfoPairs ? writeAvPairs(msg.TargetInfoPairs) : (msg.TargetInfo ?? new Uint8Array(0));
  const hasVersion = msg.Version !== undefined;
  let layout = msg.layout;
  let headerLength = hasVersion ? 56 : 48;
  let fields: OutField<ChallengeField>[] = [
    { name: 'TargetName', descAt: 12, data: targetName },
    { name: 'TargetInfo', descAt: 40, data: targetInfo },
  ];
  if (layout) {
    const s = layout.PayloadStart;
    if ((s >= 56) !== hasVersion || (s < 40 && !isZero(msg.Reserved)) || (s < 48 && targetInfo.length > 0)) {
      layout = undefined;
    } else if (s < 48) {
      // The older 32- and 40-byte forms have no TargetInfoFields.
      headerLength = s >= 40 ? 40 : 32;
      fields = fields.slice(0, 1);
    }
  }
  const buf = assemble(fields, headerLength, layout);
  buf.set(msg.ServerChallenge, 24);
  if (msg.Reserved) buf.set(msg.Reserved, 32);
  if (msg.Version) writeVersion(buf, 48, msg.Version);
  return finishHeader(buf, NtLmChallenge, 20, msg.NegotiateFlags);
}

// ---------------------------------------------------------------------------------------------
// AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3)

const AUTH_FIELDS: ReadonlyArray<readonly [AuthenticateField, number]> = [
  ['LmChallengeResponse', 12],
  ['NtChallengeResponse', 20],
  ['DomainName', 28],
  ['UserName', 36],
  ['Workstation', 44],
  ['EncryptedRandomSessionKey', 52],
];

/** Parse an AUTHENTICATE_MESSAGE: 64-byte (no VERSION, no MIC), 72-byte (VERSION) and 88-byte (VERSION + MIC) forms. */
export function parseAuthenticateMessage(input: Uint8Array): AUTHENTICATE_MESSAGE {
  const bytes = plain(input);
  const dv = prelude(bytes, NtLmAuthenticate, 64, 'AUTHENTICATE_MESSAGE');
  const Fields: Partial<Record<AuthenticateField, PayloadField>> = {};
  for (const [name, at] of AUTH_FIELDS) Fields[name] = readField(dv, at, name, 64);
  const f = Fields as Record<AuthenticateField, PayloadField>;
  const NegotiateFlags = dv.getUint32(60, true);
  const unicode = (NegotiateFlags & NTLMSSP_NEGOTIATE_UNICODE) !== 0;
  const start = payloadStart(Object.values(f), bytes.length);
  const msg: AUTHENTICATE_MESSAGE = {
    NegotiateFlags,
    LmChallengeResponse: fieldBytes(bytes, f.LmChallengeResponse),
    NtChallengeResponse: fieldBytes(bytes, f.NtChallengeResponse),
    DomainName: decodeString(fieldBytes(bytes, f.DomainName), unicode, 'DomainName'),
    UserName: decodeString(fieldBytes(bytes, f.UserName), unicode, 'UserName'),
    Workstation: decodeString(fieldBytes(bytes, f.Workstation), unicode, 'Workstation'),
    EncryptedRandomSessionKey: fieldBytes(bytes, f.EncryptedRandomSessionKey),
  };
  if (start >= 72) msg.Version = readVersion(bytes, 64);
  if (start >= 88) {
    msg.MIC = bytes.slice(AUTHENTICATE_MIC_OFFSET, AUTHENTICATE_MIC_OFFSET + 16);
    msg.MicOffset = AUTHENTICATE_MIC_OFFSET;
  }
  msg.layout = { PayloadStart: start, Length: bytes.length, Fields };
  msg.raw = bytes.slice();
  return msg;
}

/**
 * Write an AUTHENTICATE_MESSAGE: 88 bytes + payload when `MIC` is set (with a zero VERSION if none
 * is given), 72 when only `Version` is set, else 64 (the curl shape). To fill in a MIC, write with
 * a zero MIC, compute over that, and copy it to AUTHENTICATE_MIC_OFFSET (MS-NLMP 3.1.5.1.2).
 */
export function writeAuthenticateMessage(msg: AUTHENTICATE_MESSAGE): Uint8Array {
  if (msg.MIC && msg.MIC.length !== 16) badParam('MIC must be 16 bytes');
  const unicode = (msg.NegotiateFlags & NTLMSSP_NEGOTIATE_UNICODE) !== 0;
  const data: Record<AuthenticateField, Uint8Array> = {
    LmChallengeResponse: msg.LmChallengeResponse,
    NtChallengeResponse: msg.NtChallengeResponse,
    DomainName: encodeString(msg.DomainName, unicode, 'DomainName'),
    UserName: encodeString(msg.UserName, unicode, 'UserName'),
    Workstation: encodeString(msg.Workstation, unicode, 'Workstation'),
    EncryptedRandomSessionKey: msg.EncryptedRandomSessionKey,
  };
  // Windows order: strings first (keeps Unicode 2-byte aligned), then responses, then the key.
  const order: AuthenticateField[] = [
    'DomainName',
    'UserName',
    'Workstation',
    'LmChallengeResponse',
    'NtChallengeResponse',
    'EncryptedRandomSessionKey',
  ];
  const at = Object.fromEntries(AUTH_FIELDS) as Record<AuthenticateField, number>;
  const fields = order.map((name) => ({ name, descAt: at[name], data: data[name] }));
  const hasMic = msg.MIC !== undefined;
  const hasVersion = hasMic || msg.Version !== undefined;
  const headerLength = hasMic ? 88 : hasVersion ? 72 : 64;
  let layout = msg.layout;
  if (layout && ((layout.PayloadStart >= 88) !== hasMic || (layout.PayloadStart >= 72) !== hasVersion)) layout = undefined;
  const buf = assemble(fields, headerLength, layout);
  if (hasVersion) {
    writeVersion(buf, 64, msg.Version ?? { ProductMajorVersion: 0, ProductMinorVersion: 0, ProductBuild: 0, NTLMRevisionCurrent: 0 });
  }
  if (msg.MIC) buf.set(msg.MIC, AUTHENTICATE_MIC_OFFSET);
  return finishHeader(buf, NtLmAuthenticate, 60, msg.NegotiateFlags);
}

/** A copy of a parsed AUTHENTICATE_MESSAGE's bytes with the MIC zeroed, the input for verifying it (MS-NLMP 3.2.5.1.2). */
export function authenticateMessageWithZeroMic(msg: AUTHENTICATE_MESSAGE): Uint8Array {
  if (!msg.raw) badParam('AUTHENTICATE_MESSAGE has no raw bytes (was it parsed?)');
  const copy = msg.raw.slice();
  if (msg.MicOffset !== undefined) copy.fill(0, msg.MicOffset, msg.MicOffset + 16);
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Response classification (MS-NLMP 3.2.5.1.2, 3.3.1, 3.3.2)

export type NtlmResponseKind =
  /** Empty NT response, empty or Z(1) LM response, empty user (MS-NLMP 3.2.5.1.2). */
  | 'Anonymous'
  /** No NT response, only a 24-byte LM (LMv1 or LMv2) response. */
  | 'LM'
  /** 24-byte NT response without extended session security (MS-NLMP 3.3.1). */
  | 'NTLMv1'
  /** 24-byte NT response with NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY (MS-NLMP 3.3.1). */
  | 'NTLMv1-ESS'
  /** NT response longer than 24 bytes: NTProofStr + NTLMv2_CLIENT_CHALLENGE (MS-NLMP 3.3.2). */
  | 'NTLMv2'
  | 'Unknown';

/** Which response scheme an AUTHENTICATE_MESSAGE carries, from its lengths and flags. */
export function ntlmResponseKind(msg: AUTHENTICATE_MESSAGE): NtlmResponseKind {
  const nt = msg.NtChallengeResponse.length;
  const lm = msg.LmChallengeResponse;
  if (nt === 0) {
    if (msg.UserName === '' && (lm.length === 0 || (lm.length === 1 && lm[0] === 0))) return 'Anonymous';
    return lm.length === 24 ? 'LM' : 'Unknown';
  }
  if (nt === 24) return (msg.NegotiateFlags & NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) !== 0 ? 'NTLMv1-ESS' : 'NTLMv1';
  return nt >= NTLMV2_RESPONSE_MIN ? 'NTLMv2' : 'Unknown';
}

// ---------------------------------------------------------------------------------------------
// NTLMv2_RESPONSE (MS-NLMP 2.2.2.8) and NTLMv2_CLIENT_CHALLENGE (MS-NLMP 2.2.2.7)

/** NTLMv2_CLIENT_CHALLENGE (MS-NLMP 2.2.2.7). */
export interface NTLMv2_CLIENT_CHALLENGE {
  /** MUST be 1; kept as sent. */
  RespType: number;
  /** MUST be 1; kept as sent. */
  HiRespType: number;
  Reserved1: number;
  Reserved2: number;
  /** FILETIME. */
  TimeStamp: bigint;
  /** 8 bytes. */
  ChallengeFromClient: Uint8Array;
  Reserved3: number;
  /** The client's AV pairs; `Trailing` holds what follows MsvAvEOL (normally Z(4), MS-NLMP 3.3.2). */
  AvPairs: AvPairList;
}

/** NTLMv2_RESPONSE (MS-NLMP 2.2.2.8). */
export interface NTLMv2_RESPONSE {
  /** The 16-byte Response field, NTProofStr in MS-NLMP 3.3.2. */
  NTProofStr: Uint8Array;
  ClientChallenge: NTLMv2_CLIENT_CHALLENGE;
  /** The NTLMv2_CLIENT_CHALLENGE bytes as sent: `temp` of MS-NLMP 3.3.2, hashed into NTProofStr. */
  temp: Uint8Array;
}

const CLIENT_CHALLENGE_FIXED = 28; // RespType .. Reserved3
/** NTProofStr + the fixed client challenge + a lone MsvAvEOL. */
export const NTLMV2_RESPONSE_MIN = 16 + CLIENT_CHALLENGE_FIXED + 4;

/** Parse an NtChallengeResponse as NTLMv2_RESPONSE; SEC_E_INVALID_TOKEN if it is not one. */
export function parseNtlmv2Response(input: Uint8Array): NTLMv2_RESPONSE {
  if (!(input instanceof Uint8Array)) invalid('NTLMv2_RESPONSE: not a byte array');
  const bytes = plain(input);
  if (bytes.length < NTLMV2_RESPONSE_MIN) {
    invalid(`NTLMv2_RESPONSE shorter than ${NTLMV2_RESPONSE_MIN} bytes`);
  }
  const temp = bytes.slice(16);
  return { NTProofStr: bytes.slice(0, 16), ClientChallenge: parseNtlmv2ClientChallenge(temp), temp };
}

/** Parse an NTLMv2_CLIENT_CHALLENGE (MS-NLMP 2.2.2.7). */
export function parseNtlmv2ClientChallenge(input: Uint8Array): NTLMv2_CLIENT_CHALLENGE {
  if (!(input instanceof Uint8Array)) invalid('NTLMv2_CLIENT_CHALLENGE: not a byte array');
  const temp = plain(input);
  if (temp.length < CLIENT_CHALLENGE_FIXED + 4) invalid('NTLMv2_CLIENT_CHALLENGE truncated');
  const dv = view(temp);
  return {
    RespType: temp[0]!,
    HiRespType: temp[1]!,
    Reserved1: dv.getUint16(2, true),
    Reserved2: dv.getUint32(4, true),
    TimeStamp: dv.getBigUint64(8, true),
    ChallengeFromClient: temp.slice(16, 24),
    Reserved3: dv.getUint32(24, true),
    AvPairs: parseAvPairs(temp.subarray(CLIENT_CHALLENGE_FIXED), { allowTrailing: true, what: 'NTLMv2 AvPairs' }),
  };
}

/** Serialize an NTLMv2_CLIENT_CHALLENGE: the `temp` that NTProofStr is computed over (MS-NLMP 3.3.2). */
export function writeNtlmv2ClientChallenge(cc: NTLMv2_CLIENT_CHALLENGE): Uint8Array {
  if (cc.ChallengeFromClient.length !== 8) badParam('ChallengeFromClient must be 8 bytes');
  const pairs = writeAvPairs(cc.AvPairs);
  const buf = Buffer.alloc(CLIENT_CHALLENGE_FIXED + pairs.length);
  buf[0] = cc.RespType & 0xff;
  buf[1] = cc.HiRespType & 0xff;
  buf.writeUInt16LE(cc.Reserved1 & 0xffff, 2);
  buf.writeUInt32LE(cc.Reserved2 >>> 0, 4);
  buf.writeBigUInt64LE(BigInt.asUintN(64, cc.TimeStamp), 8);
  buf.set(cc.ChallengeFromClient, 16);
  buf.writeUInt32LE(cc.Reserved3 >>> 0, 24);
  buf.set(pairs, CLIENT_CHALLENGE_FIXED);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** NTProofStr || temp (MS-NLMP 3.3.2). */
export function writeNtlmv2Response(NTProofStr: Uint8Array, clientChallenge: NTLMv2_CLIENT_CHALLENGE | Uint8Array): Uint8Array {
  if (NTProofStr.length !== 16) badParam('NTProofStr must be 16 bytes');
  const temp = clientChallenge instanceof Uint8Array ? clientChallenge : writeNtlmv2ClientChallenge(clientChallenge);
  const out = new Uint8Array(16 + temp.length);
  out.set(NTProofStr, 0);
  out.set(temp, 16);
  return out;
}
