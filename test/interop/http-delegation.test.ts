// Kerberos delegation over HTTP (the "double hop"), against a private MIT realm where HTTP/localhost
// is OK-AS-DELEGATE: a client that delegates its TGT (our client's `delegate`, which as Windows
// honours that flag; curl --delegation always) signs on to a front
// server whose handler has `delegation: true`; the front server calls a backend as that user with
// the delegated ccache (createFetch({ credentials: { ccache } })), getting a service ticket from
// MIT's KDC with the forwarded TGT. The ccache file lives until the front response is finished.
// Chromium and Firefox delegate through MIT's GSSAPI when their delegation settings name the site
// (Chromium also by KDC policy: only to an OK-AS-DELEGATE service).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createFetch, type NegotiateClientOptions, type NegotiateFetch } from '../../src/http/client.js';
import { type Authenticator, createAuthenticator, type Identity } from '../../src/http/server.js';
import type { LsaHost } from '../../src/lsa/host.js';
import { createRealm, type Realm } from './lib/realm.js';
import { describeFailure, requireBinary, run } from './lib/proc.js';
import { serverLsa } from './lib/server-lsa.js';
import { startForwardProxy } from '../unit/http/forward-proxy.js';
import { jsonOf, loadPage, requireChromium, type LoadOptions } from './lib/chromium.js';
import { firefoxProfile, loadInFirefox, requireFirefox } from './lib/firefox.js';
import { RawHttpConnection } from '../unit/http/helpers.js';
import { tslsa } from '../unit/http/serveProcess.js';
import { ASC_RET } from '../../src/sspi/flags.js';

const T = { timeout: 60_000 };

interface Front {
  url: string;
  /** What the front handler saw: the identity's delegated ccache name (or null), per request. */
  seen: Array<string | null>;
  /** What it answered, per signed-on request. */
  answers: FrontAnswer[];
  close(): Promise<void>;
}

let realm: Realm;
let host: LsaHost;
let ccDir: string;
const closers: Array<() => Promise<void>> = [];
let backendUrl = '';

async function listen(auth: Authenticator, handle: (id: Identity, req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer({ maxHeaderSize: 96 * 1024 }, (req, res) => {
    void auth.authenticate(req, res).then(async (id) => {
      if (id) await handle(id, req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // "localhost" in the URL: clients ask for HTTP/localhost, the realm's keytab principal.
  const url = `http://localhost:${(server.address() as AddressInfo).port}`;
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await auth.close();
  };
  closers.push(close);
  return { url, close };
}

/** The front server: with `delegation`, it calls the backend as the client with the delegated credentials. */
async function front(delegation: boolean): Promise<Front> {
  const seen: Array<string | null> = [];
  const answers: FrontAnswer[] = [];
  const auth = createAuthenticator({ host, principal: 'HTTP/localhost', delegation });
  const { url, close } = await listen(auth, async (id, _req, res) => {
    seen.push(id.delegated?.ccache ?? null);
    let backend: unknown = null;
    if (id.delegated) {
      const f = createFetch({ lsa: host, credentials: { ccache: id.delegated.ccache }, packages: ['Negotiate'] });
      try {
        const r = await f(`${backendUrl}/`);
        backend = { status: r.status, body: r.status === 200 ? await r.json() : await r.text() };
      } catch (e) {
        backend = { error: String(e) };
      } finally {
        await f.close();
      }
    }
    const answer = { name: id.name, delegated: id.delegated?.principal ?? null, backend } as FrontAnswer;
    answers.push(answer);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
  return { url, seen, answers, close };
}

/** Our client as `user` (password, so a forwardable TGT from the AS exchange), over Negotiate. */
function userFetch(extra: Partial<NegotiateClientOptions> = {}): NegotiateFetch {
  return createFetch({ lsa: host, credentials: { user: 'user', domain: realm.realm, password: realm.passwords.user! }, packages: ['Negotiate'], ...extra });
}

/** The front server's answer: who signed on, whose credentials were delegated, and the backend's reply. */
interface FrontAnswer {
  name: string;
  delegated: string | null;
  backend: { status: number; body: { name: string; package: string } } | null;
}

/** One GET to the front server with our client. */
async function viaFront(f: Front, extra: Partial<NegotiateClientOptions> = {}): Promise<FrontAnswer> {
  const client = userFetch(extra);
  try {
    const r = await client(`${f.url}/`);
    assert.equal(r.status, 200);
    return (await r.json()) as FrontAnswer;
  } finally {
    await client.close();
  }
}

/** A first Negotiate leg from `user` that asks to delegate; `done` frees its context and credential. */
async function delegatingToken(): Promise<{ header: string; done(): Promise<void> }> {
  const cred = await Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: 'user', Domain: realm.realm, Password: realm.passwords.user! } });
  const ctx = SecurityContext.client(cred, { target: 'HTTP/localhost', flags: ['MUTUAL_AUTH', 'DELEGATE'] });
  const header = `Negotiate ${Buffer.from((await ctx.step())!).toString('base64')}`;
  return {
    header,
    async done() {
      await ctx.delete();
      await cred.free();
    },
  };
}

/** Polls until the file is gone (or about a second passed); whether it still exists. */
async function stillThere(path: string): Promise<boolean> {
  for (let i = 0; i < 50 && existsSync(path); i++) await new Promise((r) => setTimeout(r, 20));
  return existsSync(path);
}

/** The ccache files the Kerberos package keeps in the delegation directory. */
const ccacheFiles = (): string[] => readdirSync(ccDir);

/** Waits for the front response's 'close' to have removed its ccache. */
async function settled(): Promise<void> {
  for (let i = 0; i < 50 && ccacheFiles().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
}

before(async () => {
  requireBinary('curl');
  realm = await createRealm();
  ccDir = mkdtempSync(join(realm.dir, 'delegated-'));
  // The realm trusts the service for delegation, so our client (as Windows) forwards its TGT there.
  await realm.kadmin('modprinc +ok_as_delegate HTTP/localhost');
  host = await serverLsa(realm, { delegatedCcacheDir: ccDir });
  const backend = await listen(createAuthenticator({ host, principal: 'HTTP/localhost' }), async (id, _req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ name: id.name, package: id.package }));
  });
  backendUrl = backend.url;
});

after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await host?.shutdown();
  if (realm) await realm.stop();
});

