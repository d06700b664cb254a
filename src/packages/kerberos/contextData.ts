// The Kerberos ContextData (reference section 13): what the user-mode half needs to run RFC 4121
// per-message tokens, in a versioned byte layout shared by SpInitUserModeContext and
// Export/ImportSecurityContext. All integers big-endian.
//
//   0  u8   version (1)
//   1  u8   side: 1 initiator, 2 acceptor
//   2  u16  flags: bit 0 replay detection, bit 1 sequence detection, bit 2 acceptor subkey present,
//               bit 3 DCE style, bit 4 weak crypto (rc4-hmac) allowed by the package's policy
//   4  u32  ContextAttributes granted (low 32 bits)
//   8  f64  next SND_SEQ
//  16  f64  next expected peer sequence number
//  24  f64  ticket endtime (ms since the epoch)
//  32  key: i32 enctype, u16 length, bytes          (initiator subkey, or the ticket session key)
//      [acceptor subkey: i32 enctype, u16 length, bytes]   with flag bit 2
//      u16 + UTF-8 client principal, u16 + UTF-8 server principal
//
// A sequence window's history is not carried: an imported context starts a fresh window at the
// next expected number, so a replay of a token received before the export is refused as old only
// when it falls outside the window.

import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';
import type { KerberosKey } from './crypto/types.js';

export const KERBEROS_CONTEXT_VERSION = 1;

const F_REPLAY = 0x1;
const F_SEQUENCE = 0x2;
const F_ACCEPTOR_SUBKEY = 0x4;
const F_DCE = 0x8;
const F_WEAK = 0x10;

export interface KerberosContextData {
  side: 'initiator' | 'acceptor';
  replayDetect: boolean;
  sequenceDetect: boolean;
  dceStyle: boolean;
  ContextAttributes: number;
  sendSeq: number;
  recvSeq: number;
  /** Ticket endtime, ms since the epoch. */
  endtime: number;
  /** The initiator's subkey, or the ticket session key when it sent none. */
  key: KerberosKey;
  /** The acceptor's subkey from the AP-REP, when there was one. */
  acceptorSubkey?: KerberosKey;
  client: string;
  server: string;
  /** The LSA-mode half's policy allows weak enctypes: the user-mode half may run RFC 4757 tokens. */
  allowWeak?: true;
}

function keyBytes(k: KerberosKey): number {
  return 6 + k.keyvalue.length;
}

export function packContextData(c: KerberosContextData): Uint8Array {
  const client = Buffer.from(c.client, 'utf8');
  const server = Buffer.from(c.server, 'utf8');
  if (client.length > 0xffff || server.length > 0xffff) throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'principal name too long');
  const n = 32 + keyBytes(c.key) + (c.acceptorSubkey ? keyBytes(c.acceptorSubkey) : 0) + 4 + client.length + server.length;
  const out = Buffer.alloc(n);
  out[0] = KERBEROS_CONTEXT_VERSION;
  out[1] = c.side === 'initiator' ? 1 : 2;
  const flags = (c.replayDetect ? F_REPLAY : 0) | (c.sequenceDetect ? F_SEQUENCE : 0) | (c.acceptorSubkey ? F_ACCEPTOR_SUBKEY : 0) | (c.dceStyle ? F_DCE : 0) | (c.allowWeak ? F_WEAK : 0);
  out.writeUInt16BE(flags, 2);
  out.writeUInt32BE(c.ContextAttributes >>> 0, 4);
  out.writeDoubleBE(c.sendSeq, 8);
  out.writeDoubleBE(c.recvSeq, 16);
  out.writeDoubleBE(c.endtime, 24);
  let off = 32;
  const putKey = (k: KerberosKey): void => {
    out.writeInt32BE(k.enctype, off);
    out.writeUInt16BE(k.keyvalue.length, off + 4);
    out.set(k.keyvalue, off + 6);
    off += 6 + k.keyvalue.length;
  };
  putKey(c.key);
  if (c.acceptorSubkey) putKey(c.acceptorSubkey);
  out.writeUInt16BE(client.length, off);
  client.copy(out, off + 2);
  off += 2 + client.length;
  out.writeUInt16BE(server.length, off);
  server.copy(out, off + 2);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

const isSeq = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

export function unpackContextData(bytes: Uint8Array): KerberosContextData {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const bad = (): SspiError => new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'malformed Kerberos context data');
  if (b.length < 32 || b[0] !== KERBEROS_CONTEXT_VERSION || (b[1] !== 1 && b[1] !== 2)) throw bad();
  const flags = b.readUInt16BE(2);
  if ((flags & ~(F_REPLAY | F_SEQUENCE | F_ACCEPTOR_SUBKEY | F_DCE | F_WEAK)) !== 0) throw bad();
  const sendSeq = b.readDoubleBE(8);
  const recvSeq = b.readDoubleBE(16);
  const endtime = b.readDoubleBE(24);
  if (!isSeq(sendSeq) || !isSeq(recvSeq) || Number.isNaN(endtime)) throw bad();
  let off = 32;
  const getKey = (): KerberosKey => {
    if (off + 6 > b.length) throw bad();
    const enctype = b.readInt32BE(off);
    const len = b.readUInt16BE(off + 4);
    if (len === 0 || off + 6 + len > b.length) throw bad();
    const keyvalue = new Uint8Array(b.subarray(off + 6, off + 6 + len));
    off += 6 + len;
    return { enctype, keyvalue };
  };
  const getString = (): string => {
    if (off + 2 > b.length) throw bad();
    const len = b.readUInt16BE(off);
    if (off + 2 + len > b.length) throw bad();
    const s = b.subarray(off + 2, off + 2 + len).toString('utf8');
    off += 2 + len;
    return s;
  };
  const key = getKey();
  const acceptorSubkey = flags & F_ACCEPTOR_SUBKEY ? getKey() : undefined;
  const client = getString();
  const server = getString();
  if (off !== b.length) throw bad();
  return {
    side: b[1] === 1 ? 'initiator' : 'acceptor',
    replayDetect: (flags & F_REPLAY) !== 0,
    sequenceDetect: (flags & F_SEQUENCE) !== 0,
    dceStyle: (flags & F_DCE) !== 0,
    ContextAttributes: b.readUInt32BE(4),
    sendSeq,
    recvSeq,
    endtime,
    key,
    ...(acceptorSubkey ? { acceptorSubkey } : {}),
    client,
    server,
    ...(flags & F_WEAK ? { allowWeak: true as const } : {}),
  };
}
