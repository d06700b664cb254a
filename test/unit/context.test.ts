import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createLsa } from '../../src/lsa/host.js';
import { SspiError } from '../../src/sspi/error.js';
import { ISC_RET, SECPKG_ATTR } from '../../src/sspi/flags.js';
import { SecurityStatus } from '../../src/sspi/status.js';
import { TOY_NAME, toyPackage } from './lsa/fixtures/toy.js';

async function pair(password = 'pw') {
  const host = await createLsa({ packages: [toyPackage()] });
  const cred = await Credentials.acquire(host.sspi(), { package: TOY_NAME, use: 'outbound', authData: { User: 'bob', Domain: '', Password: password } });
  const scred = await Credentials.acquire(host.sspi(), { package: TOY_NAME, use: 'inbound', authData: { User: 'bob', Domain: '', Password: 'pw' } });
  const client = SecurityContext.client(cred, { target: 'HTTP/web', flags: ['MUTUAL_AUTH', 'ISC_REQ_CONFIDENTIALITY', 'INTEGRITY'] });
  const server = SecurityContext.server(scred, { flags: ['CONFIDENTIALITY', 'INTEGRITY'] });
  return { host, cred, client, server };
}

async function run(client: SecurityContext, server: SecurityContext) {
  let token = await client.step();
  while (!server.complete) {
    token = await server.step(token!);
    if (token && !client.complete) token = await client.step(token);
    if (client.complete && server.complete) break;
  }
}

describe('idiomatic layer', () => {
  it('steps a handshake and protects messages', async () => {
    const { host, cred, client, server } = await pair();
    assert.equal(await cred.userName(), 'bob');
    await run(client, server);
    assert.ok(client.complete && server.complete);
    assert.ok(client.has(ISC_RET.MUTUAL_AUTH));
    assert.ok(client.flagNames.includes('CONFIDENTIALITY'));
    const m = new TextEncoder().encode('payload');
    const wrapped = client.wrap(m);
    assert.deepEqual(server.unwrap(wrapped), { message: m, encrypted: true });
    assert.deepEqual(server.unwrap(client.wrap(m, { encrypt: false })).encrypted, false);
    const sig = server.sign(m);
    client.verify(m, sig);
    assert.throws(() => client.verify(m, sig), (e: SspiError) => e.code === 'SEC_E_OUT_OF_SEQUENCE');
    const bad = server.sign(m);
    bad[bad.length - 1]! ^= 0xff;
    assert.throws(() => client.verify(m, bad), (e: SspiError) => e.status === SecurityStatus.SEC_E_MESSAGE_ALTERED && e.message.includes('0x8009030F'));
    assert.equal((await server.query<{ sUserName: string }>(SECPKG_ATTR.NAMES)).sUserName, 'bob');
    const exported = await client.export();
    const copy = await SecurityContext.import(host.sspi(), TOY_NAME, exported);
    assert.ok(copy.complete);
    await client.delete();
    assert.throws(() => client.wrap(m), (e: SspiError) => e.code === 'SEC_E_INVALID_HANDLE');
    await host.shutdown();
  });

  it('throws SspiError with the exact code on failure', async () => {
    const { host, client, server } = await pair('wrong');
    await assert.rejects(run(client, server), (e: unknown) => e instanceof SspiError && e.code === 'SEC_E_LOGON_DENIED' && e.status === 0x8009030c);
    await assert.rejects(Credentials.acquire(host.sspi(), { package: 'Missing', use: 'both' }), (e: SspiError) => e.code === 'SEC_E_SECPKG_NOT_FOUND');
    assert.throws(() => SecurityContext.client(client.credentials!, { flags: ['NOT_A_FLAG'] }), (e: SspiError) => e.code === 'SEC_E_INVALID_PARAMETER');
    await host.shutdown();
  });
});
