// The NTLM ContextData (reference section 13): what the user-mode half needs to protect messages,
// in a versioned byte layout shared by SpInitUserModeContext and Export/ImportSecurityContext.
//
//   0  u8   version (1)
//   1  u8   side: 1 client, 2 server
//   2  u16  reserved
//   4  u32  NegotiateFlags
//   8  u32  ContextAttributes granted
//  12  u32  send SeqNum
//  16  u32  receive SeqNum
//  20  16   ExportedSessionKey
//  36  u16  user name length (UTF-16LE bytes), then the name; u16 + domain likewise

import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';

export const NTLM_CONTEXT_VERSION = 1;

export interface NtlmContextData {
  side: 'client' | 'server';
  NegotiateFlags: number;
  ContextAttributes: number;
  sendSeqNum: number;
  recvSeqNum: number;
  ExportedSessionKey: Uint8Array;
  UserName: string;
  DomainName: string;
}

export function packContextData(c: NtlmContextData): Uint8Array {
  const user = Buffer.from(c.UserName, 'utf16le');
  const dom = Buffer.from(c.DomainName, 'utf16le');
  const out = Buffer.alloc(36 + 2 + user.length + 2 + dom.length);
  out[0] = NTLM_CONTEXT_VERSION;
  out[1] = c.side === 'client' ? 1 : 2;
  out.writeUInt32LE(c.NegotiateFlags >>> 0, 4);
  out.writeUInt32LE(c.ContextAttributes >>> 0, 8);
  out.writeUInt32LE(c.sendSeqNum >>> 0, 12);
  out.writeUInt32LE(c.recvSeqNum >>> 0, 16);
  out.set(c.ExportedSessionKey.subarray(0, 16), 20);
  out.writeUInt16LE(user.length, 36);
  user.copy(out, 38);
  out.writeUInt16LE(dom.length, 38 + user.length);
  dom.copy(out, 40 + user.length);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export function unpackContextData(bytes: Uint8Array): NtlmContextData {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const bad = () => new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'malformed NTLM context data');
  if (b.length < 40 || b[0] !== NTLM_CONTEXT_VERSION || (b[1] !== 1 && b[1] !== 2)) throw bad();
  const ul = b.readUInt16LE(36);
  if (40 + ul > b.length) throw bad();
  const dl = b.readUInt16LE(38 + ul);
  if (40 + ul + dl !== b.length || ul % 2 || dl % 2) throw bad();
  return {
    side: b[1] === 1 ? 'client' : 'server',
    NegotiateFlags: b.readUInt32LE(4),
    ContextAttributes: b.readUInt32LE(8),
    sendSeqNum: b.readUInt32LE(12),
    recvSeqNum: b.readUInt32LE(16),
    ExportedSessionKey: new Uint8Array(b.subarray(20, 36)),
    UserName: b.subarray(38, 38 + ul).toString('utf16le'),
    DomainName: b.subarray(40 + ul, 40 + ul + dl).toString('utf16le'),
  };
}
