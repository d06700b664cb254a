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

export function packContextData(c: NtlmContextData): Uint8Array {
  const user = Buffer.from(c.UserName, 'utf16le');
  const dom = Buffer.from(c.DomainName, 'utf16le');
  const streams = c.streams ?? null;
  const tail = streams ? 2 * RC4_STATE_SIZE : 0;
  const out = Buffer.alloc(36 + 2 + user.length + 2 + dom.length + tail);
  out[0] = NTLM_CONTEXT_VERSION;
  out[1] = c.side === 'client' ? 1 : 2;
  out.writeUInt16LE(streams ? HAS_STREAMS : 0, 2);
  out.writeUInt32LE(c.NegotiateFlags >>> 0, 4);
  out.writeUInt32LE(c.ContextAttributes >>> 0, 8);
  out.writeUInt32LE(c.sendSeqNum >>> 0, 12);
  out.writeUInt32LE(c.recvSeqNum >>> 0, 16);
  out.set(c.ExportedSessionKey.subarray(0, 16), 20);
  out.writeUInt16LE(user.length, 36);
  user.copy(out, 38);
  out.writeUInt16LE(dom.length, 38 + user.length);
  dom.copy(out, 40 + user.length);
  if (streams) {
    if (streams.send.length !== RC4_STATE_SIZE || streams.recv.length !== RC4_STATE_SIZE) {
      throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'RC4 state of the wrong size');
    }
    const at = 40 + user.length + dom.length;
    out.set(streams.send, at);
    out.set(streams.recv, at + RC4_STATE_SIZE);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export function unpackContextData(bytes: Uint8Array): NtlmContextData {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const bad = () => new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'malformed NTLM context data');
  if (b.length < 40 || (b[0] !== 1 && b[0] !== NTLM_CONTEXT_VERSION) || (b[1] !== 1 && b[1] !== 2)) throw bad();
  const flags = b.readUInt16LE(2);
  if (b[0] === 1 ? flags !== 0 : (flags & ~HAS_STREAMS) !== 0) throw bad();
  const tail = flags & HAS_STREAMS ? 2 * RC4_STATE_SIZE : 0;
  const ul = b.readUInt16LE(36);
  if (40 + ul > b.length) throw bad();
  const dl = b.readUInt16LE(38 + ul);
  if (40 + ul + dl + tail !== b.length || ul % 2 || dl % 2) throw bad();
  const at = 40 + ul + dl;
  return {
    side: b[1] === 1 ? 'client' : 'server',
    NegotiateFlags: b.readUInt32LE(4),
    ContextAttributes: b.readUInt32LE(8),
    sendSeqNum: b.readUInt32LE(12),
    recvSeqNum: b.readUInt32LE(16),
    ExportedSessionKey: new Uint8Array(b.subarray(20, 36)),
    UserName: b.subarray(38, 38 + ul).toString('utf16le'),
    DomainName: b.subarray(40 + ul, 40 + ul + dl).toString('utf16le'),
    streams: tail ? { send: new Uint8Array(b.subarray(at, at + RC4_STATE_SIZE)), recv: new Uint8Array(b.subarray(at + RC4_STATE_SIZE, at + tail)) } : null,
  };
}
