// One HTTP acceptor context: AcceptSecurityContext leg by leg. Unlike SecurityContext, the
// channel bindings are chosen per leg, because the handler only learns from NTLM's AUTHENTICATE
// (the last leg) whether a client can bind to the channel at all.

import type { SecHandle } from '../lsa/protocol.js';
import type { SecurityFunctionTable } from '../sspi/api.js';
import { type SecBuffer, bufferBytes, secBuffer, secBufferDesc } from '../sspi/buffers.js';
import { SspiError, callFailed } from '../sspi/error.js';
import { ASC_REQ, SECBUFFER, SECPKG_CONTEXT_EXPORT, SECURITY_NATIVE_DREP, flagOr } from '../sspi/flags.js';
import { SecurityStatus, type Status } from '../sspi/status.js';
import { TIMESTAMP_NONE, type TimeStamp, timeStampToDate } from '../sspi/timestamp.js';

export class AcceptorContext {
  private handle: SecHandle | null = null;
  private deleted = false;
  private done = false;
  private granted = 0;
  private expiryTs: TimeStamp = TIMESTAMP_NONE;

  constructor(
    readonly sspi: SecurityFunctionTable,
    private readonly credential: SecHandle,
    private readonly requested: number,
  ) {}

  get complete(): boolean {
    return this.done;
  }

  /** The granted ASC_RET_* bits. */
  get flags(): number {
    return this.granted;
  }

  get expiry(): Date | null {
    return timeStampToDate(this.expiryTs);
  }

  /** One AcceptSecurityContext call: the token to send back (null when there is none). */
  async step(token: Uint8Array, bindings: Uint8Array | null): Promise<Uint8Array | null> {
    if (this.deleted || this.done) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'the context is finished');
    const inputs: SecBuffer[] = [secBuffer(SECBUFFER.TOKEN, token)];
    if (bindings) inputs.push(secBuffer(SECBUFFER.CHANNEL_BINDINGS, bindings));
    const out = secBuffer(SECBUFFER.TOKEN, null);
    const output = secBufferDesc(out);
    const r = await this.sspi.AcceptSecurityContext(this.credential, this.handle, secBufferDesc(...inputs), flagOr(this.requested, ASC_REQ.ALLOCATE_MEMORY), SECURITY_NATIVE_DREP, null, output);
    if (r.phNewContext) this.handle = r.phNewContext;
    let status: Status = r.status;
    if ((status | 0) < 0) throw callFailed(status, 'AcceptSecurityContext', r.extendedError);
    this.granted = r.pfContextAttr;
    this.expiryTs = r.ptsExpiry;
    if (status === SecurityStatus.SEC_I_COMPLETE_NEEDED || status === SecurityStatus.SEC_I_COMPLETE_AND_CONTINUE) {
      const st = await this.sspi.CompleteAuthToken(this.handle!, output);
      if ((st | 0) < 0) throw new SspiError(st, 'CompleteAuthToken failed');
      status = status === SecurityStatus.SEC_I_COMPLETE_NEEDED ? SecurityStatus.SEC_E_OK : SecurityStatus.SEC_I_CONTINUE_NEEDED;
    }
    if (status === SecurityStatus.SEC_E_OK) this.done = true;
    else if (status !== SecurityStatus.SEC_I_CONTINUE_NEEDED) throw new SspiError(status, 'unexpected status from AcceptSecurityContext');
    const bytes = bufferBytes(out);
    return bytes.length ? bytes.slice() : null;
  }

  /**
   * tslsa extension: the half-built context (after a step that continues) as bytes, for a
   * handshake store shared between processes; the local context is deleted. The bytes carry the
   * package's handshake state, no keys. Throws SspiError (SEC_E_UNSUPPORTED_FUNCTION when the
   * package cannot export that state), and then the context stays usable here.
   */
  async export(): Promise<Uint8Array> {
    if (this.deleted || this.done || !this.handle) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'only a handshake in progress can be exported');
    const r = await this.sspi.ExportPartialSecurityContext(this.handle, SECPKG_CONTEXT_EXPORT.DELETE_OLD);
    if ((r.status | 0) < 0 || !r.pPackedContext) throw new SspiError((r.status | 0) < 0 ? r.status : SecurityStatus.SEC_E_INTERNAL_ERROR, 'ExportPartialSecurityContext failed');
    this.deleted = true;
    return r.pPackedContext;
  }

  /**
   * Rebuilds an exported half-built acceptor context in this process, ready for the next step().
   * `packageName` is the package the credential belongs to (the HTTP scheme: 'Negotiate' or 'NTLM').
   */
  static async import(sspi: SecurityFunctionTable, credential: SecHandle, requested: number, packageName: string, packed: Uint8Array): Promise<AcceptorContext> {
    // The LSA checks that the bytes come from the credential's package (SEC_E_WRONG_CREDENTIAL_HANDLE).
    const r = await sspi.ImportPartialSecurityContext(credential, packed);
    if ((r.status | 0) < 0 || !r.phContext) throw new SspiError(r.status, `could not continue the parked ${packageName} handshake`);
    const ctx = new AcceptorContext(sspi, credential, requested);
    ctx.handle = r.phContext;
    ctx.granted = r.pfContextAttr;
    ctx.expiryTs = r.ptsExpiry;
    return ctx;
  }

  /** QueryContextAttributes; null when the package does not answer that level. */
  async query<T>(attribute: number): Promise<T | null> {
    if (!this.handle || this.deleted) return null;
    const r = await this.sspi.QueryContextAttributes(this.handle, attribute);
    return (r.status | 0) < 0 ? null : (r.pBuffer as T);
  }

  /** DeleteSecurityContext (the package zeroes the keys); idempotent. */
  async delete(): Promise<void> {
    if (this.deleted) return;
    this.deleted = true;
    if (this.handle) await this.sspi.DeleteSecurityContext(this.handle);
  }
}
