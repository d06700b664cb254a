// The faithful SSPI layer: a SecurityFunctionTable whose calls carry sspi.h's names, parameters
// and status codes. LSA-mode calls cross the LsaConnection; once a package maps a finished context
// (MappedContext + ContextData), message protection runs in this process through the package's
// user-mode table, synchronously, like sspicli (reference section 13).

import type { LsaConnection, SecHandle, UserModeEntry } from '../lsa/protocol.js';
import type { LSA_SEC_HANDLE, LUID, SECPKG_DLL_FUNCTIONS, SECPKG_USER_FUNCTION_TABLE } from '../lsa/types.js';
import { type Plain, type SecPkgInfo, clonePlain } from './attributes.js';
import { type SecBufferDesc, validateDesc } from './buffers.js';
import { ISC_REQ, SECPKG_CONTEXT_EXPORT, isFlagSet, hasFlag } from './flags.js';
import { SecurityStatus, type Status, toSecurityStatus } from './status.js';
import { TIMESTAMP_NONE, type TimeStamp, unixMsFromTimeStamp } from './timestamp.js';
import { LSA_INTERFACE_VERSION } from '../lsa/lsa.js';
import { PackedReader, PackedWriter } from '../lsa/packed.js';

export const SECURITY_SUPPORT_PROVIDER_INTERFACE_VERSION_4 = 4;

interface ClientContext {
  handle: SecHandle;
  packageName: string;
  side: 'init' | 'accept';
  /** Set once the package mapped the context to its user-mode half. */
  user: { table: SECPKG_USER_FUNCTION_TABLE; handle: LSA_SEC_HANDLE; thunks: ReadonlySet<number> } | null;
  /** Expiry as a UTC instant (ms); Infinity when none. */
  expiresAt: number;
  /** Imported contexts live only here, with no LSA-mode half. */
  imported: boolean;
}

interface UserPackage {
  table: SECPKG_USER_FUNCTION_TABLE;
  thunks: ReadonlySet<number>;
}

const IMPORTED_HANDLE_BASE = 1n << 62n;
/** The layout version of ExportPartialSecurityContext's bytes (u8 version, u8 side, package name, package state). */
const PARTIAL_CONTEXT_VERSION = 1;
let nextImported = 1n;

function isHandle(h: unknown): h is SecHandle {
  return typeof h === 'object' && h !== null && typeof (h as SecHandle).dwLower === 'bigint' && typeof (h as SecHandle).dwUpper === 'bigint';
}

const dllFunctions: SECPKG_DLL_FUNCTIONS = {
  AllocateHeap: (n) => new Uint8Array(Math.max(0, n | 0)),
  FreeHeap: (b) => b.fill(0),
  RegisterCallback: () => SecurityStatus.SEC_E_OK,
};

export interface InitializeSecurityContextResult {
  status: Status;
  phNewContext: SecHandle | null;
  pfContextAttr: number;
  ptsExpiry: TimeStamp;
  /** tslsa extension: with a failure status, the package's description of the cause (no secret). */
  extendedError?: string;
}
export type AcceptSecurityContextResult = InitializeSecurityContextResult;

/** SecurityFunctionTableW, with the calls tslsa implements. */
export class SecurityFunctionTable {
  readonly dwVersion = SECURITY_SUPPORT_PROVIDER_INTERFACE_VERSION_4;
  private readonly contexts = new Map<bigint, ClientContext>();
  private readonly userPackages = new Map<string, Promise<UserPackage | null>>();

  constructor(readonly connection: LsaConnection) {}

  async EnumerateSecurityPackages(): Promise<{ status: Status; pcPackages: number; ppPackageInfo: SecPkgInfo[] }> {
    const r = await this.connection.EnumerateSecurityPackages();
    return { status: r.status, pcPackages: r.packages.length, ppPackageInfo: r.packages };
  }

