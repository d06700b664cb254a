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
//     HTTP/2 and signs on with Kerberos (over HTTP/1.1 in every run seen).
//
// Kerberos: Chromium on Linux loads GSSAPI only once its profile's local state says a Negotiate
// challenge was seen (lib/chromium.ts seeds it); then, with --auth-server-allowlist and a TGT from
// MIT's kinit, it signs on with Kerberos in one leg. Its GSSAPI path sends no channel bindings, so
// over HTTPS if-present accepts it, reported unbound, and required refuses it. `GET /`, the page
// the README promises, shows the signed-on user, realm, package, flags and session end.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { captureWhile, dissectHttp } from './lib/capture.js';
import { jsonOf, loadPage, requireChromium, type LoadOptions, type PageLoad } from './lib/chromium.js';
import { addUser, logShows, PASSWORD, perRequestBalancer, tearDown } from './lib/cluster-http.js';
import { cleanEnv, createRealm, type Realm } from './lib/realm.js';
import { createServerCert, createTestCa, startRedis, type RedisServer, type TestCa } from './lib/redis.js';
import { serverLsa } from './lib/server-lsa.js';
import { type AuthFailure, type Authenticator, createAuthenticator } from '../../src/http/server.js';
import type { LsaHost } from '../../src/lsa/host.js';
import { startHttp2Site, type Http2Site } from './lib/http2-site.js';
import { startBrowserProxy } from './lib/browser-proxy.js';
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
    const { value: page, pcap } = await captureWhile(s.port, dir, () => loadPage(withCredentials(s.url, '/whoami'), { dir }));
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

  it("GET /, the README's page: Chromium shows who signed on (user, realm, package, flags, the ticket's end as the session's)", T, async () => {
    const s = await keytabServe();
    const page = await loadPage(`http://localhost:${s.port}/`, kerberos('localhost'));
    assert.equal(page.error, null, page.stderr);
    const cell = (name: string): string => {
      const m = new RegExp(`<th>${name}</th><td>([^<]*)</td>`).exec(page.dom);
      assert.ok(m, `no ${name} row in the page: ${page.dom.slice(0, 600)}`);
      return m[1]!;
    };
    assert.match(page.dom, /<title>tslsa: user@EXAMPLE\.TEST<\/title>/);
    assert.match(page.dom, /<h1>Hello, user<\/h1>/);
    assert.deepEqual([cell('user'), cell('domain'), cell('package'), cell('channel bindings')], ['user', realm.realm, 'Kerberos (HTTP Negotiate)', 'not checked']);
    assert.match(cell('negotiated flags'), /\bINTEGRITY\b/);
    // The session ends with the service ticket, which the realm issues for 10 hours.
    const ends = Date.parse(cell('session expires'));
    assert.ok(ends > Date.now() + 9 * 3600_000 && ends <= Date.now() + 10 * 3600_000 + 60_000, cell('session expires'));
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
  let site: Http2Site | undefined;
  let base = '';
  const failures: AuthFailure[] = [];
  let seen: string[] = [];

  before(async () => {
    realm = await createRealm();
    await realm.kinit('user');
    host = await serverLsa(realm);
    auth = createAuthenticator({ host, principal: 'HTTP/localhost', onFailure: (_req, f) => failures.push(f) });
    site = await startHttp2Site(auth, { key: readFileSync(ca.serverKey), cert: readFileSync(ca.serverCert) });
    base = site.base;
    seen = site.requests;
  });

  after(async () => {
    await site?.close();
    await auth?.close();
    await host?.shutdown();
    await realm?.stop();
  });

  // Chromium 156 took the challenge of the bare request over HTTP/2 and then, in every run seen,
  // reconnected over HTTP/1.1 before sending its Kerberos token (it keeps connection-based schemes
  // off HTTP/2); a token sent over HTTP/2 would complete there in one leg as well. Either way the
  // token's request is the one that signs on. (With NTLM it was seen sending NEGOTIATE over HTTP/2
  // under load and failing on the HTTP_1_1_REQUIRED reset with ERR_UNEXPECTED: see the README.)
  it('Kerberos: the bare request over HTTP/2 gets the challenge, and the token that follows signs on', T, async () => {
    seen.length = 0;
    const page = await loadPage(`${base}/`, { dir, negotiate: true, extra: ['--auth-server-allowlist=localhost', '--ignore-certificate-errors'], env: realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }) });
    assert.equal(page.error, null, `${page.stderr}\n${JSON.stringify(failures)}`);
    const j = jsonOf(page) as { name: string; package: string; httpVersion: string };
    assert.deepEqual([j.name, j.package], [`user@${realm.realm}`, 'Kerberos']);
    const requests = [...seen];
    assert.equal(requests[0], '2.0 -', JSON.stringify(requests));
    assert.deepEqual(requests.filter((x) => x.endsWith('Negotiate')), [`${j.httpVersion} Negotiate`], JSON.stringify(requests));
  });
});

describe('Chromium through a forward proxy in proxy mode (our handler, 407)', () => {
  it('Kerberos to the proxy (HTTP@localhost, no allowlist needed for a proxy) for a plain origin and for the CONNECT of an https one', T, async () => {
    const realm = await createRealm();
    const p = await startBrowserProxy(realm, ca);
    try {
      await realm.kinit('user');
      // <-loopback> takes localhost out of Chromium's own bypass list, so the origins go through the proxy.
      const opts: LoadOptions = { dir, negotiate: true, extra: [`--proxy-server=http://localhost:${p.proxy.port}`, '--proxy-bypass-list=<-loopback>', '--ignore-certificate-errors'], env: realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }) };
      for (const page of [await loadPage(p.plainPage, opts), await loadPage(p.tunnelledPage, opts)]) {
        assert.equal(page.error, null, page.stderr);
        assert.match(page.dom, /origin/);
      }
      p.check();
    } finally {
      await p.close();
      await realm.stop();
    }
  });
});
