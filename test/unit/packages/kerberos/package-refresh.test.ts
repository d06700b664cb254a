// The Kerberos package keeps one outbound credential handle working past its first TGT's end: the
// initiator's clock (KerberosConfig.initiatorNow) moves beyond the TGT lifetime and the next
// InitializeSecurityContext gets a new TGT from the keytab, then completes with our acceptor.
// The move (150 s past a 120 s TGT) stays inside the acceptor's 300 s clock skew, so the acceptor
// keeps the system clock.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Credentials } from '../../../../src/credentials.js';
import { SecurityContext } from '../../../../src/context.js';
import { createLsa } from '../../../../src/lsa/host.js';
import { kerberosPackage } from '../../../../src/packages/kerberos/package.js';
import { writeKeytabFile } from '../../../../src/packages/kerberos/keytab.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { config, refreshKdc, testClock } from './refresh-fake-kdc.js';

const dir = mkdtempSync(join(tmpdir(), 'tslsa-pkg-refresh-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function signOn(client: SecurityContext, server: SecurityContext): Promise<void> {
  let t = await client.step();
  for (let i = 0; i < 4 && t; i++) {
    const r = await server.step(t);
    if (!r) break;
    t = await client.step(r);
  }
  assert.ok(client.complete && server.complete, 'both sides complete');
}

test('one outbound handle signs on before and after its first TGT expired; the KDC saw a second AS-REQ', async () => {
  const clock = testClock(Date.now());
  const kdc = refreshKdc({ now: clock.now, tgtLifeMs: 120_000, serviceLifeMs: 120_000 });
  const clientKeytab = join(dir, 'alice.keytab');
  const serviceKeytab = join(dir, 'http.keytab');
  writeKeytabFile(clientKeytab, kdc.aliceKeytab());
  writeKeytabFile(serviceKeytab, kdc.serviceKeytab('web.example.test'));
  const host = await createLsa({
    packages: [kerberosPackage({ krb5Conf: config, keytab: serviceKeytab, kdcSend: kdc.send, env: {}, initiatorNow: clock.now })],
  });
  const sspi = host.sspi();
  const out = await Credentials.acquire(sspi, { package: 'Kerberos', use: 'outbound', authData: { keytab: clientKeytab, principal: 'alice' } });
  const inb = await Credentials.acquire(sspi, { package: 'Kerberos', use: 'inbound' });
  try {
    await signOn(SecurityContext.client(out, { target: 'HTTP/web.example.test', flags: ['MUTUAL_AUTH'] }), SecurityContext.server(inb));
    assert.deepEqual({ as: kdc.counts.as, tgs: kdc.counts.tgs }, { as: 1, tgs: 1 });

    clock.advance(150_000);
    await signOn(SecurityContext.client(out, { target: 'HTTP/web.example.test', flags: ['MUTUAL_AUTH'] }), SecurityContext.server(inb));
    assert.equal(kdc.counts.as, 2, 'a new AS exchange with the keytab');
    assert.equal(kdc.counts.tgs, 2, 'the expired service ticket was not reused');

    // With the KDC gone and everything expired, the handle fails with a typed status, not a crash.
    kdc.state.down = true;
    clock.advance(150_000);
    await assert.rejects(SecurityContext.client(out, { target: 'HTTP/web.example.test' }).step(), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY));
  } finally {
    await out.free();
    await inb.free();
  }
});
