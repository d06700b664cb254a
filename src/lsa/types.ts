// The security-package contract (ntsecpkg.h), reference sections 1-5, in TypeScript shape:
// every SECPKG_FUNCTION_TABLE member is an optional async method named as in the header; C out
// parameters come back in a result object whose field names are the header's parameter names.
// Everything that crosses the LSA boundary is plain data (see `Plain`), so a separate LSA
// process can later sit behind the same interface.

import type { SecBufferDesc } from '../sspi/buffers.js';
import type { Plain, SecPkgInfo } from '../sspi/attributes.js';
import type { Status } from '../sspi/status.js';
import type { TimeStamp } from '../sspi/timestamp.js';

/** LSA_SEC_HANDLE: a ULONG_PTR the package chooses for its credentials and contexts. */
export type LSA_SEC_HANDLE = bigint;
/** LUID as one 64-bit value (HighPart << 32 | LowPart). */
export type LUID = bigint;

/** SECPKG_PARAMETERS, passed to SpInitialize. */
export interface SECPKG_PARAMETERS {
  Version: number;
  MachineState: number;
  SetupMode: number;
  DomainSid: Uint8Array | null;
  DomainName: string;
  DnsDomainName: string;
  DomainGuid: Uint8Array | null;
  /** Package-specific configuration given when the package was loaded (tslsa extension). */
  PackageConfig?: Plain;
}

/** SECPKG_CLIENT_INFO: who is calling (reference section 5). */
export interface SECPKG_CLIENT_INFO {
  LogonId: LUID;
  ProcessID: number;
  ThreadID: number;
  HasTcbPrivilege: boolean;
  Impersonating: boolean;
  Restricted: boolean;
  ClientFlags: number;
  ImpersonationLevel: number;
  ClientToken: bigint;
}

/** SECPKG_CALL_INFO. */
export interface SECPKG_CALL_INFO {
  ProcessId: number;
  ThreadId: number;
  Attributes: number;
  CallCount: number;
}

/** PLSA_CLIENT_REQUEST: an opaque per-call cookie. */
export interface LSA_CLIENT_REQUEST {
  readonly id: number;
}

export interface CallPackageResult {
  /** The function's own NTSTATUS. */
  status: Status;
  ProtocolReturnBuffer: Uint8Array | null;
  ReturnBufferLength: number;
  ProtocolStatus: Status;
}

export interface AcquireCredentialsHandleResult {
  status: Status;
  CredentialHandle?: LSA_SEC_HANDLE;
  ExpirationTime?: TimeStamp;
}

export interface LsaModeContextResult {
  status: Status;
  NewContextHandle?: LSA_SEC_HANDLE;
  ContextAttributes?: number;
  ExpirationTime?: TimeStamp;
  MappedContext?: boolean;
  ContextData?: Uint8Array | null;
  /**
   * tslsa extension for negotiating packages: the mapped context belongs to this other package's
   * user-mode half, under its own handle (Windows' Negotiate hands over the chosen package's context).
   */
  MappedPackageName?: string;
  MappedContextHandle?: LSA_SEC_HANDLE;
  /**
   * tslsa extension: with a failure status, a short description of the cause for the caller's
   * error message ("KDC unreachable", "ticket expired: run kinit"). Windows reports the status
   * alone and logs the cause; like every SspiError message, it never holds a secret.
   */
  ExtendedError?: string;
}

export interface QueryAttributesResult {
  status: Status;
  Buffer?: Plain | object;
}

/**
 * tslsa extension: another loaded package's LSA-mode functions as a negotiating package may call
 * them (Windows keeps Negotiate inside lsasrv, which calls the packages' tables directly). Every call
 * goes through the LSA's dispatch: a throw becomes a status and GetCallInfo marks it recursive.
 */
