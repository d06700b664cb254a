// RFC 4121 4.2 per-message tokens of the krb5 GSS mechanism: MIC (TOK_ID 04 04) and Wrap (05 04),
// with or without confidentiality, any RRC on receive. Layout of the 16-byte header:
//   TOK_ID (2) | Flags (1) | Filler FF (1, Wrap) or FF x5 (MIC) | EC (2) | RRC (2) | SND_SEQ (8, BE)
import { AES_BLOCK_SIZE } from '../../../crypto/aes-cts.js';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { KeyUsage } from '../asn1/constants.js';
import { aes128CtsHmacSha196, aes256CtsHmacSha196, view, type Sha1UsageKeys } from '../crypto/aes-sha1.js';
import { aes128CtsHmacSha256128, aes256CtsHmacSha384192 } from '../crypto/aes-sha2.js';
import { type HmacKey, macEquals } from '../crypto/hmac.js';
import { decrypt, encrypt, getEnctype, makeChecksum } from '../crypto/index.js';
import { randomBlockInto, randomConfounderInto } from '../crypto/random.js';
import type { CryptoPolicy, KerberosKey } from '../crypto/types.js';
import { SequenceWindow, type GssSeqStatus } from './sequence.js';

export const TOK_ID_MIC = 0x0404;
export const TOK_ID_WRAP = 0x0504;

/** RFC 4121 4.2.2 Flags. */
export const TokenFlags = {
  SentByAcceptor: 0x01,
  Sealed: 0x02,
  AcceptorSubkey: 0x04,
} as const;

const HEADER = 16;
const ZERO_IV = new Uint8Array(AES_BLOCK_SIZE);

/** The per-message state of one established krb5 context (one side). */
export interface GssTokenState {
  /** This side is the context initiator. */
  initiator: boolean;
  /** The initiator's subkey, or the ticket session key when it sent none. */
  key: KerberosKey;
  /** The acceptor's subkey from the AP-REP, when it sent one: then it protects every token (RFC 4121 2). */
  acceptorSubkey?: KerberosKey;
  /** Our next SND_SEQ. */
  sendSeq: number;
  /** The peer's numbers: replay/sequence window. */
  recv: SequenceWindow;
  policy?: CryptoPolicy;
  /** Cached Ke/Ki of the AES-SHA1 seal usage, per direction (filled on first use; see sealKeys). */
  sealSend?: SealKeysCache | undefined;
  sealRecv?: SealKeysCache | undefined;
}

/** The usage keys a Wrap path last used, with what they were looked up for. */
export interface SealKeysCache {
  key: KerberosKey;
  enctype: number;
  usage: number;
  uk: Sha1UsageKeys;
}

export interface CreateTokenStateInput {
  initiator: boolean;
  key: KerberosKey;
  acceptorSubkey?: KerberosKey;
  /** Our initial sequence number (the one in our Authenticator / EncAPRepPart). */
  localSeq: number;
  /** The peer's initial sequence number. */
  remoteSeq: number;
  replayDetect: boolean;
  sequenceDetect: boolean;
  policy?: CryptoPolicy;
}

export function createTokenState(i: CreateTokenStateInput): GssTokenState {
  return {
    initiator: i.initiator,
    key: i.key,
    ...(i.acceptorSubkey ? { acceptorSubkey: i.acceptorSubkey } : {}),
    sendSeq: i.localSeq,
    recv: new SequenceWindow(i.remoteSeq, i.replayDetect, i.sequenceDetect),
    ...(i.policy ? { policy: i.policy } : {}),
    sealSend: undefined,
    sealRecv: undefined,
  };
}

/**
 * Ke/Ki of an AES-SHA1 key (17/18) for `usage`, from the state's cache when it still holds them
 * for this very key: the per-key cache costs three map lookups per message, this one compare.
 * A destroyed key (or a cleared per-key cache) makes the cached entry dead, so the lookup runs
 * again and throws or re-derives as it would have.
 */
