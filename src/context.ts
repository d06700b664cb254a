// Idiomatic security contexts: step(token) drives the InitializeSecurityContext /
// AcceptSecurityContext loop; wrap/unwrap/sign/verify run the message calls; failures throw
// SspiError with the exact status.

import type { SecHandle } from './lsa/protocol.js';
import type { Credentials } from './credentials.js';
import type { SecurityFunctionTable } from './sspi/api.js';
import type { SecPkgContext_Sizes } from './sspi/attributes.js';
import { type SecBuffer, type SecBufferDesc, buildChannelBindings, bufferBytes, secBuffer, secBufferDesc } from './sspi/buffers.js';
import { SspiError, callFailed } from './sspi/error.js';
import { ASC_REQ, ASC_RET, ISC_REQ, ISC_RET, SECBUFFER, SECPKG_ATTR, SECQOP_WRAP_NO_ENCRYPT, SECURITY_NATIVE_DREP, flagNames, flagOr, hasFlag } from './sspi/flags.js';
import { SecurityStatus, type Status } from './sspi/status.js';
import { SECBUFFER_READONLY } from './sspi/flags.js';
import { TIMESTAMP_NONE, type TimeStamp, timeStampToDate } from './sspi/timestamp.js';

const READONLY_DATA = (SECBUFFER.DATA | SECBUFFER_READONLY) >>> 0;

export type FlagInput = number | readonly string[];

export interface ContextOptions {
  /** ISC_REQ_* / ASC_REQ_* bits, as a number or as names ('MUTUAL_AUTH', 'CONFIDENTIALITY', ...). */
  flags?: FlagInput;
  /** SEC_CHANNEL_BINDINGS bytes, or raw application data (e.g. 'tls-server-end-point:' + hash) with `applicationData`. */
  channelBindings?: Uint8Array | { applicationData: Uint8Array };
}

export interface ClientContextOptions extends ContextOptions {
  /** The target: an SPN ('HTTP/host'), host-based name ('HTTP@host') or principal. */
  target?: string;
}

function resolveFlags(input: FlagInput | undefined, table: Readonly<Record<string, number>>): number {
  if (input === undefined) return 0;
  if (typeof input === 'number') return input;
  let v = 0;
  for (const name of input) {
    const bit = table[name.replace(/^(ISC|ASC)_REQ_/, '')];
    if (bit === undefined) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `unknown flag ${name}`);
    v = flagOr(v, bit);
  }
  return v;
}

export class SecurityContext {
  private handle: SecHandle | null = null;
  private done = false;
  private deleted = false;
  private granted = 0;
  private expiryTs: TimeStamp = TIMESTAMP_NONE;
  private sizes: SecPkgContext_Sizes | null = null;
  private readonly bindings: Uint8Array | null;

  private constructor(
    readonly sspi: SecurityFunctionTable,
    readonly credentials: Credentials | null,
    readonly side: 'client' | 'server',
    readonly requested: number,
    readonly target: string | null,
    channelBindings: ContextOptions['channelBindings'],
  ) {
    if (channelBindings instanceof Uint8Array) this.bindings = channelBindings;
    else if (channelBindings) this.bindings = buildChannelBindings(channelBindings.applicationData);
    else this.bindings = null;
  }

  /** An initiator over outbound credentials. */
  static client(credentials: Credentials, options: ClientContextOptions = {}): SecurityContext {
    return new SecurityContext(credentials.sspi, credentials, 'client', resolveFlags(options.flags, ISC_REQ), options.target ?? null, options.channelBindings);
  }

  /** An acceptor over inbound credentials. */
  static server(credentials: Credentials, options: ContextOptions = {}): SecurityContext {
    return new SecurityContext(credentials.sspi, credentials, 'server', resolveFlags(options.flags, ASC_REQ), null, options.channelBindings);
  }

  /** A context rebuilt from ExportSecurityContext bytes (message protection only). */
  static async import(sspi: SecurityFunctionTable, packageName: string, packed: Uint8Array): Promise<SecurityContext> {
    const r = await sspi.ImportSecurityContext(packageName, packed);
    if ((r.status | 0) < 0 || !r.phContext) throw new SspiError(r.status, 'ImportSecurityContext failed');
    const ctx = new SecurityContext(sspi, null, 'client', 0, null, undefined);
    ctx.handle = r.phContext;
    ctx.done = true;
    await ctx.loadSizes();
    return ctx;
  }

  get complete(): boolean {
    return this.done;
  }

  /** The granted ISC_RET_* / ASC_RET_* bits. */
  get flags(): number {
    return this.granted;
  }

  get flagNames(): string[] {
    return flagNames(this.granted, this.side === 'client' ? ISC_RET : ASC_RET);
  }