export interface SECPKG_DISPATCH {
  PackageId: number;
  PackageInfo: SecPkgInfo;
  AcquireCredentialsHandle(PrincipalName: string | null, CredentialUseFlags: number, LogonId: LUID | null, AuthorizationData: Plain): Promise<AcquireCredentialsHandleResult>;
  FreeCredentialsHandle(CredentialHandle: LSA_SEC_HANDLE): Promise<Status>;
  QueryCredentialsAttributes(CredentialHandle: LSA_SEC_HANDLE, CredentialAttribute: number): Promise<QueryAttributesResult>;
  InitLsaModeContext(CredentialHandle: LSA_SEC_HANDLE, ContextHandle: LSA_SEC_HANDLE, TargetName: string | null, ContextRequirements: number, TargetDataRep: number, InputBuffers: SecBufferDesc | null, OutputBuffers: SecBufferDesc | null): Promise<LsaModeContextResult>;
  AcceptLsaModeContext(CredentialHandle: LSA_SEC_HANDLE, ContextHandle: LSA_SEC_HANDLE, InputBuffer: SecBufferDesc | null, ContextRequirements: number, TargetDataRep: number, OutputBuffer: SecBufferDesc | null): Promise<LsaModeContextResult>;
  DeleteContext(ContextHandle: LSA_SEC_HANDLE): Promise<Status>;
  QueryContextAttributes(ContextHandle: LSA_SEC_HANDLE, ContextAttribute: number): Promise<QueryAttributesResult>;
  /** The package's user-mode table instantiated inside the LSA (for the SPNEGO mechListMIC), or null. */
  UserModeTable(): Promise<SECPKG_USER_FUNCTION_TABLE | null>;
  ExportLsaModeContext(ContextHandle: LSA_SEC_HANDLE): Promise<{ status: Status; PackedContext?: Uint8Array }>;
  ImportLsaModeContext(CredentialHandle: LSA_SEC_HANDLE, PackedContext: Uint8Array): Promise<LsaModeContextResult>;
}

/** SECPKG_PRIMARY_CRED (the fields we carry). */
export interface SECPKG_PRIMARY_CRED {
  LogonId: LUID;
  DownlevelName: string;
  DomainName: string;
  Password?: string;
  Flags: number;
  Upn?: string;
  DnsDomainName?: string;
}

/** SECPKG_EXTENDED_INFORMATION_CLASS values. */
export const SecpkgGssInfo = 1;
export const SecpkgContextThunks = 2;
export const SecpkgMutualAuthLevel = 3;
export const SecpkgWowClientDll = 4;
export const SecpkgExtraOids = 5;
export const SecpkgMaxInfo = 6;
export const SecpkgNego2Info = 7;

export interface SECPKG_EXTENDED_INFORMATION {
  Class: number;
  /** SecpkgGssInfo: the DER mechanism OID. */
  GssInfo?: { EncodedId: Uint8Array };
  /** SecpkgContextThunks: attribute levels QueryContextAttributes sends to the LSA-mode half. */
  ContextThunks?: { Levels: number[] };
  MutualAuthLevel?: { MutualAuthLevel: number };
  ExtraOids?: { Oids: Uint8Array[] };
}

