// The Kerberos user-mode half (reference section 13): built from ContextData alone, it runs
// MakeSignature / VerifySignature / EncryptMessage / DecryptMessage in the caller's process with
// the RFC 4121 4.2 MIC and Wrap tokens of gss/tokens.ts.
//
// Buffer shapes, as Windows' Kerberos package lays them out (MS-KILE 3.4.5.4.1): EncryptMessage
// writes a Wrap token whose RRC is chosen so that the data is protected in place, i.e. the last
// cbBuffer bytes of the token are exactly the DATA buffer:
//   sealed:    TOKEN = header(16) | E-tail(16 encrypted header + MAC) | encrypted confounder(16)
//              DATA  = the encrypted data, same length;      RRC = 16 + MAC (28 for aes-sha1)
//   sign-only: TOKEN = header(16) | checksum;  DATA = the data unchanged; RRC = MAC (12 for aes-sha1)
// TOKEN || DATA is then a complete RFC 4121 token that any peer (MIT: any RRC) can unwrap; a
// SECBUFFER_STREAM holding a whole token, whatever its RRC, is accepted by DecryptMessage.
//
// rc4-hmac sessions (RFC 4757 7, only when the LSA-mode half's policy allows weak crypto) use
// the RFC 1964 layout, MS-KILE 3.4.5.4.1 "DER(OID | Token | Encrypted Data | Padding)":
//   TOKEN   = 60 len 06 09 <krb5 OID> | header(24) | encrypted confounder(8)   (45-48 bytes)
//   DATA    = the data, encrypted in place (sign-only: unchanged)
//   PADDING = the one pad byte (RC4 is a stream cipher: always 01, encrypted with the data)
// TOKEN || DATA || PADDING is the whole framed token. DCE style (framing around the header only,
// MS-RPCE) is not offered for rc4.

import { userModeContextCalls } from '../../lsa/packageKit.js';
import type { LSA_SEC_HANDLE, SECPKG_USER_FUNCTION_TABLE } from '../../lsa/types.js';
import { type SecBuffer, type SecBufferDesc, bufferBytes, findBuffer, findBuffers, isReadOnly } from '../../sspi/buffers.js';
import { concat } from '../../crypto/bytes.js';
import { SspiError } from '../../sspi/error.js';
import { SECBUFFER, SECPKG_ATTR, SECQOP_WRAP_NO_ENCRYPT } from '../../sspi/flags.js';
import { SecurityStatus, type Status } from '../../sspi/status.js';
import { destroyKey, getEnctype } from './crypto/index.js';
import type { KerberosKey } from './crypto/types.js';
import { type KerberosContextData, packContextData, unpackContextData } from './contextData.js';
import { type GssTokenState, createTokenState } from './gss/tokens.js';
import { gssGetMic, gssUnwrap, gssVerifyMic, gssWrap, isRc4Enctype, rc4WrapOverhead } from './gss/rc4tokens.js';

/** Windows' Kerberos cbMaxToken since Windows 8 / Server 2012 (MaxTokenSize default). */
export const KERBEROS_MAX_TOKEN = 48000;
const HEADER = 16;
/** The confounder of the AES enctypes (one cipher block). */
const CONFOUNDER = 16;
/** RFC 4757 MIC token: 60 23 06 09 <OID> then 24 bytes. */
const RC4_MIC_TOKEN = 37;
/** Largest rc4 Wrap header (TOKEN buffer): a 4-byte DER length covers messages below 16 MiB. */
const RC4_MAX_HEADER = 48;

interface UserContext {
  data: KerberosContextData;
  state: GssTokenState;
  /** MAC length of the key that protects outgoing tokens. */
  mac: number;
}

/** RFC 4121 tokens are defined here for the AES enctypes; rc4-hmac sessions use RFC 4757 tokens. */
function isAes(enctype: number): boolean {
  return enctype === 17 || enctype === 18 || enctype === 19 || enctype === 20;
}

function tokenKey(d: Pick<KerberosContextData, 'key' | 'acceptorSubkey'>): KerberosKey {
  return d.acceptorSubkey ?? d.key;
}

