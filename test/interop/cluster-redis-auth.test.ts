// Cluster mode against a production-like Redis: a password (requirepass, and an ACL user) and TLS
// only (a throwaway CA made with openssl here), then one that wants client certificates.
//   the right URL (rediss://:PW@ and rediss://USER:PW@, --redis-ca): NTLM legs across two nodes
//   a wrong password, or no --redis-ca: the node starts, says why on stderr, answers 503, stays up
//   --redis-cert/--redis-key for tls-auth-clients yes; the option mistakes are usage errors
//   the password never appears on a node's stdout or stderr
// Tokens come from our own NTLM initiator through SSPI; each leg goes over a new connection,
// carrying the handshake cookie, to the node this test picks.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { cleanEnv } from './lib/realm.js';
import { createTestCa, startRedis, type RedisServer, type TestCa } from './lib/redis.js';
import { describeFailure, isAlive, sleep } from './lib/proc.js';
import { eventually } from './lib/poll.js';
import { addUser, firstLeg, ntlmAcross, PASSWORD, request, tearDown } from './lib/cluster-http.js';
import { startServe, tslsa, type ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 120_000 };
// Distinct enough that finding one anywhere is a leak, not a coincidence.
const SECRET = 'Redis-s3cret-7741-pw';
const ACL_SECRET = 'Acl-s3cret-3390-pw';
const SECRETS = [SECRET, ACL_SECRET];

let dir = '';
let store = '';
let ca: TestCa;
let redis: RedisServer; // TLS only, requirepass SECRET, ACL user tslsa/ACL_SECRET, no client certificates
let client: LsaHost;
const started: ServeProcess[] = [];

async function serve(redisArgs: string[]): Promise<ServeProcess> {
  const s = await startServe(['--store', store, '--domain', 'EXAMPLE', ...redisArgs], cleanEnv());
  started.push(s);
  return s;
}

/** Neither output stream of the node holds a password. */
function assertNoSecret(n: ServeProcess): void {
  for (const secret of SECRETS) {
    assert.ok(!n.stdout().includes(secret), `stdout leaks a password:\n${n.stdout()}`);
    assert.ok(!n.stderr().includes(secret), `stderr leaks a password:\n${n.stderr()}`);
  }
}

const hostPort = (): string => new URL(redis.url).host;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tslsa-cluster-redis-auth-'));
  store = join(dir, 'accounts.db');
  ca = await createTestCa(dir);
  redis = await startRedis({ password: SECRET, users: [{ user: 'tslsa', password: ACL_SECRET }], tls: { cert: ca.serverCert, key: ca.serverKey, ca: ca.ca, authClients: 'no' } });
  await addUser(store, 'EXAMPLE\\alice', PASSWORD, cleanEnv());
  client = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmPackage()] });
});

after(() => tearDown({ nodes: started, client, redis, dir }));

