// RFC 4757 7: per-message tokens of the krb5 GSS mechanism for rc4-hmac (23) and rc4-hmac-exp (24)
// sessions, in the RFC 1964 layout, each framed as an RFC 2743 3.1 InitialContextToken:
//   MIC  01 01 | SGN_ALG 11 00 | Filler FF FF FF FF | SND_SEQ (8) | SGN_CKSUM (8)
//   Wrap 02 01 | SGN_ALG 11 00 | SEAL_ALG 10 00 or FF FF | Filler FF FF | SND_SEQ (8) | SGN_CKSUM (8)
//        | Confounder (8) | data | pad (1 byte, 01)
// Weak crypto: every call needs a token state whose policy allows weak enctypes.
// Also the enctype dispatch: gssGetMic/gssVerifyMic/gssWrap/gssUnwrap pick RFC 4121 or RFC 4757.
import { HmacMd5, hmacMd5, md5 } from '../../../crypto/hmac.js';
import { RC4 } from '../../../crypto/rc4.js';
import { constantTimeEqual } from '../../../crypto/bytes.js';
import { KRB5_MECH_OID, parseInitialContextToken, wrapInitialContextToken } from '../../../der/gss.js';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { getEnctype } from '../crypto/index.js';
import { cached } from '../crypto/keystate.js';
import { randomConfounderInto } from '../crypto/random.js';
import type { CryptoPolicy, KerberosKey } from '../crypto/types.js';
import type { GssSeqStatus } from './sequence.js';
import {
  getMic, unwrap, verifyMic, wrap, wrapOverhead, type GssTokenState, type UnwrapResult, type WrapOptions,
} from './tokens.js';

export const TOK_ID_MIC_V1 = 0x0101;
export const TOK_ID_WRAP_V1 = 0x0201;
/** RFC 4757 7.1 SGN_ALG: HMAC-MD5 (sent little-endian, 11 00). */
export const SGN_ALG_HMAC_MD5 = 0x0011;
/** RFC 4757 7.1 SEAL_ALG: RC4 (10 00), or none (FF FF) for an integrity-only Wrap. */
export const SEAL_ALG_RC4 = 0x0010;
export const SEAL_ALG_NONE = 0xffff;

/** RFC 4757 7.3 message types for Sgn_Cksum. */
const KG_USAGE_SEAL = 13;
const KG_USAGE_SIGN = 15;
const HDR = 8; // TOK_ID..Filler: the part the checksum covers
const TOKEN_HDR = 24; // + SND_SEQ + SGN_CKSUM
const CONFOUNDER = 8;
const SIGNATURE_KEY = Uint8Array.from(Buffer.from('signaturekey\0', 'latin1'));
const FORTY_BITS = Uint8Array.from(Buffer.from('fortybits\0', 'latin1')); // RFC 4757 4, export "L40"
const KRB5_OID_HEADER = wrapInitialContextToken(KRB5_MECH_OID, new Uint8Array(0)).subarray(2); // 06 09 <oid>

/** An enctype that uses RFC 4757 tokens. */
export function isRc4Enctype(enctype: number): boolean {
  return enctype === 23 || enctype === 24;
}

const invalid = (d: string): SspiError => new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `rc4 GSS token: ${d}`);
const altered = (): SspiError => new SspiError(SecurityStatus.SEC_E_MESSAGE_ALTERED, 'rc4 GSS token: integrity check failed');

function le32(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
}

/** RFC 4757 4: the message-type-0 key, with the export variant's "fortybits" salt and 0xAB fill. */
function usageZeroKey(key: Uint8Array, exportable: boolean): HmacMd5 {
  let k: Uint8Array;
  if (exportable) {
    const l40 = new Uint8Array(14);
    l40.set(FORTY_BITS);
    l40.set(le32(0), 10);
    k = hmacMd5(key, l40);
    k.fill(0xab, 7);
  } else {
    k = hmacMd5(key, le32(0));
  }
  try {
    return new HmacMd5(k);
  } finally {
    k.fill(0);
  }
}

