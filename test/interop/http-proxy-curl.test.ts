// curl through a forward proxy signed on by our handler in proxy mode (407, Proxy-Authenticate):
// --proxy-ntlm and --proxy-negotiate (tickets from a private MIT realm, service HTTP@localhost, the
// proxy's host) to a plain origin (absolute-form requests) and to an https origin (CONNECT, NTLM's
// legs as successive CONNECTs on one connection, then the TLS tunnel).
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AuthFailure, type Authenticator, createAuthenticator } from '../../src/http/server.js';
import type { LsaHost } from '../../src/lsa/host.js';
import { selfSigned } from '../unit/http/client-harness.js';
import { type EchoOrigin, type ForwardProxy, startEchoOrigin, startForwardProxy } from '../unit/http/forward-proxy.js';
import { createRealm, type Realm } from './lib/realm.js';
import { describeFailure, requireBinary, run } from './lib/proc.js';
import { ALICE_PASSWORD, serverLsa } from './lib/server-lsa.js';

let realm: Realm;
let dir = '';
let host: LsaHost;
let auth: Authenticator;
let proxy: ForwardProxy;
let origin: EchoOrigin;
let tlsOrigin: https.Server;
let tlsOriginUrl = '';
const failures: AuthFailure[] = [];

before(async () => {
  requireBinary('curl');
  realm = await createRealm();
  dir = mkdtempSync(join(tmpdir(), 'tslsa-proxy-curl-'));
  host = await serverLsa(realm);
  auth = createAuthenticator({ host, proxy: true, principal: 'HTTP/localhost', onFailure: (_req, f) => failures.push(f) });
  proxy = await startForwardProxy(auth);
  origin = await startEchoOrigin();
  const tls = selfSigned();
  tlsOrigin = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ tls: true, url: req.url, proxyAuthorization: req.headers['proxy-authorization'] ?? null }));
  });
  await new Promise<void>((r) => tlsOrigin.listen(0, '127.0.0.1', r));
  tlsOriginUrl = `https://localhost:${(tlsOrigin.address() as AddressInfo).port}`;
});

after(async () => {
  await proxy?.close();
  await origin?.close();
  if (tlsOrigin) {
    tlsOrigin.closeAllConnections();
    await new Promise<void>((r) => tlsOrigin.close(() => r()));
  }
  await auth?.close();
  await host?.shutdown();
  if (realm) await realm.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function curl(url: string, args: string[]) {
  const r = await run('curl', ['-s', '-S', '-k', '-v', '-o', join(dir, 'body'), '-w', '%{http_code}', '-x', `http://localhost:${proxy.port}`, ...args, url], {
    env: realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }),
    timeoutMs: 20_000,
  });
  if (r.code !== 0) throw new Error(describeFailure(r));
  return { status: Number(r.stdout.slice(-3)), body: readFileSync(join(dir, 'body'), 'utf8'), stderr: r.stderr };
}

const NTLM = ['--proxy-ntlm', '-U', `EXAMPLE\\alice:${ALICE_PASSWORD}`];
const NEGOTIATE = ['--proxy-negotiate', '-U', ':'];

describe('curl through a forward proxy in proxy mode', () => {
  it('--proxy-ntlm to a plain origin: 407 first, then the origin answers and sees no Proxy-Authorization', async () => {
    const before = proxy.identities.length;
    const r = await curl(`${origin.url}/plain`, NTLM);
    assert.equal(r.status, 200, `${r.stderr}\n${JSON.stringify(failures)}`);
    const j = JSON.parse(r.body) as { url: string; proxyAuthorization: string | null };
    assert.equal(j.url, '/plain');
    assert.equal(j.proxyAuthorization, null);
    assert.deepEqual(proxy.identities.slice(before).map((i) => [i.name, i.package]), [['EXAMPLE\\alice', 'NTLM']]);
    assert.match(r.stderr, /HTTP\/1\.1 407/);
  });

  it('--proxy-ntlm to an https origin: NTLM over CONNECT, then TLS through the tunnel', async () => {
    const tunnels = proxy.tunnels.length;
    const r = await curl(`${tlsOriginUrl}/secret`, NTLM);
    assert.equal(r.status, 200, `${r.stderr}\n${JSON.stringify(failures)}`);
    assert.deepEqual(JSON.parse(r.body), { tls: true, url: '/secret', proxyAuthorization: null });
    assert.equal(proxy.tunnels.length, tunnels + 1);
    assert.equal(proxy.identities.at(-1)?.name, 'EXAMPLE\\alice');
    assert.match(r.stderr, /CONNECT localhost:\d+/);
  });

  it('--proxy-negotiate with a TGT: Kerberos for HTTP@localhost, to a plain origin and through CONNECT', async () => {
    await realm.kinit('user');
    const plain = await curl(`${origin.url}/k`, NEGOTIATE);
    assert.equal(plain.status, 200, `${plain.stderr}\n${JSON.stringify(failures)}`);
    assert.equal(proxy.identities.at(-1)?.name, `user@${realm.realm}`);
    assert.equal(proxy.identities.at(-1)?.package, 'Kerberos');
    const tunnelled = await curl(`${tlsOriginUrl}/k`, NEGOTIATE);
    assert.equal(tunnelled.status, 200, `${tunnelled.stderr}\n${JSON.stringify(failures)}`);
    assert.equal(proxy.identities.at(-1)?.package, 'Kerberos');
    assert.doesNotMatch(plain.stderr + tunnelled.stderr, /gss_init_sec_context\(\) failed/);
  });

  it('a wrong password: 407 from the proxy, and curl reports it', async () => {
    const r = await curl(`${origin.url}/x`, ['--proxy-ntlm', '-U', 'EXAMPLE\\alice:wrong']);
    assert.equal(r.status, 407);
    assert.equal(failures.at(-1)?.code, 'SEC_E_LOGON_DENIED');
  });
});