/** SECPKG_FUNCTION_TABLE: the LSA-mode half a package gives the LSA (reference section 2). */
export interface SECPKG_FUNCTION_TABLE {
  InitializePackage?(AuthenticationPackageId: number, LsaDispatchTable: LSA_SECPKG_FUNCTION_TABLE, Database: string | null, Confidentiality: string | null): Promise<{ status: Status; AuthenticationPackageName?: string }>;
  LogonUser?(ClientRequest: LSA_CLIENT_REQUEST, LogonType: number, AuthenticationInformation: Uint8Array, ClientAuthenticationBase: bigint, AuthenticationInformationLength: number): Promise<LogonUserResult>;
  CallPackage?(ClientRequest: LSA_CLIENT_REQUEST, ProtocolSubmitBuffer: Uint8Array, ClientBufferBase: bigint, SubmitBufferLength: number): Promise<CallPackageResult>;
  LogonTerminated?(LogonId: LUID): void | Promise<void>;
  CallPackageUntrusted?(ClientRequest: LSA_CLIENT_REQUEST, ProtocolSubmitBuffer: Uint8Array, ClientBufferBase: bigint, SubmitBufferLength: number): Promise<CallPackageResult>;
  CallPackagePassthrough?(ClientRequest: LSA_CLIENT_REQUEST, ProtocolSubmitBuffer: Uint8Array, ClientBufferBase: bigint, SubmitBufferLength: number): Promise<CallPackageResult>;
  Initialize?(PackageId: number, Parameters: SECPKG_PARAMETERS, FunctionTable: LSA_SECPKG_FUNCTION_TABLE): Promise<Status>;
  Shutdown?(): Promise<Status>;
  GetInfo(): Promise<{ status: Status; PackageInfo?: SecPkgInfo }>;
  AcceptCredentials?(LogonType: number, AccountName: string, PrimaryCredentials: SECPKG_PRIMARY_CRED, SupplementalCredentials: Uint8Array | null): Promise<Status>;
  AcquireCredentialsHandle?(PrincipalName: string | null, CredentialUseFlags: number, LogonId: LUID | null, AuthorizationData: Plain, GetKeyFunction: null, GetKeyArgument: null): Promise<AcquireCredentialsHandleResult>;
  QueryCredentialsAttributes?(CredentialHandle: LSA_SEC_HANDLE, CredentialAttribute: number): Promise<QueryAttributesResult>;
  FreeCredentialsHandle?(CredentialHandle: LSA_SEC_HANDLE): Promise<Status>;
  SaveCredentials?(CredentialHandle: LSA_SEC_HANDLE, Credentials: Uint8Array): Promise<Status>;
  GetCredentials?(CredentialHandle: LSA_SEC_HANDLE): Promise<{ status: Status; Credentials?: Uint8Array }>;
  DeleteCredentials?(CredentialHandle: LSA_SEC_HANDLE, Key: Uint8Array): Promise<Status>;
  InitLsaModeContext?(CredentialHandle: LSA_SEC_HANDLE, ContextHandle: LSA_SEC_HANDLE, TargetName: string | null, ContextRequirements: number, TargetDataRep: number, InputBuffers: SecBufferDesc | null, OutputBuffers: SecBufferDesc | null): Promise<LsaModeContextResult>;
  AcceptLsaModeContext?(CredentialHandle: LSA_SEC_HANDLE, ContextHandle: LSA_SEC_HANDLE, InputBuffer: SecBufferDesc | null, ContextRequirements: number, TargetDataRep: number, OutputBuffer: SecBufferDesc | null): Promise<LsaModeContextResult>;
  DeleteContext?(ContextHandle: LSA_SEC_HANDLE): Promise<Status>;
  ApplyControlToken?(ContextHandle: LSA_SEC_HANDLE, ControlToken: SecBufferDesc): Promise<Status>;
  GetUserInfo?(LogonId: LUID, Flags: number): Promise<{ status: Status; UserData?: { UserName: string; LogonDomainName: string; LogonServer: string; pSid: Uint8Array | null } }>;
  GetExtendedInformation?(Class: number): Promise<{ status: Status; Information?: SECPKG_EXTENDED_INFORMATION }>;
  QueryContextAttributes?(ContextHandle: LSA_SEC_HANDLE, ContextAttribute: number): Promise<QueryAttributesResult>;
  AddCredentials?(CredentialHandle: LSA_SEC_HANDLE, PrincipalName: string | null, Package: string, CredentialUseFlags: number, AuthorizationData: Plain): Promise<{ status: Status; ExpirationTime?: TimeStamp }>;
  SetExtendedInformation?(Class: number, Info: SECPKG_EXTENDED_INFORMATION): Promise<Status>;
  SetContextAttributes?(ContextHandle: LSA_SEC_HANDLE, ContextAttribute: number, Buffer: Plain): Promise<Status>;
  SetCredentialsAttributes?(CredentialHandle: LSA_SEC_HANDLE, CredentialAttribute: number, Buffer: Plain): Promise<Status>;
  ChangeAccountPassword?(DomainName: string, AccountName: string, OldPassword: string, NewPassword: string, Impersonating: boolean): Promise<Status>;
  /**
   * tslsa extension (not in ntsecpkg.h, outside the versioned member order): a context whose
   * handshake has not finished, as bytes that the same package in another process can continue
   * from (a handshake store shared by several server nodes). The bytes must hold no secret the
   * peer has not seen; a package that cannot promise that for a state returns
   * SEC_E_UNSUPPORTED_FUNCTION. The context itself stays as it is.
   */
  ExportLsaModeContext?(ContextHandle: LSA_SEC_HANDLE): Promise<{ status: Status; PackedContext?: Uint8Array }>;
  /** tslsa extension: rebuilds an exported half-built context under CredentialHandle (NewContextHandle, ExpirationTime). */
  ImportLsaModeContext?(CredentialHandle: LSA_SEC_HANDLE, PackedContext: Uint8Array): Promise<LsaModeContextResult>;
}