function sealKeys(st: GssTokenState, key: KerberosKey, usage: number, send: boolean): Sha1UsageKeys {
  const c = send ? st.sealSend : st.sealRecv;
  if (c !== undefined && c.key === key && c.enctype === key.enctype && c.usage === usage && c.uk.live) return c.uk;
  const uk = (key.enctype === 17 ? aes128CtsHmacSha196 : aes256CtsHmacSha196).usageKeys(key, usage);
  const entry: SealKeysCache = { key, enctype: key.enctype, usage, uk };
  if (send) st.sealSend = entry;
  else st.sealRecv = entry;
  return uk;
}

const invalid = (d: string): SspiError => new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `krb5 token: ${d}`);
const altered = (): SspiError => new SspiError(SecurityStatus.SEC_E_MESSAGE_ALTERED, 'krb5 token: integrity check failed');

function sendKey(st: GssTokenState): { key: KerberosKey; flags: number } {
  return { key: st.acceptorSubkey ?? st.key, flags: sendFlags(st) };
}

function sendFlags(st: GssTokenState): number {
  return (st.initiator ? 0 : TokenFlags.SentByAcceptor) | (st.acceptorSubkey ? TokenFlags.AcceptorSubkey : 0);
}

// The Wrap header being built (wrap is synchronous; sealInto copies it out before returning).
const HEADER_SCRATCH = new Uint8Array(HEADER);

function signUsage(fromAcceptor: boolean): number {
  return fromAcceptor ? KeyUsage.KG_USAGE_ACCEPTOR_SIGN : KeyUsage.KG_USAGE_INITIATOR_SIGN;
}
function sealUsage(fromAcceptor: boolean): number {
  return fromAcceptor ? KeyUsage.KG_USAGE_ACCEPTOR_SEAL : KeyUsage.KG_USAGE_INITIATOR_SEAL;
}

function writeSeq(b: Uint8Array, off: number, seq: number): void {
  const hi = Math.floor(seq / 0x100000000);
  const lo = seq >>> 0;
  b[off] = hi >>> 24; b[off + 1] = hi >>> 16; b[off + 2] = hi >>> 8; b[off + 3] = hi;
  b[off + 4] = lo >>> 24; b[off + 5] = lo >>> 16; b[off + 6] = lo >>> 8; b[off + 7] = lo;
}

function readSeq(b: Uint8Array, off: number): number {
  const hi = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
  const lo = ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
  // Past 2^53 this is not a safe integer, and the receive window refuses it, after the integrity
  // check: a changed token is reported as altered whatever its SND_SEQ says.
  return hi * 0x100000000 + lo;
}

function nextSeq(st: GssTokenState): number {
  const s = st.sendSeq;
  st.sendSeq = s + 1;
  return s;
}

/** The cached Kc of an AES key for `usage` (RFC 3961 5.3 / RFC 8009 5), or undefined for other enctypes. */
function aesKc(key: KerberosKey, usage: number): HmacKey | undefined {
  switch (key.enctype) {
    case 17: return aes128CtsHmacSha196.usageKeys(key, usage).kc;
    case 18: return aes256CtsHmacSha196.usageKeys(key, usage).kc;
    case 19: return aes128CtsHmacSha256128.usageKeys(key, usage).kc;
    case 20: return aes256CtsHmacSha384192.usageKeys(key, usage).kc;
    default: return undefined;
  }
}

/**
 * Checksum over a || hdr[hOff..hOff+16) (data, then a token header) with the enctype's mandatory
 * checksum, into out[off..off+n). AES keys use the cached Kc, with neither a concat nor a view.
 */
function checksumInto(key: KerberosKey, usage: number, a: Uint8Array, hdr: Uint8Array, hOff: number, out: Uint8Array, off: number, n: number, policy?: CryptoPolicy): void {
  const kc = aesKc(key, usage);
  if (kc !== undefined) {
    kc.macParts(a, hdr, hOff, HEADER, out, off, n);
    return;
  }
  out.set(makeChecksum(key, usage, concat2(a, view(hdr, hOff, HEADER)), undefined, policy), off);
}

