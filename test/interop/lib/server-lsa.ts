// The LSA of an in-process HTTP acceptor in the interop tests: Negotiate, Kerberos with the
// realm's HTTP/localhost keytab, NTLM, and an account authority with EXAMPLE\alice.
import { createLsa, type LsaHost } from '../../../src/lsa/host.js';
import { type KerberosConfig, kerberosPackage } from '../../../src/packages/kerberos/package.js';
import { negotiatePackage } from '../../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../../src/packages/ntlm/package.js';
import { realAuthority } from '../../fixtures/authority.js';
import type { Realm } from './realm.js';

export const ALICE_PASSWORD = 'Passw0rd';

/** `kerberos`: more of the Kerberos package's configuration (delegatedCcacheDir, say). */
export async function serverLsa(realm: Realm, kerberos: Partial<KerberosConfig> = {}): Promise<LsaHost> {
  return createLsa({
    domainName: 'EXAMPLE',
    packages: [
      negotiatePackage(),
      kerberosPackage({ krb5Conf: realm.krb5ConfPath, keytab: realm.httpKeytab, env: realm.childEnv(), kdcTimeoutMs: 3000, ...kerberos }),
      ntlmPackage(),
      await realAuthority({ alice: ALICE_PASSWORD }, 'EXAMPLE'),
    ],
  });
}
