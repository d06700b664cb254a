// The LSA host: loads security packages through SpLsaModeInitialize, gives each its
// LSA_SECPKG_FUNCTION_TABLE, routes SSPI calls and CallPackage* requests by package, and keeps
// handles, logon sessions and per-call state. Dispatch is uniform; package thoughts live in packages.

import { SECPKG_CALL, SECPKG_INTERFACE_VERSION, SECPKG_INTERFACE_VERSION_2, SECPKG_INTERFACE_VERSION_3, SECPKG_INTERFACE_VERSION_4, SECPKG_STATE } from '../sspi/flags.js';
import type { Plain, SecPkgInfo } from '../sspi/attributes.js';
import type { SecBufferDesc } from '../sspi/buffers.js';
import { SspiError } from '../sspi/error.js';
import { NtStatus, SecurityStatus, type Status } from '../sspi/status.js';
import { asyncEntriesOf, type CallFrame, currentFrame, requireAsyncFrames, runInFrame } from './callContext.js';
import { LsaProtectMemory, LsaUnprotectMemory, zero } from './heap.js';
import { LogonSessionTable } from './logonSessions.js';
import {
  type CallPackageResult,
  type LSA_CLIENT_REQUEST,
  type LSA_SECPKG_FUNCTION_TABLE,
  type LUID,
  type LSA_SEC_HANDLE,
  type SECPKG_CLIENT_INFO,
  type SECPKG_DISPATCH,
  type SECPKG_FUNCTION_TABLE,
  type SECPKG_USER_FUNCTION_TABLE,
  SECPKG_FUNCTION_TABLE_MEMBERS,
  TSLSA_FUNCTION_TABLE_EXTENSIONS,
  type SECPKG_PARAMETERS,
  type SecurityPackageModule,
  SecpkgContextThunks,
} from './types.js';

/** The interface version this LSA implements (SECPKG_INTERFACE_VERSION_4 covers through ChangeAccountPassword). */
export const LSA_INTERFACE_VERSION = SECPKG_INTERFACE_VERSION_4;

/** How deep package-to-package calls may nest before the LSA refuses (a loop guard). */
export const MAX_CALL_DEPTH = 32;

export interface LoadedPackage {
  readonly id: number;
  readonly name: string;
  readonly info: SecPkgInfo;
  readonly module: SecurityPackageModule;
  /** Index of this package's table in the module's array (user-mode tables match by index). */
  readonly tableIndex: number;
  readonly version: number;
  readonly table: SECPKG_FUNCTION_TABLE;
  /** Attribute levels QueryContextAttributes forwards to the LSA-mode half (SecpkgContextThunks). */
  thunks: Set<number>;
  /** Entry points whose frame must follow them across awaits; null: all of them (callContext.ts). */
  readonly asyncEntries: ReadonlySet<string> | null;
  unloading: boolean;
}

export interface LoadPackageOptions {
  /** Package-specific configuration, handed over in SECPKG_PARAMETERS.PackageConfig. */
  config?: Plain;
}

export interface LsaOptions {
  /** SECPKG_PARAMETERS fields for SpInitialize. */
  domainName?: string;
  dnsDomainName?: string;
  machineState?: number;
  /** Told about faults inside packages (exceptions), without their arguments. */
  onPackageFault?: (packageName: string, entryPoint: string, error: unknown) => void;
}

/** Where a client comes from; the in-process transport fills it in at connect time. */
export interface ClientIdentity {
  trusted: boolean;
  logonId: LUID;
  processId: number;
  name?: string;
}

let nextRequestId = 1;

// Members whose table slot is past the end of a package's interface version are never called.
function memberLimit(version: number): number {
  if (version >= SECPKG_INTERFACE_VERSION_4) return 30;
  if (version >= SECPKG_INTERFACE_VERSION_3) return 29;
  if (version >= SECPKG_INTERFACE_VERSION_2) return 28;
  return 27;
}

function isStatus(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= -0x80000000 && x <= 0xffffffff;
}

export class Lsa {
  private readonly packages: LoadedPackage[] = [];
  readonly logonSessions = new LogonSessionTable();
  private readonly options: LsaOptions;
  private shuttingDown = false;

  constructor(options: LsaOptions = {}) {
    this.options = options;
  }