/** Whether received[rOff..rOff+n) is the checksum over a || hdr[hOff..hOff+16), compared in constant time. */
function checksumVerify(key: KerberosKey, usage: number, a: Uint8Array, hdr: Uint8Array, hOff: number, received: Uint8Array, rOff: number, n: number, policy?: CryptoPolicy): boolean {
  const kc = aesKc(key, usage);
  if (kc !== undefined) return kc.verifyParts(a, hdr, hOff, HEADER, received, rOff, n);
  return macEquals(makeChecksum(key, usage, concat2(a, view(hdr, hOff, HEADER)), undefined, policy), view(received, rOff, n));
}

function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const data = new Uint8Array(a.length + b.length);
  data.set(a);
  data.set(b, a.length);
  return data;
}

function checksumSize(key: KerberosKey, policy?: CryptoPolicy): number {
  return getEnctype(key.enctype, policy).macBytes;
}

function receiveKey(st: GssTokenState, flags: number): KerberosKey {
  const fromAcceptor = (flags & TokenFlags.SentByAcceptor) !== 0;
  // Direction check: a token we sent reflected back must fail (RFC 4121 4.2.2).
  if (fromAcceptor !== st.initiator) throw invalid('SentByAcceptor flag has the wrong direction');
  const acc = (flags & TokenFlags.AcceptorSubkey) !== 0;
  if (acc !== (st.acceptorSubkey !== undefined)) throw invalid('AcceptorSubkey flag does not match the context');
  return st.acceptorSubkey ?? st.key;
}

// ---- MIC ----------------------------------------------------------------------------------

/** GSS_GetMIC (RFC 4121 4.2.6.1): header || checksum(data || header). */
export function getMic(st: GssTokenState, data: Uint8Array): Uint8Array {
  const { key, flags } = sendKey(st);
  const n = checksumSize(key, st.policy);
  // From the token pool: a fresh 28-byte Uint8Array lives on V8's heap, and the header view below
  // would move it off-heap into a backing store of its own (measured: most of a 16-byte MIC).
  const tok = tokenBuffer(HEADER + n);
  tok[0] = 0x04; tok[1] = 0x04; tok[2] = flags;
  for (let i = 3; i < 8; i++) tok[i] = 0xff;
  writeSeq(tok, 8, nextSeq(st));
  checksumInto(key, signUsage(!st.initiator), data, tok, 0, tok, HEADER, n, st.policy);
  return tok;
}

/** GSS_VerifyMIC: SEC_E_MESSAGE_ALTERED on a bad checksum, SEC_E_OUT_OF_SEQUENCE per the window. */
export function verifyMic(st: GssTokenState, data: Uint8Array, token: Uint8Array): GssSeqStatus {
  if (token.length < HEADER) throw invalid('MIC token shorter than its header');
  if (token[0] !== 0x04 || token[1] !== 0x04) throw invalid('not a MIC token (TOK_ID)');
  for (let i = 3; i < 8; i++) if (token[i] !== 0xff) throw invalid('MIC filler is not FF');
  const flags = token[2]!;
  if ((flags & ~0x07) !== 0 || (flags & TokenFlags.Sealed) !== 0) throw invalid('bad MIC flags');
  const key = receiveKey(st, flags);
  const n = checksumSize(key, st.policy);
  if (token.length !== HEADER + n) throw invalid(`MIC token is ${token.length} bytes, expected ${HEADER + n}`);
  if (!checksumVerify(key, signUsage(st.initiator), data, token, 0, token, HEADER, n, st.policy)) throw altered();
  return st.recv.check(readSeq(token, 8));
}

// ---- Wrap ---------------------------------------------------------------------------------