/** SecPkgContext_Sizes of a context whose tokens use `key`. */
export function kerberosSizes(key: KerberosKey): { cbMaxToken: number; cbMaxSignature: number; cbBlockSize: number; cbSecurityTrailer: number } {
  if (isRc4Enctype(key.enctype)) return { cbMaxToken: KERBEROS_MAX_TOKEN, cbMaxSignature: RC4_MIC_TOKEN, cbBlockSize: 1, cbSecurityTrailer: RC4_MAX_HEADER };
  const mac = getEnctype(key.enctype, { allowWeak: true }).macBytes;
  return { cbMaxToken: KERBEROS_MAX_TOKEN, cbMaxSignature: HEADER + mac, cbBlockSize: 1, cbSecurityTrailer: HEADER + CONFOUNDER + HEADER + mac };
}

const KEY_INFO: Record<number, { enc: string; sig: string; bits: number; cksum: number }> = {
  17: { enc: 'AES-128-CTS-HMAC-SHA1-96', sig: 'HMAC-SHA1-96-AES128', bits: 128, cksum: 15 },
  18: { enc: 'AES-256-CTS-HMAC-SHA1-96', sig: 'HMAC-SHA1-96-AES256', bits: 256, cksum: 16 },
  19: { enc: 'AES-128-CTS-HMAC-SHA256-128', sig: 'HMAC-SHA256-128-AES128', bits: 128, cksum: 19 },
  20: { enc: 'AES-256-CTS-HMAC-SHA384-192', sig: 'HMAC-SHA384-192-AES256', bits: 256, cksum: 20 },
  // KERB_CHECKSUM_HMAC_MD5 is -138 (ULONG in SecPkgContext_KeyInfo).
  23: { enc: 'RSADSI RC4-HMAC', sig: 'HMAC-MD5', bits: 128, cksum: -138 >>> 0 },
};

/** Spreads `bytes` over the DATA buffers in order (their lengths add up to bytes.length). */
function scatter(bytes: Uint8Array, bufs: readonly SecBuffer[]): void {
  let o = 0;
  for (const b of bufs) {
    const n = b.cbBuffer;
    b.pvBuffer!.set(bytes.subarray(o, o + n), 0);
    o += n;
  }
}

function statusOf(e: unknown): Status {
  if (e instanceof SspiError) return e.status;
  // A parser or cipher fault on peer input must not escape as an exception from a message call.
  return SecurityStatus.SEC_E_INVALID_TOKEN;
}

