// Negotiate's fallback timing: AcquireCredentialsHandle waits at most fallbackAfterMs for a
// preferred sub-package (a Kerberos AS exchange with a silent KDC) once NTLM is ready; a late
// Kerberos credential is adopted by the contexts started after it arrives. The "Kerberos" here is a
// stub package whose credentials arrive after a delay and whose first token is a marker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Credentials } from '../../../../src/credentials.js';
import { SecurityContext } from '../../../../src/context.js';
import { createLsa } from '../../../../src/lsa/host.js';
import type { SECPKG_FUNCTION_TABLE, SecurityPackageModule } from '../../../../src/lsa/types.js';
import { negotiatePackage, type NegotiateConfig } from '../../../../src/packages/negotiate/package.js';
import { parseNegotiationToken } from '../../../../src/packages/negotiate/spnego.js';
import { ntlmPackage } from '../../../../src/packages/ntlm/package.js';
import { KRB5_MECH_OID, NTLMSSP_MECH_OID } from '../../../../src/der/index.js';
import { writeOutputToken } from '../../../../src/sspi/buffers.js';
import { ISC_REQ, SECPKG_ATTR, SECPKG_FLAG, SECPKG_INTERFACE_VERSION_2, hasFlag } from '../../../../src/sspi/flags.js';
import { NtStatus, SecurityStatus } from '../../../../src/sspi/status.js';
import { eventually } from '../../../interop/lib/poll.js';

// A gate left shut fails the test at this bound instead of hanging the run.
const T = { timeout: 30_000 };
const MARKER = Uint8Array.of(0x60, 0x03, 0x06, 0x01, 0x00);

/** A gate the test opens when it chooses: a Kerberos held on one answers exactly then. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** A "Kerberos" whose AcquireCredentialsHandle answers with `status` after `wait` (ms, or a gate's promise). */
function slowKerberos(wait: number | Promise<void>, status: number = SecurityStatus.SEC_E_OK): SecurityPackageModule & { freed: bigint[]; authData: unknown[] } {
  const freed: bigint[] = [];
  const authData: unknown[] = [];
  let next = 1n;
  const table: SECPKG_FUNCTION_TABLE = {
    async Initialize() {
      return NtStatus.STATUS_SUCCESS;
    },
    async GetInfo() {
      return { status: SecurityStatus.SEC_E_OK, PackageInfo: { fCapabilities: SECPKG_FLAG.NEGOTIABLE, wVersion: 1, wRPCID: 16, cbMaxToken: 100, Name: 'Kerberos', Comment: 'stub' } };
    },
    async AcquireCredentialsHandle(_p, _u, _l, data) {
      authData.push(data);
      await (typeof wait === 'number' ? sleep(wait) : wait);
      return status === SecurityStatus.SEC_E_OK ? { status, CredentialHandle: next++, ExpirationTime: 0n } : { status };
    },
    async FreeCredentialsHandle(h) {
      freed.push(h);
      return SecurityStatus.SEC_E_OK;
    },
    async InitLsaModeContext(_c, _x, _t, req, _r, _i, output) {
      writeOutputToken(output, MARKER, hasFlag(req, ISC_REQ.ALLOCATE_MEMORY));
      return { status: SecurityStatus.SEC_I_CONTINUE_NEEDED, NewContextHandle: next++ };
    },
    async DeleteContext() {
      return SecurityStatus.SEC_E_OK;
    },
  };
  return {
    freed,
    authData,
    async SpLsaModeInitialize() {
      return { status: NtStatus.STATUS_SUCCESS, PackageVersion: SECPKG_INTERFACE_VERSION_2, ppTables: [table] };
    },
  };
}

async function setup(kerberos: SecurityPackageModule, config: NegotiateConfig) {
  const host = await createLsa({ domainName: 'EXAMPLE', packages: [negotiatePackage(config), kerberos, ntlmPackage()] });
  const acquire = () => Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: 'pw' } });
  return { host, acquire };
}

async function firstMechs(cred: Credentials): Promise<{ mechs: string[]; skipped: { Package: string; Status: number }[] }> {
  const ctx = SecurityContext.client(cred, { target: 'HTTP/web.example.test' });
  const t = parseNegotiationToken((await ctx.step())!);
  assert.equal(t.kind, 'init');
  const info = await ctx.query<{ Skipped: { Package: string; Status: number }[] }>(SECPKG_ATTR.NEGOTIATION_INFO);
  await ctx.delete();
  return { mechs: t.kind === 'init' ? t.mechTypes : [], skipped: info.Skipped };
}

// The Kerberos below answers only when its gate opens, so nothing here depends on how fast a busy
// machine runs: a credential that arrives with the gate still shut did not wait for Kerberos.
test('a slow Kerberos: the credential is ready after fallbackAfterMs with NTLM only, and adopts Kerberos when it arrives', T, async () => {
  const g = gate();
  const { acquire } = await setup(slowKerberos(g.opened), { fallbackAfterMs: 100 });
  const t0 = performance.now();
  const cred = await acquire();
  const ms = performance.now() - t0;
  assert.ok(ms >= 95, `AcquireCredentialsHandle took ${ms.toFixed(0)} ms: it did not wait fallbackAfterMs`);
  const early = await firstMechs(cred);
  assert.deepEqual(early.mechs, [NTLMSSP_MECH_OID]);
  assert.deepEqual(early.skipped, [{ Package: 'Kerberos', Status: SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY }]);
  g.open();
  assert.ok(await eventually(async () => (await firstMechs(cred)).mechs.length === 2), 'Kerberos adopted once its credential arrived');
  const late = await firstMechs(cred);
  assert.deepEqual(late.mechs, [KRB5_MECH_OID, NTLMSSP_MECH_OID], 'Kerberos first again once its credential arrived');
  assert.deepEqual(late.skipped, []);
});