export interface LogonUserResult {
  status: Status;
  SubStatus?: Status;
  LogonId?: LUID;
  ProfileBuffer?: Uint8Array | null;
  AccountName?: string;
  AuthenticatingAuthority?: string;
}

/** The member order of SECPKG_FUNCTION_TABLE and where each interface version ends (reference section 1-2). */
export const SECPKG_FUNCTION_TABLE_MEMBERS = [
  'InitializePackage', 'LogonUser', 'CallPackage', 'LogonTerminated', 'CallPackageUntrusted', 'CallPackagePassthrough',
  'LogonUserEx', 'LogonUserEx2', 'Initialize', 'Shutdown', 'GetInfo', 'AcceptCredentials', 'AcquireCredentialsHandle',
  'QueryCredentialsAttributes', 'FreeCredentialsHandle', 'SaveCredentials', 'GetCredentials', 'DeleteCredentials',
  'InitLsaModeContext', 'AcceptLsaModeContext', 'DeleteContext', 'ApplyControlToken', 'GetUserInfo', 'GetExtendedInformation',
  'QueryContextAttributes', 'AddCredentials', 'SetExtendedInformation', 'SetContextAttributes', 'SetCredentialsAttributes',
  'ChangeAccountPassword',
] as const;

/** tslsa's own members of SECPKG_FUNCTION_TABLE: kept whatever the package's interface version. */
export const TSLSA_FUNCTION_TABLE_EXTENSIONS = ['ExportLsaModeContext', 'ImportLsaModeContext'] as const;

/** SECPKG_USER_FUNCTION_TABLE: the user-mode half (reference section 3). Message calls are synchronous: they run in the caller's process. */
export interface SECPKG_USER_FUNCTION_TABLE {
  InstanceInit?(Version: number, FunctionTable: SECPKG_DLL_FUNCTIONS): Status | Promise<Status>;
  InitUserModeContext(ContextHandle: LSA_SEC_HANDLE, PackedContext: Uint8Array): Status | Promise<Status>;
  MakeSignature?(ContextHandle: LSA_SEC_HANDLE, QualityOfProtection: number, MessageBuffers: SecBufferDesc, MessageSequenceNumber: number): Status;
  VerifySignature?(ContextHandle: LSA_SEC_HANDLE, MessageBuffers: SecBufferDesc, MessageSequenceNumber: number): { status: Status; QualityOfProtection: number };
  SealMessage?(ContextHandle: LSA_SEC_HANDLE, QualityOfProtection: number, MessageBuffers: SecBufferDesc, MessageSequenceNumber: number): Status;
  UnsealMessage?(ContextHandle: LSA_SEC_HANDLE, MessageBuffers: SecBufferDesc, MessageSequenceNumber: number): { status: Status; QualityOfProtection: number };
  GetContextToken?(ContextHandle: LSA_SEC_HANDLE): { status: Status; ImpersonationToken?: unknown };
  QueryContextAttributes?(ContextHandle: LSA_SEC_HANDLE, ContextAttribute: number): QueryAttributesResult | Promise<QueryAttributesResult>;
  CompleteAuthToken?(ContextHandle: LSA_SEC_HANDLE, InputBuffer: SecBufferDesc): Status | Promise<Status>;
  DeleteUserModeContext?(ContextHandle: LSA_SEC_HANDLE): Status | Promise<Status>;
  FormatCredentials?(Credentials: Uint8Array): { status: Status; FormattedCredentials?: Uint8Array };
  MarshallSupplementalCreds?(Credentials: Uint8Array): { status: Status; MarshalledCreds?: Uint8Array };
  ExportContext?(ContextHandle: LSA_SEC_HANDLE, Flags: number): { status: Status; PackedContext?: Uint8Array } | Promise<{ status: Status; PackedContext?: Uint8Array }>;
  ImportContext?(PackedContext: Uint8Array): { status: Status; ContextHandle?: LSA_SEC_HANDLE } | Promise<{ status: Status; ContextHandle?: LSA_SEC_HANDLE }>;
}