export function kerberosUserModeTable(): SECPKG_USER_FUNCTION_TABLE {
  const contexts = new Map<LSA_SEC_HANDLE, UserContext>();

  function build(packed: Uint8Array): UserContext {
    const data = unpackContextData(packed);
    try {
      const state = createTokenState({
        initiator: data.side === 'initiator',
        key: data.key,
        ...(data.acceptorSubkey ? { acceptorSubkey: data.acceptorSubkey } : {}),
        localSeq: data.sendSeq,
        remoteSeq: data.recvSeq,
        replayDetect: data.replayDetect,
        sequenceDetect: data.sequenceDetect,
        ...(data.allowWeak ? { policy: { allowWeak: true } } : {}),
      });
      const mac = getEnctype(tokenKey(data).enctype, { allowWeak: true }).macBytes;
      return { data, state, mac };
    } catch (e) {
      // Data the package cannot use (an unknown enctype in an imported context): its keys go too.
      destroyKey(data.key);
      if (data.acceptorSubkey) destroyKey(data.acceptorSubkey);
      throw e;
    }
  }

  function usable(u: UserContext): Status {
    const e = tokenKey(u.data).enctype;
    if (isAes(e)) return SecurityStatus.SEC_E_OK;
    // The weak-crypto gate: a context whose policy forbids rc4 never runs RFC 4757 tokens.
    if (isRc4Enctype(e)) return u.data.allowWeak ? SecurityStatus.SEC_E_OK : SecurityStatus.SEC_E_ALGORITHM_MISMATCH;
    return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
  }

  function rc4(u: UserContext): boolean {
    return isRc4Enctype(tokenKey(u.data).enctype);
  }

  /** EncryptMessage for rc4: TOKEN = framing + header + confounder, DATA in place, PADDING = the pad byte. */
  function sealRc4(u: UserContext, conf: boolean, msg: SecBufferDesc, tok: SecBuffer | undefined, data: readonly SecBuffer[]): Status {
    if (u.data.dceStyle) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    const pad = findBuffer(msg, SECBUFFER.PADDING);
    let n = 0;
    for (const b of data) n += b.cbBuffer;
    const head = rc4WrapOverhead(n) - 1;
    if (!tok || !tok.pvBuffer || tok.pvBuffer.length < head) return SecurityStatus.SEC_E_BUFFER_TOO_SMALL;
    if (!pad || !pad.pvBuffer || pad.pvBuffer.length < 1) return SecurityStatus.SEC_E_BUFFER_TOO_SMALL;
    try {
      const t = gssWrap(u.state, concat(...data.map(bufferBytes)), { conf });
      tok.pvBuffer.set(t.subarray(0, head), 0);
      tok.cbBuffer = head;
      scatter(t.subarray(head, head + n), data);
      pad.pvBuffer[0] = t[head + n]!;
      pad.cbBuffer = 1;
      return SecurityStatus.SEC_E_OK;
    } catch (e) {
      return statusOf(e);
    }
  }

  return {
    ...userModeContextCalls(contexts, build, statusOf),
    MakeSignature(h, _qop, msg) {
      const u = contexts.get(h);
      if (!u) return SecurityStatus.SEC_E_INVALID_HANDLE;
      const ok = usable(u);
      if (ok !== SecurityStatus.SEC_E_OK) return ok;
      const tok = findBuffer(msg, SECBUFFER.TOKEN);
      const need = rc4(u) ? RC4_MIC_TOKEN : HEADER + u.mac;
      if (!tok || !tok.pvBuffer || tok.pvBuffer.length < need) return SecurityStatus.SEC_E_BUFFER_TOO_SMALL;
      try {
        // Every DATA buffer is covered, read-only ones included (RFC 4121 4.2.6.1).
        const mic = gssGetMic(u.state, concat(...findBuffers(msg, SECBUFFER.DATA).map(bufferBytes)));
        tok.pvBuffer.set(mic, 0);
        tok.cbBuffer = mic.length;
        return SecurityStatus.SEC_E_OK;
      } catch (e) {
        return statusOf(e);
      }
    },
    VerifySignature(h, msg) {
      const u = contexts.get(h);
      if (!u) return { status: SecurityStatus.SEC_E_INVALID_HANDLE, QualityOfProtection: 0 };
      const ok = usable(u);
      if (ok !== SecurityStatus.SEC_E_OK) return { status: ok, QualityOfProtection: 0 };
      const tok = findBuffer(msg, SECBUFFER.TOKEN);
      if (!tok) return { status: SecurityStatus.SEC_E_INVALID_TOKEN, QualityOfProtection: 0 };
      try {
        gssVerifyMic(u.state, concat(...findBuffers(msg, SECBUFFER.DATA).map(bufferBytes)), bufferBytes(tok));
        return { status: SecurityStatus.SEC_E_OK, QualityOfProtection: 0 };
      } catch (e) {
        return { status: statusOf(e), QualityOfProtection: 0 };
      }
    },
    SealMessage(h, qop, msg) {
      const u = contexts.get(h);
      if (!u) return SecurityStatus.SEC_E_INVALID_HANDLE;
      const ok = usable(u);
      if (ok !== SecurityStatus.SEC_E_OK) return ok;
      const tok = findBuffer(msg, SECBUFFER.TOKEN);
      const data = findBuffers(msg, SECBUFFER.DATA);
      if (data.length === 0) return SecurityStatus.SEC_E_INVALID_TOKEN;
      // Sign-only DATA buffers inside a sealed message (DCE RPC header signing) need the RFC 4121
      // IOV form, which gss/tokens.ts does not offer.
      if (data.some(isReadOnly)) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
      if (data.some((b) => !b.pvBuffer && b.cbBuffer > 0)) return SecurityStatus.SEC_E_INVALID_TOKEN;
      const conf = qop !== SECQOP_WRAP_NO_ENCRYPT;
      if (rc4(u)) return sealRc4(u, conf, msg, tok, data);
      const rrc = conf ? HEADER + u.mac : u.mac;
      const need = conf ? HEADER + CONFOUNDER + HEADER + u.mac : HEADER + u.mac;
      if (!tok || !tok.pvBuffer || tok.pvBuffer.length < need) return SecurityStatus.SEC_E_BUFFER_TOO_SMALL;
      try {
        const plain = concat(...data.map(bufferBytes));
        const n = plain.length;
        const t = gssWrap(u.state, plain, { conf, rrc });
        tok.pvBuffer.set(t.subarray(0, t.length - n), 0);
        tok.cbBuffer = t.length - n;
        scatter(t.subarray(t.length - n), data);
        const pad = findBuffer(msg, SECBUFFER.PADDING);
        if (pad) pad.cbBuffer = 0;
        return SecurityStatus.SEC_E_OK;
      } catch (e) {
        return statusOf(e);
      }
    },
    UnsealMessage(h, msg) {
      const u = contexts.get(h);
      if (!u) return { status: SecurityStatus.SEC_E_INVALID_HANDLE, QualityOfProtection: 0 };
      const ok = usable(u);
      if (ok !== SecurityStatus.SEC_E_OK) return { status: ok, QualityOfProtection: 0 };
      try {
        const stream = findBuffer(msg, SECBUFFER.STREAM);
        const data = findBuffers(msg, SECBUFFER.DATA);
        if (stream) {
          const s = bufferBytes(stream);
          if (s.length < HEADER) return { status: SecurityStatus.SEC_E_INCOMPLETE_MESSAGE, QualityOfProtection: 0 };
          const out = data[0];
          if (!out) return { status: SecurityStatus.SEC_E_INVALID_TOKEN, QualityOfProtection: 0 };
          const r = gssUnwrap(u.state, s);
          out.pvBuffer = r.data;
          out.cbBuffer = r.data.length;
          return { status: SecurityStatus.SEC_E_OK, QualityOfProtection: r.conf ? 0 : SECQOP_WRAP_NO_ENCRYPT };
        }
        const tok = findBuffer(msg, SECBUFFER.TOKEN);
        if (!tok || data.length === 0) return { status: SecurityStatus.SEC_E_INVALID_TOKEN, QualityOfProtection: 0 };
        const pad = findBuffer(msg, SECBUFFER.PADDING);
        const parts = [bufferBytes(tok), ...data.map(bufferBytes)];
        if (pad && pad.cbBuffer > 0) parts.push(bufferBytes(pad));
        const r = gssUnwrap(u.state, concat(...parts));
        const total = data.reduce((a, b) => a + b.cbBuffer, 0);
        if (r.data.length === total) scatter(r.data, data);
        else if (data.length === 1) {
          data[0]!.pvBuffer = r.data;
          data[0]!.cbBuffer = r.data.length;
        } else return { status: SecurityStatus.SEC_E_INVALID_TOKEN, QualityOfProtection: 0 };
        return { status: SecurityStatus.SEC_E_OK, QualityOfProtection: r.conf ? 0 : SECQOP_WRAP_NO_ENCRYPT };
      } catch (e) {
        return { status: statusOf(e), QualityOfProtection: 0 };
      }
    },
    QueryContextAttributes(h, attr) {
      const u = contexts.get(h);
      if (!u) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      const key = tokenKey(u.data);
      switch (attr) {
        case SECPKG_ATTR.SIZES:
          return { status: SecurityStatus.SEC_E_OK, Buffer: kerberosSizes(key) };
        case SECPKG_ATTR.SESSION_KEY:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { SessionKeyLength: key.keyvalue.length, SessionKey: key.keyvalue.slice() } };
        case SECPKG_ATTR.FLAGS:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { Flags: u.data.ContextAttributes } };
        case SECPKG_ATTR.NAMES:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { sUserName: u.data.client } };
        case SECPKG_ATTR.NATIVE_NAMES:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { sClientName: u.data.client, sServerName: u.data.server } };
        case SECPKG_ATTR.KEY_INFO: {
          const k = KEY_INFO[key.enctype];
          if (!k) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
          return { status: SecurityStatus.SEC_E_OK, Buffer: { sSignatureAlgorithmName: k.sig, sEncryptAlgorithmName: k.enc, KeySize: k.bits, SignatureAlgorithm: k.cksum, EncryptAlgorithm: key.enctype } };
        }
        default:
          // LIFESPAN and the tslsa extension levels are answered by the LSA-mode half.
          return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
      }
    },
    DeleteUserModeContext(h) {
      const u = contexts.get(h);
      if (!u) return SecurityStatus.SEC_E_INVALID_HANDLE;
      destroyKey(u.data.key);
      if (u.data.acceptorSubkey) destroyKey(u.data.acceptorSubkey);
      contexts.delete(h);
      return SecurityStatus.SEC_E_OK;
    },
    ExportContext(h) {
      const u = contexts.get(h);
      if (!u) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      return { status: SecurityStatus.SEC_E_OK, PackedContext: packContextData({ ...u.data, sendSeq: u.state.sendSeq, recvSeq: u.state.recv.next }) };
    },
  };
}
