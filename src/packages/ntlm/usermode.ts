// The NTLM user-mode half (reference section 13): built from ContextData alone, it runs
// MakeSignature / VerifySignature / EncryptMessage / DecryptMessage in the caller's process with
// the MS-NLMP 3.4 signing and sealing state. A context without session security (anonymous, or
// neither SIGN nor SEAL negotiated) signs with the dummy signature when ALWAYS_SIGN was
// negotiated and refuses everything else with SEC_E_UNSUPPORTED_FUNCTION.

import { userModeContextCalls } from '../../lsa/packageKit.js';
import type { LSA_SEC_HANDLE, SECPKG_USER_FUNCTION_TABLE } from '../../lsa/types.js';
import { bufferBytes, findBuffer, findBuffers, isReadOnly } from '../../sspi/buffers.js';
import { SspiError } from '../../sspi/error.js';
import { SECBUFFER, SECPKG_ATTR, SECPKG_CONTEXT_EXPORT, SECQOP_WRAP_NO_ENCRYPT } from '../../sspi/flags.js';
import { SecurityStatus, type Status } from '../../sspi/status.js';
import { zero } from '../../crypto/bytes.js';
import { type NtlmContextData, packContextData, unpackContextData } from './contextData.js';
import { NTLMSSP_MESSAGE_SIGNATURE_SIZE, NtlmSealingState, dummySignature, hasDummySigning, hasSessionSecurity, isDummySignature } from './signing.js';
import { NTLMSSP_NEGOTIATE_DATAGRAM } from './flags.js';

interface UserContext {
  data: NtlmContextData;
  /**
   * The MS-NLMP 3.4 keys and RC4 handles, derived on the first message rather than when the
   * context is mapped (a tenth of a handshake's cost, and most HTTP sign-ons protect nothing).
   * Always null without session security.
   */
  state: NtlmSealingState | null;
  datagram: boolean;
  /** hasSessionSecurity(NegotiateFlags). */
  secure: boolean;
  /** hasDummySigning(NegotiateFlags). */
  dummy: boolean;
}

const SIG = NTLMSSP_MESSAGE_SIGNATURE_SIZE;
/** MS-NLMP token size bound used by Windows NTLM. */
export const NTLM_MAX_TOKEN = 2888;
/** SecPkgContext_Sizes of every NTLM context: a 16-byte signature is the whole trailer, no padding. */
export const NTLM_SIZES = Object.freeze({ cbMaxToken: NTLM_MAX_TOKEN, cbMaxSignature: SIG, cbBlockSize: 0, cbSecurityTrailer: SIG });

function statusOf(e: unknown): Status {
  if (e instanceof SspiError) return e.status;
  throw e;
}

