// NTLM session security (MS-NLMP 3.4): message integrity (SIGN/VERIFY) and confidentiality
// (SEAL/UNSEAL) with the NTLMSSP_MESSAGE_SIGNATURE of 2.2.2.9. Data is encrypted in place, as
// EncryptMessage/DecryptMessage do with the caller's SECBUFFER_DATA buffers.
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { constantTimeEqual } from '../../crypto/bytes.js';
import { HmacMd5 } from '../../crypto/hmac.js';
import { RC4 } from '../../crypto/rc4.js';
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';
import { type Mode, type NegotiatedSecurity, NTLMSSP_REVISION_W2K3, negotiatedSecurityFromFlags, SEALKEY, SIGNKEY } from './crypto.js';
import { hmacMd5States, sealKernelAvailable, sealUnsealEss } from './sealKernel.js';
import { NTLMSSP_NEGOTIATE_ALWAYS_SIGN, NTLMSSP_NEGOTIATE_ANONYMOUS, NTLMSSP_NEGOTIATE_SEAL, NTLMSSP_NEGOTIATE_SIGN } from './flags.js';

/** Size of NTLMSSP_MESSAGE_SIGNATURE in both forms (MS-NLMP 2.2.2.9). */
export const NTLMSSP_MESSAGE_SIGNATURE_SIZE = 16;

/**
 * The "dummy" NTLMSSP_MESSAGE_SIGNATURE of a context without session security that negotiated
 * NTLMSSP_NEGOTIATE_ALWAYS_SIGN: Version 1 followed by 12 zero bytes. MS-NLMP has no pseudocode
 * for it (2.2.2.5 M asks for "a signature block on all messages"); this is what Windows SSPI's
 * MakeSignature returns and what gss-ntlmssp sends and checks (its issue #19, fixed in 2020).
 */
export function dummySignature(out: Uint8Array = new Uint8Array(NTLMSSP_MESSAGE_SIGNATURE_SIZE)): Uint8Array {
  out.fill(0, 0, NTLMSSP_MESSAGE_SIGNATURE_SIZE);
  out[0] = 1;
  return out;
}

const DUMMY_SIGNATURE = dummySignature();

/** Whether `signature` (its first 16 bytes) is the dummy signature; constant time. */
export function isDummySignature(signature: Uint8Array): boolean {
  if (signature.length < NTLMSSP_MESSAGE_SIGNATURE_SIZE) return false;
  const s = signature.length === NTLMSSP_MESSAGE_SIGNATURE_SIZE ? signature : signature.subarray(0, NTLMSSP_MESSAGE_SIGNATURE_SIZE);
  return constantTimeEqual(s, DUMMY_SIGNATURE);
}

/**
 * MS-NLMP 3.4: a context has session security when NTLMSSP_NEGOTIATE_SIGN or _SEAL was
 * negotiated (3.4.4.1), except for an anonymous logon, which has none whatever the flags say
 * ("For the cases of ANONYMOUS user and Guest user login, there is no session security"):
 * its session key is derived from an all-zero SessionBaseKey, so a MAC under it proves nothing.
 */
export function hasSessionSecurity(NegotiateFlags: number): boolean {
  const f = NegotiateFlags >>> 0;
  return (f & (NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_SEAL)) !== 0 && (f & NTLMSSP_NEGOTIATE_ANONYMOUS) === 0;
}

/** A context without session security signs with the dummy signature only if ALWAYS_SIGN was negotiated. */
export function hasDummySigning(NegotiateFlags: number): boolean {
  return !hasSessionSecurity(NegotiateFlags) && ((NegotiateFlags >>> 0) & NTLMSSP_NEGOTIATE_ALWAYS_SIGN) !== 0;
}

// One direction's keys and stream: client-to-server or server-to-client.
interface Direction {
  signKey: Uint8Array | null;
  // HMAC_MD5 keyed with signKey, pads precomputed (ESS only).
  hmac: HmacMd5 | null;
  // The same pads' MD5 states for the seal kernel (inner, outer), made on its first use.
  hmacStates: Int32Array | null;
  sealKey: Uint8Array;
  rc4: RC4;
  seqNum: number;
}

function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

const NO_SIGN_ONLY: readonly boolean[] = [];

/** Both directions' RC4 positions (RC4.saveState) and SeqNums, as saveStreams() returns them. */
export interface NtlmStreamState {
  send: Uint8Array;
  recv: Uint8Array;
  sendSeqNum: number;
  recvSeqNum: number;
}

