// `tslsa serve` behind Debian's HAProxy, the load balancer sites put in front of IIS-style NTLM.
// In HTTP mode HAProxy reuses its connections to the servers between clients, but it keeps a
// connection private to its client once a 401 with `WWW-Authenticate: NTLM` or `Negotiate` went
// out on it (not after a 200 that carries a final Negotiate token: a probe server below shows
// both). Hence the server's rule: a connection keeps an identity only after one of its 401s.
//   HTTP mode, the default `http-reuse safe` and `always`, one node with its defaults: alice's and
//   bob's NTLM handshakes at the same time each end as their own user, and a client without
//   credentials gets 401, never another's identity.
//   HTTP mode, two nodes without Redis: a handshake's legs stay on its client's connection, so on
//   one node; both nodes serve.
//   HTTP mode, two nodes with Redis: the same, signed on, and no identity kept (cluster mode: curl's
//   next request on its connection signs on again); with --persist-connection on, curl's
//   signed-on connection keeps its identity, for curl only.
//   TCP mode, two nodes: the signed-on connection keeps its identity for curl's next request.
//   HTTP mode, one node with a keytab: a Negotiate (Kerberos) token sent preemptively, with no 401
//   before it (MIT's initiator; curl --negotiate does so too), signs on, and its connection keeps
//   no identity: HAProxy hands it to the next client.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { cleanEnv, createRealm } from './lib/realm.js';
import { startRedis } from './lib/redis.js';
import { describeFailure, requireBinary, run } from './lib/proc.js';
import { startHaproxy, type HaproxyOptions } from './lib/haproxy.js';
import { logShows } from './lib/cluster-http.js';
import { LOOPBACK } from './lib/ports.js';
import { proxyFixture, USERS, type ProxyFixture } from './lib/proxy-fixture.js';
import type { ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 120_000 };

let f: ProxyFixture;
before(async () => {
  f = await proxyFixture('haproxy', ['haproxy']);
});
after(async () => {
  await f?.close();
});

const node = (args: string[], env?: NodeJS.ProcessEnv): Promise<ServeProcess> => f.node(args, env);
const curl: ProxyFixture['curl'] = (base, user) => f.curl(base, user);
const haproxy = async (upstreams: ReadonlyArray<{ url: string }>, o: HaproxyOptions) => f.own(await startHaproxy(upstreams.map((u) => u.url), o));
const concurrentRounds = (base: string, rounds: number): Promise<void> => f.concurrentRounds(base, rounds);

/**
 * alice, then bob: curl --ntlm with two requests on one connection, both answered as the user.
 * `kept`: the connection kept the identity, so the second request went without Authorization
 * (two NTLM legs in all); otherwise it was challenged and signed on again (four). Then a client
 * without credentials gets 401.
 */