/** The derived keys of one rc4 context key: Ksign, and the first HMAC steps of Kseq and Kcrypt. */
class Rc4GssKeys {
  readonly ksign: HmacMd5;
  readonly kseq: HmacMd5;
  readonly kcrypt: HmacMd5;
  constructor(key: Uint8Array, exportable: boolean) {
    const ks = hmacMd5(key, SIGNATURE_KEY);
    this.ksign = new HmacMd5(ks);
    ks.fill(0);
    this.kseq = usageZeroKey(key, exportable);
    const klocal = new Uint8Array(key.length);
    for (let i = 0; i < key.length; i++) klocal[i] = key[i]! ^ 0xf0;
    this.kcrypt = usageZeroKey(klocal, exportable);
    klocal.fill(0);
  }
  destroy(): void {
    this.ksign.destroy();
    this.kseq.destroy();
    this.kcrypt.destroy();
  }
}

function keysOf(st: GssTokenState): { key: KerberosKey; keys: Rc4GssKeys } {
  const key = st.acceptorSubkey ?? st.key;
  if (!isRc4Enctype(key.enctype)) throw new SspiError(SecurityStatus.SEC_E_ALGORITHM_MISMATCH, `enctype ${key.enctype} does not use RFC 4757 tokens`);
  if (key.enctype === 23) getEnctype(23, st.policy); // the weak-crypto gate (SEC_E_ALGORITHM_MISMATCH)
  else if (st.policy?.allowWeak !== true) throw new SspiError(SecurityStatus.SEC_E_ALGORITHM_MISMATCH, 'rc4-hmac-exp is weak and not allowed by policy');
  if (key.keyvalue.length !== 16) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'rc4-hmac key must be 16 bytes');
  return { key, keys: cached(key, 'rfc4757-gss', () => new Rc4GssKeys(key.keyvalue, key.enctype === 24)) };
}

/** Sgn_Cksum (RFC 4757 7.3): first 8 bytes of HMAC-MD5(Ksign, MD5(LE32(T) || header || body)). */
function sgnCksum(keys: Rc4GssKeys, usage: number, header: Uint8Array, a: Uint8Array, b?: Uint8Array, c?: Uint8Array): Uint8Array {
  const parts = [le32(usage), header, a];
  if (b) parts.push(b);
  if (c) parts.push(c);
  const m = md5(...parts);
  const h = keys.ksign.digest(m);
  return h.subarray(0, 8);
}

/** RC4 stream keyed by HMAC-MD5(first-step key, data) (Kseq over the checksum, Kcrypt over the sequence number). */
function streamFor(step: HmacMd5, data: Uint8Array): RC4 {
  const k = step.digest(data);
  try {
    return new RC4(k);
  } finally {
    k.fill(0);
  }
}

/** SND_SEQ plaintext (RFC 4757 7.3, RFC 1964 1.2.1.2): big-endian number, then the direction bytes. */
function seqPlain(seq: number, fromAcceptor: boolean): Uint8Array {
  const s = seq >>> 0;
  const d = fromAcceptor ? 0xff : 0;
  return Uint8Array.of(s >>> 24, (s >>> 16) & 0xff, (s >>> 8) & 0xff, s & 0xff, d, d, d, d);
}

function nextSeq(st: GssTokenState): number {
  const s = st.sendSeq;
  st.sendSeq = (s + 1) % 0x100000000; // RFC 1964 numbers are 32-bit
  return s >>> 0;
}

/** Frame an inner RFC 1964 token (InitialContextToken with the krb5 OID). */
function frame(inner: Uint8Array): Uint8Array {
  return wrapInitialContextToken(KRB5_MECH_OID, inner);
}

function unframe(token: Uint8Array): Uint8Array {
  let t;
  try {
    t = parseInitialContextToken(token);
  } catch {
    throw invalid('not a GSS InitialContextToken');
  }
  if (t.mechOid !== KRB5_MECH_OID) throw invalid(`mechanism ${t.mechOid} is not Kerberos`);
  return t.innerToken;
}

