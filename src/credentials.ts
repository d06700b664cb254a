// Idiomatic credentials: AcquireCredentialsHandle / FreeCredentialsHandle behind an object.

import type { LUID } from './lsa/types.js';
import type { SecHandle } from './lsa/protocol.js';
import type { SecurityFunctionTable } from './sspi/api.js';
import type { Plain } from './sspi/attributes.js';
import { SspiError } from './sspi/error.js';
import { SECPKG_CRED, SECPKG_CRED_ATTR } from './sspi/flags.js';
import { SecurityStatus } from './sspi/status.js';
import { type TimeStamp, timeStampToDate } from './sspi/timestamp.js';

export type CredentialUse = 'inbound' | 'outbound' | 'both';

export interface AcquireOptions {
  /** Package name, e.g. 'NTLM', 'Kerberos', 'Negotiate'. */
  package: string;
  use: CredentialUse;
  principal?: string;
  /** Package-specific authentication data (SEC_WINNT_AUTH_IDENTITY-shaped for user + password). */
  authData?: Plain;
  logonId?: LUID;
}

const useFlags: Record<CredentialUse, number> = { inbound: SECPKG_CRED.INBOUND, outbound: SECPKG_CRED.OUTBOUND, both: SECPKG_CRED.BOTH };

export class Credentials {
  private freed = false;

  private constructor(
    readonly sspi: SecurityFunctionTable,
    readonly handle: SecHandle,
    readonly packageName: string,
    readonly expiryTimeStamp: TimeStamp,
  ) {}

  static async acquire(sspi: SecurityFunctionTable, options: AcquireOptions): Promise<Credentials> {
    const use = useFlags[options.use];
    if (use === undefined) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `unknown credential use ${String(options.use)}`);
    const r = await sspi.AcquireCredentialsHandle(options.principal ?? null, options.package, use, options.logonId ?? null, options.authData ?? null);
    if ((r.status | 0) < 0 || !r.phCredential) throw new SspiError(r.status, `AcquireCredentialsHandle(${options.package}) failed`);
    return new Credentials(sspi, r.phCredential, options.package, r.ptsExpiry);
  }

  get expiry(): Date | null {
    return timeStampToDate(this.expiryTimeStamp);
  }

  /** SECPKG_CRED_ATTR_NAMES: the user name the credentials stand for. */
  async userName(): Promise<string> {
    const r = await this.sspi.QueryCredentialsAttributes(this.handle, SECPKG_CRED_ATTR.NAMES);
    if ((r.status | 0) < 0) throw new SspiError(r.status, 'QueryCredentialsAttributes(NAMES) failed');
    return (r.pBuffer as { sUserName: string }).sUserName;
  }

  async free(): Promise<void> {
    if (this.freed) return;
    this.freed = true;
    const st = await this.sspi.FreeCredentialsHandle(this.handle);
    if ((st | 0) < 0) throw new SspiError(st, 'FreeCredentialsHandle failed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.free();
  }
}
