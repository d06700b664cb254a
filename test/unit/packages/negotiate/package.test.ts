// The Negotiate package over the LSA: SPNEGO around NTLM (the only mechanism with no KDC), the
// mechListMIC both ways, the hand-over of the chosen package's context, raw NTLM under
// "Negotiate", server-initiated NegTokenInit2, "Kerberos only", and garbage input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Credentials } from '../../../../src/credentials.js';
import { SecurityContext } from '../../../../src/context.js';
import { createLsa, type LsaHost } from '../../../../src/lsa/host.js';
import type { SecurityPackageModule } from '../../../../src/lsa/types.js';
import { negotiatePackage, type NegotiateConfig } from '../../../../src/packages/negotiate/package.js';
import { NegState, encodeNegTokenResp, parseNegotiationToken, type NegTokenInit, type NegTokenResp } from '../../../../src/packages/negotiate/spnego.js';
import { ntlmPackage } from '../../../../src/packages/ntlm/package.js';
import { NTLMSSP_MECH_OID } from '../../../../src/der/index.js';
import { SECPKG_ATTR, SECPKG_NEGOTIATION } from '../../../../src/sspi/flags.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus, statusName } from '../../../../src/sspi/status.js';
import { realAuthority } from '../../../fixtures/authority.js';

const PASSWORD = 'Passw0rd';

async function host(config: NegotiateConfig = {}, extra: SecurityPackageModule[] = []): Promise<LsaHost> {
  return createLsa({ domainName: 'EXAMPLE', packages: [negotiatePackage(config), ntlmPackage(), await realAuthority({ alice: PASSWORD }, 'EXAMPLE'), ...extra] });
}

async function pair(h: LsaHost, password = PASSWORD) {
  const cc = await Credentials.acquire(h.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: password } });
  const sc = await Credentials.acquire(h.sspi(), { package: 'Negotiate', use: 'inbound' });
  const client = SecurityContext.client(cc, { target: 'HTTP/web.example.test', flags: ['CONFIDENTIALITY', 'INTEGRITY', 'MUTUAL_AUTH'] });
  const server = SecurityContext.server(sc, { flags: ['CONFIDENTIALITY', 'INTEGRITY', 'MUTUAL_AUTH'] });
  return { client, server };
}

async function rejects(p: Promise<unknown>, status: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof SspiError, String(e));
    assert.equal(statusName(e.status), statusName(status));
    return true;
  });
}

test('SPNEGO(NTLM) end to end: NegTokenInit with optimistic NEGOTIATE, mechListMIC both ways, NTLM context handed over', async () => {
  const h = await host();
  const { client, server } = await pair(h);
  const t1 = (await client.step())!;
  const init = parseNegotiationToken(t1) as NegTokenInit;
  assert.equal(init.kind, 'init');
  // No KDC here: the Kerberos package isn't loaded, so NTLM is the only mechanism offered.
  assert.deepEqual(init.mechTypes, [NTLMSSP_MECH_OID]);
  assert.equal(init.mechToken![8], 1);
  const t2 = (await server.step(t1))!;
  const r1 = parseNegotiationToken(t2) as NegTokenResp;
  assert.equal(r1.negState, NegState.accept_incomplete);
  assert.equal(r1.supportedMech, NTLMSSP_MECH_OID);
  assert.equal(r1.responseToken![8], 2);
  const t3 = (await client.step(t2))!;
  const r2 = parseNegotiationToken(t3) as NegTokenResp;
  assert.equal(r2.responseToken![8], 3);
  assert.equal(r2.mechListMIC!.length, 16);
  const t4 = (await server.step(t3))!;
  const r3 = parseNegotiationToken(t4) as NegTokenResp;
  assert.equal(r3.negState, NegState.accept_completed);
  assert.equal(r3.mechListMIC!.length, 16);
  assert.equal(server.complete, true);
  assert.equal(await client.step(t4), null);
  assert.equal(client.complete, true);

  // Message protection runs in NTLM's user-mode half, from a fresh state after the MICs.
  const sealed = client.wrap(new TextEncoder().encode('hello'));
  assert.equal(new TextDecoder().decode(server.unwrap(sealed).message), 'hello');
  const back = server.wrap(new TextEncoder().encode('world'));
  assert.equal(new TextDecoder().decode(client.unwrap(back).message), 'world');
  server.verify(Uint8Array.of(1, 2, 3), client.sign(Uint8Array.of(1, 2, 3)));

  const nego = await server.query<{ PackageInfo: { Name: string }; NegotiationState: number }>(SECPKG_ATTR.NEGOTIATION_INFO);
  assert.equal(nego.PackageInfo.Name, 'NTLM');
  assert.equal(nego.NegotiationState, SECPKG_NEGOTIATION.COMPLETE);
  const names = await server.query<{ sUserName: string }>(SECPKG_ATTR.NAMES);
  assert.equal(names.sUserName, 'EXAMPLE\\alice');
  const pkg = await client.query<{ PackageInfo: { Name: string } }>(SECPKG_ATTR.PACKAGE_INFO);
  assert.equal(pkg.PackageInfo.Name, 'NTLM');
  await client.delete();
  await server.delete();
  await h.shutdown();
});

test('credential NAMES come from the package that holds the credential', async () => {
  const h = await host();
  const cc = await Credentials.acquire(h.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: PASSWORD } });
  assert.equal(await cc.userName(), 'EXAMPLE\\alice');
  await h.shutdown();
});

test('a wrong password is SEC_E_LOGON_DENIED and the acceptor answers negState reject', async () => {
  const h = await host();
  const { client, server } = await pair(h, 'wrong');
  const t2 = (await server.step((await client.step())!))!;
  const t3 = (await client.step(t2))!;
  await rejects(server.step(t3), SecurityStatus.SEC_E_LOGON_DENIED);
  await h.shutdown();
});