/** Decrypt SND_SEQ and check its direction bytes against the sender the token claims to come from. */
function readSeq(keys: Rc4GssKeys, inner: Uint8Array): { seq: number; plain: Uint8Array } {
  const plain = streamFor(keys.kseq, inner.subarray(16, 24)).process(inner.subarray(8, 16));
  return { seq: ((plain[0]! << 24) | (plain[1]! << 16) | (plain[2]! << 8) | plain[3]!) >>> 0, plain };
}

function checkDirection(plain: Uint8Array, st: GssTokenState): void {
  const want = st.initiator ? 0xff : 0; // we expect the peer's direction
  for (let i = 4; i < 8; i++) if (plain[i] !== want) throw altered(); // a reflected token (RFC 1964 1.2.1.2)
}

// ---- MIC ----------------------------------------------------------------------------------

/** GSS_GetMIC for an rc4-hmac context (RFC 4757 7.2/7.3). */
export function rc4GetMic(st: GssTokenState, data: Uint8Array): Uint8Array {
  const { keys } = keysOf(st);
  const inner = new Uint8Array(TOKEN_HDR);
  inner[0] = 0x01; inner[1] = 0x01; inner[2] = SGN_ALG_HMAC_MD5; inner[3] = 0;
  inner.fill(0xff, 4, 8);
  const cks = sgnCksum(keys, KG_USAGE_SIGN, inner.subarray(0, HDR), data);
  inner.set(cks, 16);
  streamFor(keys.kseq, cks).process(seqPlain(nextSeq(st), !st.initiator), inner.subarray(8, 16));
  return frame(inner);
}

/** GSS_VerifyMIC for an rc4-hmac context. */
export function rc4VerifyMic(st: GssTokenState, data: Uint8Array, token: Uint8Array): GssSeqStatus {
  const { keys } = keysOf(st);
  const inner = unframe(token);
  if (inner.length !== TOKEN_HDR) throw invalid(`MIC token is ${inner.length} bytes after the framing, expected ${TOKEN_HDR}`);
  if (inner[0] !== 0x01 || inner[1] !== 0x01) throw invalid('not an RFC 1964 MIC token (TOK_ID)');
  if (inner[2] !== SGN_ALG_HMAC_MD5 || inner[3] !== 0) throw invalid('SGN_ALG is not HMAC-MD5');
  for (let i = 4; i < 8; i++) if (inner[i] !== 0xff) throw invalid('MIC filler is not FF');
  const expect = sgnCksum(keys, KG_USAGE_SIGN, inner.subarray(0, HDR), data);
  if (!constantTimeEqual(expect, inner.subarray(16, 24))) throw altered();
  const { seq, plain } = readSeq(keys, inner);
  checkDirection(plain, st);
  return st.recv.check(seq);
}

// ---- Wrap ---------------------------------------------------------------------------------

/** GSS_Wrap for an rc4-hmac context (RFC 4757 7.3); conf defaults to true. RRC/EC do not exist here. */
export function rc4Wrap(st: GssTokenState, data: Uint8Array, opts: Pick<WrapOptions, 'conf'> = {}): Uint8Array {
  const conf = opts.conf ?? true;
  const { keys } = keysOf(st);
  const inner = new Uint8Array(TOKEN_HDR + CONFOUNDER + data.length + 1);
  inner[0] = 0x02; inner[1] = 0x01; inner[2] = SGN_ALG_HMAC_MD5; inner[3] = 0;
  if (conf) { inner[4] = SEAL_ALG_RC4; inner[5] = 0; } else { inner[4] = 0xff; inner[5] = 0xff; }
  inner[6] = 0xff; inner[7] = 0xff;
  const body = inner.subarray(TOKEN_HDR);
  randomConfounderInto(body, 0, CONFOUNDER);
  body.set(data, CONFOUNDER);
  body[body.length - 1] = 1; // one byte of padding, as MIT and Windows send for RC4
  const cks = sgnCksum(keys, KG_USAGE_SEAL, inner.subarray(0, HDR), body);
  inner.set(cks, 16);
  const seq = seqPlain(nextSeq(st), !st.initiator);
  if (conf) streamFor(keys.kcrypt, seq.subarray(0, 4)).process(body, body);
  streamFor(keys.kseq, cks).process(seq, inner.subarray(8, 16));
  return frame(inner);
}