  async QuerySecurityPackageInfo(pszPackageName: string): Promise<{ status: Status; ppPackageInfo: SecPkgInfo | null }> {
    if (typeof pszPackageName !== 'string') return { status: SecurityStatus.SEC_E_SECPKG_NOT_FOUND, ppPackageInfo: null };
    const r = await this.connection.QuerySecurityPackageInfo(pszPackageName);
    return { status: r.status, ppPackageInfo: r.info ?? null };
  }

  async AcquireCredentialsHandle(
    pszPrincipal: string | null,
    pszPackage: string,
    fCredentialUse: number,
    pvLogonId: LUID | null,
    pAuthData: Plain,
    pGetKeyFn: null = null,
    pvGetKeyArgument: null = null,
  ): Promise<{ status: Status; phCredential: SecHandle | null; ptsExpiry: TimeStamp }> {
    void pGetKeyFn;
    void pvGetKeyArgument;
    if (typeof pszPackage !== 'string') return { status: SecurityStatus.SEC_E_SECPKG_NOT_FOUND, phCredential: null, ptsExpiry: TIMESTAMP_NONE };
    if (pszPrincipal !== null && pszPrincipal !== undefined && typeof pszPrincipal !== 'string') return { status: SecurityStatus.SEC_E_INVALID_PARAMETER, phCredential: null, ptsExpiry: TIMESTAMP_NONE };
    if (!isFlagSet(fCredentialUse)) return { status: SecurityStatus.SEC_E_INVALID_PARAMETER, phCredential: null, ptsExpiry: TIMESTAMP_NONE };
    if (pvLogonId !== null && pvLogonId !== undefined && typeof pvLogonId !== 'bigint') return { status: SecurityStatus.SEC_E_INVALID_PARAMETER, phCredential: null, ptsExpiry: TIMESTAMP_NONE };
    let authData: Plain;
    try {
      authData = clonePlain(pAuthData ?? null);
    } catch {
      return { status: SecurityStatus.SEC_E_INVALID_PARAMETER, phCredential: null, ptsExpiry: TIMESTAMP_NONE };
    }
    const r = await this.connection.AcquireCredentialsHandle({ principal: pszPrincipal ?? null, packageName: pszPackage, credentialUse: fCredentialUse, logonId: pvLogonId ?? null, authData });
    return { status: r.status, phCredential: r.credential ?? null, ptsExpiry: r.expiry };
  }

  async FreeCredentialsHandle(phCredential: SecHandle): Promise<Status> {
    if (!isHandle(phCredential)) return SecurityStatus.SEC_E_INVALID_HANDLE;
    return this.connection.FreeCredentialsHandle(phCredential);
  }

  async QueryCredentialsAttributes(phCredential: SecHandle, ulAttribute: number): Promise<{ status: Status; pBuffer: unknown }> {
    if (!isHandle(phCredential)) return { status: SecurityStatus.SEC_E_INVALID_HANDLE, pBuffer: null };
    const r = await this.connection.QueryCredentialsAttributes(phCredential, ulAttribute);
    return { status: r.status, pBuffer: r.buffer ?? null };
  }

  async SetCredentialsAttributes(phCredential: SecHandle, ulAttribute: number, pBuffer: Plain): Promise<Status> {
    if (!isHandle(phCredential)) return SecurityStatus.SEC_E_INVALID_HANDLE;
    return this.connection.SetCredentialsAttributes(phCredential, ulAttribute, pBuffer);
  }

  /**
   * InitializeSecurityContext. `pOutput`'s buffers are written as in C: into the caller's
   * pvBuffer (SEC_E_BUFFER_TOO_SMALL when it does not fit) or, with ISC_REQ_ALLOCATE_MEMORY, into a
   * buffer the package allocated. Reserved1/Reserved2 must be 0.
   */
  InitializeSecurityContext(
    phCredential: SecHandle | null,
    phContext: SecHandle | null,
    pszTargetName: string | null,
    fContextReq: number,
    Reserved1: number,
    TargetDataRep: number,
    pInput: SecBufferDesc | null,
    Reserved2: number,
    phNewContext: SecHandle | null,
    pOutput: SecBufferDesc | null,
  ): Promise<InitializeSecurityContextResult> {
    void phNewContext;
    if (pszTargetName !== null && pszTargetName !== undefined && typeof pszTargetName !== 'string') return Promise.resolve(failed(SecurityStatus.SEC_E_INVALID_PARAMETER));
    if (Reserved1 !== 0 || Reserved2 !== 0) return Promise.resolve(failed(SecurityStatus.SEC_E_INVALID_PARAMETER));
    return this.contextCall('init', phCredential, phContext, pszTargetName ?? null, fContextReq, TargetDataRep, pInput, pOutput);
  }