async function twoRequests(base: string, kept: boolean): Promise<void> {
  for (const user of ['alice', 'bob'] as const) {
    const r = await run('curl', ['-s', '-S', '-v', '--ntlm', '-u', `EXAMPLE\\${user}:${USERS[user]}`, `${base}/whoami`, `${base}/whoami`], { env: cleanEnv(), timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeFailure(r));
    assert.match(r.stderr, /Re-using existing connection/);
    assert.equal((r.stderr.match(/^> Authorization: NTLM /gm) ?? []).length, kept ? 2 : 4, r.stderr);
    assert.deepEqual([...r.stdout.matchAll(/"user": "([^"]+)"/g)].map((m) => m[1]), [user, user], r.stdout);
  }
  const anonymous = await curl(base);
  assert.equal(anonymous.status, 401, anonymous.trace);
}

/** The statuses of two requests without credentials on one new client connection. */
async function bareTwice(base: string): Promise<string[]> {
  const r = await run('curl', ['-s', '-S', '-o', '/dev/null', '-o', '/dev/null', '-w', '%{http_code} ', `${base}/whoami`, `${base}/whoami`], { env: cleanEnv(), timeoutMs: 30_000 });
  assert.equal(r.code, 0, describeFailure(r));
  return r.stdout.trim().split(' ');
}

/**
 * A server that answers every request with the server-side port of its connection: a 401 with the
 * bare `challenge` to a request with `X-Challenge`, a 200 with a final Negotiate token to one with
 * `Authorization`, else a plain 200.
 */
async function probe(challenge: string): Promise<string> {
  const s = http.createServer((req, res) => {
    const port = String(req.socket.remotePort);
    if (req.headers['x-challenge']) {
      res.writeHead(401, { 'WWW-Authenticate': challenge, 'Content-Length': String(port.length) });
    } else if (req.headers.authorization) {
      res.writeHead(200, { 'WWW-Authenticate': 'Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg==', 'Content-Length': String(port.length) });
    } else res.writeHead(200, { 'Content-Length': String(port.length) });
    res.end(port);
  });
  f.own({
    stop: () =>
      new Promise<void>((r) => {
        s.close(() => r());
        s.closeAllConnections();
      }),
  });
  await new Promise<void>((r) => s.listen(0, LOOPBACK, r));
  return `http://${LOOPBACK}:${(s.address() as AddressInfo).port}`;
}

/** The ports (at the probe) of curl's requests: one request with `first` headers, then two plain ones on a second client's connection. */
async function portsSeen(base: string, first: string[]): Promise<{ first: string; later: string[] }> {
  const one = await run('curl', ['-s', '-S', ...first.flatMap((h) => ['-H', h]), `${base}/`], { env: cleanEnv(), timeoutMs: 30_000 });
  assert.equal(one.code, 0, describeFailure(one));
  // Two URLs on one connection of curl's: a later request of a client, which HAProxy may send over another's idle connection.
  const two = await run('curl', ['-s', '-S', '-w', ' ', `${base}/`, `${base}/`], { env: cleanEnv(), timeoutMs: 30_000 });
  assert.equal(two.code, 0, describeFailure(two));
  return { first: one.stdout, later: two.stdout.trim().split(/\s+/) };
}

describe('tslsa serve behind HAProxy', () => {
  it('what HAProxy keeps private: a server connection after a 401 with an NTLM or Negotiate challenge, not after a 200 with a Negotiate token', T, async () => {
    // Each case on a balancer of its own, so that the first request's connection is its only idle
    // one, and with `http-reuse always`, so that any next request takes it unless it is private.
    for (const challenge of ['NTLM', 'Negotiate']) {
      const b = await haproxy([{ url: await probe(challenge) }], { mode: 'http', reuse: 'always' });
      const after401 = await portsSeen(b.url, ['X-Challenge: 1']);
      assert.ok(!after401.later.includes(after401.first), `${challenge}: the connection a 401 challenged went to another client: ${JSON.stringify(after401)}`);
    }
    const b = await haproxy([{ url: await probe('Negotiate') }], { mode: 'http', reuse: 'always' });
    const after200 = await portsSeen(b.url, ['Authorization: Negotiate YIIB']);
    // Also the control: the same check can see a connection go to the next client.
    assert.ok(after200.later.includes(after200.first), `a connection after a 200 with a final token is shared: ${JSON.stringify(after200)}`);
  });

  for (const reuse of ['safe', 'always'] as const) {
    it(`HTTP mode, http-reuse ${reuse}, one node with its defaults: concurrent handshakes each end as their own user; no credentials, 401`, T, async () => {
      const n = await node([]);
      const b = await haproxy([n], { mode: 'http', reuse });
      await concurrentRounds(b.url, 5);
      assert.doesNotMatch(b.log(), /\[(ALERT|WARNING)\]/, b.log());
    });
  }

  it('HTTP mode, two nodes without Redis: the legs of each handshake stay on one node; both nodes serve', T, async () => {
    const a = await node([]);
    const c = await node([]);
    const b = await haproxy([a, c], { mode: 'http' });
    await concurrentRounds(b.url, 4);
    for (const x of [a, c]) assert.ok(await logShows(x, /GET "\/whoami" 200 EXAMPLE\\(alice|bob) NTLM/), x.stdout());
  });

  it('HTTP mode, two nodes with Redis: signed on through either node, and no identity kept', T, async () => {
    const redis = (f.redis ??= await startRedis());
    const a = await node(['--redis', redis.url]);
    const c = await node(['--redis', redis.url]);
    const b = await haproxy([a, c], { mode: 'http' });
    await concurrentRounds(b.url, 4);
    for (const x of [a, c]) assert.ok(await logShows(x, /GET "\/whoami" 200 EXAMPLE\\(alice|bob) NTLM/), x.stdout());
    await twoRequests(b.url, false);
  });

  it('HTTP mode, two nodes with Redis and --persist-connection on: the signed-on connection keeps its identity, and only for its client', T, async () => {
    const redis = (f.redis ??= await startRedis());
    const a = await node(['--redis', redis.url, '--persist-connection', 'on']);
    const c = await node(['--redis', redis.url, '--persist-connection', 'on']);
    const b = await haproxy([a, c], { mode: 'http' });
    await twoRequests(b.url, true);
    await concurrentRounds(b.url, 2);
  });

  it('TCP mode, two nodes: a signed-on connection keeps its identity for the next request on it', T, async () => {
    const a = await node([]);
    const c = await node([]);
    const b = await haproxy([a, c], { mode: 'tcp' });
    await twoRequests(b.url, true);
  });

  it('HTTP mode, one node with a keytab: a preemptive Negotiate (Kerberos) sign-on keeps no identity on a connection HAProxy then shares', T, async () => {
    requireBinary('python3');
    const realm = (f.realm = await createRealm());
    await realm.kinit('user');
    const n = await node(['--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost'], realm.childEnv());
    // `always`: the next request of any client takes the idle connection, so the case is certain to
    // arise (under the default `safe` a client's second request may take it, depending on timing).
    const b = await haproxy([n], { mode: 'http', reuse: 'always' });
    // MIT's SPNEGO initiator (python3-gssapi) makes the token; curl sends it on the first request.
    const env = realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' });
    const py = [
      'import base64, gssapi',
      "name = gssapi.Name('HTTP@localhost', gssapi.NameType.hostbased_service)",
      "ctx = gssapi.SecurityContext(name=name, mech=gssapi.OID.from_int_seq('1.3.6.1.5.5.2'), usage='initiate')",
      'print(base64.b64encode(ctx.step()).decode())',
    ].join('\n');
    const token = await run('/usr/bin/python3', ['-c', py], { env, timeoutMs: 30_000 });
    assert.equal(token.code, 0, describeFailure(token));
    const signed = await run('curl', ['-s', '-S', '-H', `Authorization: Negotiate ${token.stdout.trim()}`, `${b.url}/whoami`], { env, timeoutMs: 30_000 });
    assert.equal(signed.code, 0, describeFailure(signed));
    assert.match(signed.stdout, /"user": "user"/, `${signed.stdout}\n${n.stdout()}\n${n.stderr()}`);
    // Another client, two requests on its connection, over the one that just signed on: neither is
    // answered as that user.
    assert.deepEqual(await bareTwice(b.url), ['401', '401'], n.stdout());

    // curl --negotiate (7.88) does the same: it sends its AP-REQ with the first request, and a fresh
    // one with each later request. Then another client's requests over its connection get 401s.
    // curl names the service from the host.
    const url = `${b.url.replace(LOOPBACK, 'localhost')}/whoami`;
    const negotiated = await run('curl', ['-s', '-S', '-v', '--negotiate', '-u', ':', url, url], { env, timeoutMs: 30_000 });
    assert.equal(negotiated.code, 0, describeFailure(negotiated));
    assert.deepEqual([...negotiated.stdout.matchAll(/"user": "([^"]+)"/g)].map((m) => m[1]), ['user', 'user'], `${negotiated.stderr}\n${n.stdout()}`);
    assert.deepEqual(await bareTwice(b.url), ['401', '401'], n.stdout());
  });
});