describe('tslsa serve --redis rediss://... with a password and --redis-ca', () => {
  it('node A as the default user (rediss://:PW@), node B as an ACL user (rediss://tslsa:PW@): NTLM legs across the two, both ways', T, async () => {
    assert.match(redis.url, /^rediss:/);
    const [a, b] = await Promise.all([
      serve(['--redis', `rediss://:${SECRET}@${hostPort()}`, '--redis-ca', ca.ca]),
      serve(['--redis', `rediss://tslsa:${ACL_SECRET}@${hostPort()}`, '--redis-ca', ca.ca]),
    ]);
    for (const n of [a, b]) {
      // The server is named, the password is not.
      assert.match(n.stderr(), new RegExp(`cluster mode, Redis rediss://${hostPort().replace(/\./g, '\\.')}\\)`));
      assert.match(n.stderr(), /is up/);
    }
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const { reply: r } = await ntlmAcross(client, x, y);
      assert.equal(r.status, 200, `${r.body}\n${x.stderr()}\n${y.stderr()}`);
      const j = JSON.parse(r.body) as Record<string, unknown>;
      assert.equal(j.user, 'alice');
      assert.equal(j.package, 'NTLM');
    }
    assert.ok(await eventually(() => /200 EXAMPLE\\alice NTLM/.test(a.stdout()) && /200 EXAMPLE\\alice NTLM/.test(b.stdout())), `${a.stdout()}\n${b.stdout()}`);
    assertNoSecret(a);
    assertNoSecret(b);
  });

  it('a wrong password: the node starts, says WRONGPASS on stderr (no password), answers 503 with Retry-After, and stays up', T, async () => {
    const n = await serve(['--redis', `rediss://:not-${SECRET}@${hostPort()}`, '--redis-ca', ca.ca]);
    assert.match(n.stderr(), /Redis rediss:\/\/127\.0\.0\.1:\d+ is unreachable \(WRONGPASS/);
    const r = await firstLeg(client, n);
    assert.equal(r.status, 503, r.body);
    assert.match(String(r.headers['retry-after']), /^\d+$/);
    assert.equal((await request(n.url)).status, 401, 'a request without a token is answered as ever');
    // It keeps retrying with backoff: still up, still refusing, still not leaking.
    await sleep(500);
    assert.equal((await firstLeg(client, n)).status, 503);
    assert.ok(isAlive(n.pid));
    assert.ok(await eventually(() => /GET "\/whoami" 503 /.test(n.stdout())), n.stdout());
    assertNoSecret(n);
  });

  it('the right password but no --redis-ca: the certificate is not trusted; said on stderr, 503, no password anywhere', T, async () => {
    const n = await serve(['--redis', `rediss://tslsa:${ACL_SECRET}@${hostPort()}`]);
    assert.match(n.stderr(), /is unreachable \(.*certificate/i);
    assert.equal((await firstLeg(client, n)).status, 503);
    assertNoSecret(n);
  });

  it('no password at all against requirepass: refused by Redis (NOAUTH), 503 and said on stderr', T, async () => {
    const n = await serve(['--redis', redis.url, '--redis-ca', ca.ca]);
    // Redis lets the connection in, then refuses the first command.
    assert.equal((await firstLeg(client, n)).status, 503);
    assert.ok(await eventually(() => /NOAUTH/.test(n.stderr())), n.stderr());
    assert.equal((await firstLeg(client, n)).status, 503);
  });
});

describe('tslsa serve --redis-cert/--redis-key (Redis with tls-auth-clients yes)', () => {
  let mtls: RedisServer;
  before(async () => {
    mtls = await startRedis({ tls: { cert: ca.serverCert, key: ca.serverKey, ca: ca.ca, authClients: 'yes' } });
  });
  after(async () => {
    await mtls?.stop();
  });

  it('with the client certificate: NTLM legs across two such nodes', T, async () => {
    const args = ['--redis', mtls.url, '--redis-ca', ca.ca, '--redis-cert', ca.clientCert, '--redis-key', ca.clientKey];
    const [a, b] = await Promise.all([serve(args), serve(args)]);
    const { reply: r } = await ntlmAcross(client, a, b);
    assert.equal(r.status, 200, `${r.body}\n${a.stderr()}\n${b.stderr()}\n${mtls.log()}`);
  });

  it('without it: Redis drops the connection; 503 and the node stays up', T, async () => {
    const n = await serve(['--redis', mtls.url, '--redis-ca', ca.ca]);
    assert.ok(await eventually(async () => (await firstLeg(client, n)).status === 503), n.stderr());
    assert.ok(await eventually(() => /is unreachable/.test(n.stderr())), n.stderr());
    // Reconnects go on with backoff, each one refused after the TLS handshake: none is told as "up".
    await sleep(1500);
    assert.doesNotMatch(n.stderr(), /is up/, n.stderr());
    assert.equal(n.stderr().match(/is unreachable/g)?.length, 1, n.stderr());
    assert.doesNotMatch(n.stderr(), /deps\/openssl|rec_layer/, 'an OpenSSL error is told by its reason, not its source line');
    assert.ok(isAlive(n.pid));
  });
});

describe('tslsa serve --redis* option mistakes', () => {
  const cases: Array<{ args: () => string[]; code: number; says: RegExp }> = [
    { args: () => ['--redis', `redis://:${SECRET}@127.0.0.1:6379`, '--redis-ca', ca.ca], code: 2, says: /need a rediss:\/\/ URL/ },
    { args: () => ['--redis-ca', ca.ca], code: 2, says: /need --redis/ },
    { args: () => ['--redis', `rediss://:${SECRET}@127.0.0.1:6379`, '--redis-cert', ca.clientCert], code: 2, says: /--redis-cert and --redis-key go together/ },
    { args: () => ['--redis', `rediss://:${SECRET}@127.0.0.1:6379`, '--redis-ca', join(dir, 'missing.pem')], code: 1, says: /--redis-ca: cannot read .*missing\.pem \(ENOENT\)/ },
    { args: () => ['--redis', `redis://:${SECRET}%zz@127.0.0.1:6379`], code: 2, says: /--redis: .*percent-encoded/ },
  ];
  for (const [i, c] of cases.entries()) {
    it(`case ${i + 1}: exit ${c.code}, says ${c.says.source}, never the password`, T, async () => {
      const r = await tslsa(['serve', '--port', '0', '--store', store, ...c.args()], { env: cleanEnv() });
      assert.equal(r.code, c.code, describeFailure(r));
      assert.match(r.stderr, c.says);
      for (const secret of SECRETS) assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), r.stderr);
    });
  }
});