  AcceptSecurityContext(
    phCredential: SecHandle | null,
    phContext: SecHandle | null,
    pInput: SecBufferDesc | null,
    fContextReq: number,
    TargetDataRep: number,
    phNewContext: SecHandle | null,
    pOutput: SecBufferDesc | null,
  ): Promise<AcceptSecurityContextResult> {
    void phNewContext;
    return this.contextCall('accept', phCredential, phContext, null, fContextReq, TargetDataRep, pInput, pOutput);
  }

  private async contextCall(
    side: 'init' | 'accept',
    phCredential: SecHandle | null,
    phContext: SecHandle | null,
    target: string | null,
    fContextReq: number,
    TargetDataRep: number,
    pInput: SecBufferDesc | null,
    pOutput: SecBufferDesc | null,
  ): Promise<InitializeSecurityContextResult> {
    if (!isFlagSet(fContextReq) || typeof TargetDataRep !== 'number' || !Number.isInteger(TargetDataRep)) return failed(SecurityStatus.SEC_E_INVALID_PARAMETER);
    if (phCredential !== null && phCredential !== undefined && !isHandle(phCredential)) return failed(SecurityStatus.SEC_E_INVALID_HANDLE);
    let existing: ClientContext | undefined;
    if (phContext !== null && phContext !== undefined) {
      if (!isHandle(phContext)) return failed(SecurityStatus.SEC_E_INVALID_HANDLE);
      existing = this.contexts.get(phContext.dwUpper);
      if (existing && (existing.imported || existing.side !== side)) return failed(SecurityStatus.SEC_E_INVALID_HANDLE);
      if (existing && existing.expiresAt <= Date.now()) return failed(SecurityStatus.SEC_E_CONTEXT_EXPIRED);
    }
    const vi = validateDesc(pInput, true);
    if (vi !== SecurityStatus.SEC_E_OK) return failed(vi);
    const vo = validateDesc(pOutput, true);
    if (vo !== SecurityStatus.SEC_E_OK) return failed(vo);
    const req = {
      credential: phCredential ?? null,
      context: phContext ?? null,
      targetName: target,
      contextReq: fContextReq,
      targetDataRep: TargetDataRep,
      // No copies here: the connection is the boundary, and copies what crosses it both ways.
      input: pInput ?? null,
      output: pOutput ?? null,
    };
    const r = side === 'init' ? await this.connection.InitializeSecurityContext(req) : await this.connection.AcceptSecurityContext(req);
    let status = r.status;
    if (pInput && r.input) copyBack(pInput, r.input, true, false);
    if (pOutput && r.output) {
      const st = copyBack(pOutput, r.output, false, hasFlag(fContextReq, ISC_REQ.ALLOCATE_MEMORY));
      if (st !== SecurityStatus.SEC_E_OK && (status | 0) >= 0) status = st;
    }
    if ((r.status | 0) >= 0 && r.context) {
      let ctx = this.contexts.get(r.context.dwUpper);
      if (!ctx) {
        ctx = { handle: r.context, packageName: r.packageName, side, user: null, expiresAt: Number.POSITIVE_INFINITY, imported: false };
        this.contexts.set(r.context.dwUpper, ctx);
      }
      ctx.expiresAt = r.expiry === TIMESTAMP_NONE ? Number.POSITIVE_INFINITY : unixMsFromTimeStamp(r.expiry);
      if (r.mapped && r.contextData) {
        const st = await this.mapContext(ctx, r.packageName, r.packageHandle, r.contextData);
        r.contextData.fill(0);
        if (st !== SecurityStatus.SEC_E_OK) status = st;
      }
    }
    return { status, phNewContext: r.context, pfContextAttr: r.contextAttr, ptsExpiry: r.expiry, ...(r.extendedError !== undefined && (status | 0) < 0 ? { extendedError: r.extendedError } : {}) };
  }

