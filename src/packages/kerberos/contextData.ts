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

const utf8 = new TextEncoder();
const utf8Decode = new TextDecoder('utf-8');

// Layout written and read with one DataView and offsets, no closures: it runs twice per
// handshake (SpInitUserModeContext on each side) and on every Export/ImportSecurityContext.
export function packContextData(c: KerberosContextData): Uint8Array {
  const client = utf8.encode(c.client);
  const server = utf8.encode(c.server);
  if (client.length > 0xffff || server.length > 0xffff) throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'principal name too long');
  const sub = c.acceptorSubkey;
  const n = 32 + 6 + c.key.keyvalue.length + (sub ? 6 + sub.keyvalue.length : 0) + 4 + client.length + server.length;
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  out[0] = KERBEROS_CONTEXT_VERSION;
  out[1] = c.side === 'initiator' ? 1 : 2;
  const flags = (c.replayDetect ? F_REPLAY : 0) | (c.sequenceDetect ? F_SEQUENCE : 0) | (sub ? F_ACCEPTOR_SUBKEY : 0) | (c.dceStyle ? F_DCE : 0) | (c.allowWeak ? F_WEAK : 0);
  dv.setUint16(2, flags);
  dv.setUint32(4, c.ContextAttributes >>> 0);
  dv.setFloat64(8, c.sendSeq);
  dv.setFloat64(16, c.recvSeq);
  dv.setFloat64(24, c.endtime);
  let off = putKey(out, dv, 32, c.key);
  if (sub) off = putKey(out, dv, off, sub);
  dv.setUint16(off, client.length);
  out.set(client, off + 2);
  off += 2 + client.length;
  dv.setUint16(off, server.length);
  out.set(server, off + 2);
  return out;
}

function putKey(out: Uint8Array, dv: DataView, off: number, k: KerberosKey): number {
  dv.setInt32(off, k.enctype);
  dv.setUint16(off + 4, k.keyvalue.length);
  out.set(k.keyvalue, off + 6);
  return off + 6 + k.keyvalue.length;
}

const isSeq = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

function malformed(): SspiError {
  return new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'malformed Kerberos context data');
}

/** A key at `off`: its length is checked against the data; returns the key and the next offset. */
function getKey(b: Uint8Array, dv: DataView, off: number): [KerberosKey, number] {
  if (off + 6 > b.length) throw malformed();
  const enctype = dv.getInt32(off);
  const len = dv.getUint16(off + 4);
  if (len === 0 || off + 6 + len > b.length) throw malformed();
  return [{ enctype, keyvalue: b.slice(off + 6, off + 6 + len) }, off + 6 + len];
}

function getString(b: Uint8Array, dv: DataView, off: number): [string, number] {
  if (off + 2 > b.length) throw malformed();
  const len = dv.getUint16(off);
  if (off + 2 + len > b.length) throw malformed();
  return [utf8Decode.decode(b.subarray(off + 2, off + 2 + len)), off + 2 + len];
}

export function unpackContextData(bytes: Uint8Array): KerberosContextData {
  const b = bytes;
  if (b.length < 32 || b[0] !== KERBEROS_CONTEXT_VERSION || (b[1] !== 1 && b[1] !== 2)) throw malformed();
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const flags = dv.getUint16(2);
  if ((flags & ~(F_REPLAY | F_SEQUENCE | F_ACCEPTOR_SUBKEY | F_DCE | F_WEAK)) !== 0) throw malformed();
  const sendSeq = dv.getFloat64(8);
  const recvSeq = dv.getFloat64(16);
  const endtime = dv.getFloat64(24);
  if (!isSeq(sendSeq) || !isSeq(recvSeq) || Number.isNaN(endtime)) throw malformed();
  const [key, o1] = getKey(b, dv, 32);
  let off = o1;
  let acceptorSubkey: KerberosKey | undefined;
  let client: string;
  let server: string;
  try {
    if (flags & F_ACCEPTOR_SUBKEY) [acceptorSubkey, off] = getKey(b, dv, off);
    let o2: number;
    let o3: number;
    [client, o2] = getString(b, dv, off);
    [server, o3] = getString(b, dv, o2);
    if (o3 !== b.length) throw malformed();
  } catch (e) {
    // The key copies made above die with malformed input.
    key.keyvalue.fill(0);
    acceptorSubkey?.keyvalue.fill(0);
    throw e;
  }
  return {
    side: b[1] === 1 ? 'initiator' : 'acceptor',
    replayDetect: (flags & F_REPLAY) !== 0,
    sequenceDetect: (flags & F_SEQUENCE) !== 0,
    dceStyle: (flags & F_DCE) !== 0,
    ContextAttributes: dv.getUint32(4),
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
