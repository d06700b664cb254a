// Cluster mode end to end: two `tslsa serve --redis` processes (same account store, same Redis,
// same keytab from a private MIT realm) behind no balancer but this test, which sends each leg
// where it likes over a new connection, carrying the handshake cookie as a browser would.
//   NTLM: NEGOTIATE to node A, AUTHENTICATE to node B (and swapped); a replayed AUTHENTICATE refused
//   Kerberos: one AP-REQ accepted by A, the same Authorization header refused by B (shared replay cache)
//   no identity kept on a signed-on connection (a balancer may share it between clients)
//   Redis killed: 503 with Retry-After on both nodes (and from /healthz), which stay up; Redis
//   restarted: sign-on works
//   garbage Authorization headers: 400/401 as on one node; bad --redis: usage error
// Tokens come from our own initiators through SSPI (NTLM with a password, Kerberos from the realm).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { negotiatePackage } from '../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { createRealm, type Realm } from './lib/realm.js';
import { startRedis, type RedisServer } from './lib/redis.js';
import { describeFailure, isAlive } from './lib/proc.js';
import { eventually } from './lib/poll.js';
import { addUser, COOKIE, cookieOf, firstLeg, header, logShows, ntlmAcross, PASSWORD, request, tearDown, tokenOf, withNtlmContext } from './lib/cluster-http.js';
import { startServe, tslsa, type ServeProcess } from '../unit/http/serveProcess.js';
import { Client as KeepAliveClient, signOn } from '../unit/http/helpers.js';

const T = { timeout: 120_000 };

let realm: Realm;
let redis: RedisServer;
let dir = '';
let store = '';
let nodeA: ServeProcess;
let nodeB: ServeProcess;
let client: LsaHost;

/** A fresh SPNEGO NegTokenInit carrying a Kerberos AP-REQ for HTTP/localhost (user's password, the realm's KDC). */
async function kerberosHeader(host: LsaHost): Promise<{ header: string; ctx: SecurityContext }> {
  const cred = await Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: 'user', Domain: realm.realm, Password: realm.passwords.user! } });
  const ctx = SecurityContext.client(cred, { target: 'HTTP/localhost', flags: ['MUTUAL_AUTH'] });
  return { header: header('Negotiate', (await ctx.step())!), ctx };
}

/** Polls a whole sign-on (or leg) `f`, every 100 ms, for up to 30 s. */
const eventuallyRequest = (f: () => Promise<boolean>): Promise<boolean> => eventually(f, 30_000, 100);
/** GET /healthz: its status and JSON. */
async function health(n: ServeProcess): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`${n.url}/healthz`);
  return { status: r.status, body: await r.json() };
}

before(async () => {
  [realm, redis] = await Promise.all([createRealm(), startRedis()]);
  dir = mkdtempSync(join(tmpdir(), 'tslsa-http-cluster-'));
  store = join(dir, 'accounts.db');
  await addUser(store, 'EXAMPLE\\alice', PASSWORD, realm.childEnv());
  const args = ['--store', store, '--domain', 'EXAMPLE', '--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost', '--redis', redis.url];
  [nodeA, nodeB] = await Promise.all([startServe(args, realm.childEnv()), startServe(args, realm.childEnv())]);
  client = await createLsa({ domainName: 'EXAMPLE', packages: [negotiatePackage(), kerberosPackage({ krb5Conf: realm.krb5ConfPath, env: realm.childEnv(), kdcTimeoutMs: 10_000 }), ntlmPackage()] });
});

after(() => tearDown({ nodes: [nodeA, nodeB], client, redis, realm, dir }));