test('a Kerberos that fails late is reported with its own status; one that arrives after the handle was freed is freed', T, async () => {
  const g = gate();
  const failing = await setup(slowKerberos(g.opened, SecurityStatus.SEC_E_NO_CREDENTIALS), { fallbackAfterMs: 50 });
  const cred = await failing.acquire();
  assert.deepEqual((await firstMechs(cred)).skipped, [{ Package: 'Kerberos', Status: SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY }], 'still pending');
  g.open();
  const failedLate = async (): Promise<boolean> => (await firstMechs(cred)).skipped[0]?.Status === SecurityStatus.SEC_E_NO_CREDENTIALS;
  assert.ok(await eventually(failedLate), 'the late failure is reported');
  assert.deepEqual((await firstMechs(cred)).skipped, [{ Package: 'Kerberos', Status: SecurityStatus.SEC_E_NO_CREDENTIALS }]);
  const g2 = gate();
  const k = slowKerberos(g2.opened);
  const freed = await setup(k, { fallbackAfterMs: 50 });
  const c2 = await freed.acquire();
  await c2.free();
  assert.equal(k.freed.length, 0, 'nothing to free before it arrives');
  g2.open();
  assert.ok(await eventually(async () => k.freed.length === 1), 'the late Kerberos handle was freed');
});

test('a fast Kerberos is waited for (no fallback), and fallbackAfterMs must be >= 0', T, async () => {
  const g = gate();
  const { acquire } = await setup(slowKerberos(g.opened), { fallbackAfterMs: 60_000 });
  const t0 = performance.now();
  const pending = acquire();
  assert.equal(await Promise.race([pending.then(() => 'ready'), sleep(100, 'waiting')]), 'waiting', 'no credential before Kerberos answers');
  g.open();
  const cred = await pending;
  // Ready when Kerberos answered, not when the minute of fallbackAfterMs ran out.
  assert.ok(performance.now() - t0 < 30_000);
  assert.deepEqual((await firstMechs(cred)).mechs, [KRB5_MECH_OID, NTLMSSP_MECH_OID]);
  await assert.rejects(setup(slowKerberos(0), { fallbackAfterMs: -1 }));
});

test("PackageList (SEC_WINNT_AUTH_IDENTITY_EX) restricts a credential's packages, as Windows' Negotiate: 'Kerberos' or '!NTLM' never gets to NTLM", async () => {
  const k = slowKerberos(0);
  const { host } = await setup(k, {});
  const acquire = (authData: Record<string, unknown>) => Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'outbound', authData: authData as never });
  try {
    for (const list of ['Kerberos', 'kerberos', '!NTLM', ' ! ntlm ']) {
      const cred = await acquire({ User: 'alice', Domain: 'EXAMPLE', Password: 'pw', PackageList: list });
      assert.deepEqual((await firstMechs(cred)).mechs, [KRB5_MECH_OID], list);
      // Kerberos cannot name an IP address: an error, where an unrestricted credential would go on with NTLM.
      await assert.rejects(SecurityContext.client(cred, { target: 'HTTP/192.0.2.1' }).step(), (e: unknown) => (e as { status?: number }).status === SecurityStatus.SEC_E_TARGET_UNKNOWN, list);
      await cred.free();
    }
    // The sub-packages get the identity without the list; a list alone leaves them their defaults.
    assert.deepEqual(k.authData.at(-1), { User: 'alice', Domain: 'EXAMPLE', Password: 'pw' });
    const alone = await acquire({ PackageList: 'Kerberos' });
    assert.equal(k.authData.at(-1), null);
    await alone.free();
    const ntlm = await acquire({ User: 'alice', Domain: 'EXAMPLE', Password: 'pw', PackageList: 'NTLM' });
    assert.deepEqual((await firstMechs(ntlm)).mechs, [NTLMSSP_MECH_OID]);
    await ntlm.free();
    const unrestricted = await acquire({ User: 'alice', Domain: 'EXAMPLE', Password: 'pw' });
    assert.deepEqual((await SecurityContext.client(unrestricted, { target: 'HTTP/192.0.2.1' }).step()) !== null, true, 'without a list, NTLM serves the IP address');
    await unrestricted.free();
    await assert.rejects(acquire({ PackageList: 'Digest' }), (e: unknown) => (e as { status?: number }).status === SecurityStatus.SEC_E_SECPKG_NOT_FOUND);
    await assert.rejects(acquire({ PackageList: 7 }), (e: unknown) => (e as { status?: number }).status === SecurityStatus.SEC_E_INVALID_PARAMETER);
  } finally {
    await host.shutdown();
  }
});