/**
 * The per-context signing and sealing state of MS-NLMP 3.4 (ClientSigningKey, ClientSealingKey,
 * ClientHandle, SeqNum and their server twins).
 *
 * With extended session security each direction has its own keys, RC4 handle and sequence
 * number. Without it MS-NLMP 3.4 uses a single sealing key, so one RC4 handle and one sequence
 * number serve both directions (half duplex), as Windows, Samba and gss-ntlmssp do.
 *
 * In datagram (connectionless) mode the caller supplies each message's sequence number and the
 * RC4 handle is re-keyed per message with MD5(SealingKey || SeqNum) (MS-NLMP 3.4).
 */
export class NtlmSealingState {
  readonly extendedSessionSecurity: boolean;
  readonly keyExchange: boolean;
  readonly datagram: boolean;
  private readonly send: Direction;
  private readonly recv: Direction;
  // Scratch for SeqNum, the v1 pad/CRC/SeqNum triple and the expected signature when verifying.
  private readonly seqBuf = new Uint8Array(4);
  private readonly v1Buf = new Uint8Array(12);
  private readonly expected = new Uint8Array(NTLMSSP_MESSAGE_SIGNATURE_SIZE);
  private readonly mac = new Uint8Array(16);
  private destroyed = false;

  /**
   * @param ExportedSessionKey the 16-byte session key (MS-NLMP 3.1.5.1.2 / 3.2.5.1.2)
   * @param NegFlg the negotiated flags, as options or as the NegotiateFlags number
   * @param Mode which side this is: 'Client' sends with the client-to-server keys
   */
  constructor(
    ExportedSessionKey: Uint8Array,
    NegFlg: NegotiatedSecurity | number,
    Mode: Mode,
    NTLMRevisionCurrent: number = NTLMSSP_REVISION_W2K3,
  ) {
    if (ExportedSessionKey.length !== 16) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `ExportedSessionKey must be 16 bytes, got ${ExportedSessionKey.length}`);
    }
    const f = typeof NegFlg === 'number' ? negotiatedSecurityFromFlags(NegFlg) : NegFlg;
    this.extendedSessionSecurity = f.extendedSessionSecurity;
    this.keyExchange = f.keyExchange;
    this.datagram = f.datagram;
    const other: Mode = Mode === 'Client' ? 'Server' : 'Client';
    const mk = (m: Mode): Direction => {
      const sealKey = SEALKEY(f, ExportedSessionKey, m, NTLMRevisionCurrent);
      const signKey = SIGNKEY(f, ExportedSessionKey, m);
      return { signKey, hmac: signKey ? new HmacMd5(signKey) : null, hmacStates: null, sealKey, rc4: new RC4(sealKey), seqNum: 0 };
    };
    this.send = mk(Mode);
    // MS-NLMP 3.4: without ESS there is one key and one handle for both directions.
    this.recv = f.extendedSessionSecurity ? mk(other) : this.send;
  }

  /** The next connection-oriented sequence number for sending (MS-NLMP 3.4.4 SeqNum). */
  get sendSeqNum(): number {
    return this.send.seqNum;
  }

  /** The next connection-oriented sequence number expected on receive. */
  get recvSeqNum(): number {
    return this.recv.seqNum;
  }

  /** MS-NLMP 3.4.3 SEAL of one buffer: encrypts `data` in place; returns the signature. */
  seal(data: Uint8Array, signature?: Uint8Array, seqNum?: number): Uint8Array {
    return this.sealParts([data], null, signature, seqNum);
  }

  /** MS-NLMP 3.4.3 UNSEAL of one buffer: decrypts `data` in place and verifies `signature`. */
  unseal(data: Uint8Array, signature: Uint8Array, seqNum?: number): void {
    this.unsealParts([data], null, signature, seqNum);
  }

  /** MS-NLMP 3.4.2 SIGN of one buffer; returns (or fills `signature` with) the signature. */
  sign(data: Uint8Array, signature?: Uint8Array, seqNum?: number): Uint8Array {
    return this.signParts([data], signature, seqNum);
  }

  /** MS-NLMP 3.4.2 VERIFY of one buffer: throws SEC_E_MESSAGE_ALTERED on a bad signature. */
  verify(data: Uint8Array, signature: Uint8Array, seqNum?: number): void {
    this.verifyParts([data], signature, seqNum);
  }

  /**
   * SEAL over several buffers, as EncryptMessage over several SECBUFFER_DATA buffers: the MAC
   * covers every part in order; the parts with signOnly[i] (SECBUFFER_READONLY_WITH_CHECKSUM)
   * are not encrypted; the others are encrypted in place with one continuing RC4 stream.
   */
  sealParts(parts: readonly Uint8Array[], signOnly: readonly boolean[] | null, signature?: Uint8Array, seqNum?: number): Uint8Array {
    const sig = this.sigOut(signature);
    const d = this.send;
    const seq = this.begin(d, seqNum);
    const so = signOnly ?? NO_SIGN_ONLY;
    // The checksum is over the plaintext, so take it before encrypting in place; the RC4 stream
    // still runs message first, checksum after, as MS-NLMP 3.4.3 orders it.
    if (this.useKernel(parts, so)) {
      sealUnsealEss(true, parts[0]!, seq, this.kernelStates(d), d.rc4, this.mac);
      this.finishESS(d, seq, this.mac, sig);
    } else if (this.extendedSessionSecurity) {
      const digest = this.hmac(d, seq, parts);
      this.crypt(d, parts, so);
      this.finishESS(d, seq, digest, sig);
    } else {
      const crc = crcOf(parts);
      this.crypt(d, parts, so);
      this.finishV1(d, seq, crc, sig);
    }
    this.end(d);
    return sig;
  }

  /** UNSEAL over several buffers (see sealParts); on failure the decrypted parts are zeroed. */
  unsealParts(parts: readonly Uint8Array[], signOnly: readonly boolean[] | null, signature: Uint8Array, seqNum?: number): void {
    checkSignature(signature);
    const d = this.recv;
    const seq = this.begin(d, seqNum);
    const so = signOnly ?? NO_SIGN_ONLY;
    const exp = this.expected;
    if (this.useKernel(parts, so)) {
      sealUnsealEss(false, parts[0]!, seq, this.kernelStates(d), d.rc4, this.mac);
      this.finishESS(d, seq, this.mac, exp);
    } else {
      this.crypt(d, parts, so);
      if (this.extendedSessionSecurity) this.finishESS(d, seq, this.hmac(d, seq, parts), exp);
      else this.finishV1(d, seq, crcOf(parts), exp);
    }
    this.end(d);
    const status = this.compare(exp, signature, seq);
    if (status !== 0) {
      // Unauthenticated plaintext is not handed to the application.
      for (let i = 0; i < parts.length; i++) if (!so[i]) parts[i]!.fill(0);
      throw new SspiError(status, 'NTLM message signature does not match');
    }
  }

  /** SIGN over several buffers (MS-NLMP 3.4.2, MakeSignature). */
  signParts(parts: readonly Uint8Array[], signature?: Uint8Array, seqNum?: number): Uint8Array {
    const sig = this.sigOut(signature);
    const d = this.send;
    const seq = this.begin(d, seqNum);
    if (this.extendedSessionSecurity) this.finishESS(d, seq, this.hmac(d, seq, parts), sig);
    else this.finishV1(d, seq, crcOf(parts), sig);
    this.end(d);
    return sig;
  }

  /** VERIFY over several buffers (MS-NLMP 3.4.2, VerifySignature). */
  verifyParts(parts: readonly Uint8Array[], signature: Uint8Array, seqNum?: number): void {
    checkSignature(signature);
    const d = this.recv;
    const seq = this.begin(d, seqNum);
    const exp = this.expected;
    if (this.extendedSessionSecurity) this.finishESS(d, seq, this.hmac(d, seq, parts), exp);
    else this.finishV1(d, seq, crcOf(parts), exp);
    this.end(d);
    const status = this.compare(exp, signature, seq);
    if (status !== 0) throw new SspiError(status, 'NTLM message signature does not match');
  }

  /**
   * The message-stream state an exported context carries: each direction's RC4 position and
   * SeqNum (without ESS both directions are the one shared handle). Secret: zero it after use.
   */
  saveStreams(): NtlmStreamState {
    if (this.destroyed) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'NTLM sealing state was destroyed');
    return { send: this.send.rc4.saveState(), recv: this.recv.rc4.saveState(), sendSeqNum: this.send.seqNum, recvSeqNum: this.recv.seqNum };
  }

  /** Continues the streams of saveStreams() (ImportSecurityContext). */
  restoreStreams(st: NtlmStreamState): void {
    if (this.destroyed) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'NTLM sealing state was destroyed');
    this.send.rc4.restoreState(st.send);
    this.send.seqNum = st.sendSeqNum >>> 0;
    if (this.recv !== this.send) {
      this.recv.rc4.restoreState(st.recv);
      this.recv.seqNum = st.recvSeqNum >>> 0;
    }
  }

  /**
   * Re-key both RC4 handles from their sealing keys, keeping the SeqNums: what NTLM does after the
   * SPNEGO mechListMIC, so the first application message starts a fresh handle (MS-SPNG).
   */
  resetHandles(): void {
    if (this.destroyed) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'NTLM sealing state was destroyed');
    for (const d of this.send === this.recv ? [this.send] : [this.send, this.recv]) {
      d.rc4.destroy();
      d.rc4 = new RC4(d.sealKey);
    }
  }

  /** Zeroes every key and RC4 state; the object is unusable afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const d of this.send === this.recv ? [this.send] : [this.send, this.recv]) {
      d.signKey?.fill(0);
      d.hmac?.destroy();
      d.hmacStates?.fill(0);
      d.hmacStates = null;
      d.sealKey.fill(0);
      d.rc4.destroy();
      d.seqNum = 0;
    }
    this.expected.fill(0);
    this.v1Buf.fill(0);
    this.mac.fill(0);
  }

  // -------------------------------------------------------------------------------------------

  private sigOut(signature: Uint8Array | undefined): Uint8Array {
    if (this.destroyed) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'NTLM sealing state was destroyed');
    if (signature === undefined) return new Uint8Array(NTLMSSP_MESSAGE_SIGNATURE_SIZE);
    if (signature.length < NTLMSSP_MESSAGE_SIGNATURE_SIZE) {
      throw new SspiError(SecurityStatus.SEC_E_BUFFER_TOO_SMALL, `signature buffer of ${signature.length} bytes, need 16`);
    }
    return signature;
  }

  // The message's sequence number; in datagram mode also re-keys RC4 (MS-NLMP 3.4).
  private begin(d: Direction, seqNum: number | undefined): number {
    if (this.destroyed) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'NTLM sealing state was destroyed');
    if (!this.datagram) return d.seqNum;
    if (seqNum === undefined) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'datagram NTLM needs the message sequence number');
    }
    const seq = seqNum >>> 0;
    writeU32(this.seqBuf, 0, seq);
    const k = createHash('md5').update(d.sealKey).update(this.seqBuf).digest();
    d.rc4.destroy();
    d.rc4 = new RC4(k);
    k.fill(0);
    return seq;
  }

  // Connection-oriented SeqNum advances per message (MS-NLMP 3.4.4.1/3.4.4.2).
  private end(d: Direction): void {
    if (!this.datagram) d.seqNum = (d.seqNum + 1) >>> 0;
  }

  // The fused RC4 + HMAC_MD5 kernel (sealKernel.ts) takes one encrypted buffer with ESS, what
  // EncryptMessage / DecryptMessage get from a wrap, at any length (measured faster than the JS
  // RC4 + HMAC from 16 bytes up). Other layouts take the general path.
  private useKernel(parts: readonly Uint8Array[], so: readonly boolean[]): boolean {
    return this.extendedSessionSecurity && parts.length === 1 && !so[0] && sealKernelAvailable();
  }

  private kernelStates(d: Direction): Int32Array {
    return (d.hmacStates ??= hmacMd5States(d.signKey!));
  }

  private crypt(d: Direction, parts: readonly Uint8Array[], signOnly: readonly boolean[]): void {
    for (let i = 0; i < parts.length; i++) {
      if (signOnly[i]) continue;
      const p = parts[i]!;
      d.rc4.processRange(p, 0, p.length, p, 0);
    }
  }

  // MS-NLMP 3.4.4.2: HMAC_MD5(SigningKey, ConcatenationOf(SeqNum, Message)), into this.mac.
  private hmac(d: Direction, seq: number, parts: readonly Uint8Array[]): Uint8Array {
    writeU32(this.seqBuf, 0, seq);
    d.hmac!.digestInto(parts, this.mac, 0, this.seqBuf);
    return this.mac;
  }

  private finishESS(d: Direction, seq: number, digest: Uint8Array, out: Uint8Array): void {
    writeSignatureESS(d.rc4, this.keyExchange, seq, digest, out);
  }

  private finishV1(d: Direction, seq: number, crc: number, out: Uint8Array): void {
    writeSignatureV1(d.rc4, seq, crc, out, this.v1Buf);
  }

  // 0 when the received signature matches; otherwise the status to raise.
  private compare(exp: Uint8Array, got: Uint8Array, seq: number): number {
    const g = got.length === NTLMSSP_MESSAGE_SIGNATURE_SIZE ? got : got.subarray(0, NTLMSSP_MESSAGE_SIGNATURE_SIZE);
    let ok: boolean;
    if (this.extendedSessionSecurity) {
      // The SeqNum field is in clear with ESS: a mismatch there is a replay or a gap.
      const gotSeq = (g[12]! | (g[13]! << 8) | (g[14]! << 16) | (g[15]! << 24)) >>> 0;
      if (gotSeq !== seq) {
        exp.fill(0);
        return SecurityStatus.SEC_E_OUT_OF_SEQUENCE;
      }
      ok = constantTimeEqual(exp, g);
    } else {
      // The v1 RandomPad is not checked: some senders fill it with encrypted pad bytes.
      for (let i = 4; i < 8; i++) exp[i] = g[i]!;
      ok = constantTimeEqual(exp, g);
    }
    exp.fill(0);
    return ok ? 0 : SecurityStatus.SEC_E_MESSAGE_ALTERED;
  }
}

// MS-NLMP 3.4.4.2: Version 1, Checksum = HMAC[0..7] (RC4'd under KEY_EXCH), SeqNum. The digest
// is wiped after use.
function writeSignatureESS(Handle: RC4, keyExchange: boolean, seq: number, digest: Uint8Array, out: Uint8Array): void {
  writeU32(out, 0, 1);
  if (keyExchange) Handle.processRange(digest, 0, 8, out, 4);
  else for (let i = 0; i < 8; i++) out[4 + i] = digest[i]!;
  writeU32(out, 12, seq);
  digest.fill(0);
}

// MS-NLMP 3.4.4.1: RC4 over RandomPad(0) || CRC32(Message) || SeqNum, then the pad field is
// emitted as zero. RC4(0) XOR SeqNum equals RC4(SeqNum), so the three go through in one call.
function writeSignatureV1(Handle: RC4, seq: number, crc: number, out: Uint8Array, scratch12: Uint8Array): void {
  writeU32(scratch12, 0, 0);
  writeU32(scratch12, 4, crc);
  writeU32(scratch12, 8, seq);
  Handle.processRange(scratch12, 0, 12, out, 4);
  writeU32(out, 0, 1);
  writeU32(out, 4, 0);
}

/**
 * MS-NLMP 3.4.4 MAC(Handle, SigningKey, SeqNum, Message) as a standalone function: the
 * NTLMSSP_MESSAGE_SIGNATURE of `Message` using (and advancing) the RC4 `Handle`. SigningKey is
 * required with extended session security and ignored without it. SEAL (3.4.3) is
 * RC4(Handle, Message) followed by this MAC over the plaintext; NtlmSealingState does both.
 */