export interface WrapOptions {
  /** Confidentiality (Sealed); default true. */
  conf?: boolean;
  /** Right rotation count to apply (MIT: 0; Windows SSPI DCE/RPC: 28 with AES). Default 0. */
  rrc?: number;
  /** Extra filler before the encrypted header copy (Sealed only); default 0. */
  ec?: number;
}

/** Rotate `b` right by `n` in place of a new array (RFC 4121 4.2.5). */
function rotateRight(b: Uint8Array, n: number): Uint8Array {
  const len = b.length;
  if (len === 0) return b;
  n %= len;
  if (n === 0) return b;
  const out = new Uint8Array(len);
  out.set(b.subarray(len - n), 0);
  out.set(b.subarray(0, len - n), n);
  return out;
}

function rotateLeft(b: Uint8Array, n: number): Uint8Array {
  const len = b.length;
  if (len === 0) return b;
  n %= len;
  return n === 0 ? b : rotateRight(b, len - n);
}

/** GSS_Wrap (RFC 4121 4.2.4). */
export function wrap(st: GssTokenState, data: Uint8Array, opts?: WrapOptions): Uint8Array {
  const conf = opts?.conf ?? true;
  const rrc = opts?.rrc ?? 0;
  if (!Number.isInteger(rrc) || rrc < 0 || rrc > 0xffff) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'RRC must be 16-bit');
  const key = st.acceptorSubkey ?? st.key;
  const flags = sendFlags(st);
  const seq = nextSeq(st);
  if (!conf) {
    // Integrity only: header(EC = checksum length, RRC) || data || checksum(data || header with EC = RRC = 0).
    const n = checksumSize(key, st.policy);
    const tok = new Uint8Array(HEADER + data.length + n);
    tok[0] = 0x05; tok[1] = 0x04; tok[2] = flags; tok[3] = 0xff;
    writeSeq(tok, 8, seq);
    // The checksum covers the header with EC = RRC = 0, so it is computed before they are set.
    checksumInto(key, sealUsage(!st.initiator), data, tok, 0, tok, HEADER + data.length, n, st.policy);
    tok[4] = n >>> 8; tok[5] = n & 0xff;
    tok[6] = rrc >>> 8; tok[7] = rrc & 0xff;
    tok.set(data, HEADER);
    if (rrc !== 0) tok.set(rotateRight(tok.subarray(HEADER), rrc), HEADER);
    return tok;
  }
  const ec = opts?.ec ?? 0;
  if (!Number.isInteger(ec) || ec < 0 || ec > 0xffff) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'EC must be 16-bit');
  const header = HEADER_SCRATCH; // sealInto copies it into the plaintext and the token
  header[6] = header[7] = 0;
  header[0] = 0x05; header[1] = 0x04; header[2] = flags | TokenFlags.Sealed; header[3] = 0xff;
  header[4] = ec >>> 8; header[5] = ec & 0xff;
  writeSeq(header, 8, seq); // RRC stays 0 in the encrypted copy
  const usage = sealUsage(!st.initiator);
  const tok = sealInto(st, key, usage, data, ec, header);
  tok[6] = rrc >>> 8; tok[7] = rrc & 0xff;
  if (rrc !== 0) tok.set(rotateRight(tok.subarray(HEADER), rrc), HEADER);
  return tok;
}

// Plaintext scratch for Wrap tokens up to this size: wrap is synchronous, so calls never overlap.
// It is all zeros between calls (wiped after each), which supplies the EC filler and the CBC padding.
const SCRATCH_BYTES = 4096;
const scratch = new Uint8Array(SCRATCH_BYTES);
const scratch32 = new Int32Array(scratch.buffer); // the confounder goes in as words
// A view of its first bytes, kept while the same lengths recur (a stream of equal-sized messages).
let zView = scratch.subarray(0, 0);
function scratchView(n: number): Uint8Array {
  if (zView.length !== n) zView = scratch.subarray(0, n);
  return zView;
}

