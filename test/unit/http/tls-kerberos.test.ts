// Kerberos over HTTPS and what the identity says about channel bindings. The Kerberos acceptor lets
// an authenticator with a zero Bnd through unless bindings are required, so "bindings were handed
// to the acceptor" is not "the client was bound": browsers' GSSAPI (Firefox, Chromium on Linux)
// sends none. The identity reports what the package found.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createFetch } from '../../../src/http/client.js';
import type { Identity } from '../../../src/http/server.js';
import { closeWorld, getWorld, PASSWORD, REALM, USER, type World } from '../../fuzz/negotiate-http-properties.js';
import { selfSigned } from './client-harness.js';
import { loopbackLookup, startServer, type TestServer } from './helpers.js';

let w: World;
let tls: ReturnType<typeof selfSigned>;
const servers: TestServer[] = [];

before(async () => {
  w = await getWorld();
  tls = selfSigned();
});

after(async () => {
  for (const s of servers) await s.close();
  await closeWorld();
});

async function server(channelBindings: 'if-present' | 'required'): Promise<TestServer> {
  const s = await startServer(w.host, { channelBindings }, tls);
  servers.push(s);
  return s;
}

/** One GET with Kerberos (alice@EXAMPLE.TEST) to the SPN's host, bound to the channel or not. */
async function get(s: TestServer, bind: boolean): Promise<{ status: number; body: string }> {
  const f = createFetch({
    lsa: w.host,
    credentials: { user: USER, domain: REALM, password: PASSWORD },
    channelBindings: bind,
    kerberosOnly: true,
    // The certificate names localhost; the SPN's host is web.example.test, on loopback here.
    connect: { ca: tls.cert, checkServerIdentity: () => undefined, lookup: loopbackLookup } as never,
  });
  try {
    const r = await f(`https://web.example.test:${s.port}/`);
    return { status: r.status, body: await r.text() };
  } finally {
    await f.close();
  }
}

describe('Kerberos over https: the identity\'s channelBindings', () => {
  it('if-present: a bound AP-REQ is reported bound, an unbound one passes and is reported unbound', async () => {
    const s = await server('if-present');
    const bound = await get(s, true);
    assert.equal(bound.status, 200, bound.body);
    const b = JSON.parse(bound.body) as Identity;
    assert.deepEqual([b.package, b.channelBindings], ['Kerberos', true]);
    const unbound = await get(s, false);
    assert.equal(unbound.status, 200, unbound.body);
    const u = JSON.parse(unbound.body) as Identity;
    assert.deepEqual([u.package, u.channelBindings], ['Kerberos', false]);
  });

  it('required: an unbound AP-REQ is refused with SEC_E_BAD_BINDINGS, a bound one passes bound', async () => {
    const s = await server('required');
    const n = s.failures.length;
    const unbound = await get(s, false);
    assert.equal(unbound.status, 401);
    assert.equal(s.failures.slice(n).at(-1)?.code, 'SEC_E_BAD_BINDINGS');
    const bound = await get(s, true);
    assert.equal(bound.status, 200, bound.body);
    assert.equal((JSON.parse(bound.body) as Identity).channelBindings, true);
  });
});
