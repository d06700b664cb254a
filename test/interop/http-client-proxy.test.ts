// Our HTTP client through Apache httpd as a forward proxy that signs its clients on with
// mod_auth_gssapi (MIT Kerberos, 407 / Proxy-Authenticate): to a plain origin in absolute form,
// and to an https origin through a CONNECT tunnel, where the origin (our handler, Kerberos from
// the same realm) then signs the client on again inside the tunnel, bound to its own certificate.
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createFetch, type NegotiateFetch } from '../../src/http/client.js';
import { type AuthFailure, type Authenticator, createAuthenticator } from '../../src/http/server.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { negotiatePackage } from '../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { selfSigned } from '../unit/http/client-harness.js';
import { type EchoOrigin, startEchoOrigin } from '../unit/http/forward-proxy.js';
import { sspiErrorIn } from '../unit/http/helpers.js';
import { startApacheForwardProxy, type ApacheProxy } from './lib/apache-proxy.js';
import { createRealm, type Realm } from './lib/realm.js';
import { ALICE_PASSWORD, serverLsa } from './lib/server-lsa.js';

let realm: Realm;
let apache: ApacheProxy;
let origin: EchoOrigin;
let serverHost: LsaHost;
let auth: Authenticator;
let tlsOrigin: https.Server;
let tlsOriginUrl = '';
let clientLsa: LsaHost;
let fetch: NegotiateFetch;
const failures: AuthFailure[] = [];

before(async () => {
  realm = await createRealm();
  await realm.kinit('user');
  apache = await startApacheForwardProxy(realm.httpKeytab, realm.krb5ConfPath, realm.childEnv());
  origin = await startEchoOrigin();
  serverHost = await serverLsa(realm);
  auth = createAuthenticator({ host: serverHost, principal: 'HTTP/localhost', channelBindings: 'if-present', onFailure: (_req, f) => failures.push(f) });
  const tls = selfSigned();
  tlsOrigin = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    void auth.authenticate(req, res).then((id) => {
      if (!id) return;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name: id.name, package: id.package, channelBindings: id.channelBindings, proxyAuthorization: req.headers['proxy-authorization'] ?? null }));
    });
  });
  await new Promise<void>((r) => tlsOrigin.listen(0, '127.0.0.1', r));
  tlsOriginUrl = `https://localhost:${(tlsOrigin.address() as AddressInfo).port}`;
  clientLsa = await createLsa({ packages: [negotiatePackage(), kerberosPackage({ krb5Conf: realm.krb5ConfPath, env: realm.childEnv(), kdcTimeoutMs: 5000 })] });
  const proxyUrl = apache.url.replace('127.0.0.1', 'localhost');
  fetch = createFetch({ lsa: clientLsa, credentials: 'default', packages: ['Negotiate'], proxy: proxyUrl, connect: { rejectUnauthorized: false } });
});

after(async () => {
  await fetch?.close();
  await clientLsa?.shutdown();
  if (tlsOrigin) {
    tlsOrigin.closeAllConnections();
    await new Promise<void>((r) => tlsOrigin.close(() => r()));
  }
  await auth?.close();
  await serverHost?.shutdown();
  await origin?.close();
  await apache?.stop();
  if (realm) await realm.stop();
});

describe('our client through Apache httpd + mod_auth_gssapi as a forward proxy', () => {
  it('a plain origin: the 407 answered with Kerberos for HTTP/localhost, the request forwarded without Proxy-Authorization', async () => {
    const r = await fetch(`${origin.url}/plain`);
    assert.equal(r.status, 200, `${await r.clone().text()}\n${apache.log()}`);
    const j = (await r.json()) as { url: string; proxyAuthorization: string | null };
    assert.equal(j.url, '/plain');
    assert.equal(j.proxyAuthorization, null);
  });

  it('an https origin: CONNECT signed on to Apache, then TLS to the origin, which signs the client on again bound to its certificate', async () => {
    const r = await fetch(`${tlsOriginUrl}/inside`);
    assert.equal(r.status, 200, `${JSON.stringify(failures)}\n${apache.log()}`);
    assert.deepEqual(await r.json(), { name: `user@${realm.realm}`, package: 'Kerberos', channelBindings: true, proxyAuthorization: null });
  });

  it('NTLM through gss-ntlmssp at the proxy: the legs as CONNECTs on one connection, then the origin signs on with NTLM inside the tunnel', async () => {
    const ntlmProxy = await startApacheForwardProxy(realm.httpKeytab, realm.krb5ConfPath, realm.childEnv(), { ntlmUsers: `EXAMPLE:alice:${ALICE_PASSWORD}\n` });
    const lsa = await createLsa({ packages: [negotiatePackage(), ntlmPackage()] });
    const f = createFetch({ lsa, credentials: { user: 'alice', domain: 'EXAMPLE', password: ALICE_PASSWORD }, packages: ['NTLM'], proxy: ntlmProxy.url, connect: { rejectUnauthorized: false } });
    try {
      const r = await f(`${tlsOriginUrl}/ntlm`);
      assert.equal(r.status, 200, `${JSON.stringify(failures)}\n${ntlmProxy.log()}`);
      assert.deepEqual(await r.json(), { name: 'EXAMPLE\\alice', package: 'NTLM', channelBindings: true, proxyAuthorization: null });
      // A wrong password: the proxy refuses the CONNECT's last leg.
      const bad = createFetch({ lsa, credentials: { user: 'alice', domain: 'EXAMPLE', password: 'wrong' }, packages: ['NTLM'], proxy: ntlmProxy.url, connect: { rejectUnauthorized: false } });
      try {
        await assert.rejects(bad(`${tlsOriginUrl}/ntlm`), (e: unknown) => sspiErrorIn(e)?.code === 'SEC_E_LOGON_DENIED');
      } finally {
        await bad.close();
      }
    } finally {
      await f.close();
      await lsa.shutdown();
      await ntlmProxy.stop();
    }
  });
});
