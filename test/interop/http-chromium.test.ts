// A real browser in front of `tslsa serve`: Debian's Chromium, headless, signing on with its own
// NTLMv2 (net/ntlm, neither Samba's, curl's nor gss-ntlmssp's) from credentials in the URL, as a
// user would type them at its prompt, and with Kerberos through MIT's GSSAPI.
//
//   HTTP: NTLM (Chromium answers the Negotiate + NTLM challenges with NTLM), the identity on /whoami;
//     a live capture read by tshark shows its AUTHENTICATE: NTLMv2 with a MIC
//   HTTPS with --channel-bindings required: Chromium puts the tls-server-end-point binding of the
//     certificate it saw in MsvAvChannelBindings (Extended Protection); the node checks it against
//     its own. Through a TLS-bridging proxy with the node's certificate the bindings still match;
//     through one with another certificate (a relay in the middle) they do not, and the sign-on is
//     refused with SEC_E_BAD_BINDINGS.
//   Cluster: two nodes sharing Redis behind a per-request balancer; Chromium keeps the handshake
//     cookie from the 401 and the AUTHENTICATE leg is finished by the other node.
//   Proxy: a forward proxy built on our handler in proxy mode: Chromium signs on to it with
//     Kerberos, for a plain request and for the CONNECT of an https origin.
//   HTTP/2 (our handler on node:http2 with allowHTTP1): Chromium takes the 401 challenge over
//     HTTP/2, then reconnects over HTTP/1.1 before it sends a token, and signs on there (Kerberos
//     and NTLM).
//
// Kerberos: Chromium on Linux loads GSSAPI only once its profile's local state says a Negotiate
// challenge was seen (lib/chromium.ts seeds it); then, with --auth-server-allowlist and a TGT from
// MIT's kinit, it signs on with Kerberos in one leg. Its GSSAPI path sends no channel bindings, so
// over HTTPS if-present accepts it, reported unbound, and required refuses it.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { captureLoopback, dissectHttp } from './lib/capture.js';
import { jsonOf, loadPage, requireChromium, type LoadOptions, type PageLoad } from './lib/chromium.js';
import { addUser, logShows, PASSWORD, perRequestBalancer, tearDown } from './lib/cluster-http.js';
import { cleanEnv, createRealm, type Realm } from './lib/realm.js';
import { createServerCert, createTestCa, startRedis, type RedisServer, type TestCa } from './lib/redis.js';
import { ALICE_PASSWORD, serverLsa } from './lib/server-lsa.js';
import { type AuthFailure, type Authenticator, createAuthenticator } from '../../src/http/server.js';
import type { LsaHost } from '../../src/lsa/host.js';
import { startForwardProxy, startRecordingOrigin } from '../unit/http/forward-proxy.js';
import { accessLines, startServe, type ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 120_000 };
const AUTH_FIELDS = ['ntlmssp.messagetype', 'ntlmssp.auth.username', 'ntlmssp.ntlmv2_response.ntproofstr', 'ntlmssp.ntlmv2_response.flags', 'ntlmssp.authenticate.mic', 'ntlmssp.ntlmv2_response.target_name'] as const;

let dir = '';
let store = '';
let ca: TestCa;
let redis: RedisServer | undefined;
const started: ServeProcess[] = [];

/** The URL of `path` on `base` with the account in it (Chromium takes it as the first identity to try). */
function withCredentials(base: string, path: string, password = PASSWORD): string {
  const u = new URL(path, base);
  u.username = encodeURIComponent('EXAMPLE\\alice');
  u.password = encodeURIComponent(password);
  return u.href;
}

