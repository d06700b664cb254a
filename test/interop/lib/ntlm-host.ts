// Our side of the NTLM interop tests: an LSA with the NTLM package and an account authority
// holding one user, and the acceptor's final-leg verdict check.
import assert from 'node:assert/strict';
import type { SecurityContext } from '../../../src/context.js';
import { createLsa, type LsaHost } from '../../../src/lsa/host.js';
import { ntlmPackage, type NtlmConfig } from '../../../src/packages/ntlm/package.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SECPKG_ATTR } from '../../../src/sspi/flags.js';
import { SecurityStatus } from '../../../src/sspi/status.js';
import { realAuthority } from '../../fixtures/authority.js';

export const USER = 'alice';
export const DOMAIN = 'EXAMPLE';
export const PASSWORD = 'Passw0rd!';

/** An LSA for DOMAIN with the NTLM package (`config`) and an authority knowing USER / PASSWORD. */
export async function ntlmHost(config: NtlmConfig = {}): Promise<LsaHost> {
  return createLsa({ domainName: DOMAIN, packages: [ntlmPackage(config), await realAuthority({ [USER]: PASSWORD }, DOMAIN)] });
}

/** Our acceptor's last leg: with `ok` it completes as DOMAIN\USER, otherwise it refuses with SEC_E_LOGON_DENIED. */
export async function expectAcceptorVerdict(ctx: SecurityContext, auth: Uint8Array, ok: boolean): Promise<void> {
  if (ok) {
    assert.equal(await ctx.step(auth), null);
    assert.equal((await ctx.query<{ sUserName: string }>(SECPKG_ATTR.NAMES)).sUserName, `${DOMAIN}\\${USER}`);
  } else {
    await assert.rejects(ctx.step(auth), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_LOGON_DENIED));
  }
}