  /** Load every package table a module returns from SpLsaModeInitialize. Returns the loaded packages. */
  async loadPackage(module: SecurityPackageModule, options: LoadPackageOptions = {}): Promise<LoadedPackage[]> {
    if (!module || typeof module.SpLsaModeInitialize !== 'function') {
      throw new SspiError(SecurityStatus.SEC_E_CANNOT_INSTALL, 'module has no SpLsaModeInitialize');
    }
    let init: Awaited<ReturnType<SecurityPackageModule['SpLsaModeInitialize']>>;
    try {
      init = await module.SpLsaModeInitialize(LSA_INTERFACE_VERSION);
    } catch (e) {
      throw new SspiError(SecurityStatus.SEC_E_CANNOT_INSTALL, 'SpLsaModeInitialize threw', { cause: e });
    }
    if (!init || !isStatus(init.status) || (init.status | 0) < 0) {
      throw new SspiError(init && isStatus(init.status) ? init.status : SecurityStatus.SEC_E_CANNOT_INSTALL, 'SpLsaModeInitialize failed');
    }
    if (!Array.isArray(init.ppTables) || init.ppTables.length === 0) {
      throw new SspiError(SecurityStatus.SEC_E_CANNOT_INSTALL, 'SpLsaModeInitialize returned no package tables');
    }
    const version = typeof init.PackageVersion === 'number' ? init.PackageVersion : SECPKG_INTERFACE_VERSION;
    const asyncEntries = asyncEntriesOf(module);
    if (!asyncEntries) requireAsyncFrames();
    const loaded: LoadedPackage[] = [];
    for (let index = 0; index < init.ppTables.length; index++) {
      const table = restrictTable(init.ppTables[index]!, version);
      const id = this.packages.length;
      const lsaTable = this.makeFunctionTable(id);
      const params: SECPKG_PARAMETERS = {
        Version: 1,
        MachineState: this.options.machineState ?? SECPKG_STATE.ENCRYPTION_PERMITTED | SECPKG_STATE.STRONG_ENCRYPTION_PERMITTED | SECPKG_STATE.STANDALONE,
        SetupMode: 0,
        DomainSid: null,
        DomainName: this.options.domainName ?? 'WORKGROUP',
        DnsDomainName: this.options.dnsDomainName ?? '',
        DomainGuid: null,
        PackageConfig: options.config ?? null,
      };
      const frame = this.systemFrame(id);
      const info = await runInFrame(frame, true, async () => {
        if (table.InitializePackage) {
          const r = await table.InitializePackage(id, lsaTable, null, null);
          if (!r || (r.status | 0) < 0) throw new SspiError(r?.status ?? SecurityStatus.SEC_E_CANNOT_INSTALL, 'InitializePackage failed');
        }
        if (table.Initialize) {
          const st = await table.Initialize(id, params, lsaTable);
          if (!isStatus(st) || (st | 0) < 0) throw new SspiError(isStatus(st) ? st : SecurityStatus.SEC_E_CANNOT_INSTALL, 'SpInitialize failed');
        }
        if (typeof table.GetInfo !== 'function') throw new SspiError(SecurityStatus.SEC_E_CANNOT_INSTALL, 'package has no GetInfo');
        const gi = await table.GetInfo();
        if (!gi || (gi.status | 0) < 0 || !gi.PackageInfo || typeof gi.PackageInfo.Name !== 'string' || gi.PackageInfo.Name.length === 0) {
          throw new SspiError(SecurityStatus.SEC_E_CANNOT_INSTALL, 'GetInfo failed');
        }
        return { ...gi.PackageInfo };
      });
      if (this.findPackage(info.Name)) {
        throw new SspiError(SecurityStatus.SEC_E_CANNOT_INSTALL, `a package named ${info.Name} is already loaded`);
      }
      const pkg: LoadedPackage = { id, name: info.Name, info, module, tableIndex: index, version, table, thunks: new Set(), unloading: false, asyncEntries };
      if (table.GetExtendedInformation) {
        try {
          const ext = await runInFrame(frame, true, () => table.GetExtendedInformation!(SecpkgContextThunks));
          if (ext && (ext.status | 0) >= 0 && ext.Information?.ContextThunks) {
            for (const l of ext.Information.ContextThunks.Levels) pkg.thunks.add(l);
          }
        } catch (e) {
          this.fault(pkg.name, 'GetExtendedInformation', e);
        }
      }
      this.packages.push(pkg);
      loaded.push(pkg);
    }
    return loaded;
  }

  /** Loaded packages, in id order. */
  list(): readonly LoadedPackage[] {
    return this.packages.filter((p) => !p.unloading);
  }