export function ntlmUserModeTable(): SECPKG_USER_FUNCTION_TABLE {
  const contexts = new Map<LSA_SEC_HANDLE, UserContext>();

  function newState(data: NtlmContextData): NtlmSealingState {
    return new NtlmSealingState(data.ExportedSessionKey, data.NegotiateFlags, data.side === 'client' ? 'Client' : 'Server');
  }

  function build(bytes: Uint8Array): UserContext {
    const data = unpackContextData(bytes);
    const datagram = (data.NegotiateFlags & NTLMSSP_NEGOTIATE_DATAGRAM) !== 0;
    const secure = hasSessionSecurity(data.NegotiateFlags);
    const streams = data.streams;
    data.streams = null;
    try {
      // Connection-oriented SeqNums say how far the RC4 streams ran: they need the saved streams.
      if (!datagram && !streams && (data.sendSeqNum !== 0 || data.recvSeqNum !== 0)) {
        throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'NTLM context data with message state but no RC4 state');
      }
      let state: NtlmSealingState | null = null;
      if (streams && secure && !datagram) {
        state = newState(data);
        try {
          state.restoreStreams({ ...streams, sendSeqNum: data.sendSeqNum, recvSeqNum: data.recvSeqNum });
        } catch (e) {
          state.destroy();
          throw e;
        }
      }
      return { data, state, datagram, secure, dummy: hasDummySigning(data.NegotiateFlags) };
    } catch (e) {
      zero(data.ExportedSessionKey);
      throw e;
    } finally {
      streams?.send.fill(0);
      streams?.recv.fill(0);
    }
  }

  function sealing(u: UserContext): NtlmSealingState {
    return (u.state ??= newState(u.data));
  }

  function seq(u: UserContext, n: number): number | undefined {
    return u.datagram ? n : undefined;
  }

  // MakeSignature without session security (MS-NLMP 2.2.2.5 M): the dummy signature, no SeqNum.
  function makeDummy(u: UserContext, tok: Uint8Array): Status {
    if (!u.dummy) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    dummySignature(tok);
    return SecurityStatus.SEC_E_OK;
  }

  // VerifySignature without session security: only the dummy signature is accepted.
  function checkDummy(u: UserContext, sig: Uint8Array): Status {
    if (!u.dummy) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    return isDummySignature(sig) ? SecurityStatus.SEC_E_OK : SecurityStatus.SEC_E_MESSAGE_ALTERED;
  }

  return {
    ...userModeContextCalls(contexts, build, statusOf),
    MakeSignature(h, _qop, msg, n) {
      const u = contexts.get(h);
      if (!u) return SecurityStatus.SEC_E_INVALID_HANDLE;
      const tok = findBuffer(msg, SECBUFFER.TOKEN);
      if (!tok || !tok.pvBuffer || tok.pvBuffer.length < SIG) return SecurityStatus.SEC_E_BUFFER_TOO_SMALL;
      try {
        if (!u.secure) {
          const st = makeDummy(u, tok.pvBuffer.subarray(0, SIG));
          if (st === SecurityStatus.SEC_E_OK) tok.cbBuffer = SIG;
          return st;
        }
        sealing(u).signParts(findBuffers(msg, SECBUFFER.DATA).map(bufferBytes), tok.pvBuffer.subarray(0, SIG), seq(u, n));
        tok.cbBuffer = SIG;
        return SecurityStatus.SEC_E_OK;
      } catch (e) {
        return statusOf(e);
      }
    },
    VerifySignature(h, msg, n) {
      const u = contexts.get(h);
      if (!u) return { status: SecurityStatus.SEC_E_INVALID_HANDLE, QualityOfProtection: 0 };
      const tok = findBuffer(msg, SECBUFFER.TOKEN);
      if (!tok || tok.cbBuffer < SIG) return { status: SecurityStatus.SEC_E_INVALID_TOKEN, QualityOfProtection: 0 };
      try {
        if (!u.secure) return { status: checkDummy(u, bufferBytes(tok)), QualityOfProtection: 0 };
        sealing(u).verifyParts(findBuffers(msg, SECBUFFER.DATA).map(bufferBytes), bufferBytes(tok).subarray(0, SIG), seq(u, n));
        return { status: SecurityStatus.SEC_E_OK, QualityOfProtection: 0 };
      } catch (e) {
        return { status: statusOf(e), QualityOfProtection: 0 };
      }
    },
    SealMessage(h, qop, msg, n) {
      const u = contexts.get(h);
      if (!u) return SecurityStatus.SEC_E_INVALID_HANDLE;
      const tok = findBuffer(msg, SECBUFFER.TOKEN);
      if (!tok || !tok.pvBuffer || tok.pvBuffer.length < SIG) return SecurityStatus.SEC_E_BUFFER_TOO_SMALL;
      const data = findBuffers(msg, SECBUFFER.DATA);
      if (data.length === 0) return SecurityStatus.SEC_E_INVALID_TOKEN;
      try {
        if (!u.secure) {
          // No key to seal with: only a sign-only wrap, carrying the dummy signature.
          if (qop !== SECQOP_WRAP_NO_ENCRYPT) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
          const st = makeDummy(u, tok.pvBuffer.subarray(0, SIG));
          if (st !== SecurityStatus.SEC_E_OK) return st;
        } else if (qop === SECQOP_WRAP_NO_ENCRYPT) {
          sealing(u).signParts(data.map(bufferBytes), tok.pvBuffer.subarray(0, SIG), seq(u, n));
        } else {
          const signOnly = data.map(isReadOnly);
          sealing(u).sealParts(data.map(bufferBytes), signOnly, tok.pvBuffer.subarray(0, SIG), seq(u, n));
        }
        tok.cbBuffer = SIG;
        const pad = findBuffer(msg, SECBUFFER.PADDING);
        if (pad) pad.cbBuffer = 0;
        return SecurityStatus.SEC_E_OK;
      } catch (e) {
        return statusOf(e);
      }
    },
    UnsealMessage(h, msg, n) {
      const u = contexts.get(h);
      if (!u) return { status: SecurityStatus.SEC_E_INVALID_HANDLE, QualityOfProtection: 0 };
      try {
        const stream = findBuffer(msg, SECBUFFER.STREAM);
        if (stream) {
          // SECBUFFER_STREAM: the whole GSS wrap token, signature then sealed data.
          const s = bufferBytes(stream);
          if (s.length < SIG) return { status: SecurityStatus.SEC_E_INCOMPLETE_MESSAGE, QualityOfProtection: 0 };
          const out = findBuffer(msg, SECBUFFER.DATA);
          if (!out) return { status: SecurityStatus.SEC_E_INVALID_TOKEN, QualityOfProtection: 0 };
          // Decrypted in place, DATA pointing into STREAM, as Windows does (no copy of the body).
          const body = s.subarray(SIG);
          if (!u.secure) {
            // Without session security the only wrap there can be is sign-only, in clear.
            const st = checkDummy(u, s);
            if (st !== SecurityStatus.SEC_E_OK) return { status: st, QualityOfProtection: 0 };
            out.pvBuffer = body;
            out.cbBuffer = body.length;
            return { status: SecurityStatus.SEC_E_OK, QualityOfProtection: SECQOP_WRAP_NO_ENCRYPT };
          }
          sealing(u).unsealParts([body], null, s.subarray(0, SIG), seq(u, n));
          out.pvBuffer = body;
          out.cbBuffer = body.length;
          return { status: SecurityStatus.SEC_E_OK, QualityOfProtection: 0 };
        }
        const tok = findBuffer(msg, SECBUFFER.TOKEN);
        if (!tok || tok.cbBuffer < SIG) return { status: SecurityStatus.SEC_E_INVALID_TOKEN, QualityOfProtection: 0 };
        const data = findBuffers(msg, SECBUFFER.DATA);
        if (!u.secure) {
          const st = checkDummy(u, bufferBytes(tok));
          return { status: st, QualityOfProtection: st === SecurityStatus.SEC_E_OK ? SECQOP_WRAP_NO_ENCRYPT : 0 };
        }
        const signOnly = data.map(isReadOnly);
        sealing(u).unsealParts(data.map(bufferBytes), signOnly, bufferBytes(tok).subarray(0, SIG), seq(u, n));
        return { status: SecurityStatus.SEC_E_OK, QualityOfProtection: 0 };
      } catch (e) {
        return { status: statusOf(e), QualityOfProtection: 0 };
      }
    },
    QueryContextAttributes(h, attr) {
      const u = contexts.get(h);
      if (!u) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      switch (attr) {
        case SECPKG_ATTR.SIZES:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { ...NTLM_SIZES } };
        case SECPKG_ATTR.SESSION_KEY:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { SessionKeyLength: 16, SessionKey: u.data.ExportedSessionKey.slice() } };
        case SECPKG_ATTR.FLAGS:
          return { status: SecurityStatus.SEC_E_OK, Buffer: { Flags: u.data.ContextAttributes } };
        default:
          return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
      }
    },
    DeleteUserModeContext(h) {
      const u = contexts.get(h);
      if (!u) return SecurityStatus.SEC_E_INVALID_HANDLE;
      u.state?.destroy();
      u.state = null;
      zero(u.data.ExportedSessionKey);
      contexts.delete(h);
      return SecurityStatus.SEC_E_OK;
    },
    ExportContext(h, flags) {
      const u = contexts.get(h);
      if (!u) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      // A context that has protected nothing yet has fresh handles: reset or not, the importer
      // derives the same keys.
      if (((flags ?? 0) & SECPKG_CONTEXT_EXPORT.SPNEGO_MIC_RESET) !== 0 && !u.datagram) u.state?.resetHandles();
      // Connection-oriented contexts carry their RC4 positions and SeqNums so the importer
      // continues the streams; datagram ones re-key per message and need neither.
      if (u.datagram || !u.state) return { status: SecurityStatus.SEC_E_OK, PackedContext: packContextData({ ...u.data, sendSeqNum: 0, recvSeqNum: 0, streams: null }) };
      const st = u.state.saveStreams();
      try {
        const packed = packContextData({ ...u.data, sendSeqNum: st.sendSeqNum, recvSeqNum: st.recvSeqNum, streams: { send: st.send, recv: st.recv } });
        return { status: SecurityStatus.SEC_E_OK, PackedContext: packed };
      } finally {
        st.send.fill(0);
        st.recv.fill(0);
      }
    },
  };
}
