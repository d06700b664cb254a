// The GSS authenticator checksum of the krb5 mechanism (RFC 4121 4.1.1, checksum type 0x8003):
//   Lgth (4, LE, = 16) | Bnd (16, MD5 of the channel bindings) | Flags (4, LE)
//   [ DlgOpt (2, LE, = 1) | Dlgth (2, LE) | Deleg (KRB-CRED) ]   only with GSS_C_DELEG_FLAG
//   [ Exts: type (4, BE) | length (4, BE) | data ]*               RFC 4121 4.1.1.2 / RFC 6542
import { constantTimeEqual } from '../../../crypto/bytes.js';
import type { SecChannelBindings } from '../../../sspi/buffers.js';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
// One RFC 2744 3.11 channel-bindings hash for NTLM and Kerberos (MS-NLMP MsvAvChannelBindings is the same MD5).
import { channelBindingsHash } from '../../ntlm/crypto.js';

/** RFC 4121 4.1.1: the checksum type of the GSS authenticator checksum. */
export const GSS_CHECKSUM_TYPE = 0x8003;
const LGTH = 16;

/** RFC 2744 / RFC 4121 4.1.1.1 context flags carried in the authenticator checksum. */
export const GssFlags = {
  GSS_C_DELEG_FLAG: 0x1,
  GSS_C_MUTUAL_FLAG: 0x2,
  GSS_C_REPLAY_FLAG: 0x4,
  GSS_C_SEQUENCE_FLAG: 0x8,
  GSS_C_CONF_FLAG: 0x10,
  GSS_C_INTEG_FLAG: 0x20,
  GSS_C_ANON_FLAG: 0x40,
  /** MS-KILE 3.2.5.2 / RFC 4757 7.1: DCE RPC style, three legs. */
  GSS_C_DCE_STYLE: 0x1000,
  GSS_C_IDENTIFY_FLAG: 0x2000,
  GSS_C_EXTENDED_ERROR_FLAG: 0x4000,
} as const;

/** One RFC 4121 4.1.1.2 checksum extension (e.g. RFC 6542 KRB5_GSS_EXTS_IAKERB_FINISHED = 2). */
export interface GssChecksumExtension {
  type: number;
  data: Uint8Array;
}

/** The 0x8003 checksum as a typed object. */
export interface GssAuthenticatorChecksum {
  /** Bnd: MD5 of the channel bindings, or 16 zero bytes when the initiator had none. */
  bnd: Uint8Array;
  flags: number;
  /** Deleg: a DER KRB-CRED, present iff GSS_C_DELEG_FLAG is set. */
  deleg?: Uint8Array;
  exts?: GssChecksumExtension[];
}

const invalid = (d: string): SspiError => new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `GSS checksum: ${d}`);

/** Bnd for a parsed SEC_CHANNEL_BINDINGS (RFC 4121 4.1.1.2); 16 zero bytes without bindings. */
export function channelBindingsBnd(cb: SecChannelBindings | null | undefined): Uint8Array {
  return cb ? channelBindingsHash(cb) : new Uint8Array(16);
}

export function encodeGssChecksum(v: GssAuthenticatorChecksum): Uint8Array {
  if (v.bnd.length !== LGTH) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'Bnd must be 16 bytes');
  const hasDeleg = (v.flags & GssFlags.GSS_C_DELEG_FLAG) !== 0;
  if (hasDeleg !== (v.deleg !== undefined)) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'GSS_C_DELEG_FLAG and Deleg must go together');
  }
  if (v.deleg !== undefined && v.deleg.length > 0xffff) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'KRB-CRED too long for Dlgth');
  const exts = v.exts ?? [];
  let n = 24 + (v.deleg ? 4 + v.deleg.length : 0);
  for (const e of exts) n += 8 + e.data.length;
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, LGTH, true);
  out.set(v.bnd, 4);
  dv.setUint32(20, v.flags >>> 0, true);
  let off = 24;
  if (v.deleg) {
    dv.setUint16(24, 1, true);
    dv.setUint16(26, v.deleg.length, true);
    out.set(v.deleg, 28);
    off = 28 + v.deleg.length;
  }
  for (const e of exts) {
    dv.setUint32(off, e.type >>> 0, false);
    dv.setUint32(off + 4, e.data.length, false);
    out.set(e.data, off + 8);
    off += 8 + e.data.length;
  }
  return out;
}

/** Strict parse: every byte is accounted for; views into `b`. */
export function decodeGssChecksum(b: Uint8Array): GssAuthenticatorChecksum {
  if (b.length < 24) throw invalid(`${b.length} bytes, need at least 24`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(0, true) !== LGTH) throw invalid(`Lgth ${dv.getUint32(0, true)} is not 16`);
  const out: GssAuthenticatorChecksum = { bnd: b.subarray(4, 20), flags: dv.getUint32(20, true) };
  let off = 24;
  if ((out.flags & GssFlags.GSS_C_DELEG_FLAG) !== 0) {
    if (b.length < 28) throw invalid('GSS_C_DELEG_FLAG without DlgOpt/Dlgth');
    const dlgOpt = dv.getUint16(24, true);
    if (dlgOpt !== 1) throw invalid(`DlgOpt ${dlgOpt} is not 1`);
    const dlgth = dv.getUint16(26, true);
    if (28 + dlgth > b.length) throw invalid(`Dlgth ${dlgth} runs past the checksum`);
    out.deleg = b.subarray(28, 28 + dlgth);
    off = 28 + dlgth;
  }
  if (off < b.length) {
    const exts: GssChecksumExtension[] = [];
    while (off < b.length) {
      if (off + 8 > b.length) throw invalid('truncated extension header');
      const type = dv.getUint32(off, false);
      const len = dv.getUint32(off + 4, false);
      if (len > b.length - off - 8) throw invalid(`extension length ${len} runs past the checksum`);
      exts.push({ type, data: b.subarray(off + 8, off + 8 + len) });
      off += 8 + len;
    }
    out.exts = exts;
  }
  return out;
}

const ZERO_BND = new Uint8Array(16);

/**
 * Acceptor check of Bnd (RFC 4121 4.1.1.2, MS-KILE 3.4.5.2): a zero Bnd passes unless the acceptor
 * requires bindings; otherwise it must equal the hash of the acceptor's own bindings. Returns
 * whether the token is bound to the acceptor's channel (MIT's GSS_C_CHANNEL_BOUND_FLAG): false for
 * a zero Bnd let through, or when the acceptor has no bindings to compare with.
 */
export function checkChannelBindings(bnd: Uint8Array, acceptorBindings: SecChannelBindings | null | undefined, required = false): boolean {
  const zero = constantTimeEqual(bnd, ZERO_BND);
  if (!acceptorBindings) {
    if (required) throw new SspiError(SecurityStatus.SEC_E_BAD_BINDINGS, 'channel bindings are required but the acceptor has none');
    return false;
  }
  if (zero) {
    if (required) throw new SspiError(SecurityStatus.SEC_E_BAD_BINDINGS, 'the initiator sent no channel bindings');
    return false;
  }
  if (!constantTimeEqual(bnd, channelBindingsHash(acceptorBindings))) {
    throw new SspiError(SecurityStatus.SEC_E_BAD_BINDINGS, 'channel bindings do not match');
  }
  return true;
}
