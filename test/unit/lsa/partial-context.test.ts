// A half-built acceptor context leaves one LSA as bytes and finishes in another (two server nodes
// behind a load balancer): ExportPartialSecurityContext / ImportPartialSecurityContext over NTLM
// and Negotiate(NTLM), and everything that must be refused on the way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Credentials } from '../../../src/credentials.js';
import { SecurityContext } from '../../../src/context.js';
import { AcceptorContext } from '../../../src/http/acceptor.js';
import { createLsa, type LsaHost } from '../../../src/lsa/host.js';
import { negotiatePackage } from '../../../src/packages/negotiate/package.js';
import { ntlmPackage, type NtlmConfig } from '../../../src/packages/ntlm/package.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SECPKG_ATTR } from '../../../src/sspi/flags.js';
import { SecurityStatus, statusName } from '../../../src/sspi/status.js';
import { realAuthority } from '../../fixtures/authority.js';

const PASSWORD = 'Passw0rd';
const FLAGS = ['CONFIDENTIALITY', 'INTEGRITY'] as const;

async function node(ntlm: NtlmConfig = {}): Promise<LsaHost> {
  return createLsa({ domainName: 'EXAMPLE', packages: [negotiatePackage(), ntlmPackage(ntlm), await realAuthority({ alice: PASSWORD }, 'EXAMPLE')] });
}

async function client(h: LsaHost, pkg: string, password = PASSWORD): Promise<SecurityContext> {
  const cc = await Credentials.acquire(h.sspi(), { package: pkg, use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: password } });
  return SecurityContext.client(cc, { target: 'HTTP/web.example.test', flags: [...FLAGS] });
}

async function acceptor(h: LsaHost, pkg: string) {
  const sspi = h.sspi();
  const cred = await Credentials.acquire(sspi, { package: pkg, use: 'inbound' });
  return { sspi, cred, start: () => new AcceptorContext(sspi, cred.handle, 0) };
}

function statusOf(e: unknown): string {
  assert.ok(e instanceof SspiError, String(e));
  return statusName(e.status);
}

for (const pkg of ['NTLM', 'Negotiate']) {
  test(`${pkg}: the first leg on node A, the last on node B, then message protection with B`, async () => {
    const [a, b] = [await node(), await node()];
    const c = await client(a, pkg);
    const onA = await acceptor(a, pkg);
    const onB = await acceptor(b, pkg);
    const ctxA = onA.start();
    const challenge = await ctxA.step((await c.step())!, null);
    assert.ok(challenge && !ctxA.complete);
    const packed = await ctxA.export();
    // The local context went with the export (DELETE_OLD).
    await assert.rejects(ctxA.step(new Uint8Array(8), null), (e) => statusOf(e) === 'SEC_E_INVALID_HANDLE');
    // Only the CHALLENGE's public fields travel: the bytes hold no NT hash, key or password.
    assert.ok(!Buffer.from(packed).includes(Buffer.from(PASSWORD, 'utf16le')));

    const ctxB = await AcceptorContext.import(onB.sspi, onB.cred.handle, 0, pkg, packed);
    const last = await ctxB.step((await c.step(challenge))!, null);
    assert.equal(ctxB.complete, true);
    if (last) assert.equal(await c.step(last), null);
    assert.equal(c.complete, true);
    const names = await ctxB.query<{ sUserName: string }>(SECPKG_ATTR.NAMES);
    assert.equal(names?.sUserName, 'EXAMPLE\\alice');
    const info = await ctxB.query<{ PackageInfo: { Name: string } }>(SECPKG_ATTR.PACKAGE_INFO);
    assert.equal(info?.PackageInfo.Name, 'NTLM');
    await ctxB.delete();
  });

  test(`${pkg}: a wrong password still fails on the node that finishes the handshake`, async () => {
    const [a, b] = [await node(), await node()];
    const c = await client(a, pkg, 'wrong');
    const onA = await acceptor(a, pkg);
    const onB = await acceptor(b, pkg);
    const ctxA = onA.start();
    const challenge = await ctxA.step((await c.step())!, null);
    const ctxB = await AcceptorContext.import(onB.sspi, onB.cred.handle, 0, pkg, await ctxA.export());
    await assert.rejects(ctxB.step((await c.step(challenge!))!, null), (e) => statusOf(e) === 'SEC_E_LOGON_DENIED');
  });
}

