// A real browser signing on with Kerberos: Debian's Firefox ESR, headless, with a TGT from MIT's
// kinit in its ccache, against `tslsa serve --keytab`. Firefox reaches Kerberos through the system
// GSSAPI (MIT's SPNEGO mechanism), asks the KDC for HTTP/localhost, and sends the token only to
// sites listed in network.negotiate-auth.trusted-uris, as users configure it.
//
//   HTTP: one Negotiate leg, 200 as user@EXAMPLE.TEST with Kerberos; the KDC issued the ticket.
//   Not trusted: Firefox sends nothing and the page stays 401.
//   HTTPS: Firefox 153 puts no channel bindings in its authenticator, so --channel-bindings
//     if-present accepts it unbound and required refuses it with SEC_E_BAD_BINDINGS.
//   Cluster: two nodes sharing Redis behind a per-request balancer; each page load's Negotiate
//     request lands on another node than its first (401) request, and each node signs on a page.
//   Proxy: a forward proxy built on our handler in proxy mode (407): Firefox signs on to it with
//     Kerberos, for a plain request and for the CONNECT of an https origin.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { firefoxProfile, loadInFirefox, requireFirefox, trustCa, type FirefoxProfile } from './lib/firefox.js';
import { logShows, perRequestBalancer, tearDown } from './lib/cluster-http.js';
import { createRealm, type Realm } from './lib/realm.js';
import { createTestCa, startRedis, type RedisServer, type TestCa } from './lib/redis.js';
import { startBrowserProxy } from './lib/browser-proxy.js';
import { accessLines, startServe, type ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 120_000 };
const TRUSTED = { 'network.negotiate-auth.trusted-uris': 'localhost' };

let realm: Realm;
let dir = '';
let ca: TestCa;
let redis: RedisServer | undefined;
const started: ServeProcess[] = [];

async function serve(args: readonly string[] = []): Promise<ServeProcess> {
  const s = await startServe(['--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost', '--store', join(dir, 'accounts.db'), ...args], realm.childEnv());
  started.push(s);
  return s;
}

/** Firefox's environment: the realm's krb5.conf and ccache; gss-ntlmssp kept out of SPNEGO. */
const env = (): NodeJS.ProcessEnv => realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' });

const lines = (s: ServeProcess): string[] => accessLines(s, '/whoami');

/** A page's URL on `base` with the host `localhost` (the name in the SPN and in trusted-uris). */
const onLocalhost = (base: string, path = '/whoami'): string => {
  const u = new URL(path, base);
  u.hostname = 'localhost';
  return u.href;
};

before(async () => {
  requireFirefox();
  realm = await createRealm();
  dir = mkdtempSync(join(tmpdir(), 'tslsa-firefox-'));
  ca = await createTestCa(dir);
  await realm.kinit('user');
});

after(() => tearDown({ nodes: started, redis, realm, dir }));

describe('Firefox ESR (MIT GSSAPI) against tslsa serve --keytab', () => {
  it('HTTP: signs on with Kerberos in one Negotiate leg; the KDC issued the HTTP/localhost ticket to Firefox', T, async () => {
    const s = await serve();
    const kdcBefore = realm.kdcLog().length;
    await loadInFirefox(onLocalhost(s.url), firefoxProfile(dir, TRUSTED), env());
    const log = lines(s);
    assert.equal(log.length, 2, s.stdout());
    assert.match(log[0]!, / 401 - .*no Authorization header/);
    assert.match(log[1]!, / 200 user@EXAMPLE\.TEST Kerberos /);
    assert.match(realm.kdcLog().slice(kdcBefore), /TGS_REQ .*ISSUE: .*user@EXAMPLE\.TEST for HTTP\/localhost@EXAMPLE\.TEST/);
  });

  it('a site missing from trusted-uris gets no ticket: the page stays 401', T, async () => {
    const s = await serve();
    await loadInFirefox(onLocalhost(s.url), firefoxProfile(dir, {}), env());
    const log = lines(s);
    assert.ok(log.length >= 1, s.stdout());
    for (const l of log) assert.match(l, / 401 - .*no Authorization header/);
  });

  it('HTTPS: no channel bindings from Firefox: accepted unbound with if-present, refused (SEC_E_BAD_BINDINGS) with required', T, async () => {
    const tls = ['--tls-cert', ca.serverCert, '--tls-key', ca.serverKey];
    const lax = await serve(tls);
    const strict = await serve([...tls, '--channel-bindings', 'required']);
    const profile: FirefoxProfile = firefoxProfile(dir, TRUSTED);
    await trustCa(profile, ca.ca);
    await loadInFirefox(onLocalhost(lax.url), profile, env());
    assert.match(lines(lax).at(-1)!, / 200 user@EXAMPLE\.TEST Kerberos /, lax.stdout());
    await loadInFirefox(onLocalhost(strict.url), profile, env());
    assert.ok(await logShows(strict, / 401 - .*SEC_E_BAD_BINDINGS .*sent no channel bindings/), strict.stdout());
    assert.doesNotMatch(strict.stdout(), / 200 /);
  });

  it('two nodes sharing Redis behind a per-request balancer: each page load signed on by the other node than the one that sent the 401, both nodes in turn', T, async () => {
    redis = await startRedis();
    const nodes = await Promise.all([serve(['--redis', redis.url]), serve(['--redis', redis.url])]);
    const lb = await perRequestBalancer(nodes);
    try {
      await loadInFirefox(onLocalhost(lb.url), firefoxProfile(dir, TRUSTED), env());
      // One request between the page loads, so that the second page starts on the other node.
      assert.equal((await fetch(`${lb.url}/healthz`)).status, 200);
      await loadInFirefox(onLocalhost(lb.url), firefoxProfile(dir, TRUSTED), env());
      const pages = lb.hops.filter((h) => !h.auth.startsWith('-') || h.status === 401);
      const shown = JSON.stringify(lb.hops);
      assert.deepEqual(pages.map((h) => [h.auth.split(' ')[0], h.status]), [['-', 401], ['Negotiate', 200], ['-', 401], ['Negotiate', 200]], shown);
      assert.notEqual(pages[0]!.node, pages[1]!.node, shown);
      assert.notEqual(pages[2]!.node, pages[3]!.node, shown);
      assert.deepEqual([pages[1]!.node, pages[3]!.node].sort(), [0, 1], `both nodes signed on: ${shown}`);
      for (const n of nodes) assert.match(lines(n).join('\n'), / 200 user@EXAMPLE\.TEST Kerberos /, n.stdout());
    } finally {
      await lb.close();
    }
  });
});

describe('Firefox ESR through a forward proxy in proxy mode (our handler, 407)', () => {
  it('Kerberos to the proxy for a plain origin and for the CONNECT of an https one; the origins see no Proxy-Authorization', T, async () => {
    const p = await startBrowserProxy(realm, ca);
    try {
      const profile = firefoxProfile(dir, {
        'network.proxy.type': 1,
        'network.proxy.http': 'localhost',
        'network.proxy.http_port': p.proxy.port,
        'network.proxy.ssl': 'localhost',
        'network.proxy.ssl_port': p.proxy.port,
        'network.proxy.no_proxies_on': '',
        // Firefox sends localhost and 127.0.0.1 past the proxy unless told otherwise.
        'network.proxy.allow_hijacking_localhost': true,
      });
      await trustCa(profile, ca.ca);
      await loadInFirefox(p.plainPage, profile, env());
      await loadInFirefox(p.tunnelledPage, profile, env());
      p.check();
    } finally {
      await p.close();
    }
  });
});
