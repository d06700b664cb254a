// A package's description of a failure (the detail of the SspiError it threw) travels with the
// status to the caller (tslsa extension ExtendedError), so SecurityContext's error says why.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Credentials } from '../../../src/credentials.js';
import { SecurityContext } from '../../../src/context.js';
import { createLsa } from '../../../src/lsa/host.js';
import { lsaModeContextCalls } from '../../../src/lsa/packageKit.js';
import type { SECPKG_FUNCTION_TABLE, SecurityPackageModule } from '../../../src/lsa/types.js';
import { secBuffer, secBufferDesc } from '../../../src/sspi/buffers.js';
import { SspiError } from '../../../src/sspi/error.js';
import { ISC_REQ, SECBUFFER, SECURITY_NATIVE_DREP } from '../../../src/sspi/flags.js';
import { SecurityStatus } from '../../../src/sspi/status.js';

function toyModule(fail: (leg: 'init' | 'accept') => void): SecurityPackageModule {
  const table: SECPKG_FUNCTION_TABLE = {
    GetInfo: async () => ({ status: 0, PackageInfo: { fCapabilities: 0, wVersion: 1, wRPCID: 0xffff, cbMaxToken: 64, Name: 'Toy', Comment: '' } }),
    AcquireCredentialsHandle: async () => ({ status: SecurityStatus.SEC_E_OK, CredentialHandle: 1n }),
    FreeCredentialsHandle: async () => SecurityStatus.SEC_E_OK,
    DeleteContext: async () => SecurityStatus.SEC_E_OK,
    ...lsaModeContextCalls(
      async () => {
        fail('init');
        return { status: SecurityStatus.SEC_E_OK, NewContextHandle: 7n };
      },
      async () => {
        fail('accept');
        return { status: SecurityStatus.SEC_E_OK, NewContextHandle: 8n };
      },
    ),
  };
  return { SpLsaModeInitialize: async () => ({ status: 0, PackageVersion: 0x10000, ppTables: [table] }) };
}

describe('ExtendedError (tslsa extension)', () => {
  it('carries the cause of a failed InitializeSecurityContext to the caller', async () => {
    const host = await createLsa({ packages: [toyModule(() => { throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, 'the TGT expired at 10:00: run kinit'); })] });
    try {
      const sspi = host.sspi();
      const cred = await Credentials.acquire(sspi, { package: 'Toy', use: 'outbound' });
      const out = secBufferDesc(secBuffer(SECBUFFER.TOKEN, null));
      const r = await sspi.InitializeSecurityContext(cred.handle, null, 'HTTP@x', ISC_REQ.ALLOCATE_MEMORY, 0, SECURITY_NATIVE_DREP, null, 0, null, out);
      assert.equal(r.status, SecurityStatus.SEC_E_NO_CREDENTIALS);
      assert.equal(r.extendedError, 'the TGT expired at 10:00: run kinit');
      await assert.rejects(SecurityContext.client(cred, { target: 'HTTP@x' }).step(), (e: unknown) =>
        SspiError.is(e, SecurityStatus.SEC_E_NO_CREDENTIALS) && /InitializeSecurityContext failed: the TGT expired at 10:00: run kinit/.test((e as Error).message));
    } finally {
      await host.shutdown();
    }
  });

  it('is absent on success and when the package gave no detail', async () => {
    const host = await createLsa({ packages: [toyModule((leg) => { if (leg === 'accept') throw new SspiError(SecurityStatus.SEC_E_LOGON_DENIED); })] });
    try {
      const sspi = host.sspi();
      const cred = await Credentials.acquire(sspi, { package: 'Toy', use: 'outbound' });
      const ok = await sspi.InitializeSecurityContext(cred.handle, null, 'HTTP@x', ISC_REQ.ALLOCATE_MEMORY, 0, SECURITY_NATIVE_DREP, null, 0, null, secBufferDesc(secBuffer(SECBUFFER.TOKEN, null)));
      assert.equal(ok.status, SecurityStatus.SEC_E_OK);
      assert.equal('extendedError' in ok, false);
      const scred = await Credentials.acquire(sspi, { package: 'Toy', use: 'inbound' });
      const r = await sspi.AcceptSecurityContext(scred.handle, null, secBufferDesc(secBuffer(SECBUFFER.TOKEN, Uint8Array.of(1))), 0, SECURITY_NATIVE_DREP, null, secBufferDesc(secBuffer(SECBUFFER.TOKEN, null)));
      assert.equal(r.status, SecurityStatus.SEC_E_LOGON_DENIED);
      assert.equal('extendedError' in r, false);
    } finally {
      await host.shutdown();
    }
  });

  it('cuts a long description', async () => {
    const host = await createLsa({ packages: [toyModule(() => { throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'x'.repeat(5000)); })] });
    try {
      const sspi = host.sspi();
      const cred = await Credentials.acquire(sspi, { package: 'Toy', use: 'outbound' });
      const r = await sspi.InitializeSecurityContext(cred.handle, null, 'HTTP@x', ISC_REQ.ALLOCATE_MEMORY, 0, SECURITY_NATIVE_DREP, null, 0, null, secBufferDesc(secBuffer(SECBUFFER.TOKEN, null)));
      assert.equal(r.extendedError?.length, 512);
    } finally {
      await host.shutdown();
    }
  });
});