async function serve(args: readonly string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<ServeProcess> {
  const s = await startServe(['--store', store, '--domain', 'EXAMPLE', ...args], env);
  started.push(s);
  return s;
}

function signedOnAsAlice(page: PageLoad): Record<string, unknown> {
  assert.equal(page.error, null, page.stderr);
  const j = jsonOf(page);
  assert.equal(j.user, 'alice');
  assert.equal(j.domain, 'EXAMPLE');
  assert.equal(j.package, 'NTLM');
  assert.equal(j.scheme, 'NTLM');
  return j;
}

before(async () => {
  requireChromium();
  dir = mkdtempSync(join(tmpdir(), 'tslsa-chromium-'));
  store = join(dir, 'accounts.db');
  await addUser(store, 'EXAMPLE\\alice', PASSWORD, cleanEnv());
  ca = await createTestCa(dir);
});

after(() => tearDown({ nodes: started, redis, dir }));

describe('Chromium against tslsa serve', () => {
  it('HTTP: signs on with NTLMv2 (MIC in the AUTHENTICATE) from the URL\'s credentials; the node logs the 401 challenge, the CHALLENGE leg and the 200', T, async () => {
    const s = await serve([]);
    const cap = await captureLoopback(s.port, dir);
    const page = await loadPage(withCredentials(s.url, '/whoami'), { dir });
    const pcap = await cap.stop();
    const j = signedOnAsAlice(page);
    // tshark's reading of Chromium's AUTHENTICATE: an NTLMv2 response whose MsvAvFlags say a MIC
    // is present (0x2), the MIC itself, and the SPN Chromium names (MsvAvTargetName).
    const auth = (await dissectHttp(pcap, AUTH_FIELDS)).filter((m) => m['ntlmssp.messagetype'] === '0x00000003');
    assert.equal(auth.length, 1, JSON.stringify(auth));
    const a = auth[0] as Record<(typeof AUTH_FIELDS)[number], string>;
    assert.equal(a['ntlmssp.auth.username'], 'alice');
    assert.notEqual(a['ntlmssp.ntlmv2_response.ntproofstr'], '', 'an NTLMv2 response');
    assert.equal(Number(a['ntlmssp.ntlmv2_response.flags']) & 0x2, 0x2, `MsvAvFlags ${a['ntlmssp.ntlmv2_response.flags']}`);
    assert.match(a['ntlmssp.authenticate.mic'], /^[0-9a-f]{32}$/);
    assert.notEqual(a['ntlmssp.authenticate.mic'], '0'.repeat(32));
    assert.match(a['ntlmssp.ntlmv2_response.target_name'], /^HTTP\/127\.0\.0\.1/);
    assert.equal(j.channelBindings, false, 'no TLS, no bindings');
    const log = accessLines(s, '/whoami');
    assert.equal(log.length, 3, s.stdout());
    assert.match(log[0]!, / 401 - .*no Authorization header/);
    assert.match(log[1]!, / 401 - /);
    assert.match(log[2]!, / 200 EXAMPLE\\alice NTLM /);
  });

  it('a wrong password: refused (401, logon failure logged), the page does not load', T, async () => {
    const s = await serve([]);
    const page = await loadPage(withCredentials(s.url, '/whoami', 'not-it'), { dir });
    assert.notEqual(page.error, null, page.dom);
    assert.ok(await logShows(s, / 401 - .*SEC_E_LOGON_DENIED/), s.stdout());
    assert.doesNotMatch(s.stdout(), / 200 EXAMPLE\\alice/);
  });

  it('HTTPS with --channel-bindings required: Chromium binds NTLMv2 to the node\'s certificate and the node accepts it', T, async () => {
    const s = await serve(['--tls-cert', ca.serverCert, '--tls-key', ca.serverKey, '--channel-bindings', 'required']);
    const j = signedOnAsAlice(await loadPage(withCredentials(s.url, '/whoami'), { dir, extra: ['--ignore-certificate-errors'] }));
    assert.equal(j.channelBindings, true, 'the node checked the bindings Chromium sent');
  });

  it('HTTPS behind a TLS-bridging proxy (--behind-proxy): bindings to the proxy\'s certificate pass when it is the node\'s, and are refused (SEC_E_BAD_BINDINGS) when it is another (a relay)', T, async () => {
    // The proxy opens its own upstream connection per request, so the node parks the handshake
    // under its cookie (--behind-proxy) rather than on a connection.
    const s = await serve(['--tls-cert', ca.serverCert, '--tls-key', ca.serverKey, '--channel-bindings', 'required', '--behind-proxy']);
    const pem = (f: string): Buffer => readFileSync(f);
    // A bridge that shows the client the node's own certificate (as Exchange asks of balancers).
    const same = await perRequestBalancer([s], { cert: pem(ca.serverCert), key: pem(ca.serverKey), ca: pem(ca.ca) });
    try {
      const j = signedOnAsAlice(await loadPage(withCredentials(same.url, '/whoami'), { dir, extra: ['--ignore-certificate-errors'] }));
      assert.equal(j.channelBindings, true);
    } finally {
      await same.close();
    }
    // A relay with a certificate of its own: Chromium binds to that one, which the node is not.
    const other = await createServerCert(dir, 'relay');
    const relay = await perRequestBalancer([s], { cert: pem(other.cert), key: pem(other.key), ca: pem(ca.ca) });
    try {
      const page = await loadPage(withCredentials(relay.url, '/whoami'), { dir, extra: ['--ignore-certificate-errors'] });
      assert.notEqual(page.error, null, page.dom);
      assert.ok(await logShows(s, / 401 .*SEC_E_BAD_BINDINGS/), s.stdout());
      assert.deepEqual(relay.hops.filter((h) => h.ntlm === 3).map((h) => h.status), [401], JSON.stringify(relay.hops));
    } finally {
      await relay.close();
    }
  });

  it('two nodes sharing Redis behind a per-request balancer: the NEGOTIATE and AUTHENTICATE legs land on different nodes, 200', T, async () => {
    redis = await startRedis();
    const args = ['--redis', redis.url];
    const nodes = await Promise.all([serve(args), serve(args)]);
    const lb = await perRequestBalancer(nodes);
    try {
      signedOnAsAlice(await loadPage(withCredentials(lb.url, '/whoami'), { dir }));
      // The page's handshake is the first two NTLM legs (Chromium may fetch /favicon.ico after it).
      const legs = lb.hops.filter((h) => h.ntlm !== 0).slice(0, 2);
      assert.deepEqual(legs.map((h) => h.ntlm), [1, 3], JSON.stringify(lb.hops));
      assert.notEqual(legs[0]!.node, legs[1]!.node, 'the AUTHENTICATE went to the other node');
      assert.equal(legs[1]!.status, 200);
    } finally {
      await lb.close();
    }
  });
});

describe('Chromium with Kerberos (MIT GSSAPI) against tslsa serve --keytab', () => {
  let realm: Realm;
  before(async () => {
    realm = await createRealm();
    await realm.kinit('user');
  });
  after(() => realm?.stop());

  const kerberos = (allowlist: string, extra: string[] = []): LoadOptions => ({
    dir,
    negotiate: true,
    extra: [`--auth-server-allowlist=${allowlist}`, ...extra],
    env: realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }),
  });
  const keytabServe = (args: string[] = []): Promise<ServeProcess> =>
    serve(['--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost', ...args], realm.childEnv());

  it('HTTP: signs on with its TGT in one Negotiate leg (HTTP@localhost), as user@EXAMPLE.TEST', T, async () => {
    const s = await keytabServe();
    const page = await loadPage(`http://localhost:${s.port}/whoami`, kerberos('localhost'));
    assert.equal(page.error, null, page.stderr);
    const j = jsonOf(page);
    assert.deepEqual([j.user, j.domain, j.package, j.scheme], ['user', realm.realm, 'Kerberos', 'Negotiate']);
    const log = accessLines(s, '/whoami');
    assert.equal(log.length, 2, s.stdout());
    assert.match(log[0]!, / 401 - .*no Authorization header/);
    assert.match(log[1]!, / 200 user@EXAMPLE\.TEST Kerberos /);
  });

  it('a server outside --auth-server-allowlist gets no ticket (and, without a password, no NTLM either)', T, async () => {
    const s = await keytabServe();
    const page = await loadPage(`http://localhost:${s.port}/whoami`, kerberos('intranet.example.test'));
    assert.notEqual(page.dom.includes('"package": "Kerberos"'), true, page.dom);
    for (const l of accessLines(s, '/whoami')) assert.match(l, / 401 - .*no Authorization header/, s.stdout());
  });

  it('HTTPS: no channel bindings from Chromium\'s GSSAPI path (unlike its NTLM): accepted unbound with if-present, refused (SEC_E_BAD_BINDINGS) with required', T, async () => {
    const tls = ['--tls-cert', ca.serverCert, '--tls-key', ca.serverKey];
    const lax = await keytabServe(tls);
    const page = await loadPage(`https://localhost:${lax.port}/whoami`, kerberos('localhost', ['--ignore-certificate-errors']));
    assert.equal(page.error, null, `${page.stderr}\n${lax.stdout()}`);
    const j = jsonOf(page);
    assert.deepEqual([j.user, j.package, j.channelBindings], ['user', 'Kerberos', false]);
    const strict = await keytabServe([...tls, '--channel-bindings', 'required']);
    const refused = await loadPage(`https://localhost:${strict.port}/whoami`, kerberos('localhost', ['--ignore-certificate-errors']));
    assert.notEqual(refused.error, null, refused.dom);
    assert.ok(await logShows(strict, / 401 - .*SEC_E_BAD_BINDINGS .*sent no channel bindings/), strict.stdout());
  });
});