test('the AUTHENTICATE answers the parked challenge only: a CHALLENGE from another handshake fails the MIC', async () => {
  const [a, b] = [await node(), await node()];
  const onA = await acceptor(a, 'NTLM');
  const onB = await acceptor(b, 'NTLM');
  const c1 = await client(a, 'NTLM');
  const c2 = await client(a, 'NTLM');
  const x1 = onA.start();
  const x2 = onA.start();
  const ch1 = await x1.step((await c1.step())!, null);
  await x2.step((await c2.step())!, null);
  // The client answers handshake 1; node B is handed handshake 2's state.
  const wrong = await AcceptorContext.import(onB.sspi, onB.cred.handle, 0, 'NTLM', await x2.export());
  await assert.rejects(wrong.step((await c1.step(ch1!))!, null), (e) => ['SEC_E_MESSAGE_ALTERED', 'SEC_E_LOGON_DENIED'].includes(statusOf(e)));
  await x1.delete();
});

test('refusals: finished contexts, the wrong package, expired and garbage state', async () => {
  const h = await node({ contextLifetimeSeconds: 1 });
  const ntlm = await acceptor(h, 'NTLM');
  const nego = await acceptor(h, 'Negotiate');
  const c = await client(h, 'NTLM');
  const x = ntlm.start();
  const challenge = await x.step((await c.step())!, null);
  const packed = await x.export();

  // Bytes from NTLM do not continue under a Negotiate credential.
  await assert.rejects(AcceptorContext.import(nego.sspi, nego.cred.handle, 0, 'Negotiate', packed), (e) => statusOf(e) === 'SEC_E_WRONG_CREDENTIAL_HANDLE');

  // An outbound credential cannot take an acceptor's state.
  const out = await Credentials.acquire(ntlm.sspi, { package: 'NTLM', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: PASSWORD } });
  const r = await ntlm.sspi.ImportPartialSecurityContext(out.handle, packed);
  assert.equal(statusName(r.status), 'SEC_E_WRONG_CREDENTIAL_HANDLE');

  // A finished context leaves through ExportSecurityContext, never as a half-built one.
  const y = await AcceptorContext.import(ntlm.sspi, ntlm.cred.handle, 0, 'NTLM', packed);
  await y.step((await c.step(challenge))!, null);
  assert.equal(y.complete, true);
  await assert.rejects(y.export(), (e) => statusOf(e) === 'SEC_E_INVALID_HANDLE');

  // The package's own lifetime still counts after the trip.
  const c2 = await client(h, 'NTLM');
  const z = ntlm.start();
  await z.step((await c2.step())!, null);
  const late = await z.export();
  await new Promise((r) => setTimeout(r, 1100));
  await assert.rejects(AcceptorContext.import(ntlm.sspi, ntlm.cred.handle, 0, 'NTLM', late), (e) => statusOf(e) === 'SEC_E_CONTEXT_EXPIRED');

  assert.equal(statusName((await ntlm.sspi.ExportPartialSecurityContext({ dwLower: 0n, dwUpper: 12345n }, 0)).status), 'SEC_E_INVALID_HANDLE');
});

test('property: any bytes given to ImportPartialSecurityContext give a defined error status, never a throw or a context', async () => {
  const h = await node();
  const ntlm = await acceptor(h, 'NTLM');
  const nego = await acceptor(h, 'Negotiate');
  const c = await client(h, 'NTLM');
  const x = ntlm.start();
  await x.step((await c.step())!, null);
  const good = await x.export();
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 300, size: 'max' }),
        // Mutations of a real export: flipped bytes and truncations.
        fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, v]) => {
          const m = good.slice();
          m[i] = m[i]! ^ v;
          return m;
        }),
        fc.nat(good.length - 1).map((n) => good.slice(0, n)),
      ),
      fc.boolean(),
      async (bytes, useNego) => {
        const t = useNego ? nego : ntlm;
        const r = await t.sspi.ImportPartialSecurityContext(t.cred.handle, bytes);
        if ((r.status | 0) >= 0) {
          // A flipped byte can land in a field nothing checks (request flags, the NEGOTIATE's
          // version): the context then exists but its CHALLENGE is still the original one.
          assert.ok(r.phContext);
          await t.sspi.DeleteSecurityContext(r.phContext);
          return;
        }
        assert.equal(r.phContext, null);
        assert.ok(statusName(r.status).startsWith('SEC_E_'), statusName(r.status));
      },
    ),
    { numRuns: 300 },
  );
});