describe('two tslsa serve nodes sharing Redis', () => {
  it('both announce cluster mode', () => {
    for (const n of [nodeA, nodeB]) assert.match(n.stderr(), /cluster mode, Redis redis:\/\/127\.0\.0\.1:\d+/);
  });

  it('NTLM: NEGOTIATE to node A, AUTHENTICATE to node B: 200, /whoami names alice, the cookie is cleared', T, async () => {
    const { reply } = await ntlmAcross(client, nodeA, nodeB);
    assert.equal(reply.status, 200, `${reply.body}\nA:${nodeA.stdout()}\nB:${nodeB.stdout()}`);
    const j = JSON.parse(reply.body) as Record<string, unknown>;
    assert.equal(j.user, 'alice');
    assert.equal(j.domain, 'EXAMPLE');
    assert.equal(j.package, 'NTLM');
    assert.match(String(reply.headers['set-cookie']), new RegExp(`^${COOKIE}=; .*Max-Age=0`));
    // Each node saw one leg (the log line is written once the response has gone: wait for it).
    assert.ok(await logShows(nodeA, /GET "\/whoami" 401 /), nodeA.stdout());
    assert.ok(await logShows(nodeB, /GET "\/whoami" 200 EXAMPLE\\alice NTLM/), nodeB.stdout());
  });

  it('NTLM with the legs swapped (B, then A), and SPNEGO/NTLM under Negotiate across nodes', T, async () => {
    const { reply } = await ntlmAcross(client, nodeB, nodeA);
    assert.equal(reply.status, 200, reply.body);
    assert.equal((JSON.parse(reply.body) as { user: string }).user, 'alice');

    const cred = await Credentials.acquire(client.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: PASSWORD } });
    // An IP-address target: Negotiate falls back to NTLM at once (no Kerberos for it).
    const ctx = SecurityContext.client(cred, { target: 'HTTP/127.0.0.1', flags: ['MUTUAL_AUTH'] });
    try {
      let r = await request(nodeA.url, header('Negotiate', (await ctx.step())!));
      const nodes = [nodeB, nodeA];
      for (let leg = 0; r.status === 401 && leg < 4; leg++) {
        const cookie = cookieOf(r);
        assert.ok(cookie, r.body);
        r = await request(nodes[leg % 2]!.url, header('Negotiate', (await ctx.step(tokenOf(r, 'Negotiate')))!), cookie);
      }
      assert.equal(r.status, 200, r.body);
      const j = JSON.parse(r.body) as Record<string, unknown>;
      assert.equal(j.package, 'NTLM');
      assert.equal(j.scheme, 'Negotiate');
      // The accept-completed NegTokenResp (mechListMIC) checks out.
      await ctx.step(tokenOf(r, 'Negotiate'));
    } finally {
      await ctx.delete();
    }
  });

  it('a replayed AUTHENTICATE is refused: with its spent cookie, and under a new handshake on the other node', T, async () => {
    const { reply, auth, cookie } = await ntlmAcross(client, nodeA, nodeB);
    assert.equal(reply.status, 200);
    for (const n of [nodeA, nodeB]) {
      const again = await request(n.url, auth, cookie);
      assert.equal(again.status, 401, 'the parked leg was taken once');
    }
    // A fresh NEGOTIATE from someone else, then the captured AUTHENTICATE: the challenge differs.
    await withNtlmContext(client, {}, async (other) => {
      const r1 = await request(nodeA.url, header('NTLM', (await other.step())!));
      const replay = await request(nodeB.url, auth, cookieOf(r1));
      assert.equal(replay.status, 401);
      assert.ok(await logShows(nodeB, /401 - .*SEC_E_LOGON_DENIED/), nodeB.stdout());
    });
  });

  it('a connection signed on to one node keeps no identity: the next request on it without Authorization gets 401', T, async () => {
    const c = new KeepAliveClient(nodeA.url);
    try {
      const reply = await withNtlmContext(client, {}, (ctx) => signOn(c, ctx, 'NTLM', '/whoami'));
      assert.equal(reply.reply.status, 200);
      assert.equal(reply.legs, 2);
      assert.equal((await c.get('/whoami')).status, 401, 'a balancer may send another client on this connection');
    } finally {
      c.close();
    }
  });

  it('a wrong password across nodes: 401', T, async () => {
    const { reply } = await ntlmAcross(client, nodeA, nodeB, { password: 'not-it' });
    assert.equal(reply.status, 401);
  });

  it('Kerberos: an AP-REQ accepted by node A; the same Authorization header replayed to node B (and A) is refused', T, async () => {
    const { header: h, ctx } = await kerberosHeader(client);
    try {
      const ok = await request(`http://localhost:${nodeA.port}`, h);
      assert.equal(ok.status, 200, `${ok.body}\n${nodeA.stdout()}`);
      const j = JSON.parse(ok.body) as Record<string, unknown>;
      assert.equal(j.user, 'user');
      assert.equal(j.domain, realm.realm);
      assert.equal(j.package, 'Kerberos');
      // Mutual authentication: the AP-REP completes our context.
      assert.equal(await ctx.step(tokenOf(ok, 'Negotiate')), null);
      // Single-leg: no handshake parked, no cookie.
      assert.equal(ok.headers['set-cookie'], undefined);
      const replayB = await request(`http://localhost:${nodeB.port}`, h);
      assert.equal(replayB.status, 401, `node B must refuse the replay:\n${nodeB.stdout()}`);
      const replayA = await request(`http://localhost:${nodeA.port}`, h);
      assert.equal(replayA.status, 401);
    } finally {
      await ctx.delete();
    }
    // A fresh AP-REQ from the same user goes through on B: only the replay was refused.
    const fresh = await kerberosHeader(client);
    try {
      const r = await request(`http://localhost:${nodeB.port}`, fresh.header);
      assert.equal(r.status, 200, r.body);
    } finally {
      await fresh.ctx.delete();
    }
  });

  it('garbage Authorization headers get 400/401 in cluster mode, and the nodes keep serving', T, async () => {
    for (const [h, want] of [
      ['NTLM %%%', 400],
      ['Negotiate', 400],
      ['Negotiate YWJj', 400],
      ['Basic YWxpY2U6UGFzc3cwcmQ=', 401],
      [`NTLM ${'A'.repeat(60_000)}`, 400],
      // an AUTHENTICATE-shaped token with no handshake anywhere
      [header('NTLM', Uint8Array.from([...Buffer.from('NTLMSSP\0'), 3, 0, 0, 0, ...new Array<number>(56).fill(0)])), 401],
    ] as Array<[string, number]>) {
      for (const n of [nodeA, nodeB]) {
        const r = await request(n.url, h, 'AAAAAAAAAAAAAAAAAAAAAA');
        assert.equal(r.status, want, `${h.slice(0, 40)} on ${n.url}`);
      }
    }
    const { reply } = await ntlmAcross(client, nodeB, nodeA);
    assert.equal(reply.status, 200);
  });

  it('Redis killed: 503 with Retry-After on both nodes, which stay up; Redis back on the same port: sign-on works again', T, async () => {
    for (const n of [nodeA, nodeB]) assert.deepEqual(await health(n), { status: 200, body: { status: 'ok', redis: 'up' } });
    await redis.kill();
    for (const n of [nodeA, nodeB]) {
      // The balancer's health check says so too.
      assert.ok(await eventuallyRequest(async () => (await health(n)).status === 503), `${n.url}/healthz answers 503`);
      assert.deepEqual((await health(n)).body, { status: 'unavailable', redis: 'unreachable' });
      assert.ok(await eventuallyRequest(async () => (await firstLeg(client, n)).status === 503), `${n.url} answers 503:\n${n.stdout().slice(-2000)}`);
      const r = await firstLeg(client, n);
      assert.equal(r.status, 503);
      assert.match(String(r.headers['retry-after']), /^\d+$/);
      const krb = await kerberosHeader(client);
      try {
        assert.equal((await request(`http://localhost:${n.port}`, krb.header)).status, 503, 'never accepted without the replay check');
      } finally {
        await krb.ctx.delete();
      }
      // Requests that need no store are answered as ever.
      assert.equal((await request(n.url)).status, 401);
      assert.equal((await request(n.url, 'NTLM %%%')).status, 400);
      assert.ok(isAlive(n.pid), 'the node is still running');
      assert.ok(await logShows(n, /Redis redis:\/\/127\.0\.0\.1:\d+ is unreachable/, 'stderr'), n.stderr());
    }

    await redis.start();
    assert.ok(
      await eventuallyRequest(async () => (await ntlmAcross(client, nodeA, nodeB).catch(() => null))?.reply.status === 200),
      `sign-on resumes after Redis returns:\nA:${nodeA.stdout().slice(-2000)}\nB:${nodeB.stdout().slice(-2000)}`,
    );
    const { reply } = await ntlmAcross(client, nodeB, nodeA);
    assert.equal(reply.status, 200);
    const krb = await kerberosHeader(client);
    try {
      assert.equal((await request(`http://localhost:${nodeB.port}`, krb.header)).status, 200);
    } finally {
      await krb.ctx.delete();
    }
    assert.ok(await logShows(nodeA, /Redis redis:\/\/127\.0\.0\.1:\d+ is up/, 'stderr'), nodeA.stderr());
    for (const n of [nodeA, nodeB]) assert.ok(await eventuallyRequest(async () => (await health(n)).status === 200), `${n.url}/healthz answers 200 again`);
  });
});

describe('tslsa serve --redis at start', () => {
  it('a bad URL is a usage error (exit 2)', T, async () => {
    for (const url of ['http://127.0.0.1:6379', 'nonsense']) {
      const r = await tslsa(['serve', '--port', '0', '--store', store, '--redis', url], { env: realm.childEnv() });
      assert.equal(r.code, 2, describeFailure(r));
      assert.match(r.stderr, /--redis/);
    }
  });

  it('Redis unreachable: starts anyway, says so on stderr, answers 503 to sign-ons', T, async () => {
    const s = await startServe(['--store', store, '--domain', 'EXAMPLE', '--redis', 'redis://127.0.0.1:1'], realm.childEnv());
    try {
      assert.match(s.stderr(), /Redis redis:\/\/127\.0\.0\.1:1 is unreachable/);
      assert.equal((await firstLeg(client, s)).status, 503);
      assert.equal((await request(s.url)).status, 401);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });
});