/** SECPKG_DLL_FUNCTIONS given to SpInstanceInit. */
export interface SECPKG_DLL_FUNCTIONS {
  AllocateHeap(Length: number): Uint8Array;
  FreeHeap(Buffer: Uint8Array): void;
  RegisterCallback(CallbackId: number, Callback: (Argument1: bigint, Argument2: bigint, InputBuffer: Uint8Array) => Promise<{ status: Status; OutputBuffer?: Uint8Array }>): Status;
}

/** What a package module exports: SpLsaModeInitialize and (optionally) SpUserModeInitialize. */
export interface SecurityPackageModule {
  SpLsaModeInitialize(LsaVersion: number): Promise<{ status: Status; PackageVersion: number; ppTables: SECPKG_FUNCTION_TABLE[] }>;
  SpUserModeInitialize?(LsaVersion: number): Promise<{ status: Status; PackageVersion: number; ppTables: SECPKG_USER_FUNCTION_TABLE[] }>;
}

/** LSA_SECPKG_FUNCTION_TABLE: the LSA services handed to each package in SpInitialize (reference section 4). */
export interface LSA_SECPKG_FUNCTION_TABLE {
  CreateLogonSession(LogonId: LUID): Promise<Status>;
  DeleteLogonSession(LogonId: LUID): Promise<Status>;
  AddCredential(LogonId: LUID, AuthenticationPackage: number, PrimaryKeyValue: Uint8Array, Credentials: Uint8Array): Promise<Status>;
  GetCredentials(LogonId: LUID, AuthenticationPackage: number, QueryContext: number, RetrieveAllCredentials: boolean, PrimaryKeyValue: Uint8Array | null): Promise<{ status: Status; QueryContext: number; PrimaryKeyValue?: Uint8Array; Credentials?: Uint8Array }>;
  DeleteCredential(LogonId: LUID, AuthenticationPackage: number, PrimaryKeyValue: Uint8Array): Promise<Status>;
  AllocateLsaHeap(Length: number): Uint8Array;
  FreeLsaHeap(Base: Uint8Array): void;
  AllocateClientBuffer(ClientRequest: LSA_CLIENT_REQUEST | null, LengthRequired: number): { status: Status; ClientBaseAddress: Uint8Array };
  FreeClientBuffer(ClientRequest: LSA_CLIENT_REQUEST | null, ClientBaseAddress: Uint8Array): Status;
  CopyToClientBuffer(ClientRequest: LSA_CLIENT_REQUEST | null, Length: number, ClientBaseAddress: Uint8Array, BufferToCopy: Uint8Array): Status;
  CopyFromClientBuffer(ClientRequest: LSA_CLIENT_REQUEST | null, Length: number, BufferToCopy: Uint8Array, ClientBaseAddress: Uint8Array): Status;
  GetClientInfo(): { status: Status; ClientInfo?: SECPKG_CLIENT_INFO };
  GetCallInfo(): SECPKG_CALL_INFO | null;
  CallPackage(AuthenticationPackage: string, ProtocolSubmitBuffer: Uint8Array, SubmitBufferLength: number): Promise<CallPackageResult>;
  CallPackageEx(AuthenticationPackage: string, ClientBufferBase: bigint, ProtocolSubmitBuffer: Uint8Array, SubmitBufferLength: number): Promise<CallPackageResult>;
  CallPackagePassthrough(AuthenticationPackage: string, ClientBufferBase: bigint, ProtocolSubmitBuffer: Uint8Array, SubmitBufferLength: number): Promise<CallPackageResult>;
  FreeReturnBuffer(Buffer: Uint8Array | null): void;
  /** tslsa extension (see SECPKG_DISPATCH); null when no such package is loaded. */
  GetPackageDispatch?(AuthenticationPackage: string): SECPKG_DISPATCH | null;
  /** Slot 12: a package asks to be unloaded. */
  UnloadPackage(): Promise<Status>;
  /** Slot 44/45: protect memory in place; here a no-op marker kept for the table's shape. */
  LsaProtectMemory(Buffer: Uint8Array): void;
  LsaUnprotectMemory(Buffer: Uint8Array): void;
  /** Slot 48/49. */
  AllocatePrivateHeap(Length: number): Uint8Array;
  FreePrivateHeap(Buffer: Uint8Array): void;
}