export function MAC(
  Handle: RC4,
  SigningKey: Uint8Array | null,
  SeqNum: number,
  Message: Uint8Array | readonly Uint8Array[],
  NegFlg: Pick<NegotiatedSecurity, 'extendedSessionSecurity' | 'keyExchange'>,
): Uint8Array {
  const parts = Message instanceof Uint8Array ? [Message] : Message;
  const out = new Uint8Array(NTLMSSP_MESSAGE_SIGNATURE_SIZE);
  const seq = SeqNum >>> 0;
  if (NegFlg.extendedSessionSecurity) {
    if (!SigningKey) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'extended session security needs a SigningKey');
    const seqBytes = new Uint8Array(4);
    writeU32(seqBytes, 0, seq);
    const h = new HmacMd5(SigningKey);
    const digest = new Uint8Array(16);
    h.digestInto(parts, digest, 0, seqBytes);
    h.destroy();
    writeSignatureESS(Handle, NegFlg.keyExchange, seq, digest, out);
  } else {
    writeSignatureV1(Handle, seq, crcOf(parts), out, new Uint8Array(12));
  }
  return out;
}

function checkSignature(signature: Uint8Array): void {
  if (signature.length < NTLMSSP_MESSAGE_SIGNATURE_SIZE) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `NTLM signature of ${signature.length} bytes, need 16`);
  }
  // MS-NLMP 2.2.2.9: Version MUST be 1.
  if (signature[0] !== 1 || signature[1] !== 0 || signature[2] !== 0 || signature[3] !== 0) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'NTLM signature version is not 1');
  }
}

// MS-NLMP 3.4.4.1: CRC32 of the message, chained over its parts. Empty parts are skipped:
// zlib.crc32 on an empty view whose backing store has no data pointer returns 0, not `value`.
function crcOf(parts: readonly Uint8Array[]): number {
  let c = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.length !== 0) c = crc32(p, c);
  }
  return c >>> 0;
}
