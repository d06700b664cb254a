// The NTLM user-mode half (reference section 13): built from ContextData alone, it runs
// MakeSignature / VerifySignature / EncryptMessage / DecryptMessage in the caller's process with
// the MS-NLMP 3.4 signing and sealing state.

import { userModeContextCalls } from '../../lsa/packageKit.js';
import type { LSA_SEC_HANDLE, SECPKG_USER_FUNCTION_TABLE } from '../../lsa/types.js';
import { bufferBytes, findBuffer, findBuffers, isReadOnly } from '../../sspi/buffers.js';
import { SspiError } from '../../sspi/error.js';
import { SECBUFFER, SECPKG_ATTR, SECPKG_CONTEXT_EXPORT, SECQOP_WRAP_NO_ENCRYPT } from '../../sspi/flags.js';
import { SecurityStatus, type Status } from '../../sspi/status.js';
import { zero } from '../../crypto/bytes.js';
import { type NtlmContextData, packContextData, unpackContextData } from './contextData.js';
import { NTLMSSP_MESSAGE_SIGNATURE_SIZE, NtlmSealingState } from './signing.js';
import { NTLMSSP_NEGOTIATE_DATAGRAM } from './flags.js';

interface UserContext {
  data: NtlmContextData;
  state: NtlmSealingState;
  datagram: boolean;
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

  function build(bytes: Uint8Array): UserContext {
    const data = unpackContextData(bytes);
    const datagram = (data.NegotiateFlags & NTLMSSP_NEGOTIATE_DATAGRAM) !== 0;
    // Connection-oriented SeqNums say how far the RC4 streams ran: they need the saved streams.
    if (!datagram && !data.streams && (data.sendSeqNum !== 0 || data.recvSeqNum !== 0)) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, 'NTLM context data with message state but no RC4 state');
    }
    const state = new NtlmSealingState(data.ExportedSessionKey, data.NegotiateFlags, data.side === 'client' ? 'Client' : 'Server');
    if (data.streams && !datagram) {
      try {
        state.restoreStreams({ ...data.streams, sendSeqNum: data.sendSeqNum, recvSeqNum: data.recvSeqNum });
      } catch (e) {
        state.destroy();
        throw e;
      } finally {
        data.streams.send.fill(0);
        data.streams.recv.fill(0);
      }
    }
    data.streams = null;
    return { data, state, datagram };
  }

  function seq(u: UserContext, n: number): number | undefined {
    return u.datagram ? n : undefined;
  }

  return {
    ...userModeContextCalls(contexts, build, statusOf),
    MakeSignature(h, _qop, msg, n) {
      const u = contexts.get(h);
      if (!u) return SecurityStatus.SEC_E_INVALID_HANDLE;
      const tok = findBuffer(msg, SECBUFFER.TOKEN);
      if (!tok || !tok.pvBuffer || tok.pvBuffer.length < SIG) return SecurityStatus.SEC_E_BUFFER_TOO_SMALL;
      try {
        u.state.signParts(findBuffers(msg, SECBUFFER.DATA).map(bufferBytes), tok.pvBuffer.subarray(0, SIG), seq(u, n));
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
        u.state.verifyParts(findBuffers(msg, SECBUFFER.DATA).map(bufferBytes), bufferBytes(tok).subarray(0, SIG), seq(u, n));
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
        if (qop === SECQOP_WRAP_NO_ENCRYPT) {
          u.state.signParts(data.map(bufferBytes), tok.pvBuffer.subarray(0, SIG), seq(u, n));
        } else {
          const signOnly = data.map(isReadOnly);
          u.state.sealParts(data.map(bufferBytes), signOnly, tok.pvBuffer.subarray(0, SIG), seq(u, n));
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
          u.state.unsealParts([body], null, s.subarray(0, SIG), seq(u, n));
          out.pvBuffer = body;
          out.cbBuffer = body.length;
          return { status: SecurityStatus.SEC_E_OK, QualityOfProtection: 0 };
        }
        const tok = findBuffer(msg, SECBUFFER.TOKEN);
        if (!tok || tok.cbBuffer < SIG) return { status: SecurityStatus.SEC_E_INVALID_TOKEN, QualityOfProtection: 0 };
        const data = findBuffers(msg, SECBUFFER.DATA);
        const signOnly = data.map(isReadOnly);
        u.state.unsealParts(data.map(bufferBytes), signOnly, bufferBytes(tok).subarray(0, SIG), seq(u, n));
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
      u.state.destroy();
      zero(u.data.ExportedSessionKey);
      contexts.delete(h);
      return SecurityStatus.SEC_E_OK;
    },
    ExportContext(h, flags) {
      const u = contexts.get(h);
      if (!u) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
      if (((flags ?? 0) & SECPKG_CONTEXT_EXPORT.SPNEGO_MIC_RESET) !== 0 && !u.datagram) u.state.resetHandles();
      // Connection-oriented contexts carry their RC4 positions and SeqNums so the importer
      // continues the streams; datagram ones re-key per message and need neither.
      if (u.datagram) return { status: SecurityStatus.SEC_E_OK, PackedContext: packContextData({ ...u.data, sendSeqNum: 0, recvSeqNum: 0, streams: null }) };
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
