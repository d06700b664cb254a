// The security packages tslsa ships, in the order the LSA loads them (Negotiate prefers the
// earlier ones: Kerberos before NTLM, as on Windows). Each is a SecurityPackageModule, loaded
// through SpLsaModeInitialize like any third-party package.

import { declareFrameUse } from '../lsa/callContext.js';
import type { PackageSpec } from '../lsa/host.js';
import { type KerberosConfig, kerberosPackage } from './kerberos/package.js';
import { negotiatePackage } from './negotiate/package.js';
import { ntlmPackage } from './ntlm/package.js';
import * as msv1_0 from './msv1_0/package.js';

/** The built-in package set; `kerberos` configures the Kerberos package (delegation, say). */
export async function builtinPackages(options: { kerberos?: KerberosConfig } = {}): Promise<PackageSpec[]> {
  // The account authority opens the default store (TSLSA_STORE or the XDG data dir) lazily;
  // Kerberos reads krb5.conf (KRB5_CONFIG) when loaded and its keytab/ccache when credentials are acquired.
  // Negotiate comes first, as on Windows; it reaches the others only through the LSA.
  return [{ module: negotiatePackage() }, { module: kerberosPackage(options.kerberos) }, { module: ntlmPackage() }, { module: declareFrameUse(msv1_0, []) }];
}
