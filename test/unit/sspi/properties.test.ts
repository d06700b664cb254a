// Property tests: random flag sets and buffer layouts thrown at the API never escape as
// exceptions; every answer is a defined status.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createLsa } from '../../../src/lsa/host.js';
import { SECPKG_CRED } from '../../../src/sspi/flags.js';
import { isKnownStatus } from '../../../src/sspi/status.js';
import { TOY_NAME, toyPackage } from '../lsa/fixtures/toy.js';

const bufferArb = fc.record({
  BufferType: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 30 }).map((t) => (t | 0x80000000) >>> 0), fc.integer()),
  cbBuffer: fc.oneof(fc.nat(300), fc.integer()),
  pvBuffer: fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 300, size: 'max' })),
});
const descArb = fc.oneof(
  fc.constant(null),
  fc.array(bufferArb, { maxLength: 5 }).map((b) => ({ ulVersion: 0, cBuffers: b.length, pBuffers: b })),
  fc.record({ ulVersion: fc.integer(), cBuffers: fc.integer(), pBuffers: fc.array(bufferArb, { maxLength: 3 }) }),
  fc.anything(),
);
const flagArb = fc.oneof(fc.nat(), fc.integer(), fc.constant(2 ** 34 + 0x10), fc.double());

describe('API properties', () => {
  it('InitializeSecurityContext/AcceptSecurityContext return a known status for any flags and buffers', async () => {
    const host = await createLsa({ packages: [toyPackage()] });
    const sspi = host.sspi();
    const cred = (await sspi.AcquireCredentialsHandle(null, TOY_NAME, SECPKG_CRED.BOTH, null, { User: 'u', Domain: '', Password: 'p' })).phCredential!;
    await fc.assert(
      fc.asyncProperty(flagArb, descArb, descArb, fc.boolean(), async (flags, input, output, accept) => {
        const r = accept
          ? await sspi.AcceptSecurityContext(cred, null, input as never, flags, 0x10, null, output as never)
          : await sspi.InitializeSecurityContext(cred, null, 'HTTP/x', flags, 0, 0x10, input as never, 0, null, output as never);
        assert.ok(isKnownStatus(r.status), `unknown status ${r.status}`);
        if (r.phNewContext) await sspi.DeleteSecurityContext(r.phNewContext);
      }),
      { numRuns: 300 },
    );
    await host.shutdown();
  });

  it('message calls return a known status for any handle and descriptor', async () => {
    const host = await createLsa({ packages: [toyPackage()] });
    const sspi = host.sspi();
    const handleArb = fc.oneof(fc.constant(null), fc.record({ dwLower: fc.bigInt(), dwUpper: fc.bigInt() }), fc.anything());
    fc.assert(
      fc.property(handleArb, descArb, fc.integer(), (h, d, q) => {
        for (const st of [sspi.MakeSignature(h as never, q, d as never, 0), sspi.EncryptMessage(h as never, q, d as never, 0), sspi.VerifySignature(h as never, d as never, 0).status, sspi.DecryptMessage(h as never, d as never, 0).status]) {
          assert.ok(isKnownStatus(st));
        }
      }),
      { numRuns: 300 },
    );
    await host.shutdown();
  });
});