describe('Kerberos delegation through the HTTP handler (MIT KDC)', () => {
  const user = (): string => `user@${realm.realm}`;

  it('our client delegates; the front server calls the backend as the user; the ccache is gone after the response', T, async () => {
    const f = await front(true);
    const a = await viaFront(f, { delegate: true });
    assert.deepEqual([a.name, a.delegated], [user(), user()]);
    assert.deepEqual(a.backend, { status: 200, body: { name: user(), package: 'Kerberos' } });
    assert.match(f.seen[0]!, /^FILE:/);
    await settled();
    assert.deepEqual(ccacheFiles(), [], 'the delegated ccache was removed once the response finished');
  });

  it('a client that does not delegate: no delegated credentials, nothing written', T, async () => {
    const f = await front(true);
    const a = await viaFront(f);
    assert.deepEqual([a.name, a.delegated, a.backend], [user(), null, null]);
    assert.deepEqual(f.seen, [null]);
    assert.deepEqual(ccacheFiles(), []);
  });

  it('a handler without `delegation`: a delegating client signs on, and its TGT is dropped at once', T, async () => {
    const f = await front(false);
    const a = await viaFront(f, { delegate: true });
    assert.deepEqual([a.name, a.delegated], [user(), null]);
    assert.deepEqual(f.seen, [null]);
    // Deleted with the context before the application ran: nothing was left to clean up later.
    assert.deepEqual(ccacheFiles(), []);
  });

  it('through a Kerberos forward proxy: the origin gets the TGT, the proxy never does', T, async () => {
    const f = await front(true);
    const proxy = await startForwardProxy(createAuthenticator({ host, principal: 'HTTP/localhost', proxy: true, delegation: true }));
    closers.push(() => proxy.close());
    const a = await viaFront(f, { delegate: true, proxy: `http://localhost:${proxy.port}` });
    assert.deepEqual([a.delegated, a.backend?.status], [user(), 200]);
    // The origin's 401 and then the signed-on request: both went through the proxy.
    assert.ok(proxy.identities.length >= 1);
    for (const p of proxy.identities) {
      assert.equal(p.package, 'Kerberos');
      assert.equal(p.delegated, undefined);
      assert.equal(p.contextAttributes & ASC_RET.DELEGATE, 0, 'no TGT went to the proxy');
    }
  });

  it('a client that hangs up before the response: the ccache goes when the response closes', T, async () => {
    let signedOn!: (path: string) => void;
    const gotIt = new Promise<string>((r) => (signedOn = r));
    const auth = createAuthenticator({ host, principal: 'HTTP/localhost', delegation: true });
    // The application holds the response open; the client leaves meanwhile.
    const { url } = await listen(auth, async (id, _req, res) => {
      signedOn(id.delegated!.ccache.slice('FILE:'.length));
      await new Promise((r) => res.once('close', r));
    });
    const t = await delegatingToken();
    try {
      const req = http.request(`${url}/`, { headers: { Authorization: t.header }, agent: false });
      req.on('error', () => undefined);
      req.end();
      const path = await gotIt;
      assert.ok(existsSync(path), 'the ccache is there while the application works');
      req.destroy();
      assert.equal(await stillThere(path), false, 'removed once the response closed');
    } finally {
      await t.done();
    }
  });

  it('an Upgrade (a WebSocket handshake): the ccache lives with the upgraded socket, after the 101, and goes when it closes', T, async () => {
    const auth = createAuthenticator({ host, principal: 'HTTP/localhost', delegation: true });
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    let signedOn!: (path: string) => void;
    const gotIt = new Promise<string>((r) => (signedOn = r));
    const upgraded = new Set<Duplex>();
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => undefined);
      void auth.authenticateUpgrade(req, socket, head).then((r) => {
        if (!r) return;
        signedOn(r.identity.delegated!.ccache.slice('FILE:'.length));
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
        // As a WebSocket server does: read the connection, and close it when the client does.
        upgraded.add(socket);
        socket.resume();
        socket.on('end', () => socket.destroy());
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(async () => {
      for (const u of upgraded) u.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await auth.close();
    });
    const t = await delegatingToken();
    const c = new RawHttpConnection((server.address() as AddressInfo).port);
    try {
      c.send('GET /ws', t.header, 'Upgrade: test\r\nConnection: Upgrade\r\n');
      assert.equal((await c.response()).status, 101);
      const path = await gotIt;
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(existsSync(path), 'still there while the upgraded connection is open');
      c.socket.destroy();
      assert.equal(await stillThere(path), false, 'removed once the socket closed');
    } finally {
      c.socket.destroy();
      await t.done();
    }
  });

  it('tslsa fetch --delegation none|policy|always, as curl: policy follows OK-AS-DELEGATE', T, async () => {
    const f = await front(true);
    const cc = join(realm.dir, 'fetch-fwd.cc');
    await realm.kinit('user', undefined, cc, { args: ['-f'] });
    let stderr = '';
    const fetchAs = async (level: string, ...more: string[]): Promise<FrontAnswer> => {
      const r = await tslsa(['fetch', '--delegation', level, ...more, `${f.url}/`], { env: realm.childEnv({ KRB5CCNAME: `FILE:${cc}` }) });
      if (r.code !== 0) throw new Error(describeFailure(r));
      stderr = r.stderr;
      return JSON.parse(r.stdout) as FrontAnswer;
    };
    try {
      assert.equal((await fetchAs('none', '-v')).delegated, null);
      // -v: the sign-on went over Kerberos, with MIT's ticket, and the AP-REP proved the server.
      assert.equal(stderr, `* signed on to ${new URL(f.url).origin} with Negotiate (Kerberos) for HTTP/localhost: 1 leg, mutual authentication\n`);
      const policy = await fetchAs('policy');
      assert.deepEqual([policy.delegated, policy.backend?.status], [user(), 200]);
      // A service the realm does not trust for delegation: policy keeps the TGT, always sends it.
      // (A fresh ccache: the service ticket cached in the old one still says OK-AS-DELEGATE.)
      await realm.kadmin('modprinc -ok_as_delegate HTTP/localhost');
      await realm.kinit('user', undefined, cc, { args: ['-f'] });
      assert.equal((await fetchAs('policy')).delegated, null);
      const always = await fetchAs('always');
      assert.deepEqual([always.delegated, always.backend?.status, always.backend?.body.name], [user(), 200, user()]);
    } finally {
      await realm.kadmin('modprinc +ok_as_delegate HTTP/localhost');
      rmSync(cc, { force: true });
    }
    const bad = await tslsa(['fetch', '--delegation', 'sometimes', `${f.url}/`], { env: realm.childEnv() });
    assert.deepEqual([bad.code, bad.stderr.includes('--delegation is none, policy or always')], [2, true]);
  });

  it('curl --negotiate --delegation always (MIT GSS, kinit -f): the front server reaches the backend as the user', T, async () => {
    const f = await front(true);
    const cc = join(realm.dir, 'curl-fwd.cc');
    await realm.kinit('user', undefined, cc, { args: ['-f'] });
    const r = await run('curl', ['-s', '-S', '--negotiate', '-u', ':', '--delegation', 'always', `${f.url}/`], {
      env: realm.childEnv({ KRB5CCNAME: `FILE:${cc}`, GSS_MECH_CONFIG: '/dev/null' }),
      timeoutMs: 20_000,
    });
    if (r.code !== 0) throw new Error(describeFailure(r));
    const a = JSON.parse(r.stdout) as FrontAnswer;
    assert.deepEqual([a.name, a.delegated, a.backend?.status, a.backend?.body.name], [user(), user(), 200, user()]);
    await settled();
    assert.deepEqual(ccacheFiles(), []);
    rmSync(cc, { force: true });
  });
});


// The browsers reach Kerberos through MIT's GSSAPI: delegation is their GSS_C_DELEG_FLAG (or, by
// KDC policy, GSS_C_DELEG_POLICY_FLAG), and MIT forwards the TGT in a KRB-CRED that our acceptor
// turns into the front server's ccache. Each load gets a fresh profile and its own kinit -f ccache.
describe('Browsers delegate their TGT to the front server (MIT GSSAPI)', () => {
  const user = (): string => `user@${realm.realm}`;
  const browserCcache = async (name: string): Promise<NodeJS.ProcessEnv> => {
    const cc = join(realm.dir, `${name}.cc`);
    await realm.kinit('user', undefined, cc, { args: ['-f'] });
    return realm.childEnv({ KRB5CCNAME: `FILE:${cc}`, GSS_MECH_CONFIG: '/dev/null' });
  };
  /** Chromium's answer from the front server, as JSON. */
  const chromiumVia = async (f: Front, delegate: LoadOptions['delegate'] | undefined, ccache: string): Promise<FrontAnswer> => {
    const page = await loadPage(`${f.url}/`, { dir: realm.dir, negotiate: true, extra: ['--auth-server-allowlist=localhost'], env: await browserCcache(ccache), ...(delegate ? { delegate } : {}) });
    assert.equal(page.error, null, page.stderr);
    return jsonOf(page) as unknown as FrontAnswer;
  };

  it('Chromium with the delegation allowlist: the front server calls the backend as the user; the ccache goes after the response', T, async () => {
    requireChromium();
    const f = await front(true);
    const a = await chromiumVia(f, { allowlist: 'localhost' }, 'chromium-allow');
    assert.deepEqual([a.name, a.delegated, a.backend?.status, a.backend?.body.name], [user(), user(), 200, user()]);
    assert.match(f.seen[0]!, /^FILE:/);
    await settled();
    assert.deepEqual(ccacheFiles(), []);
  });

  it('Chromium without it (signed on with Kerberos all the same): nothing delegated', T, async () => {
    requireChromium();
    const f = await front(true);
    const a = await chromiumVia(f, undefined, 'chromium-none');
    assert.deepEqual([a.name, a.delegated, a.backend], [user(), null, null]);
    const other = await chromiumVia(f, { allowlist: 'intranet.example.test' }, 'chromium-other');
    assert.deepEqual([other.name, other.delegated], [user(), null]);
  });

  it('Chromium delegating by KDC policy: only to a service the realm marks OK-AS-DELEGATE', T, async () => {
    requireChromium();
    const f = await front(true);
    const byPolicy = { allowlist: 'localhost', byKdcPolicy: true };
    const trusted = await chromiumVia(f, byPolicy, 'chromium-kdc-trusted');
    assert.deepEqual([trusted.delegated, trusted.backend?.status], [user(), 200]);
    await realm.kadmin('modprinc -ok_as_delegate HTTP/localhost');
    try {
      const untrusted = await chromiumVia(f, byPolicy, 'chromium-kdc-untrusted');
      assert.deepEqual([untrusted.name, untrusted.delegated, untrusted.backend], [user(), null, null]);
    } finally {
      await realm.kadmin('modprinc +ok_as_delegate HTTP/localhost');
    }
  });

  it('Firefox with network.negotiate-auth.delegation-uris delegates; without it, it only signs on', T, async () => {
    requireFirefox();
    const f = await front(true);
    const trusted = { 'network.negotiate-auth.trusted-uris': 'localhost' };
    await loadInFirefox(`${f.url}/`, firefoxProfile(realm.dir, { ...trusted, 'network.negotiate-auth.delegation-uris': 'localhost' }), await browserCcache('firefox-deleg'));
    const first = f.answers.splice(0);
    await loadInFirefox(`${f.url}/`, firefoxProfile(realm.dir, trusted), await browserCcache('firefox-plain'));
    // Each load's first answer is its page (a favicon request, if any, comes after it).
    const delegated = first[0];
    assert.deepEqual([delegated?.name, delegated?.delegated, delegated?.backend?.status, delegated?.backend?.body.name], [user(), user(), 200, user()]);
    assert.ok(f.answers.length > 0 && f.answers.every((x) => x.name === user() && x.delegated === null && x.backend === null), JSON.stringify(f.answers));
    await settled();
    assert.deepEqual(ccacheFiles(), []);
  });
});