/** GSS_Unwrap for an rc4-hmac context: integrity and direction before the sequence window. */
export function rc4Unwrap(st: GssTokenState, token: Uint8Array): UnwrapResult {
  const { keys } = keysOf(st);
  const inner = unframe(token);
  if (inner.length < TOKEN_HDR + CONFOUNDER + 1) throw invalid('Wrap token too short');
  if (inner[0] !== 0x02 || inner[1] !== 0x01) throw invalid('not an RFC 1964 Wrap token (TOK_ID)');
  if (inner[2] !== SGN_ALG_HMAC_MD5 || inner[3] !== 0) throw invalid('SGN_ALG is not HMAC-MD5');
  const sealAlg = inner[4]! | (inner[5]! << 8);
  if (sealAlg !== SEAL_ALG_RC4 && sealAlg !== SEAL_ALG_NONE) throw invalid(`unknown SEAL_ALG 0x${sealAlg.toString(16)}`);
  if (inner[6] !== 0xff || inner[7] !== 0xff) throw invalid('Wrap filler is not FF');
  const { seq, plain: seqBytes } = readSeq(keys, inner);
  const conf = sealAlg === SEAL_ALG_RC4;
  const body = Uint8Array.from(inner.subarray(TOKEN_HDR));
  if (conf) streamFor(keys.kcrypt, seqBytes.subarray(0, 4)).process(body, body);
  const expect = sgnCksum(keys, KG_USAGE_SEAL, inner.subarray(0, HDR), body);
  if (!constantTimeEqual(expect, inner.subarray(16, 24))) {
    body.fill(0);
    throw altered();
  }
  checkDirection(seqBytes, st);
  const pad = body[body.length - 1]!;
  if (pad < 1 || pad > 8 || CONFOUNDER + pad > body.length) throw invalid(`bad padding length ${pad}`);
  const out = body.subarray(CONFOUNDER, body.length - pad);
  return { data: out, conf, seqStatus: st.recv.check(seq) };
}

/** Bytes an rc4 Wrap token adds to its data (framing included, so it depends on the data length). */
export function rc4WrapOverhead(dataLength = 0): number {
  const inner = TOKEN_HDR + CONFOUNDER + dataLength + 1;
  const content = KRB5_OID_HEADER.length + inner;
  const lenBytes = content < 0x80 ? 1 : content < 0x100 ? 2 : content < 0x10000 ? 3 : content < 0x1000000 ? 4 : 5;
  return 1 + lenBytes + KRB5_OID_HEADER.length + TOKEN_HDR + CONFOUNDER + 1;
}

// ---- enctype dispatch ----------------------------------------------------------------------

function usesRc4(st: GssTokenState): boolean {
  return isRc4Enctype((st.acceptorSubkey ?? st.key).enctype);
}

/** GSS_GetMIC with the token format of the context's enctype (RFC 4757 for rc4, else RFC 4121). */
export function gssGetMic(st: GssTokenState, data: Uint8Array): Uint8Array {
  return usesRc4(st) ? rc4GetMic(st, data) : getMic(st, data);
}

export function gssVerifyMic(st: GssTokenState, data: Uint8Array, token: Uint8Array): GssSeqStatus {
  return usesRc4(st) ? rc4VerifyMic(st, data, token) : verifyMic(st, data, token);
}

/** GSS_Wrap; `rrc`/`ec` apply to RFC 4121 tokens only. */
export function gssWrap(st: GssTokenState, data: Uint8Array, opts: WrapOptions = {}): Uint8Array {
  return usesRc4(st) ? rc4Wrap(st, data, opts) : wrap(st, data, opts);
}

export function gssUnwrap(st: GssTokenState, token: Uint8Array): UnwrapResult {
  return usesRc4(st) ? rc4Unwrap(st, token) : unwrap(st, token);
}

/** Overhead of a sealed Wrap token over `dataLength` bytes, for either token format. */
export function gssWrapOverhead(key: KerberosKey, dataLength = 0, policy?: CryptoPolicy): number {
  return isRc4Enctype(key.enctype) ? rc4WrapOverhead(dataLength) : wrapOverhead(key, 0, policy);
}