// Short tokens are carved from a pool of our own: a Uint8Array over 64 bytes would get its own
// off-heap backing store, and Buffer.allocUnsafe's 8 KiB pool costs ~20 ns more per token.
// Tokens are public, and every byte of one is written before it is returned.
const TOKEN_POOL_BYTES = 16384;
const TOKEN_POOLED_MAX = 1024;
let tokenPool = new ArrayBuffer(0);
let tokenPos = 0;
function tokenBuffer(n: number): Uint8Array {
  if (n > TOKEN_POOLED_MAX) return Buffer.allocUnsafe(n);
  if (tokenPos + n > tokenPool.byteLength) {
    tokenPool = new ArrayBuffer(TOKEN_POOL_BYTES);
    tokenPos = 0;
  }
  const b = new Uint8Array(tokenPool, tokenPos, n);
  tokenPos = (tokenPos + n + 7) & ~7;
  return b;
}

/**
 * header || E(conf || data || filler(ec) || header). For AES the plaintext is laid out once,
 * zero-padded to whole blocks, and the ciphertext and MAC go straight into the token buffer from
 * the enctype's cached Ke/Ki.
 */
function sealInto(st: GssTokenState, key: KerberosKey, usage: number, data: Uint8Array, ec: number, header: Uint8Array): Uint8Array {
  const et = key.enctype;
  if (et === 17 || et === 18 || et === 19 || et === 20) {
    const sha1 = et === 17 || et === 18;
    const macBytes = et === 20 ? 24 : et === 19 ? 16 : 12;
    const plen = AES_BLOCK_SIZE + data.length + ec + HEADER;
    const zlen = AES_BLOCK_SIZE * Math.ceil(plen / AES_BLOCK_SIZE);
    if (zlen > SCRATCH_BYTES) return sealBulk(st, key, usage, data, ec, header, sha1, macBytes, plen, zlen);
    const z = scratchView(zlen);
    randomBlockInto(scratch32, 0);
    const dl = data.length;
    if (dl <= 64) for (let i = 0; i < dl; i++) z[AES_BLOCK_SIZE + i] = data[i]!;
    else z.set(data, AES_BLOCK_SIZE);
    for (let i = 0; i < HEADER; i++) z[plen - HEADER + i] = header[i]!;
    const tok = tokenBuffer(HEADER + plen + macBytes);
    for (let i = 0; i < HEADER; i++) tok[i] = header[i]!;
    try {
      if (sha1) {
        const uk = sealKeys(st, key, usage, true);
        // RFC 3961 5.3: the MAC is over the plaintext, hashed where it lies; encryptPadded then
        // overwrites z's first block.
        uk.ki.macRange(z, 0, plen, tok, HEADER + plen, macBytes);
        uk.ke.encryptPadded(z, plen, ZERO_IV, tok, HEADER);
      } else {
        // RFC 8009 5: the MAC is over IV || ciphertext.
        const uk = (et === 19 ? aes128CtsHmacSha256128 : aes256CtsHmacSha384192).usageKeys(key, usage);
        uk.ke.encryptPadded(z, plen, ZERO_IV, tok, HEADER);
        uk.ki.macInto(ZERO_IV, new Uint8Array(tok.buffer, tok.byteOffset + HEADER, plen), tok, HEADER + plen, macBytes);
      }
    } finally {
      z.fill(0);
    }
    return tok;
  }
  const plain = new Uint8Array(data.length + ec + HEADER);
  plain.set(data);
  plain.set(header, data.length + ec);
  const c = encrypt(key, usage, plain, undefined, st.policy);
  plain.fill(0);
  const tok = new Uint8Array(HEADER + c.length);
  tok.set(header);
  tok.set(c, HEADER);
  return tok;
}

/**
 * sealInto for messages past the scratch: confounder, data and (filler || header || padding) go
 * to the cipher and the MAC as three parts, so the message is never copied into a plaintext buffer.
 */