  private loadUserPackage(packageName: string): Promise<UserPackage | null> {
    const key = packageName.toUpperCase();
    let p = this.userPackages.get(key);
    if (!p) {
      p = (async () => {
        const entry: UserModeEntry | null = await this.connection.getUserModeEntry(packageName);
        if (!entry?.module.SpUserModeInitialize) return null;
        const init = await entry.module.SpUserModeInitialize(LSA_INTERFACE_VERSION);
        if (!init || (init.status | 0) < 0) return null;
        const table = init.ppTables[entry.tableIndex];
        if (!table || typeof table.InitUserModeContext !== 'function') return null;
        if (table.InstanceInit) {
          const st = await table.InstanceInit(LSA_INTERFACE_VERSION, dllFunctions);
          if ((st | 0) < 0) return null;
        }
        return { table, thunks: new Set(entry.thunks) };
      })().catch(() => null);
      this.userPackages.set(key, p);
    }
    return p;
  }

  /** `packageName` is the package whose user-mode half takes the context (Negotiate hands over the one it chose). */
  private async mapContext(ctx: ClientContext, packageName: string, packageHandle: LSA_SEC_HANDLE, contextData: Uint8Array): Promise<Status> {
    const pkg = await this.loadUserPackage(packageName);
    if (!pkg) return SecurityStatus.SEC_E_INTERNAL_ERROR;
    try {
      const st = await pkg.table.InitUserModeContext(packageHandle, contextData);
      if ((st | 0) < 0) return toSecurityStatus(st);
    } catch (e) {
      return statusOf(e);
    }
    ctx.user = { table: pkg.table, handle: packageHandle, thunks: pkg.thunks };
    return SecurityStatus.SEC_E_OK;
  }

  async CompleteAuthToken(phContext: SecHandle, pToken: SecBufferDesc): Promise<Status> {
    const ctx = this.lookup(phContext);
    if (typeof ctx === 'number') return ctx;
    const v = validateDesc(pToken, false);
    if (v !== SecurityStatus.SEC_E_OK) return v;
    if (!ctx.user?.table.CompleteAuthToken) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    return guardAsync(() => ctx.user!.table.CompleteAuthToken!(ctx.user!.handle, pToken));
  }

  async DeleteSecurityContext(phContext: SecHandle): Promise<Status> {
    if (!isHandle(phContext)) return SecurityStatus.SEC_E_INVALID_HANDLE;
    const ctx = this.contexts.get(phContext.dwUpper);
    if (ctx && ctx.handle.dwLower !== phContext.dwLower) return SecurityStatus.SEC_E_INVALID_HANDLE;
    this.contexts.delete(phContext.dwUpper);
    if (ctx?.user?.table.DeleteUserModeContext) {
      await guardAsync(() => ctx.user!.table.DeleteUserModeContext!(ctx.user!.handle));
    }
    if (ctx?.imported) return SecurityStatus.SEC_E_OK;
    return this.connection.DeleteSecurityContext(phContext);
  }

  async ApplyControlToken(phContext: SecHandle, pInput: SecBufferDesc): Promise<Status> {
    if (!isHandle(phContext)) return SecurityStatus.SEC_E_INVALID_HANDLE;
    const v = validateDesc(pInput, false);
    if (v !== SecurityStatus.SEC_E_OK) return v;
    return this.connection.ApplyControlToken(phContext, pInput);
  }

