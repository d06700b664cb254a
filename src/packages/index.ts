// The security packages tslsa ships, in the order the LSA loads them (Negotiate prefers the
// earlier ones: Kerberos before NTLM, as on Windows). Each is a SecurityPackageModule, loaded
// through SpLsaModeInitialize like any third-party package.

import { declareFrameUse } from '../lsa/callContext.js';
import type { PackageSpec } from '../lsa/host.js';
import { type KerberosConfig, kerberosPackage } from './kerberos/package.js';
import { negotiatePackage } from './negotiate/package.js';
import { ntlmPackage } from './ntlm/package.js';
import * as msv1_0 from './msv1_0/package.js';
import type { AccountStore } from '../store/accounts.js';

export interface BuiltinPackagesOptions {
  /** Configures the Kerberos package (delegation, say). */
  kerberos?: KerberosConfig;
  /**
   * The accounts NTLM sign-ons are checked against (a MemoryAccountStore, your own AccountStore).
   * Default: the on-disk store of `tslsa user` (TSLSA_STORE or the XDG data directory), opened at
   * the first sign-on; absent, it is an empty one. A store given here stays yours to close.
   */
  accounts?: AccountStore;
}

/** The built-in package set. */
export async function builtinPackages(options: BuiltinPackagesOptions = {}): Promise<PackageSpec[]> {
  // Kerberos reads krb5.conf (KRB5_CONFIG) when loaded and its keytab/ccache when credentials are acquired.
  // Negotiate comes first, as on Windows; it reaches the others only through the LSA.
  const authority = options.accounts ? msv1_0.msv1_0Package({ store: options.accounts }) : declareFrameUse(msv1_0, []);
  return [{ module: negotiatePackage() }, { module: kerberosPackage(options.kerberos) }, { module: ntlmPackage() }, { module: authority }];
}
