// The in-process transport: one LSA-side client session per connection, holding that client's
// credential and context handles. Buffers are copied in and out as a process boundary would copy
// them, so neither side can rely on sharing memory with the other.

import { type Plain, type SecPkgInfo, clonePlain } from '../sspi/attributes.js';
import { type SecBufferDesc, cloneDesc, validateDesc } from '../sspi/buffers.js';
import { isFlagSet, SECPKG_ATTR, SECPKG_CRED, SECPKG_NEGOTIATION } from '../sspi/flags.js';
import { NtStatus, SecurityStatus, type Status, toSecurityStatus } from '../sspi/status.js';
import { TIMESTAMP_INFINITE, TIMESTAMP_NONE, type TimeStamp, isExpired, timeStampFromUnixMs } from '../sspi/timestamp.js';
import type { ClientIdentity, LoadedPackage, Lsa } from './lsa.js';
import type { AcquireCredentialsRequest, AttributeReply, ContextReply, ContextRequest, LsaConnection, SecHandle, UserModeEntry } from './protocol.js';
import type { AcquireCredentialsHandleResult, CallPackageResult, LSA_SEC_HANDLE, LsaModeContextResult, LUID } from './types.js';

interface CredentialEntry {
  pkg: LoadedPackage;
  handle: LSA_SEC_HANDLE;
}

interface ContextEntry {
  pkg: LoadedPackage;
  handle: LSA_SEC_HANDLE;
  side: 'init' | 'accept';
  expiry: TimeStamp;
  /** When the context was created, as a local-time TimeStamp. */
  start: TimeStamp;
  /** The last leg returned SEC_E_OK (or a COMPLETE_NEEDED status). */
  complete: boolean;
}

let nextHandle = 1n;

function isHandle(h: unknown): h is SecHandle {
  return typeof h === 'object' && h !== null && typeof (h as SecHandle).dwLower === 'bigint' && typeof (h as SecHandle).dwUpper === 'bigint';
}

