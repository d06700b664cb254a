import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLsa } from '../../../src/lsa/host.js';
import type { SECPKG_FUNCTION_TABLE, SecurityPackageModule } from '../../../src/lsa/types.js';
import { findBuffer, secBuffer, secBufferDesc, writeOutputToken } from '../../../src/sspi/buffers.js';
import { SECBUFFER, SECBUFFER_READONLY, SECPKG_CRED } from '../../../src/sspi/flags.js';
import { SecurityStatus as S } from '../../../src/sspi/status.js';

// A package that answers like a stream protocol: it consumes 4 bytes per leg, marks the rest of
// the input SECBUFFER_EXTRA, asks for more with SECBUFFER_MISSING when short, and finishes the
// acceptor with SEC_I_COMPLETE_AND_CONTINUE once.
function streamPackage(seen: Array<{ types: number[]; readonly: boolean }>): SecurityPackageModule {
  let n = 1n;
  const table: SECPKG_FUNCTION_TABLE = {
    GetInfo: async () => ({ status: 0, PackageInfo: { fCapabilities: 0, wVersion: 1, wRPCID: 0xffff, cbMaxToken: 64, Name: 'Stream', Comment: '' } }),
    AcquireCredentialsHandle: async () => ({ status: 0, CredentialHandle: n++ }),
    AcceptLsaModeContext: async (_c, ctx, input, _req, _rep, output) => {
      seen.push({ types: input!.pBuffers.map((b) => b.BufferType >>> 0), readonly: (input!.pBuffers[0]!.BufferType & SECBUFFER_READONLY) !== 0 });
      const tok = findBuffer(input, SECBUFFER.TOKEN)!;
      if (tok.cbBuffer < 4) {
        const missing = input!.pBuffers[1]!;
        missing.BufferType = SECBUFFER.MISSING;
        missing.cbBuffer = 4 - tok.cbBuffer;
        return { status: S.SEC_E_INCOMPLETE_MESSAGE };
      }
      if (tok.cbBuffer > 4) {
        const extra = input!.pBuffers[1]!;
        extra.BufferType = SECBUFFER.EXTRA;
        extra.cbBuffer = tok.cbBuffer - 4;
      }
      writeOutputToken(output, new Uint8Array([9]), true);
      return { status: ctx === 0n ? S.SEC_I_COMPLETE_AND_CONTINUE : S.SEC_E_OK, NewContextHandle: ctx === 0n ? n++ : ctx };
    },
  };
  return { SpLsaModeInitialize: async () => ({ status: 0, PackageVersion: 0x10000, ppTables: [table] }) };
}

describe('SecBufferDesc semantics', () => {
  it('returns SECBUFFER_EXTRA / SECBUFFER_MISSING retyping of input buffers to the caller, keeps READONLY bits', async () => {
    const seen: Array<{ types: number[]; readonly: boolean }> = [];
    const host = await createLsa({ packages: [streamPackage(seen)] });
    const sspi = host.sspi();
    const cred = (await sspi.AcquireCredentialsHandle(null, 'Stream', SECPKG_CRED.INBOUND, null, null)).phCredential!;
    const out = () => secBufferDesc(secBuffer(SECBUFFER.TOKEN, null));
    // Short input: SEC_E_INCOMPLETE_MESSAGE with a MISSING count, and no context is created.
    const short = secBufferDesc(secBuffer((SECBUFFER.TOKEN | SECBUFFER_READONLY) >>> 0, new Uint8Array(2)), secBuffer(SECBUFFER.EMPTY, null));
    const r0 = await sspi.AcceptSecurityContext(cred, null, short, 0x100, 0x10, null, out());
    assert.equal(r0.status, S.SEC_E_INCOMPLETE_MESSAGE);
    assert.equal(r0.phNewContext, null);
    assert.deepEqual([short.pBuffers[1]!.BufferType, short.pBuffers[1]!.cbBuffer], [SECBUFFER.MISSING, 2]);
    assert.equal(seen[0]!.readonly, true, 'attribute bits reach the package');
    // Long input: the unread tail is reported as EXTRA; the first leg says COMPLETE_AND_CONTINUE.
    const long = secBufferDesc(secBuffer(SECBUFFER.TOKEN, new Uint8Array(10)), secBuffer(SECBUFFER.EMPTY, null));
    const r1 = await sspi.AcceptSecurityContext(cred, null, long, 0x100, 0x10, null, out());
    assert.equal(r1.status, S.SEC_I_COMPLETE_AND_CONTINUE);
    assert.deepEqual([long.pBuffers[1]!.BufferType, long.pBuffers[1]!.cbBuffer], [SECBUFFER.EXTRA, 6]);
    const r2 = await sspi.AcceptSecurityContext(cred, r1.phNewContext, secBufferDesc(secBuffer(SECBUFFER.TOKEN, new Uint8Array(4)), secBuffer(SECBUFFER.EMPTY, null)), 0x100, 0x10, null, out());
    assert.equal(r2.status, S.SEC_E_OK);
    assert.deepEqual(r2.phNewContext, r1.phNewContext);
    await host.shutdown();
  });
});