function sealBulk(st: GssTokenState, key: KerberosKey, usage: number, data: Uint8Array, ec: number, header: Uint8Array, sha1: boolean, macBytes: number, plen: number, zlen: number): Uint8Array {
  const conf = new Uint8Array(AES_BLOCK_SIZE);
  randomConfounderInto(conf, 0, AES_BLOCK_SIZE);
  const tail = new Uint8Array(zlen - AES_BLOCK_SIZE - data.length); // EC filler and padding stay zero
  tail.set(header, ec);
  const trailer = tail.subarray(0, ec + HEADER); // the plaintext part of `tail`
  const tok = Buffer.allocUnsafe(HEADER + plen + macBytes);
  tok.set(header);
  try {
    if (sha1) {
      const uk = sealKeys(st, key, usage, true);
      uk.ki.macInto(conf, data, tok, HEADER + plen, macBytes, trailer);
      uk.ke.encryptParts(conf, data, tail, plen, ZERO_IV, tok, HEADER);
    } else {
      const uk = (key.enctype === 19 ? aes128CtsHmacSha256128 : aes256CtsHmacSha384192).usageKeys(key, usage);
      uk.ke.encryptParts(conf, data, tail, plen, ZERO_IV, tok, HEADER);
      uk.ki.macInto(ZERO_IV, new Uint8Array(tok.buffer, tok.byteOffset + HEADER, plen), tok, HEADER + plen, macBytes);
    }
  } finally {
    conf.fill(0);
    tail.fill(0);
  }
  return tok;
}

export interface UnwrapResult {
  data: Uint8Array;
  /** The token was Sealed (confidentiality). */
  conf: boolean;
  seqStatus: GssSeqStatus;
}

/** GSS_Unwrap (RFC 4121 4.2.4): any RRC, either key per AcceptorSubkey, integrity before sequence. */
export function unwrap(st: GssTokenState, token: Uint8Array): UnwrapResult {
  if (token.length < HEADER) throw invalid('Wrap token shorter than its header');
  if (token[0] !== 0x05 || token[1] !== 0x04) throw invalid('not a Wrap token (TOK_ID)');
  if (token[3] !== 0xff) throw invalid('Wrap filler is not FF');
  const flags = token[2]!;
  if ((flags & ~0x07) !== 0) throw invalid('unknown Wrap flags');
  const key = receiveKey(st, flags);
  const ec = (token[4]! << 8) | token[5]!;
  const rrc = (token[6]! << 8) | token[7]!;
  const seq = readSeq(token, 8);
  const fromAcceptor = (flags & TokenFlags.SentByAcceptor) !== 0;
  if ((flags & TokenFlags.Sealed) !== 0 && (key.enctype === 17 || key.enctype === 18)) {
    return unsealSha1(st, key, sealUsage(fromAcceptor), token, ec, rrc, seq);
  }
  const body = rotateLeft(view(token, HEADER, token.length - HEADER), rrc);
  if ((flags & TokenFlags.Sealed) !== 0) {
    const plain = decrypt(key, sealUsage(fromAcceptor), body, st.policy);
    if (plain.length < ec + HEADER) throw altered();
    const hdr = plain.subarray(plain.length - HEADER);
    // The encrypted header copy must match the outer one, RRC excepted (it is 0 inside).
    for (let i = 0; i < HEADER; i++) {
      if (i === 6 || i === 7) {
        if (hdr[i] !== 0) throw altered();
      } else if (hdr[i] !== token[i]) throw altered();
    }
    const data = plain.subarray(0, plain.length - HEADER - ec);
    return { data, conf: true, seqStatus: st.recv.check(seq) };
  }
  const n = checksumSize(key, st.policy);
  if (ec !== n) throw invalid(`EC ${ec} is not the checksum length ${n}`);
  if (body.length < n) throw invalid('Wrap token shorter than its checksum');
  const data = body.subarray(0, body.length - n);
  const hdr = Uint8Array.from(token.subarray(0, HEADER));
  hdr[4] = hdr[5] = hdr[6] = hdr[7] = 0;
  if (!checksumVerify(key, sealUsage(fromAcceptor), data, hdr, 0, body, body.length - n, n, st.policy)) throw altered();
  return { data, conf: false, seqStatus: st.recv.check(seq) };
}