function isStatus(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

function infoCopy(i: SecPkgInfo): SecPkgInfo {
  return { fCapabilities: i.fCapabilities, wVersion: i.wVersion, wRPCID: i.wRPCID, cbMaxToken: i.cbMaxToken, Name: i.Name, Comment: i.Comment };
}

export class InProcessLsaConnection implements LsaConnection {
  readonly trusted: boolean;
  readonly logonId: LUID;
  private readonly credentials = new Map<bigint, CredentialEntry>();
  private readonly contexts = new Map<bigint, ContextEntry>();
  private closed = false;

  constructor(
    private readonly lsa: Lsa,
    private readonly identity: ClientIdentity,
  ) {
    this.trusted = identity.trusted;
    this.logonId = identity.logonId;
  }

  private frame(pkg: LoadedPackage) {
    return this.lsa.clientFrame(this.identity, pkg.id);
  }

  private get usable(): boolean {
    return !this.closed && !this.lsa.isShutDown;
  }

  async EnumerateSecurityPackages(): Promise<{ status: Status; packages: SecPkgInfo[] }> {
    if (!this.usable) return { status: SecurityStatus.SEC_E_INTERNAL_ERROR, packages: [] };
    return { status: SecurityStatus.SEC_E_OK, packages: this.lsa.list().map((p) => infoCopy(p.info)) };
  }

  async QuerySecurityPackageInfo(packageName: string): Promise<{ status: Status; info?: SecPkgInfo }> {
    const pkg = this.usable ? this.lsa.findPackage(packageName) : undefined;
    if (!pkg) return { status: SecurityStatus.SEC_E_SECPKG_NOT_FOUND };
    return { status: SecurityStatus.SEC_E_OK, info: infoCopy(pkg.info) };
  }

  async AcquireCredentialsHandle(req: AcquireCredentialsRequest): Promise<{ status: Status; credential?: SecHandle; expiry: TimeStamp }> {
    const pkg = this.usable ? this.lsa.findPackage(req?.packageName) : undefined;
    if (!pkg) return { status: SecurityStatus.SEC_E_SECPKG_NOT_FOUND, expiry: TIMESTAMP_NONE };
    const use = req.credentialUse;
    if (!isFlagSet(use) || ((use >>> 0) & SECPKG_CRED.BOTH) === 0) return { status: SecurityStatus.SEC_E_INVALID_PARAMETER, expiry: TIMESTAMP_NONE };
    if (!pkg.table.AcquireCredentialsHandle) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION, expiry: TIMESTAMP_NONE };
    const authData = clonePlain(req.authData ?? null);
    const r = await this.lsa.invoke(pkg, 'AcquireCredentialsHandle', this.frame(pkg), () => pkg.table.AcquireCredentialsHandle!(req.principal ?? null, use, req.logonId ?? null, authData, null, null), (status): AcquireCredentialsHandleResult => ({ status }));
    const status = isStatus(r?.status) ? toSecurityStatus(r.status) : SecurityStatus.SEC_E_INTERNAL_ERROR;
    if ((status | 0) < 0) return { status, expiry: TIMESTAMP_NONE };
    if (typeof r.CredentialHandle !== 'bigint') return { status: SecurityStatus.SEC_E_INTERNAL_ERROR, expiry: TIMESTAMP_NONE };
    const h = nextHandle++;
    this.credentials.set(h, { pkg, handle: r.CredentialHandle });
    return { status, credential: { dwLower: BigInt(pkg.id), dwUpper: h }, expiry: typeof r.ExpirationTime === 'bigint' ? r.ExpirationTime : TIMESTAMP_NONE };
  }

  private credential(h: unknown): CredentialEntry | undefined {
    if (!isHandle(h) || !this.usable) return undefined;
    const e = this.credentials.get(h.dwUpper);
    return e && BigInt(e.pkg.id) === h.dwLower && !e.pkg.unloading ? e : undefined;
  }

  private context(h: unknown): ContextEntry | undefined {
    if (!isHandle(h) || !this.usable) return undefined;
    const e = this.contexts.get(h.dwUpper);
    return e && BigInt(e.pkg.id) === h.dwLower && !e.pkg.unloading ? e : undefined;
  }

  async FreeCredentialsHandle(credential: SecHandle): Promise<Status> {
    const e = this.credential(credential);
    if (!e) return SecurityStatus.SEC_E_INVALID_HANDLE;
    this.credentials.delete(credential.dwUpper);
    if (!e.pkg.table.FreeCredentialsHandle) return SecurityStatus.SEC_E_OK;
    const st = await this.lsa.invoke(e.pkg, 'FreeCredentialsHandle', this.frame(e.pkg), () => e.pkg.table.FreeCredentialsHandle!(e.handle), (s) => s);
    return isStatus(st) ? toSecurityStatus(st) : SecurityStatus.SEC_E_INTERNAL_ERROR;
  }

  async QueryCredentialsAttributes(credential: SecHandle, attribute: number): Promise<AttributeReply> {
    const e = this.credential(credential);
    if (!e) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
    if (!Number.isInteger(attribute)) return { status: SecurityStatus.SEC_E_INVALID_PARAMETER };
    if (!e.pkg.table.QueryCredentialsAttributes) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
    const r = await this.lsa.invoke(e.pkg, 'QueryCredentialsAttributes', this.frame(e.pkg), () => e.pkg.table.QueryCredentialsAttributes!(e.handle, attribute), (status) => ({ status }));
    return attributeReply(r);
  }

  async SetCredentialsAttributes(credential: SecHandle, attribute: number, buffer: Plain): Promise<Status> {
    const e = this.credential(credential);
    if (!e) return SecurityStatus.SEC_E_INVALID_HANDLE;
    if (!e.pkg.table.SetCredentialsAttributes) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    const data = clonePlain(buffer);
    const st = await this.lsa.invoke(e.pkg, 'SetCredentialsAttributes', this.frame(e.pkg), () => e.pkg.table.SetCredentialsAttributes!(e.handle, attribute, data), (s) => s);
    return isStatus(st) ? toSecurityStatus(st) : SecurityStatus.SEC_E_INTERNAL_ERROR;
  }

  InitializeSecurityContext(req: ContextRequest): Promise<ContextReply> {
    return this.contextCall('init', req);
  }

  AcceptSecurityContext(req: ContextRequest): Promise<ContextReply> {
    return this.contextCall('accept', req);
  }

  private async contextCall(side: 'init' | 'accept', req: ContextRequest): Promise<ContextReply> {
    const fail = (status: Status, pkgName = ''): ContextReply => ({ status, context: null, contextAttr: 0, expiry: TIMESTAMP_NONE, mapped: false, contextData: null, packageHandle: 0n, packageName: pkgName, input: null, output: null });
    if (!req || typeof req !== 'object') return fail(SecurityStatus.SEC_E_INVALID_PARAMETER);
    if (!isFlagSet(req.contextReq) || !Number.isInteger(req.targetDataRep)) return fail(SecurityStatus.SEC_E_INVALID_PARAMETER);
    const inSt = validateDesc(req.input, true);
    if (inSt !== SecurityStatus.SEC_E_OK) return fail(inSt);
    const outSt = validateDesc(req.output, true);
    if (outSt !== SecurityStatus.SEC_E_OK) return fail(outSt);
    let ctx: ContextEntry | undefined;
    if (req.context !== null && req.context !== undefined) {
      ctx = this.context(req.context);
      if (!ctx || ctx.side !== side) return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
    }
    let cred: CredentialEntry | undefined;
    if (req.credential !== null && req.credential !== undefined) {
      cred = this.credential(req.credential);
      if (!cred) return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
    }
    if (!cred && !ctx) return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
    if (cred && ctx && cred.pkg !== ctx.pkg) return fail(SecurityStatus.SEC_E_WRONG_CREDENTIAL_HANDLE);
    const pkg = (ctx ?? cred)!.pkg;
    if (ctx && isExpired(ctx.expiry)) return fail(SecurityStatus.SEC_E_CONTEXT_EXPIRED, pkg.name);
    const input = req.input ? cloneDesc(req.input) : null;
    const output = req.output ? cloneDesc(req.output) : null;
    const credHandle = cred?.handle ?? 0n;
    const ctxHandle = ctx?.handle ?? 0n;
    const entry = side === 'init' ? 'InitLsaModeContext' : 'AcceptLsaModeContext';
    const fn = pkg.table[entry];
    if (!fn) return fail(SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION, pkg.name);
    const targetName = typeof req.targetName === 'string' ? req.targetName : null;
    const r: LsaModeContextResult = await this.lsa.invoke(
      pkg,
      entry,
      this.frame(pkg),
      () => (side === 'init'
        ? pkg.table.InitLsaModeContext!(credHandle, ctxHandle, targetName, req.contextReq, req.targetDataRep, input, output)
        : pkg.table.AcceptLsaModeContext!(credHandle, ctxHandle, input, req.contextReq, req.targetDataRep, output)),
      (status) => ({ status }),
    );
    if (!r || !isStatus(r.status)) return fail(SecurityStatus.SEC_E_INTERNAL_ERROR, pkg.name);
    const status = toSecurityStatus(r.status);
    const ok = (status | 0) >= 0;
    let handle: SecHandle | null = req.context ?? null;
    // The package's own handle for this context: SpInitUserModeContext takes the same value.
    let pkgHandle = ctxHandle;
    if (ok) {
      if (typeof r.NewContextHandle === 'bigint') pkgHandle = r.NewContextHandle;
      const expiry = typeof r.ExpirationTime === 'bigint' ? r.ExpirationTime : TIMESTAMP_NONE;
      const complete = status !== SecurityStatus.SEC_I_CONTINUE_NEEDED && status !== SecurityStatus.SEC_I_COMPLETE_AND_CONTINUE;
      if (ctx) {
        ctx.handle = pkgHandle;
        ctx.expiry = expiry;
        ctx.complete = complete;
      } else {
        const h = nextHandle++;
        this.contexts.set(h, { pkg, handle: pkgHandle, side, expiry, start: timeStampFromUnixMs(Date.now()), complete });
        handle = { dwLower: BigInt(pkg.id), dwUpper: h };
      }
    }
    // A negotiating package may hand over the context of the package it chose (tslsa extension).
    const mappedTo = ok && r.MappedContext === true && typeof r.MappedPackageName === 'string' && typeof r.MappedContextHandle === 'bigint' ? this.lsa.findPackage(r.MappedPackageName) : undefined;
    return {
      ...(!ok && typeof r.ExtendedError === 'string' && r.ExtendedError ? { extendedError: r.ExtendedError.slice(0, MAX_EXTENDED_ERROR) } : {}),
      status,
      context: handle,
      contextAttr: isFlagSet(r.ContextAttributes) ? r.ContextAttributes : 0,
      expiry: typeof r.ExpirationTime === 'bigint' ? r.ExpirationTime : TIMESTAMP_NONE,
      mapped: ok && r.MappedContext === true,
      contextData: ok && r.MappedContext === true && r.ContextData instanceof Uint8Array ? r.ContextData.slice() : null,
      packageHandle: mappedTo ? r.MappedContextHandle! : pkgHandle,
      packageName: mappedTo?.name ?? pkg.name,
      // The caller only takes back the types and counts of its input buffers (SECBUFFER_EXTRA...).
      input: input ? shapeOf(input) : null,
      output: output && validateDesc(output, false) === SecurityStatus.SEC_E_OK ? cloneDesc(output) : null,
    };
  }

  async DeleteSecurityContext(context: SecHandle): Promise<Status> {
    const e = this.context(context);
    if (!e) return SecurityStatus.SEC_E_INVALID_HANDLE;
    this.contexts.delete(context.dwUpper);
    if (!e.pkg.table.DeleteContext) return SecurityStatus.SEC_E_OK;
    const st = await this.lsa.invoke(e.pkg, 'DeleteContext', this.frame(e.pkg), () => e.pkg.table.DeleteContext!(e.handle), (s) => s);
    return isStatus(st) ? toSecurityStatus(st) : SecurityStatus.SEC_E_INTERNAL_ERROR;
  }

  async ExportLsaModeContext(context: SecHandle): Promise<{ status: Status; packed: Uint8Array | null }> {
    const e = this.context(context);
    if (!e) return { status: SecurityStatus.SEC_E_INVALID_HANDLE, packed: null };
    // A finished context leaves through ExportSecurityContext (the user-mode half), never here.
    if (e.complete) return { status: SecurityStatus.SEC_E_INVALID_HANDLE, packed: null };
    if (isExpired(e.expiry)) return { status: SecurityStatus.SEC_E_CONTEXT_EXPIRED, packed: null };
    if (!e.pkg.table.ExportLsaModeContext) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION, packed: null };
    const r: { status: Status; PackedContext?: Uint8Array } = await this.lsa.invoke(e.pkg, 'ExportLsaModeContext', this.frame(e.pkg), () => e.pkg.table.ExportLsaModeContext!(e.handle), (status) => ({ status }));
    const status = r && isStatus(r.status) ? toSecurityStatus(r.status) : SecurityStatus.SEC_E_INTERNAL_ERROR;
    if ((status | 0) < 0) return { status, packed: null };
    if (!(r.PackedContext instanceof Uint8Array)) return { status: SecurityStatus.SEC_E_INTERNAL_ERROR, packed: null };
    return { status, packed: r.PackedContext.slice() };
  }

  async ImportLsaModeContext(credential: SecHandle, side: 'init' | 'accept', packageName: string, packed: Uint8Array): Promise<{ status: Status; context: SecHandle | null; contextAttr: number; expiry: TimeStamp }> {
    const fail = (status: Status) => ({ status, context: null, contextAttr: 0, expiry: TIMESTAMP_NONE });
    const cred = this.credential(credential);
    if (!cred) return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
    if ((side !== 'init' && side !== 'accept') || !(packed instanceof Uint8Array)) return fail(SecurityStatus.SEC_E_INVALID_PARAMETER);
    const pkg = cred.pkg;
    if (this.lsa.findPackage(packageName) !== pkg) return fail(SecurityStatus.SEC_E_WRONG_CREDENTIAL_HANDLE);
    if (!pkg.table.ImportLsaModeContext) return fail(SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION);
    const copy = packed.slice();
    const r: LsaModeContextResult = await this.lsa.invoke(pkg, 'ImportLsaModeContext', this.frame(pkg), () => pkg.table.ImportLsaModeContext!(cred.handle, copy), (status) => ({ status }));
    if (!r || !isStatus(r.status)) return fail(SecurityStatus.SEC_E_INTERNAL_ERROR);
    const status = toSecurityStatus(r.status);
    if ((status | 0) < 0) return fail(status);
    if (typeof r.NewContextHandle !== 'bigint') return fail(SecurityStatus.SEC_E_INTERNAL_ERROR);
    const expiry = typeof r.ExpirationTime === 'bigint' ? r.ExpirationTime : TIMESTAMP_NONE;
    const h = nextHandle++;
    this.contexts.set(h, { pkg, handle: r.NewContextHandle, side, expiry, start: timeStampFromUnixMs(Date.now()), complete: false });
    return { status, context: { dwLower: BigInt(pkg.id), dwUpper: h }, contextAttr: isFlagSet(r.ContextAttributes) ? r.ContextAttributes : 0, expiry };
  }

  async ApplyControlToken(context: SecHandle, input: SecBufferDesc): Promise<Status> {
    const e = this.context(context);
    if (!e) return SecurityStatus.SEC_E_INVALID_HANDLE;
    const v = validateDesc(input, false);
    if (v !== SecurityStatus.SEC_E_OK) return v;
    if (!e.pkg.table.ApplyControlToken) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    const copy = cloneDesc(input);
    const st = await this.lsa.invoke(e.pkg, 'ApplyControlToken', this.frame(e.pkg), () => e.pkg.table.ApplyControlToken!(e.handle, copy), (s) => s);
    return isStatus(st) ? toSecurityStatus(st) : SecurityStatus.SEC_E_INTERNAL_ERROR;
  }

  async QueryContextAttributes(context: SecHandle, attribute: number): Promise<AttributeReply> {
    const e = this.context(context);
    if (!e) return { status: SecurityStatus.SEC_E_INVALID_HANDLE };
    if (!Number.isInteger(attribute)) return { status: SecurityStatus.SEC_E_INVALID_PARAMETER };
    let reply: AttributeReply = { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION };
    if (e.pkg.table.QueryContextAttributes) {
      const r = await this.lsa.invoke(e.pkg, 'QueryContextAttributes', this.frame(e.pkg), () => e.pkg.table.QueryContextAttributes!(e.handle, attribute), (status) => ({ status }));
      reply = attributeReply(r);
    }
    return reply.status === SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION ? this.genericAttribute(e, attribute) ?? reply : reply;
  }

  // Levels every context can answer from what the LSA knows, for packages that leave them out.
  private genericAttribute(e: ContextEntry, attribute: number): AttributeReply | null {
    switch (attribute) {
      case SECPKG_ATTR.PACKAGE_INFO:
        return { status: SecurityStatus.SEC_E_OK, buffer: { PackageInfo: infoCopy(e.pkg.info) } };
      case SECPKG_ATTR.NEGOTIATION_INFO:
        return { status: SecurityStatus.SEC_E_OK, buffer: { PackageInfo: infoCopy(e.pkg.info), NegotiationState: e.complete ? SECPKG_NEGOTIATION.COMPLETE : SECPKG_NEGOTIATION.IN_PROGRESS } };
      case SECPKG_ATTR.LIFESPAN:
        return { status: SecurityStatus.SEC_E_OK, buffer: { tsStart: e.start, tsExpiry: e.expiry === TIMESTAMP_NONE ? TIMESTAMP_INFINITE : e.expiry } };
      default:
        return null;
    }
  }

  async SetContextAttributes(context: SecHandle, attribute: number, buffer: Plain): Promise<Status> {
    const e = this.context(context);
    if (!e) return SecurityStatus.SEC_E_INVALID_HANDLE;
    if (!e.pkg.table.SetContextAttributes) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    const data = clonePlain(buffer);
    const st = await this.lsa.invoke(e.pkg, 'SetContextAttributes', this.frame(e.pkg), () => e.pkg.table.SetContextAttributes!(e.handle, attribute, data), (s) => s);
    return isStatus(st) ? toSecurityStatus(st) : SecurityStatus.SEC_E_INTERNAL_ERROR;
  }

  async LookupAuthenticationPackage(packageName: string): Promise<{ status: Status; AuthenticationPackage: number }> {
    const pkg = this.usable ? this.lsa.findPackage(packageName) : undefined;
    if (!pkg) return { status: NtStatus.STATUS_NO_SUCH_PACKAGE, AuthenticationPackage: 0 };
    return { status: NtStatus.STATUS_SUCCESS, AuthenticationPackage: pkg.id };
  }

  async CallAuthenticationPackage(authenticationPackage: number, submit: Uint8Array, clientBufferBase: bigint): Promise<CallPackageResult> {
    const pkg = this.usable && Number.isInteger(authenticationPackage) ? this.lsa.packageById(authenticationPackage) : undefined;
    if (!pkg) return { status: NtStatus.STATUS_NO_SUCH_PACKAGE, ProtocolReturnBuffer: null, ReturnBufferLength: 0, ProtocolStatus: NtStatus.STATUS_NO_SUCH_PACKAGE };
    if (!(submit instanceof Uint8Array)) return { status: NtStatus.STATUS_INVALID_PARAMETER, ProtocolReturnBuffer: null, ReturnBufferLength: 0, ProtocolStatus: NtStatus.STATUS_INVALID_PARAMETER };
    // The LSA copies the client's buffer into its own memory and passes the client's address along.
    const copy = submit.slice();
    const entry = this.trusted ? 'CallPackage' : 'CallPackageUntrusted';
    const r = await this.lsa.deliverCall(pkg, entry, this.frame(pkg), copy, typeof clientBufferBase === 'bigint' ? clientBufferBase : 0n, copy.length);
    return { ...r, ProtocolReturnBuffer: r.ProtocolReturnBuffer ? r.ProtocolReturnBuffer.slice() : null };
  }

  async getUserModeEntry(packageName: string): Promise<UserModeEntry | null> {
    const pkg = this.usable ? this.lsa.findPackage(packageName) : undefined;
    if (!pkg || typeof pkg.module.SpUserModeInitialize !== 'function') return null;
    return { module: pkg.module, tableIndex: pkg.tableIndex, thunks: [...pkg.thunks] };
  }

  /** Closing a connection is a client process ending: its handles are released. */
  async close(): Promise<void> {
    if (this.closed) return;
    const contexts = [...this.contexts.entries()];
    const creds = [...this.credentials.entries()];
    for (const [k] of contexts) await this.DeleteSecurityContext({ dwLower: BigInt(this.contexts.get(k)!.pkg.id), dwUpper: k });
    for (const [k, e] of creds) await this.FreeCredentialsHandle({ dwLower: BigInt(e.pkg.id), dwUpper: k });
    this.closed = true;
  }
}

function attributeReply(r: { status: Status; Buffer?: unknown } | undefined): AttributeReply {
  if (!r || !isStatus(r.status)) return { status: SecurityStatus.SEC_E_INTERNAL_ERROR };
  const status = toSecurityStatus(r.status);
  if ((status | 0) < 0) return { status };
  return { status, buffer: r.Buffer === undefined ? undefined : clonePlain(r.Buffer as Plain) };
}

/** A descriptor's buffer types and counts without the bytes. */
function shapeOf(desc: SecBufferDesc): SecBufferDesc {
  return { ulVersion: desc.ulVersion, cBuffers: desc.cBuffers, pBuffers: desc.pBuffers.map((b) => ({ BufferType: b.BufferType, cbBuffer: b.cbBuffer, pvBuffer: null })) };
}

/** Longest package failure description passed on to the caller. */
const MAX_EXTENDED_ERROR = 512;
