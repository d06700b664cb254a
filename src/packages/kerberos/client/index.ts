// The Kerberos client: KDC transport, AS and TGS exchanges, ticket caches, credentials.
export { sendToKdc, locateKdcs, type KdcEndpoint, type SendToKdcOptions, type KdcLocateOptions } from './transport.js';
export { getInitialTicket, defaultSalt, type InitialTicketOptions, type InitialTicketResult } from './as.js';
export { getServiceTicket, renewTicket, servicePrincipal, KRB5_REFERRAL_MAXHOPS, type ServiceTicketOptions } from './tgs.js';
export { clientRealmPath, hierarchicalRealmPath } from './realmPath.js';
export {
  type CredentialCache,
  FileCredentialCache,
  MemoryCredentialCache,
  toCcacheCredential,
  fromCcacheCredential,
} from './cache.js';
export { type CredentialCollection } from './cache.js';
export { openCredentialCache, openCredentialCollection } from './open.js';
export { DirCollection, type DirCredentialCache, openDirCache } from './dircache.js';
export { KcmClient, KcmCollection, KcmCredentialCache, DEFAULT_KCM_SOCKET } from './kcm.js';
export { acquireKerberosCredentials, keytabKeys, refreshTime, REFRESH_RETRY_MS, type AcquireOptions, type KerberosCredentials } from './credentials.js';
export { KdcError, krbErrorToStatus, krbErrorToNtStatus } from './errors.js';
export { clientPolicy, type ClientPolicy } from './policy.js';
export { type KerberosTicketCredential, type KdcSend, destroyTicketCredential, isCurrent, isRenewable, isTgtFor } from './types.js';