const SHA1_MAC = 12; // hmac-sha1-96 (RFC 3962 6)

/**
 * Sealed Unwrap for aes*-cts-hmac-sha1-96 (RFC 4121 4.2.4 over RFC 3961 5.3): the ciphertext is
 * decrypted and its MAC checked where they lie in the token (after the rotation, if any), with the
 * state's cached Ke/Ki; the same checks, errors and order as the generic path: integrity, then
 * the encrypted header copy, then the sequence window.
 */
function unsealSha1(st: GssTokenState, key: KerberosKey, usage: number, token: Uint8Array, ec: number, rrc: number, seq: number): UnwrapResult {
  let src = token;
  let off = HEADER;
  const blen = token.length - HEADER;
  if (rrc !== 0) {
    src = rotateLeft(view(token, HEADER, blen), rrc);
    off = 0;
  }
  const uk = sealKeys(st, key, usage, false);
  if (blen < AES_BLOCK_SIZE + SHA1_MAC) throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `${key.enctype === 17 ? 'aes128' : 'aes256'}-cts-hmac-sha1-96 ciphertext is too short`);
  const clen = blen - SHA1_MAC;
  // A short message is decrypted inside the AES engine and checked where it lies there: only the
  // data leaves it, and the rest is wiped.
  const at = uk.ke.decryptInEngine(src, off, clen);
  if (at >= 0) {
    const m = uk.ke.engineMemory;
    try {
      if (!uk.ki.verifyRange(m, at, clen, src, off + clen, SHA1_MAC)) throw altered();
      const dlen = clen - AES_BLOCK_SIZE - ec - HEADER;
      if (dlen < 0) throw altered();
      if (!innerHeaderMatches(m, at + clen - HEADER, token)) throw altered();
      const data = Buffer.allocUnsafe(dlen);
      for (let i = 0, d = at + AES_BLOCK_SIZE; i < dlen; i++) data[i] = m[d + i]!;
      return { data, conf: true, seqStatus: st.recv.check(seq) };
    } finally {
      uk.ke.wipeEngine(clen);
    }
  }
  const p = uk.ke.decryptAt(src, off, clen);
  if (!uk.ki.verifyRange(p, 0, clen, src, off + clen, SHA1_MAC)) {
    p.fill(0);
    throw altered();
  }
  // p = confounder || data || filler(ec) || header copy.
  const dlen = clen - AES_BLOCK_SIZE - ec - HEADER;
  if (dlen < 0) throw altered();
  if (!innerHeaderMatches(p, clen - HEADER, token)) throw altered();
  return { data: view(p, AES_BLOCK_SIZE, dlen), conf: true, seqStatus: st.recv.check(seq) };
}

/** The encrypted header copy at p[h..h+16) matches the token's own, RRC excepted (0 inside). */
function innerHeaderMatches(p: Uint8Array, h: number, token: Uint8Array): boolean {
  let diff = p[h + 6]! | p[h + 7]!;
  for (let i = 0; i < 6; i++) diff |= p[h + i]! ^ token[i]!;
  for (let i = 8; i < HEADER; i++) diff |= p[h + i]! ^ token[i]!;
  return diff === 0;
}

/** Bytes a Sealed Wrap token adds to `n` bytes of data (for SECPKG_ATTR_SIZES cbSecurityTrailer and friends). */
export function wrapOverhead(key: KerberosKey, ec = 0, policy?: CryptoPolicy): number {
  const e = getEnctype(key.enctype, policy);
  return HEADER + e.ciphertextLength(ec + HEADER);
}

