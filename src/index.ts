// tslsa: a Local Security Authority for Node.js.
// The faithful layer (sspi.h / ntsecpkg.h names, codes and semantics) and the idiomatic layer.

export * from './sspi/status.js';
export * from './sspi/flags.js';
export * from './sspi/buffers.js';
export * from './sspi/timestamp.js';
export * from './sspi/attributes.js';
export { SspiError } from './sspi/error.js';
export { InitSecurityInterface, SecurityFunctionTable, SECURITY_SUPPORT_PROVIDER_INTERFACE_VERSION_4 } from './sspi/api.js';
export type { InitializeSecurityContextResult, AcceptSecurityContextResult } from './sspi/api.js';

export * from './lsa/types.js';
export { Lsa, LSA_INTERFACE_VERSION, MAX_CALL_DEPTH } from './lsa/lsa.js';
export { declareFrameUse } from './lsa/callContext.js';
export type { LoadedPackage, LsaOptions, ClientIdentity } from './lsa/lsa.js';
export type { LsaConnection, SecHandle, CredHandle, CtxtHandle, ContextRequest, ContextReply, UserModeEntry } from './lsa/protocol.js';
export { SEC_INVALID_HANDLE_VALUE } from './lsa/protocol.js';
export { InProcessLsaConnection } from './lsa/connection.js';
export { createLsa, LsaHost, LsaConnectUntrusted, LsaRegisterLogonProcess } from './lsa/host.js';
export type { CreateLsaOptions, ConnectOptions, PackageSpec } from './lsa/host.js';
export { LsaLookupAuthenticationPackage, LsaCallAuthenticationPackage, LsaFreeReturnBuffer, LsaDeregisterLogonProcess } from './lsa/client.js';
export { SubmitBufferReader, SubmitBufferWriter, UNICODE_STRING_SIZE } from './lsa/marshal.js';
export { AllocateLocallyUniqueId } from './lsa/logonSessions.js';

export { Credentials } from './credentials.js';
export type { AcquireOptions, CredentialUse } from './credentials.js';
export { SecurityContext } from './context.js';
export type { ContextOptions, ClientContextOptions, FlagInput } from './context.js';
export { builtinPackages, type BuiltinPackagesOptions } from './packages/index.js';
// The built-in packages one by one, for an LSA of your own make-up (createLsa({ packages })).
export { negotiatePackage, type NegotiateConfig } from './packages/negotiate/package.js';
export { kerberosPackage, type KerberosConfig } from './packages/kerberos/package.js';
export { ntlmPackage, type NtlmConfig } from './packages/ntlm/package.js';
export { MemoryReplayCache, type ReplayCache, type MemoryReplayCacheOptions } from './packages/kerberos/replay.js';
// The accounts behind NTLM (the account authority, MSV1_0): the on-disk store `tslsa user` keeps
// (SQLite, an optional native module), one in memory, or any AccountStore of yours.
export { msv1_0Package, type Msv1_0PackageOptions } from './packages/msv1_0/package.js';
export { MemoryAccountStore, AccountStoreError, DEFAULT_LOCKOUT_POLICY } from './store/accounts.js';
export type { AccountStore, Account, AccountInfo, NewAccount, LockoutPolicy, LogonRecord, AccountStoreErrorCode } from './store/accounts.js';
export { SqliteAccountStore, openAccountStore, defaultStorePath, type SqliteStoreOptions } from './store/sqlite.js';
export { NTOWFv1 } from './packages/ntlm/crypto.js';

export { createAuthenticator, MemoryHandshakeStore, AcceptorContext, tlsServerEndPoint, serverEndPointBindings, socketChannelBindings } from './http/server.js';
export type { Authenticator, AuthenticatorOptions, AuthenticatedRequest, AuthFailure, ChannelBindingPolicy, DelegatedCredentials, Identity, HttpAuthScheme, HandshakeStore, MemoryHandshakeStoreOptions, ParkedHandshake } from './http/server.js';
export { trackConnections, awaitsNextLeg, type ServerDrain } from './http/drain.js';
export { negotiate as negotiateMiddleware } from './http/express.js';
export { negotiateHook, negotiatePlugin } from './http/fastify.js';
export { negotiateInterceptor, createFetch, fetch } from './http/client.js';
export type { NegotiateClientOptions, NegotiateInterceptor, NegotiateFetch, NegotiateFetchInit, PasswordCredentials, CcacheCredentials, AuthPackage, SignOnEvent } from './http/client.js';