test('a tampered mechListMIC is SEC_E_MESSAGE_ALTERED on either side', async () => {
  const h = await host();
  {
    const { client, server } = await pair(h);
    const t2 = (await server.step((await client.step())!))!;
    const t3 = (await client.step(t2))!;
    const r2 = parseNegotiationToken(t3) as NegTokenResp;
    const mic = r2.mechListMIC!.slice();
    mic[15]! ^= 1;
    await rejects(server.step(encodeNegTokenResp({ responseToken: r2.responseToken!, mechListMIC: mic })), SecurityStatus.SEC_E_MESSAGE_ALTERED);
  }
  {
    const { client, server } = await pair(h);
    const t2 = (await server.step((await client.step())!))!;
    const t4 = (await server.step((await client.step(t2))!))!;
    const r3 = parseNegotiationToken(t4) as NegTokenResp;
    const mic = r3.mechListMIC!.slice();
    mic[15]! ^= 1;
    await rejects(client.step(encodeNegTokenResp({ negState: NegState.accept_completed, mechListMIC: mic })), SecurityStatus.SEC_E_MESSAGE_ALTERED);
  }
  {
    // The acceptor completing without the MIC that NTLM owes is refused too (no downgrade by stripping).
    const { client, server } = await pair(h);
    const t2 = (await server.step((await client.step())!))!;
    await server.step((await client.step(t2))!);
    await rejects(client.step(encodeNegTokenResp({ negState: NegState.accept_completed })), SecurityStatus.SEC_E_MESSAGE_ALTERED);
  }
  await h.shutdown();
});

test('raw NTLM under "Negotiate" (older HTTP clients) is served without SPNEGO framing', async () => {
  const h = await host();
  const cc = await Credentials.acquire(h.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: PASSWORD } });
  const sc = await Credentials.acquire(h.sspi(), { package: 'Negotiate', use: 'inbound' });
  const client = SecurityContext.client(cc, { target: 'HTTP/web.example.test', flags: ['CONFIDENTIALITY', 'INTEGRITY'] });
  const server = SecurityContext.server(sc, { flags: ['CONFIDENTIALITY', 'INTEGRITY'] });
  const challenge = (await server.step((await client.step())!))!;
  assert.equal(Buffer.from(challenge.subarray(0, 8)).toString('latin1'), 'NTLMSSP\0');
  assert.equal(await server.step((await client.step(challenge))!), null);
  assert.equal(server.complete, true);
  assert.equal(new TextDecoder().decode(server.unwrap(client.wrap(new TextEncoder().encode('raw'))).message), 'raw');
  await h.shutdown();
});

test('server-initiated NegTokenInit2 carries hints, and the client answers it', async () => {
  const h = await host({ hintName: 'not_defined_in_RFC4178@please_ignore' });
  const { client, server } = await pair(h);
  const hint = (await server.step(new Uint8Array(0)))!;
  const init2 = parseNegotiationToken(hint) as NegTokenInit;
  assert.deepEqual(init2.negHints, { hintName: 'not_defined_in_RFC4178@please_ignore' });
  assert.deepEqual(init2.mechTypes, [NTLMSSP_MECH_OID]);
  // The client ignores the hint token's content and starts normally.
  const t1 = (await client.step())!;
  const t2 = (await server.step(t1))!;
  const t4 = (await server.step((await client.step(t2))!))!;
  assert.equal(await client.step(t4), null);
  assert.equal(server.complete && client.complete, true);
  await h.shutdown();
});

test('"Kerberos only" never offers or accepts NTLM', async () => {
  const h = await host({ allowNtlm: false });
  await assert.rejects(Credentials.acquire(h.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: PASSWORD } }), SspiError);
  const open = await host();
  const { client } = await pair(open);
  const t1 = (await client.step())!;
  await assert.rejects(Credentials.acquire(h.sspi(), { package: 'Negotiate', use: 'inbound' }), SspiError);
  void t1;
  await h.shutdown();
  await open.shutdown();
});

test('an acceptor that supports none of the offered mechanisms rejects', async () => {
  const h = await host();
  const sc = await Credentials.acquire(h.sspi(), { package: 'Negotiate', use: 'inbound' });
  const server = SecurityContext.server(sc, {});
  const { encodeNegTokenInit } = await import('../../../../src/packages/negotiate/spnego.js');
  await rejects(server.step(encodeNegTokenInit({ mechTypes: ['1.2.3.4'] })), SecurityStatus.SEC_E_LOGON_DENIED);
  await h.shutdown();
});

test('property: random and mutated tokens into the acceptor and the initiator give defined SEC_E_* statuses only', async () => {
  const h = await host();
  const { client: c0, server: s0 } = await pair(h);
  const t1 = (await c0.step())!;
  const t2 = (await s0.step(t1))!;
  const t3 = (await c0.step(t2))!;
  const seeds = [t1, t2, t3];
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([s, flips]) => {
    const b = s.slice();
    for (const [i, v] of flips) b[i % b.length] = v;
    return b;
  });
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 120, size: 'max' }), mutated), fc.boolean(), async (bytes, asAcceptor) => {
      const { client, server } = await pair(h);
      try {
        if (asAcceptor) await server.step(bytes);
        else {
          await client.step();
          await client.step(bytes);
        }
      } catch (e) {
        assert.ok(e instanceof SspiError, String(e));
        assert.notEqual(e.status, SecurityStatus.SEC_E_INTERNAL_ERROR, statusName(e.status));
        assert.match(statusName(e.status), /^SEC_E_/);
      } finally {
        await client.delete();
        await server.delete();
      }
    }),
    { numRuns: 150 },
  );
  await h.shutdown();
});