describe('Chromium against the handler on node:http2 (allowHTTP1), as sites serve browsers', () => {
  let realm: Realm;
  let host: LsaHost;
  let auth: Authenticator;
  let server: http2.Http2SecureServer;
  let base = '';
  const failures: AuthFailure[] = [];
  /** Per request: the HTTP version it came over and whether it carried Authorization. */
  const seen: string[] = [];

  before(async () => {
    realm = await createRealm();
    await realm.kinit('user');
    host = await serverLsa(realm);
    auth = createAuthenticator({ host, principal: 'HTTP/localhost', onFailure: (_req, f) => failures.push(f) });
    server = http2.createSecureServer({ key: readFileSync(ca.serverKey), cert: readFileSync(ca.serverCert), allowHTTP1: true }, (req, res) => {
      if (req.url === '/favicon.ico') return void res.writeHead(404).end();
      seen.push(`${req.httpVersion} ${req.headers.authorization ? req.headers.authorization.split(' ')[0] : '-'}`);
      void auth.authenticate(req, res).then((id) => {
        if (!id) return;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ name: id.name, package: id.package, httpVersion: req.httpVersion }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `https://localhost:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    if (server) await new Promise<void>((r) => server.close(() => r()));
    await auth?.close();
    await host?.shutdown();
    await realm?.stop();
  });

  // Chromium answers a Negotiate or NTLM challenge that came over HTTP/2 by reconnecting over
  // HTTP/1.1 before it sends any token (it keeps connection-based schemes off HTTP/2): the server's
  // own HTTP_1_1_REQUIRED reset is never needed, and the sign-on happens over HTTP/1.1.
  it('Kerberos: the bare request over HTTP/2 gets the challenge; Chromium signs on over HTTP/1.1', T, async () => {
    seen.length = 0;
    const page = await loadPage(`${base}/`, { dir, negotiate: true, extra: ['--auth-server-allowlist=localhost', '--ignore-certificate-errors'], env: realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }) });
    assert.equal(page.error, null, `${page.stderr}\n${JSON.stringify(failures)}`);
    assert.deepEqual(jsonOf(page), { name: `user@${realm.realm}`, package: 'Kerberos', httpVersion: '1.1' });
    assert.deepEqual([...seen], ['2.0 -', '1.1 Negotiate'], 'the bare request over HTTP/2, the token over HTTP/1.1');
  });

  it('NTLM: the same, and the NEGOTIATE and AUTHENTICATE legs over HTTP/1.1', T, async () => {
    seen.length = 0;
    const page = await loadPage(withCredentials(`${base}/`, '/', ALICE_PASSWORD), { dir, extra: ['--ignore-certificate-errors'] });
    assert.equal(page.error, null, `${page.stderr}\n${JSON.stringify(failures)}`);
    assert.deepEqual(jsonOf(page), { name: 'EXAMPLE\\alice', package: 'NTLM', httpVersion: '1.1' });
    assert.equal(seen[0], '2.0 -', JSON.stringify(seen));
    assert.equal(seen.filter((x) => x.startsWith('2.0')).length, 1, JSON.stringify(seen));
    assert.deepEqual(seen.filter((x) => x.endsWith('NTLM')), ['1.1 NTLM', '1.1 NTLM'], JSON.stringify(seen));
  });
});

describe('Chromium through a forward proxy in proxy mode (our handler, 407)', () => {
  it('Kerberos to the proxy (HTTP@localhost, no allowlist needed for a proxy) for a plain origin and for the CONNECT of an https one', T, async () => {
    const realm = await createRealm();
    const host = await serverLsa(realm);
    const failures: AuthFailure[] = [];
    const auth = createAuthenticator({ host, proxy: true, principal: 'HTTP/localhost', onFailure: (_req, f) => failures.push(f) });
    const proxy = await startForwardProxy(auth);
    const plain = await startRecordingOrigin();
    const secure = await startRecordingOrigin({ cert: readFileSync(ca.serverCert), key: readFileSync(ca.serverKey) });
    try {
      await realm.kinit('user');
      // <-loopback> takes localhost out of Chromium's own bypass list, so the origins go through the proxy.
      const opts: LoadOptions = { dir, negotiate: true, extra: [`--proxy-server=http://localhost:${proxy.port}`, '--proxy-bypass-list=<-loopback>', '--ignore-certificate-errors'], env: realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }) };
      const page = await loadPage(`${plain.url}/through-proxy`, opts);
      const tunnelled = await loadPage(`${secure.url}/through-tunnel`, opts);
      const shown = JSON.stringify({ identities: proxy.identities, tunnels: proxy.tunnels, failures });
      assert.equal(page.error, null, `${page.stderr}\n${shown}`);
      assert.equal(tunnelled.error, null, `${tunnelled.stderr}\n${shown}`);
      assert.match(page.dom + tunnelled.dom, /origin/);
      assert.ok(plain.seen.includes('GET /through-proxy without Proxy-Authorization'), `${plain.seen.join('; ')} ${shown}`);
      assert.ok(secure.seen.includes('GET /through-tunnel without Proxy-Authorization'), `${secure.seen.join('; ')} ${shown}`);
      assert.ok(proxy.tunnels.includes(new URL(secure.url).host), shown);
      assert.ok(proxy.identities.length >= 2, shown);
      for (const id of proxy.identities) assert.deepEqual([id.name, id.package], [`user@${realm.realm}`, 'Kerberos'], shown);
      assert.deepEqual(failures.filter((f) => f.reason !== 'no Proxy-Authorization header'), [], shown);
    } finally {
      await proxy.close();
      await plain.close();
      await secure.close();
      await auth.close();
      await host.shutdown();
      await realm.stop();
    }
  });
});