  /**
   * QueryContextAttributes: the user-mode half answers first for mapped contexts; levels it lists
   * as thunked, and every level of an unmapped context, are answered by the LSA-mode half.
   */
  async QueryContextAttributes(phContext: SecHandle, ulAttribute: number): Promise<{ status: Status; pBuffer: unknown }> {
    if (!isHandle(phContext)) return { status: SecurityStatus.SEC_E_INVALID_HANDLE, pBuffer: null };
    if (!Number.isInteger(ulAttribute)) return { status: SecurityStatus.SEC_E_INVALID_PARAMETER, pBuffer: null };
    const ctx = this.contexts.get(phContext.dwUpper);
    if (ctx?.user?.table.QueryContextAttributes && !ctx.user.thunks.has(ulAttribute)) {
      try {
        const r = await ctx.user.table.QueryContextAttributes(ctx.user.handle, ulAttribute);
        if (r && r.status !== SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION) return { status: toSecurityStatus(r.status), pBuffer: r.Buffer ?? null };
      } catch (e) {
        return { status: statusOf(e), pBuffer: null };
      }
      if (ctx.imported) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION, pBuffer: null };
    }
    const r = await this.connection.QueryContextAttributes(phContext, ulAttribute);
    return { status: r.status, pBuffer: r.buffer ?? null };
  }

  /**
   * QueryContextAttributes answered by the user-mode half in the same turn, when it can: null when
   * the attribute goes to the LSA or the package answers asynchronously (then use the API call).
   * Not an SSPI function: SecurityContext uses it to read SIZES without another await.
   */
  queryUserModeAttribute(phContext: SecHandle, ulAttribute: number): { status: Status; pBuffer: unknown } | null {
    const ctx = this.lookup(phContext);
    if (typeof ctx === 'number' || !ctx.user?.table.QueryContextAttributes || ctx.user.thunks.has(ulAttribute)) return null;
    try {
      const r = ctx.user.table.QueryContextAttributes(ctx.user.handle, ulAttribute);
      if (r instanceof Promise) {
        r.catch(() => {}); // the caller falls back to QueryContextAttributes, which asks again
        return null;
      }
      if (!r || r.status === SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION) return null;
      return { status: toSecurityStatus(r.status), pBuffer: r.Buffer ?? null };
    } catch (e) {
      return { status: statusOf(e), pBuffer: null };
    }
  }

  async SetContextAttributes(phContext: SecHandle, ulAttribute: number, pBuffer: Plain): Promise<Status> {
    if (!isHandle(phContext)) return SecurityStatus.SEC_E_INVALID_HANDLE;
    return this.connection.SetContextAttributes(phContext, ulAttribute, pBuffer);
  }

  private lookup(phContext: unknown): ClientContext | Status {
    if (!isHandle(phContext)) return SecurityStatus.SEC_E_INVALID_HANDLE;
    const ctx = this.contexts.get(phContext.dwUpper);
    if (!ctx || ctx.handle.dwLower !== phContext.dwLower) return SecurityStatus.SEC_E_INVALID_HANDLE;
    if (ctx.expiresAt <= Date.now()) return SecurityStatus.SEC_E_CONTEXT_EXPIRED;
    return ctx;
  }

  private messageTarget(phContext: unknown, pMessage: unknown): ClientContext | Status {
    const ctx = this.lookup(phContext);
    if (typeof ctx === 'number') return ctx;
    const v = validateDesc(pMessage, false);
    if (v !== SecurityStatus.SEC_E_OK) return v;
    if (!ctx.user) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    return ctx;
  }

  /** MakeSignature: writes the signature into the message's SECBUFFER_TOKEN. */
  MakeSignature(phContext: SecHandle, fQOP: number, pMessage: SecBufferDesc, MessageSeqNo: number): Status {
    const ctx = this.messageTarget(phContext, pMessage);
    if (typeof ctx === 'number') return ctx;
    const fn = ctx.user!.table.MakeSignature;
    if (!fn) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    return guardSync(() => fn.call(ctx.user!.table, ctx.user!.handle, fQOP >>> 0, pMessage, MessageSeqNo >>> 0));
  }

  VerifySignature(phContext: SecHandle, pMessage: SecBufferDesc, MessageSeqNo: number): { status: Status; pfQOP: number } {
    const ctx = this.messageTarget(phContext, pMessage);
    if (typeof ctx === 'number') return { status: ctx, pfQOP: 0 };
    const fn = ctx.user!.table.VerifySignature;
    if (!fn) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION, pfQOP: 0 };
    return guardSyncQop(() => fn.call(ctx.user!.table, ctx.user!.handle, pMessage, MessageSeqNo >>> 0));
  }

  /** EncryptMessage: encrypts SECBUFFER_DATA in place and fills the TOKEN/PADDING buffers. */
  EncryptMessage(phContext: SecHandle, fQOP: number, pMessage: SecBufferDesc, MessageSeqNo: number): Status {
    const ctx = this.messageTarget(phContext, pMessage);
    if (typeof ctx === 'number') return ctx;
    const fn = ctx.user!.table.SealMessage;
    if (!fn) return SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION;
    return guardSync(() => fn.call(ctx.user!.table, ctx.user!.handle, fQOP >>> 0, pMessage, MessageSeqNo >>> 0));
  }

  DecryptMessage(phContext: SecHandle, pMessage: SecBufferDesc, MessageSeqNo: number): { status: Status; pfQOP: number } {
    const ctx = this.messageTarget(phContext, pMessage);
    if (typeof ctx === 'number') return { status: ctx, pfQOP: 0 };
    const fn = ctx.user!.table.UnsealMessage;
    if (!fn) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION, pfQOP: 0 };
    return guardSyncQop(() => fn.call(ctx.user!.table, ctx.user!.handle, pMessage, MessageSeqNo >>> 0));
  }

  /** ExportSecurityContext: the package's ContextData serialization of a mapped context. */
  async ExportSecurityContext(phContext: SecHandle, fFlags: number): Promise<{ status: Status; pPackedContext: Uint8Array | null; pToken: null }> {
    const ctx = this.lookup(phContext);
    if (typeof ctx === 'number') return { status: ctx, pPackedContext: null, pToken: null };
    if (!ctx.user?.table.ExportContext) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION, pPackedContext: null, pToken: null };
    let r: { status: Status; PackedContext?: Uint8Array };
    try {
      r = await ctx.user.table.ExportContext(ctx.user.handle, fFlags >>> 0);
    } catch (e) {
      return { status: statusOf(e), pPackedContext: null, pToken: null };
    }
    const status = toSecurityStatus(r.status);
    if ((status | 0) < 0 || !(r.PackedContext instanceof Uint8Array)) return { status: (status | 0) < 0 ? status : SecurityStatus.SEC_E_INTERNAL_ERROR, pPackedContext: null, pToken: null };
    if (hasFlag(fFlags >>> 0, SECPKG_CONTEXT_EXPORT.DELETE_OLD)) await this.DeleteSecurityContext(phContext);
    return { status, pPackedContext: r.PackedContext, pToken: null };
  }

  /** ImportSecurityContext: a user-mode-only context rebuilt from exported bytes. */
  async ImportSecurityContext(pszPackage: string, pPackedContext: Uint8Array, Token: null = null): Promise<{ status: Status; phContext: SecHandle | null }> {
    void Token;
    if (typeof pszPackage !== 'string' || !(pPackedContext instanceof Uint8Array)) return { status: SecurityStatus.SEC_E_INVALID_PARAMETER, phContext: null };
    const look = await this.connection.LookupAuthenticationPackage(pszPackage);
    if ((look.status | 0) < 0) return { status: SecurityStatus.SEC_E_SECPKG_NOT_FOUND, phContext: null };
    const pkg = await this.loadUserPackage(pszPackage);
    if (!pkg?.table.ImportContext) return { status: SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION, phContext: null };
    let r: { status: Status; ContextHandle?: LSA_SEC_HANDLE };
    // The package rebuilds the context from its own copy of the keys: ours is zeroed after.
    const packed = pPackedContext.slice();
    try {
      r = await pkg.table.ImportContext(packed);
    } catch (e) {
      return { status: statusOf(e), phContext: null };
    } finally {
      packed.fill(0);
    }
    const status = toSecurityStatus(r.status);
    if ((status | 0) < 0 || typeof r.ContextHandle !== 'bigint') return { status: (status | 0) < 0 ? status : SecurityStatus.SEC_E_INTERNAL_ERROR, phContext: null };
    const handle = { dwLower: BigInt(look.AuthenticationPackage), dwUpper: IMPORTED_HANDLE_BASE + nextImported++ };
    this.contexts.set(handle.dwUpper, { handle, packageName: pszPackage, side: 'init', user: { table: pkg.table, handle: r.ContextHandle, thunks: pkg.thunks }, expiresAt: Number.POSITIVE_INFINITY, imported: true });
    return { status, phContext: handle };
  }

  /**
   * tslsa extension: ExportSecurityContext for a context whose handshake has not finished (after
   * SEC_I_CONTINUE_NEEDED), so that another process, e.g. another server node behind a load
   * balancer, continues it with ImportPartialSecurityContext. The bytes hold the package's
   * handshake state and no key; a package that cannot export a state says
   * SEC_E_UNSUPPORTED_FUNCTION. SECPKG_CONTEXT_EXPORT_DELETE_OLD deletes this context afterwards.
   */
  async ExportPartialSecurityContext(phContext: SecHandle, fFlags: number): Promise<{ status: Status; pPackedContext: Uint8Array | null }> {
    const ctx = this.lookup(phContext);
    if (typeof ctx === 'number') return { status: ctx, pPackedContext: null };
    if (ctx.imported || ctx.user) return { status: SecurityStatus.SEC_E_INVALID_HANDLE, pPackedContext: null };
    const r = await this.connection.ExportLsaModeContext(ctx.handle);
    if ((r.status | 0) < 0 || !r.packed) return { status: (r.status | 0) < 0 ? r.status : SecurityStatus.SEC_E_INTERNAL_ERROR, pPackedContext: null };
    const packed = new PackedWriter().u8(PARTIAL_CONTEXT_VERSION).u8(ctx.side === 'init' ? 1 : 2).text(ctx.packageName).bytes(r.packed).finish();
    r.packed.fill(0);
    if (hasFlag(fFlags >>> 0, SECPKG_CONTEXT_EXPORT.DELETE_OLD)) await this.DeleteSecurityContext(phContext);
    return { status: SecurityStatus.SEC_E_OK, pPackedContext: packed };
  }

  /**
   * tslsa extension: rebuilds a context exported by ExportPartialSecurityContext; the next
   * InitializeSecurityContext or AcceptSecurityContext on the returned handle continues the
   * handshake. phCredential must be a credential of the same package on this side.
   */
  async ImportPartialSecurityContext(phCredential: SecHandle, pPackedContext: Uint8Array): Promise<{ status: Status; phContext: SecHandle | null; pfContextAttr: number; ptsExpiry: TimeStamp }> {
    const fail = (status: Status) => ({ status, phContext: null, pfContextAttr: 0, ptsExpiry: TIMESTAMP_NONE });
    if (!isHandle(phCredential)) return fail(SecurityStatus.SEC_E_INVALID_HANDLE);
    if (!(pPackedContext instanceof Uint8Array)) return fail(SecurityStatus.SEC_E_INVALID_PARAMETER);
    let side: 'init' | 'accept';
    let packageName: string;
    let inner: Uint8Array;
    try {
      const rd = new PackedReader(pPackedContext, 'partial security context');
      if (rd.u8() !== PARTIAL_CONTEXT_VERSION) return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
      const s = rd.u8();
      if (s !== 1 && s !== 2) return fail(SecurityStatus.SEC_E_INVALID_TOKEN);
      side = s === 1 ? 'init' : 'accept';
      packageName = rd.text(256);
      inner = rd.bytes();
      rd.end();
    } catch (e) {
      return fail(statusOf(e));
    }
    const r = await this.connection.ImportLsaModeContext(phCredential, side, packageName, inner);
    if ((r.status | 0) < 0 || !r.context) return fail((r.status | 0) < 0 ? r.status : SecurityStatus.SEC_E_INTERNAL_ERROR);
    const expiresAt = r.expiry === TIMESTAMP_NONE ? Number.POSITIVE_INFINITY : unixMsFromTimeStamp(r.expiry);
    this.contexts.set(r.context.dwUpper, { handle: r.context, packageName, side, user: null, expiresAt, imported: false });
    return { status: r.status, phContext: r.context, pfContextAttr: r.contextAttr, ptsExpiry: r.expiry };
  }

  /** FreeContextBuffer: buffers are garbage collected; this zeroes the contents. */
  FreeContextBuffer(pvContextBuffer: Uint8Array | null): Status {
    if (pvContextBuffer instanceof Uint8Array) pvContextBuffer.fill(0);
    return SecurityStatus.SEC_E_OK;
  }
}

