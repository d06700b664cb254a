// The NTLM ContextData (reference section 13): what the user-mode half needs to protect messages,
// in a versioned byte layout shared by SpInitUserModeContext and Export/ImportSecurityContext.
//
//   0  u8   version (2; version 1, without stream state, is still read)
//   1  u8   side: 1 client, 2 server
//   2  u16  flags: bit 0 = RC4 stream state follows the names (version 2)
//   4  u32  NegotiateFlags
//   8  u32  ContextAttributes granted
//  12  u32  send SeqNum
//  16  u32  receive SeqNum
//  20  16   ExportedSessionKey
//  36  u16  user name length (UTF-16LE bytes), then the name; u16 + domain likewise
//  then, with flag bit 0: 258 bytes send RC4 state, 258 bytes receive RC4 state (RC4.saveState)
//
// A context exported after it has protected messages carries its RC4 positions, so the importer
// continues the same keystreams (MS-NLMP 3.4 keeps one RC4 handle per direction for the session).

import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';

export const NTLM_CONTEXT_VERSION = 2;
const RC4_STATE_SIZE = 258;
const HAS_STREAMS = 0x1;

export interface NtlmContextData {
  side: 'client' | 'server';
  NegotiateFlags: number;
  ContextAttributes: number;
  sendSeqNum: number;
  recvSeqNum: number;
  ExportedSessionKey: Uint8Array;
  UserName: string;
  DomainName: string;
  /** RC4 positions of both directions, when the context has protected messages. */
  streams?: { send: Uint8Array; recv: Uint8Array } | null;
}

// Names are a few UTF-16 code units: written and read unit by unit, which costs less than
// Buffer's encoder and decoder (and their pooled allocations) at this size.
function writeUtf16(out: Uint8Array, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[at + 2 * i] = c & 0xff;
    out[at + 2 * i + 1] = c >>> 8;
  }
}

function readUtf16(b: Uint8Array, at: number, bytes: number): string {
  if (bytes > 512) return Buffer.from(b.buffer, b.byteOffset + at, bytes).toString('utf16le');
  let s = '';
  for (let i = 0; i < bytes; i += 2) s += String.fromCharCode(b[at + i]! | (b[at + i + 1]! << 8));
  return s;
}

function writeU16(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

function readU16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

// A copy that never aliases `b`, even when it is a Buffer (whose slice() is a view).
function copyOf(b: Uint8Array, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  for (let i = from; i < to; i++) out[i - from] = b[i]!;
  return out;
}

function malformed(): SspiError {
  return new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'malformed NTLM context data');
}

export function packContextData(c: NtlmContextData): Uint8Array {
  // UTF-16 code units, two bytes each (lone surrogates included, as Buffer's utf16le writes them).
  const ul = 2 * c.UserName.length;
  const dl = 2 * c.DomainName.length;
  if (ul > 0xffff || dl > 0xffff) throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'name too long for NTLM context data');
  const streams = c.streams ?? null;
  const tail = streams ? 2 * RC4_STATE_SIZE : 0;
  const out = new Uint8Array(40 + ul + dl + tail);
  out[0] = NTLM_CONTEXT_VERSION;
  out[1] = c.side === 'client' ? 1 : 2;
  writeU16(out, 2, streams ? HAS_STREAMS : 0);
  writeU32(out, 4, c.NegotiateFlags);
  writeU32(out, 8, c.ContextAttributes);
  writeU32(out, 12, c.sendSeqNum);
  writeU32(out, 16, c.recvSeqNum);
  out.set(c.ExportedSessionKey.subarray(0, 16), 20);
  writeU16(out, 36, ul);
  writeUtf16(out, 38, c.UserName);
  writeU16(out, 38 + ul, dl);
  writeUtf16(out, 40 + ul, c.DomainName);
  if (streams) {
    if (streams.send.length !== RC4_STATE_SIZE || streams.recv.length !== RC4_STATE_SIZE) {
      throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'RC4 state of the wrong size');
    }
    const at = 40 + ul + dl;
    out.set(streams.send, at);
    out.set(streams.recv, at + RC4_STATE_SIZE);
  }
  return out;
}

export function unpackContextData(b: Uint8Array): NtlmContextData {
  if (b.length < 40 || (b[0] !== 1 && b[0] !== NTLM_CONTEXT_VERSION) || (b[1] !== 1 && b[1] !== 2)) throw malformed();
  const flags = readU16(b, 2);
  if (b[0] === 1 ? flags !== 0 : (flags & ~HAS_STREAMS) !== 0) throw malformed();
  const tail = flags & HAS_STREAMS ? 2 * RC4_STATE_SIZE : 0;
  const ul = readU16(b, 36);
  if (40 + ul > b.length) throw malformed();
  const dl = readU16(b, 38 + ul);
  if (40 + ul + dl + tail !== b.length || ul % 2 || dl % 2) throw malformed();
  const at = 40 + ul + dl;
  return {
    side: b[1] === 1 ? 'client' : 'server',
    NegotiateFlags: readU32(b, 4),
    ContextAttributes: readU32(b, 8),
    sendSeqNum: readU32(b, 12),
    recvSeqNum: readU32(b, 16),
    ExportedSessionKey: copyOf(b, 20, 36),
    UserName: readUtf16(b, 38, ul),
    DomainName: readUtf16(b, 40 + ul, dl),
    streams: tail ? { send: copyOf(b, at, at + RC4_STATE_SIZE), recv: copyOf(b, at + RC4_STATE_SIZE, at + tail) } : null,
  };
}