  get expiry(): Date | null {
    return timeStampToDate(this.expiryTs);
  }

  get contextHandle(): SecHandle | null {
    return this.handle;
  }

  /**
   * One leg: feed the peer's token (none for the client's first leg) and get the token to send,
   * or null when there is nothing to send. Sets `complete` when the context is established.
   */
  async step(token?: Uint8Array | null): Promise<Uint8Array | null> {
    if (this.deleted) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'context was deleted');
    if (this.done) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'context is already complete');
    const inputs: SecBuffer[] = [];
    if (token) inputs.push(secBuffer(SECBUFFER.TOKEN, token));
    if (this.bindings) inputs.push(secBuffer(SECBUFFER.CHANNEL_BINDINGS, this.bindings));
    const input = inputs.length ? secBufferDesc(...inputs) : null;
    const out = secBuffer(SECBUFFER.TOKEN, null);
    const output = secBufferDesc(out);
    const req = flagOr(this.requested, this.side === 'client' ? ISC_REQ.ALLOCATE_MEMORY : ASC_REQ.ALLOCATE_MEMORY);
    const r = this.side === 'client'
      ? await this.sspi.InitializeSecurityContext(this.credentials?.handle ?? null, this.handle, this.target, req, 0, SECURITY_NATIVE_DREP, input, 0, null, output)
      : await this.sspi.AcceptSecurityContext(this.credentials?.handle ?? null, this.handle, input, req, SECURITY_NATIVE_DREP, null, output);
    if (r.phNewContext) this.handle = r.phNewContext;
    let status: Status = r.status;
    if ((status | 0) < 0) throw callFailed(status, this.side === 'client' ? 'InitializeSecurityContext' : 'AcceptSecurityContext', r.extendedError);
    this.granted = r.pfContextAttr;
    this.expiryTs = r.ptsExpiry;
    if (status === SecurityStatus.SEC_I_COMPLETE_NEEDED || status === SecurityStatus.SEC_I_COMPLETE_AND_CONTINUE) {
      const st = await this.sspi.CompleteAuthToken(this.handle!, output);
      if ((st | 0) < 0) throw new SspiError(st, 'CompleteAuthToken failed');
      status = status === SecurityStatus.SEC_I_COMPLETE_NEEDED ? SecurityStatus.SEC_E_OK : SecurityStatus.SEC_I_CONTINUE_NEEDED;
    }
    if (status === SecurityStatus.SEC_E_OK) {
      this.done = true;
      await this.loadSizes();
    } else if (status !== SecurityStatus.SEC_I_CONTINUE_NEEDED) {
      throw new SspiError(status, 'unexpected status from the handshake');
    }
    const bytes = bufferBytes(out);
    return bytes.length ? bytes.slice() : null;
  }

  private async loadSizes(): Promise<void> {
    const r = this.sspi.queryUserModeAttribute(this.handle!, SECPKG_ATTR.SIZES) ?? (await this.sspi.QueryContextAttributes(this.handle!, SECPKG_ATTR.SIZES));
    if ((r.status | 0) >= 0) this.sizes = r.pBuffer as SecPkgContext_Sizes;
  }

  private requireReady(): { h: SecHandle; sizes: SecPkgContext_Sizes } {
    if (this.deleted || !this.handle) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'no context');
    if (!this.done) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'context is not complete');
    if (!this.sizes) throw new SspiError(SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION, 'context has no message sizes');
    return { h: this.handle, sizes: this.sizes };
  }

  /** MakeSignature over `message`: returns the signature token. */
  sign(message: Uint8Array, seqNo = 0): Uint8Array {
    const { h, sizes } = this.requireReady();
    const sig: SecBuffer = { BufferType: SECBUFFER.TOKEN, pvBuffer: new Uint8Array(sizes.cbMaxSignature), cbBuffer: sizes.cbMaxSignature };
    const st = this.sspi.MakeSignature(h, 0, secBufferDesc(secBuffer(READONLY_DATA, message), sig), seqNo);
    if ((st | 0) < 0) throw new SspiError(st, 'MakeSignature failed');
    return bufferBytes(sig);
  }

  /** VerifySignature; throws SspiError (SEC_E_MESSAGE_ALTERED, SEC_E_OUT_OF_SEQUENCE...) on failure. */
  verify(message: Uint8Array, signature: Uint8Array, seqNo = 0): void {
    const { h } = this.requireReady();
    const r = this.sspi.VerifySignature(h, secBufferDesc(secBuffer(READONLY_DATA, message), secBuffer(SECBUFFER.TOKEN, signature.slice())), seqNo);
    if ((r.status | 0) < 0) throw new SspiError(r.status, 'VerifySignature failed');
  }

  /** EncryptMessage (or sign-only with `encrypt: false`): returns the GSS-style token (header, data, padding). */
  wrap(message: Uint8Array, options: { encrypt?: boolean; seqNo?: number } = {}): Uint8Array {
    const { h, sizes } = this.requireReady();
    // One allocation laid out as the token is (trailer, data, padding) and one copy of the
    // message: the package works in place, so usually the result is this buffer as it stands.
    const trailer = sizes.cbSecurityTrailer;
    const n = message.length;
    const all = tokenBuffer(trailer + n + sizes.cbBlockSize);
    all.set(message, trailer);
    all.fill(0, 0, trailer);
    all.fill(0, trailer + n);
    const tokView = all.subarray(0, trailer);
    const dataView = all.subarray(trailer, trailer + n);
    const padView = all.subarray(trailer + n);
    const tok: SecBuffer = { BufferType: SECBUFFER.TOKEN, pvBuffer: tokView, cbBuffer: trailer };
    const data = secBuffer(SECBUFFER.DATA, dataView);
    const pad: SecBuffer = { BufferType: SECBUFFER.PADDING, pvBuffer: padView, cbBuffer: padView.length };
    const qop = options.encrypt === false ? SECQOP_WRAP_NO_ENCRYPT : 0;
    const st = this.sspi.EncryptMessage(h, qop, secBufferDesc(tok, data, pad), options.seqNo ?? 0);
    if ((st | 0) < 0) throw new SspiError(st, 'EncryptMessage failed');
    if (tok.pvBuffer === tokView && tok.cbBuffer === trailer && data.pvBuffer === dataView && data.cbBuffer === n && pad.pvBuffer === padView && pad.cbBuffer <= padView.length) {
      return all.subarray(0, trailer + n + pad.cbBuffer);
    }
    const parts = [bufferBytes(tok), bufferBytes(data), bufferBytes(pad)];
    const out = new Uint8Array(parts[0]!.length + parts[1]!.length + parts[2]!.length);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** DecryptMessage of a whole token (SECBUFFER_STREAM): returns the plaintext and whether it was encrypted. */
  unwrap(token: Uint8Array, seqNo = 0): { message: Uint8Array; encrypted: boolean } {
    const { h } = this.requireReady();
    // The package decrypts a private copy, so the caller's token is left as it was.
    const copy = token.slice();
    const stream = secBuffer(SECBUFFER.STREAM, copy);
    const data = secBuffer(SECBUFFER.DATA, null);
    const desc: SecBufferDesc = secBufferDesc(stream, data);
    const r = this.sspi.DecryptMessage(h, desc, seqNo);
    if ((r.status | 0) < 0) throw new SspiError(r.status, 'DecryptMessage failed');
    // Plaintext decrypted in place inside that copy is already ours; anything else the package
    // pointed DATA at is copied out.
    const out = bufferBytes(data);
    return { message: out.buffer === copy.buffer ? out : out.slice(), encrypted: r.pfQOP !== SECQOP_WRAP_NO_ENCRYPT };
  }

  /** QueryContextAttributes for any level. */
  async query<T = unknown>(attribute: number): Promise<T> {
    if (!this.handle) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'no context');
    const r = await this.sspi.QueryContextAttributes(this.handle, attribute);
    if ((r.status | 0) < 0) throw new SspiError(r.status, `QueryContextAttributes(${attribute}) failed`);
    return r.pBuffer as T;
  }

  /** ExportSecurityContext: the package's versioned serialization of this context. */
  async export(): Promise<Uint8Array> {
    const { h } = this.requireReady();
    const r = await this.sspi.ExportSecurityContext(h, 0);
    if ((r.status | 0) < 0 || !r.pPackedContext) throw new SspiError(r.status, 'ExportSecurityContext failed');
    return r.pPackedContext;
  }

  /** DeleteSecurityContext; key material is zeroed by the package. */
  async delete(): Promise<void> {
    if (this.deleted) return;
    this.deleted = true;
    if (!this.handle) return;
    const st = await this.sspi.DeleteSecurityContext(this.handle);
    if ((st | 0) < 0) throw new SspiError(st, 'DeleteSecurityContext failed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.delete();
  }

  /** For checks such as `ctx.has(ISC_RET.MUTUAL_AUTH)`. */
  has(flag: number): boolean {
    return hasFlag(this.granted, flag);
  }
}

// Above this size the token buffer is not zero-filled first: the message is copied over its middle
// and only the trailer and padding are zeroed (both small). Never from Buffer's shared pool, so the
// token's ArrayBuffer holds nothing else.
const UNZEROED_MIN = 4096;

function tokenBuffer(length: number): Uint8Array {
  if (length < UNZEROED_MIN) return new Uint8Array(length);
  const b = Buffer.allocUnsafeSlow(length);
  return new Uint8Array(b.buffer, b.byteOffset, length);
}