  /** Find a package by name the way the Windows LSA does: whole name, case-insensitive. */
  findPackage(name: unknown): LoadedPackage | undefined {
    if (typeof name !== 'string') return undefined;
    const want = name.toUpperCase();
    return this.packages.find((p) => !p.unloading && p.name.toUpperCase() === want);
  }

  packageById(id: number): LoadedPackage | undefined {
    const p = this.packages[id];
    return p && !p.unloading ? p : undefined;
  }

  /** Shut every package down (SpShutdown) and forget all logon sessions. */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const p of this.packages) {
      if (p.table.Shutdown) {
        try {
          await runInFrame(this.systemFrame(p.id), true, () => p.table.Shutdown!());
        } catch (e) {
          this.fault(p.name, 'Shutdown', e);
        }
      }
      p.unloading = true;
    }
    this.logonSessions.clear();
  }

  get isShutDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Run a package entry point as one LSA call: inside the caller's frame, with exceptions turned
   * into a status (an SspiError keeps its own code) so a faulty package cannot take the LSA down.
   */
  async invoke<T>(pkg: LoadedPackage, entry: string, frame: CallFrame, fn: () => Promise<T> | T, onFault: (status: Status) => T): Promise<T> {
    try {
      return await runInFrame(frame, pkg.asyncEntries === null || pkg.asyncEntries.has(entry), fn);
    } catch (e) {
      if (e instanceof SspiError) return onFault(e.status);
      this.fault(pkg.name, entry, e);
      return onFault(SecurityStatus.SEC_E_INTERNAL_ERROR);
    }
  }

  fault(packageName: string, entry: string, error: unknown): void {
    try {
      this.options.onPackageFault?.(packageName, entry, error);
    } catch {
      // A faulty fault handler must not matter either.
    }
  }

  /** A call frame for a client request. */
  clientFrame(client: ClientIdentity, packageId: number, extraAttributes = 0): CallFrame {
    const info: SECPKG_CLIENT_INFO = {
      LogonId: client.logonId,
      ProcessID: client.processId,
      ThreadID: 0,
      HasTcbPrivilege: client.trusted,
      Impersonating: false,
      Restricted: false,
      ClientFlags: 0,
      ImpersonationLevel: 2,
      ClientToken: 0n,
    };
    return {
      client: info,
      request: { id: nextRequestId++ },
      attributes: SECPKG_CALL.IN_PROC | (client.trusted ? SECPKG_CALL.IS_TCB : 0) | extraAttributes,
      callCount: 1,
      depth: 0,
      packageId,
    };
  }

  private systemFrame(packageId: number): CallFrame {
    return this.clientFrame({ trusted: true, logonId: 0x3e7n, processId: process.pid, name: 'LSA' }, packageId, SECPKG_CALL.SYSTEM_PROC);
  }

  /**
   * The package-to-package calls (reference section 7). The LSA looks the target up by name and
   * hands the buffer, ClientBufferBase and length over untouched; the two statuses travel apart.
   */
  async callPackageByName(
    entry: 'CallPackage' | 'CallPackagePassthrough',
    name: unknown,
    clientBufferBase: bigint,
    submit: Uint8Array,
    length: number,
  ): Promise<CallPackageResult> {
    const target = this.findPackage(name);
    if (!target) return callFailure(NtStatus.STATUS_NO_SUCH_PACKAGE);
    const frame = this.nestedFrame(target.id);
    if (!frame) return callFailure(NtStatus.STATUS_INSUFFICIENT_RESOURCES);
    return this.deliverCall(target, entry, frame, submit, clientBufferBase, length);
  }

  /** The frame for a call from one package into another: the caller's client, one level deeper. */
  private nestedFrame(targetId: number): CallFrame | null {
    const outer = currentFrame();
    const depth = (outer?.depth ?? 0) + 1;
    if (depth > MAX_CALL_DEPTH) return null;
    return outer
      ? { ...outer, attributes: outer.attributes | SECPKG_CALL.RECURSIVE, callCount: outer.callCount + 1, depth, packageId: targetId }
      : { ...this.systemFrame(targetId), depth, attributes: SECPKG_CALL.SYSTEM_PROC | SECPKG_CALL.RECURSIVE };
  }

  /** GetPackageDispatch (tslsa extension): package `callerId` reaching another package's LSA-mode table. */
  private packageDispatch(callerId: number, name: unknown): SECPKG_DISPATCH | null {
    const target = this.findPackage(name);
    if (!target || target.id === callerId) return null;
    const t = target.table;
    const call = async <T extends { status: Status } | Status>(entry: keyof SECPKG_FUNCTION_TABLE, fn: (() => Promise<T>) | undefined, fail: (s: Status) => T): Promise<T> => {
      if (!fn || target.unloading) return fail(SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION);
      const frame = this.nestedFrame(target.id);
      if (!frame) return fail(SecurityStatus.SEC_E_INSUFFICIENT_MEMORY);
      return this.invoke(target, entry, frame, fn, fail);
    };
    const st = (s: Status) => ({ status: s });
    let userMode: Promise<SECPKG_USER_FUNCTION_TABLE | null> | undefined;
    return Object.freeze({
      PackageId: target.id,
      PackageInfo: { ...target.info },
      AcquireCredentialsHandle: (PrincipalName: string | null, CredentialUseFlags: number, LogonId: LUID | null, AuthorizationData: Plain) =>
        call('AcquireCredentialsHandle', t.AcquireCredentialsHandle && (() => t.AcquireCredentialsHandle!(PrincipalName, CredentialUseFlags, LogonId, AuthorizationData, null, null)), st),
      FreeCredentialsHandle: (h: LSA_SEC_HANDLE) => call('FreeCredentialsHandle', t.FreeCredentialsHandle && (() => t.FreeCredentialsHandle!(h)), (s) => s),
      QueryCredentialsAttributes: (h: LSA_SEC_HANDLE, attr: number) => call('QueryCredentialsAttributes', t.QueryCredentialsAttributes && (() => t.QueryCredentialsAttributes!(h, attr)), st),
      InitLsaModeContext: (cred: LSA_SEC_HANDLE, ctx: LSA_SEC_HANDLE, target: string | null, req: number, rep: number, input: SecBufferDesc | null, output: SecBufferDesc | null) =>
        call('InitLsaModeContext', t.InitLsaModeContext && (() => t.InitLsaModeContext!(cred, ctx, target, req, rep, input, output)), st),
      AcceptLsaModeContext: (cred: LSA_SEC_HANDLE, ctx: LSA_SEC_HANDLE, input: SecBufferDesc | null, req: number, rep: number, output: SecBufferDesc | null) =>
        call('AcceptLsaModeContext', t.AcceptLsaModeContext && (() => t.AcceptLsaModeContext!(cred, ctx, input, req, rep, output)), st),
      DeleteContext: (h: LSA_SEC_HANDLE) => call('DeleteContext', t.DeleteContext && (() => t.DeleteContext!(h)), (s) => s),
      QueryContextAttributes: (h: LSA_SEC_HANDLE, attr: number) => call('QueryContextAttributes', t.QueryContextAttributes && (() => t.QueryContextAttributes!(h, attr)), st),
      UserModeTable: () => (userMode ??= this.lsaSideUserMode(target)),
      ExportLsaModeContext: (h: LSA_SEC_HANDLE) => call('ExportLsaModeContext', t.ExportLsaModeContext && (() => t.ExportLsaModeContext!(h)), st),
      ImportLsaModeContext: (cred: LSA_SEC_HANDLE, packed: Uint8Array) => call('ImportLsaModeContext', t.ImportLsaModeContext && (() => t.ImportLsaModeContext!(cred, packed.slice())), st),
    });
  }

  private readonly userModeTables = new Map<number, Promise<SECPKG_USER_FUNCTION_TABLE | null>>();

  /** A package's user-mode half loaded inside the LSA, once. */
  private lsaSideUserMode(pkg: LoadedPackage): Promise<SECPKG_USER_FUNCTION_TABLE | null> {
    let p = this.userModeTables.get(pkg.id);
    if (!p) {
      p = (async () => {
        if (typeof pkg.module.SpUserModeInitialize !== 'function') return null;
        const r = await pkg.module.SpUserModeInitialize(LSA_INTERFACE_VERSION);
        const table = r && (r.status | 0) >= 0 ? r.ppTables[pkg.tableIndex] : undefined;
        return table && typeof table.InitUserModeContext === 'function' ? table : null;
      })().catch((e: unknown) => {
        this.fault(pkg.name, 'SpUserModeInitialize', e);
        return null;
      });
      this.userModeTables.set(pkg.id, p);
    }
    return p;
  }

  /** Hand a CallPackage-shaped request to one of the target's three dispatchers. */
  async deliverCall(
    target: LoadedPackage,
    entry: 'CallPackage' | 'CallPackageUntrusted' | 'CallPackagePassthrough',
    frame: CallFrame,
    submit: Uint8Array,
    clientBufferBase: bigint,
    length: number,
  ): Promise<CallPackageResult> {
    const fn = target.table[entry];
    if (typeof fn !== 'function') return callFailure(NtStatus.STATUS_NOT_IMPLEMENTED);
    const r = await this.invoke(target, entry, frame, () => fn.call(target.table, frame.request, submit, clientBufferBase, length), (st) => callFailure(st === SecurityStatus.SEC_E_INTERNAL_ERROR ? NtStatus.STATUS_INTERNAL_ERROR : st));
    if (!r || !isStatus(r.status)) {
      this.fault(target.name, entry, new Error('malformed CallPackage result'));
      return callFailure(NtStatus.STATUS_INTERNAL_ERROR);
    }
    const ret = r.ProtocolReturnBuffer instanceof Uint8Array ? r.ProtocolReturnBuffer : null;
    return {
      status: r.status >>> 0,
      ProtocolReturnBuffer: ret,
      ReturnBufferLength: typeof r.ReturnBufferLength === 'number' ? r.ReturnBufferLength : ret ? ret.length : 0,
      ProtocolStatus: isStatus(r.ProtocolStatus) ? r.ProtocolStatus >>> 0 : NtStatus.STATUS_SUCCESS,
    };
  }

  /** The LSA_SECPKG_FUNCTION_TABLE given to package `id`. */
  private makeFunctionTable(id: number): LSA_SECPKG_FUNCTION_TABLE {
    const sessions = this.logonSessions;
    const requireLuid = (x: unknown): x is bigint => typeof x === 'bigint';
    const requireBytes = (x: unknown): x is Uint8Array => x instanceof Uint8Array;
    return Object.freeze({
      CreateLogonSession: async (LogonId: LUID) => (requireLuid(LogonId) ? sessions.create(LogonId) : NtStatus.STATUS_INVALID_PARAMETER),
      DeleteLogonSession: async (LogonId: LUID) => {
        if (!requireLuid(LogonId)) return NtStatus.STATUS_INVALID_PARAMETER;
        const st = sessions.delete(LogonId);
        if (st === NtStatus.STATUS_SUCCESS) await this.notifyLogonTerminated(LogonId);
        return st;
      },
      AddCredential: async (LogonId: LUID, AuthenticationPackage: number, PrimaryKeyValue: Uint8Array, Credentials: Uint8Array) =>
        requireLuid(LogonId) && requireBytes(PrimaryKeyValue) && requireBytes(Credentials) ? sessions.add(LogonId, AuthenticationPackage, PrimaryKeyValue, Credentials) : NtStatus.STATUS_INVALID_PARAMETER,
      GetCredentials: async (LogonId: LUID, AuthenticationPackage: number, QueryContext: number, RetrieveAllCredentials: boolean, PrimaryKeyValue: Uint8Array | null) =>
        requireLuid(LogonId) ? sessions.get(LogonId, AuthenticationPackage, QueryContext | 0, !!RetrieveAllCredentials, PrimaryKeyValue) : { status: NtStatus.STATUS_INVALID_PARAMETER, QueryContext },
      DeleteCredential: async (LogonId: LUID, AuthenticationPackage: number, PrimaryKeyValue: Uint8Array) =>
        requireLuid(LogonId) && requireBytes(PrimaryKeyValue) ? sessions.remove(LogonId, AuthenticationPackage, PrimaryKeyValue) : NtStatus.STATUS_INVALID_PARAMETER,
      AllocateLsaHeap: (Length: number) => new Uint8Array(Math.max(0, Length | 0)),
      FreeLsaHeap: (Base: Uint8Array) => zero(Base),
      AllocateClientBuffer: (_req: LSA_CLIENT_REQUEST | null, LengthRequired: number) =>
        LengthRequired >= 0 && LengthRequired <= 0x7fffffff ? { status: NtStatus.STATUS_SUCCESS, ClientBaseAddress: new Uint8Array(LengthRequired) } : { status: NtStatus.STATUS_INVALID_PARAMETER, ClientBaseAddress: new Uint8Array(0) },
      FreeClientBuffer: (_req: LSA_CLIENT_REQUEST | null, ClientBaseAddress: Uint8Array) => {
        zero(ClientBaseAddress);
        return NtStatus.STATUS_SUCCESS;
      },
      CopyToClientBuffer: (_req: LSA_CLIENT_REQUEST | null, Length: number, ClientBaseAddress: Uint8Array, BufferToCopy: Uint8Array) => {
        if (Length < 0 || Length > ClientBaseAddress.length || Length > BufferToCopy.length) return NtStatus.STATUS_ACCESS_DENIED;
        ClientBaseAddress.set(BufferToCopy.subarray(0, Length));
        return NtStatus.STATUS_SUCCESS;
      },
      CopyFromClientBuffer: (_req: LSA_CLIENT_REQUEST | null, Length: number, BufferToCopy: Uint8Array, ClientBaseAddress: Uint8Array) => {
        if (Length < 0 || Length > ClientBaseAddress.length || Length > BufferToCopy.length) return NtStatus.STATUS_ACCESS_DENIED;
        BufferToCopy.set(ClientBaseAddress.subarray(0, Length));
        return NtStatus.STATUS_SUCCESS;
      },
      GetClientInfo: () => {
        const f = currentFrame();
        return f ? { status: NtStatus.STATUS_SUCCESS, ClientInfo: { ...f.client } } : { status: NtStatus.STATUS_INVALID_PARAMETER };
      },
      GetCallInfo: () => {
        const f = currentFrame();
        return f ? { ProcessId: f.client.ProcessID, ThreadId: f.client.ThreadID, Attributes: f.attributes, CallCount: f.callCount } : null;
      },
      CallPackage: (AuthenticationPackage: string, ProtocolSubmitBuffer: Uint8Array, SubmitBufferLength: number) =>
        this.callPackageByName('CallPackage', AuthenticationPackage, 0n, ProtocolSubmitBuffer, SubmitBufferLength),
      CallPackageEx: (AuthenticationPackage: string, ClientBufferBase: bigint, ProtocolSubmitBuffer: Uint8Array, SubmitBufferLength: number) =>
        this.callPackageByName('CallPackage', AuthenticationPackage, ClientBufferBase, ProtocolSubmitBuffer, SubmitBufferLength),
      CallPackagePassthrough: (AuthenticationPackage: string, ClientBufferBase: bigint, ProtocolSubmitBuffer: Uint8Array, SubmitBufferLength: number) =>
        this.callPackageByName('CallPackagePassthrough', AuthenticationPackage, ClientBufferBase, ProtocolSubmitBuffer, SubmitBufferLength),
      FreeReturnBuffer: (Buffer: Uint8Array | null) => zero(Buffer),
      GetPackageDispatch: (AuthenticationPackage: string) => this.packageDispatch(id, AuthenticationPackage),
      UnloadPackage: async () => {
        const p = this.packages[id];
        if (p) p.unloading = true;
        return NtStatus.STATUS_SUCCESS;
      },
      LsaProtectMemory: (Buffer: Uint8Array) => LsaProtectMemory(Buffer),
      LsaUnprotectMemory: (Buffer: Uint8Array) => LsaUnprotectMemory(Buffer),
      AllocatePrivateHeap: (Length: number) => new Uint8Array(Math.max(0, Length | 0)),
      FreePrivateHeap: (Buffer: Uint8Array) => zero(Buffer),
    });
  }

  private async notifyLogonTerminated(logonId: LUID): Promise<void> {
    for (const p of this.packages) {
      if (p.unloading || !p.table.LogonTerminated) continue;
      await this.invoke(p, 'LogonTerminated', this.systemFrame(p.id), () => p.table.LogonTerminated!(logonId), () => undefined);
    }
  }

  /** Create a logon session with a fresh LUID; for hosts that sign users on (the CLI, tests). */
  createLogonSession(logonId: LUID): Status {
    return this.logonSessions.create(logonId);
  }
}

function callFailure(status: Status): CallPackageResult {
  return { status: status >>> 0, ProtocolReturnBuffer: null, ReturnBufferLength: 0, ProtocolStatus: status >>> 0 };
}

// A copy of the table holding only the members the package's interface version covers.
function restrictTable(table: SECPKG_FUNCTION_TABLE, version: number): SECPKG_FUNCTION_TABLE {
  const limit = memberLimit(version);
  const out: Record<string, unknown> = {};
  SECPKG_FUNCTION_TABLE_MEMBERS.forEach((name, i) => {
    const fn = (table as unknown as Record<string, unknown>)[name];
    if (i < limit && typeof fn === 'function') out[name] = fn.bind(table);
  });
  for (const name of TSLSA_FUNCTION_TABLE_EXTENSIONS) {
    const fn = (table as unknown as Record<string, unknown>)[name];
    if (typeof fn === 'function') out[name] = fn.bind(table);
  }
  return out as unknown as SECPKG_FUNCTION_TABLE;
}
