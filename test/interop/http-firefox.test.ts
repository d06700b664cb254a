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
//   NTLM (its own module, the password answered at its prompt over WebDriver BiDi): NTLMv2
//     without MIC or channel bindings (tshark), a wrong password refused and asked again,
//     required bindings refusing it over HTTPS, and its legs split across two Redis nodes.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { firefoxProfile, loadInFirefox, requireFirefox, trustCa, type FirefoxProfile } from './lib/firefox.js';
import { startBidiFirefox, type BidiFirefox, type FirefoxPage } from './lib/firefox-bidi.js';
import { captureWhile, dissectHttp } from './lib/capture.js';
import { addUser, logShows, PASSWORD, perRequestBalancer, tearDown } from './lib/cluster-http.js';
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

// Firefox's own NTLM (its generic module: Linux has no system NTLM for it) asks the user for a
// password; it never takes one from the URL for a scheme whose identity has a domain. Its prompt
// is answered over WebDriver BiDi (lib/firefox-bidi.ts), as a user typing at it would.
describe('Firefox ESR with its own NTLM (the password typed at its prompt) against tslsa serve', () => {
  const NTLM_FIELDS = ['ntlmssp.messagetype', 'ntlmssp.auth.username', 'ntlmssp.auth.domain', 'ntlmssp.ntlmv2_response.ntproofstr', 'ntlmssp.ntlmv2_response.flags', 'ntlmssp.authenticate.mic'] as const;
  const alice = [{ username: 'alice', password: PASSWORD }];
  // Its JSON viewer off, so that the page's text is the document.
  const ntlmProfile = (): FirefoxProfile => firefoxProfile(dir, { 'devtools.jsonview.enabled': false });
  const browsers: BidiFirefox[] = [];
  const firefox = async (profile: FirefoxProfile): Promise<BidiFirefox> => {
    const b = await startBidiFirefox(profile, env());
    browsers.push(b);
    return b;
  };
  before(() => addUser(join(dir, 'accounts.db'), 'alice', PASSWORD, realm.childEnv()));
  after(async () => {
    for (const b of browsers) await b.close();
  });

  /** The identity the page shows (Firefox's text of the /whoami document). */
  const shown = (page: FirefoxPage): Record<string, unknown> => {
    try {
      return JSON.parse(page.text) as Record<string, unknown>;
    } catch {
      throw new Error(`not the /whoami document: ${page.text.slice(0, 300)}`);
    }
  };

  it('HTTP: one prompt, then NTLMv2 in three legs (no MIC, no MsvAvFlags, no domain: tshark); the page shows alice', T, async () => {
    const s = await serve();
    const b = await firefox(ntlmProfile());
    const { value: page, pcap } = await captureWhile(s.port, dir, () => b.load(onLocalhost(s.url), alice));
    assert.equal(page.prompts, 1);
    const j = shown(page);
    assert.deepEqual([j.name, j.package, j.scheme, j.channelBindings], ['alice', 'NTLM', 'NTLM', false]);
    const auth = (await dissectHttp(pcap, NTLM_FIELDS)).filter((m) => m['ntlmssp.messagetype'] === '0x00000003');
    assert.equal(auth.length, 1, JSON.stringify(auth));
    const a = auth[0] as Record<(typeof NTLM_FIELDS)[number], string>;
    assert.deepEqual([a['ntlmssp.auth.username'], a['ntlmssp.auth.domain']], ['alice', 'NULL']);
    assert.match(a['ntlmssp.ntlmv2_response.ntproofstr'], /^[0-9a-f]{32}$/, 'an NTLMv2 response');
    // Unlike Chromium's, Firefox's AUTHENTICATE carries neither MsvAvFlags nor a MIC.
    assert.deepEqual([a['ntlmssp.ntlmv2_response.flags'], a['ntlmssp.authenticate.mic']], ['', '']);
    const log = lines(s);
    assert.equal(log.length, 3, s.stdout());
    assert.match(log[0]!, / 401 - .*no Authorization header/);
    assert.match(log[1]!, / 401 - /);
    assert.match(log[2]!, / 200 alice NTLM /);
  });

  it('a wrong password: refused (SEC_E_LOGON_DENIED); Firefox asks again, and a cancel leaves the 401 page', T, async () => {
    const s = await serve();
    const page = await (await firefox(ntlmProfile())).load(onLocalhost(s.url), [{ username: 'alice', password: 'wrong' }]);
    assert.equal(page.prompts, 2);
    assert.match(page.text, /Authentication required/);
    const log = lines(s);
    assert.match(log.at(-1)!, / 401 - .*SEC_E_LOGON_DENIED/, s.stdout());
    assert.doesNotMatch(s.stdout(), / 200 /);
  });

  it('HTTPS: no channel bindings in its NTLMv2 either: accepted unbound with if-present, refused (SEC_E_BAD_BINDINGS) with required', T, async () => {
    const tls = ['--tls-cert', ca.serverCert, '--tls-key', ca.serverKey];
    const lax = await serve(tls);
    const strict = await serve([...tls, '--channel-bindings', 'required']);
    const profile = ntlmProfile();
    await trustCa(profile, ca.ca);
    const b = await firefox(profile);
    const ok = await b.load(onLocalhost(lax.url), alice);
    assert.deepEqual([shown(ok).name, shown(ok).channelBindings], ['alice', false]);
    // A new site, a new prompt (the same answer): the strict node refuses it.
    const refused = await b.load(onLocalhost(strict.url), alice);
    assert.match(refused.text, /Authentication required/);
    assert.match(lines(strict).join('\n'), / 401 - .*SEC_E_BAD_BINDINGS/, strict.stdout());
    assert.doesNotMatch(strict.stdout(), / 200 /);
  });

  it('two nodes sharing Redis behind a per-request balancer: NEGOTIATE and AUTHENTICATE on different nodes, Firefox carrying the handshake cookie', T, async () => {
    redis ??= await startRedis();
    const nodes = await Promise.all([serve(['--redis', redis.url]), serve(['--redis', redis.url])]);
    const lb = await perRequestBalancer(nodes);
    try {
      const page = await (await firefox(ntlmProfile())).load(onLocalhost(lb.url), alice);
      assert.equal(shown(page).name, 'alice');
      // The page's two legs; its /favicon.ico, asked for once the page has loaded, may follow
      // with a handshake of its own on the other node.
      const legs = lb.hops.filter((h) => h.ntlm !== 0).slice(0, 2);
      const hops = JSON.stringify(lb.hops);
      assert.deepEqual(legs.map((h) => [h.ntlm, h.status]), [[1, 401], [3, 200]], hops);
      assert.notEqual(legs[0]!.node, legs[1]!.node, hops);
    } finally {
      await lb.close();
    }
  });
});
