// The narrow asynchronous interface between the client side (SSPI, LSA client API) and the LSA.
// Everything here is plain data, so today's in-process transport can later be replaced by a
// separate LSA process (holding the secrets, as lsass does) without touching either side.

import type { Plain, SecPkgInfo } from '../sspi/attributes.js';
import type { SecBufferDesc } from '../sspi/buffers.js';
import type { Status } from '../sspi/status.js';
import type { TimeStamp } from '../sspi/timestamp.js';
import type { CallPackageResult, LSA_SEC_HANDLE, LUID, SecurityPackageModule } from './types.js';

/** SecHandle / CredHandle / CtxtHandle: {dwLower, dwUpper} as in sspi.h (ULONG_PTR each). */
export interface SecHandle {
  dwLower: bigint;
  dwUpper: bigint;
}
export type CredHandle = SecHandle;
export type CtxtHandle = SecHandle;

/** SecInvalidateHandle: both words (ULONG_PTR)-1. */
export const SEC_INVALID_HANDLE_VALUE = 0xffffffffffffffffn;

export interface AcquireCredentialsRequest {
  principal: string | null;
  packageName: string;
  credentialUse: number;
  logonId: LUID | null;
  authData: Plain;
}

export interface ContextRequest {
  credential: SecHandle | null;
  context: SecHandle | null;
  /** Initiator only. */
  targetName?: string | null;
  contextReq: number;
  targetDataRep: number;
  input: SecBufferDesc | null;
  output: SecBufferDesc | null;
}

export interface ContextReply {
  status: Status;
  context: SecHandle | null;
  contextAttr: number;
  expiry: TimeStamp;
  /** True when the package mapped the context to its user-mode half (section 13). */
  mapped: boolean;
  contextData: Uint8Array | null;
  /** The package's LSA_SEC_HANDLE for this context: SpInitUserModeContext takes the same handle. */
  packageHandle: LSA_SEC_HANDLE;
  packageName: string;
  /** Input buffers come back because packages may retype them (SECBUFFER_EXTRA, SECBUFFER_MISSING). */
  input: SecBufferDesc | null;
  output: SecBufferDesc | null;
  /** With a failure status: the package's description of the cause (LsaModeContextResult.ExtendedError). */
  extendedError?: string;
}

export interface AttributeReply {
  status: Status;
  buffer?: Plain | object;
}

export interface UserModeEntry {
  module: SecurityPackageModule;
  tableIndex: number;
  /** SecpkgContextThunks: attribute levels answered by the LSA-mode half. */
  thunks: number[];
}

export interface LsaConnection {
  /** True for a trusted (LsaRegisterLogonProcess) connection. */
  readonly trusted: boolean;
  EnumerateSecurityPackages(): Promise<{ status: Status; packages: SecPkgInfo[] }>;
  QuerySecurityPackageInfo(packageName: string): Promise<{ status: Status; info?: SecPkgInfo }>;
  AcquireCredentialsHandle(req: AcquireCredentialsRequest): Promise<{ status: Status; credential?: SecHandle; expiry: TimeStamp }>;
  FreeCredentialsHandle(credential: SecHandle): Promise<Status>;
  QueryCredentialsAttributes(credential: SecHandle, attribute: number): Promise<AttributeReply>;
  SetCredentialsAttributes(credential: SecHandle, attribute: number, buffer: Plain): Promise<Status>;
  InitializeSecurityContext(req: ContextRequest): Promise<ContextReply>;
  AcceptSecurityContext(req: ContextRequest): Promise<ContextReply>;
  DeleteSecurityContext(context: SecHandle): Promise<Status>;
  ApplyControlToken(context: SecHandle, input: SecBufferDesc): Promise<Status>;
  QueryContextAttributes(context: SecHandle, attribute: number): Promise<AttributeReply>;
  SetContextAttributes(context: SecHandle, attribute: number, buffer: Plain): Promise<Status>;
  LookupAuthenticationPackage(packageName: string): Promise<{ status: Status; AuthenticationPackage: number }>;
  CallAuthenticationPackage(authenticationPackage: number, submit: Uint8Array, clientBufferBase: bigint): Promise<CallPackageResult>;
  /** Where the client finds a package's user-mode half (an out-of-process transport imports it by name). */
  getUserModeEntry(packageName: string): Promise<UserModeEntry | null>;
  /** tslsa extension: a context whose handshake has not finished, as bytes (SECPKG_FUNCTION_TABLE.ExportLsaModeContext). */
  ExportLsaModeContext(context: SecHandle): Promise<{ status: Status; packed: Uint8Array | null }>;
  /** tslsa extension: continues a half-built context exported by package `packageName` under `credential` (of the same package), on the same side. */
  ImportLsaModeContext(credential: SecHandle, side: 'init' | 'accept', packageName: string, packed: Uint8Array): Promise<{ status: Status; context: SecHandle | null; contextAttr: number; expiry: TimeStamp }>;
  /** The LogonId of this client's logon session. */
  readonly logonId: LUID;
  close(): Promise<void>;
}