/** InitSecurityInterface: the function table for one LSA connection. */
export function InitSecurityInterface(connection: LsaConnection): SecurityFunctionTable {
  return new SecurityFunctionTable(connection);
}

function failed(status: Status): InitializeSecurityContextResult {
  return { status, phNewContext: null, pfContextAttr: 0, ptsExpiry: TIMESTAMP_NONE };
}

function statusOf(e: unknown): Status {
  if (e && typeof e === 'object' && 'status' in e && typeof (e as { status: unknown }).status === 'number') return toSecurityStatus((e as { status: number }).status);
  return SecurityStatus.SEC_E_INTERNAL_ERROR;
}

function guardSync(fn: () => Status): Status {
  try {
    const st = fn();
    return typeof st === 'number' ? toSecurityStatus(st) : SecurityStatus.SEC_E_INTERNAL_ERROR;
  } catch (e) {
    return statusOf(e);
  }
}

function guardSyncQop(fn: () => { status: Status; QualityOfProtection: number }): { status: Status; pfQOP: number } {
  try {
    const r = fn();
    return { status: toSecurityStatus(r.status), pfQOP: r.QualityOfProtection >>> 0 };
  } catch (e) {
    return { status: statusOf(e), pfQOP: 0 };
  }
}

async function guardAsync(fn: () => Status | Promise<Status>): Promise<Status> {
  try {
    const st = await fn();
    return typeof st === 'number' ? toSecurityStatus(st) : SecurityStatus.SEC_E_INTERNAL_ERROR;
  } catch (e) {
    return statusOf(e);
  }
}

/**
 * Copy a returned descriptor into the caller's. Types and counts always; bytes into the caller's own
 * pvBuffer, or the package's allocation when the caller asked for ALLOCATE_MEMORY.
 */
function copyBack(dst: SecBufferDesc, src: SecBufferDesc, typesOnly: boolean, allocate: boolean): Status {
  let status: Status = SecurityStatus.SEC_E_OK;
  const n = Math.min(dst.pBuffers.length, src.pBuffers.length);
  for (let i = 0; i < n; i++) {
    const d = dst.pBuffers[i]!;
    const s = src.pBuffers[i]!;
    d.BufferType = s.BufferType;
    if (typesOnly) {
      d.cbBuffer = s.cbBuffer;
      continue;
    }
    if (allocate) {
      d.pvBuffer = s.pvBuffer;
      d.cbBuffer = s.cbBuffer;
    } else if (s.pvBuffer && s.cbBuffer > 0) {
      if (!d.pvBuffer || d.pvBuffer.length < s.cbBuffer) {
        status = SecurityStatus.SEC_E_BUFFER_TOO_SMALL;
        continue;
      }
      d.pvBuffer.set(s.pvBuffer.subarray(0, s.cbBuffer));
      d.cbBuffer = s.cbBuffer;
    } else {
      d.cbBuffer = s.cbBuffer;
    }
  }
  return status;
}
