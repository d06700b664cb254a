// The cluster store over a Redis on this host's unix socket (unix:///path?db=N&user=U&password=P):
// node-redis reads only redis:// URLs, so createRedisStore turns this one into socket.path,
// database, username and password itself. Against a real redis-server listening on a socket (and
// wanting a password, with an ACL user):
//   two stores over the socket share the replay cache and parked handshakes, in the database asked for
//   a wrong password: said (WRONGPASS) without the password; commands fail with SEC_E_INTERNAL_ERROR
//   Redis killed and started again: fails fast while away, serves again over the recreated socket
//   malformed unix URLs: SEC_E_INVALID_PARAMETER, never quoting the password
//   tslsa serve --redis unix:///...?user=U --redis-password-file F: NTLM legs across two nodes
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { serveCommand } from '../../../src/cli/serve.js';
import { createLsa, type LsaHost } from '../../../src/lsa/host.js';
import { ntlmPackage } from '../../../src/packages/ntlm/package.js';
import { createRedisStore, type RedisStore } from '../../../src/store/redis.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SecurityStatus } from '../../../src/sspi/status.js';
import { addUser, ntlmAcross, PASSWORD, tearDown } from '../../interop/lib/cluster-http.js';
import { eventually } from '../../interop/lib/poll.js';
import { cleanEnv } from '../../interop/lib/realm.js';
import { startRedis, type RedisServer } from '../../interop/lib/redis.js';
import { sink } from './helpers.js';
import { startServe, type ServeProcess } from './serveProcess.js';

const T = { timeout: 120_000 };
// '+', ' ', '&', '=', '%' and '#' mean something in a query: they must arrive as written.
const SECRET = 'Ux+pw &=%2F#7-s3cret';
const ACL_SECRET = 'Acl+unix-9931&s3cret';
const WRONG = 'Wrong-unix-5520-s3cret';
const SECRETS = [SECRET, ACL_SECRET, WRONG, encodeURIComponent(SECRET), encodeURIComponent(ACL_SECRET)];

let dir = '';
let redis: RedisServer;
const stores: RedisStore[] = [];
const nodes: ServeProcess[] = [];
let client: LsaHost | undefined;

const q = encodeURIComponent;
const unixUrl = (params: string): string => `unix://${redis.socketPath}${params ? `?${params}` : ''}`;

function open(url: string, status: Array<[boolean, string]> = []): RedisStore {
  const s = createRedisStore({ url, commandTimeoutMs: 1000, onStatus: (up, detail) => status.push([up, detail]) });
  stores.push(s);
  return s;
}

function assertNoSecret(what: string, text: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${what} holds a password:\n${text}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tslsa-redis-unix-'));
  redis = await startRedis({ password: SECRET, users: [{ user: 'tslsa', password: ACL_SECRET }], unixSocket: true });
});

after(async () => {
  for (const s of stores) await s.close();
  await tearDown({ nodes, ...(client ? { client } : {}), redis, dir });
});

describe('createRedisStore over a unix socket', () => {
  it('two stores (requirepass; an ACL user) share the replay cache and parked handshakes, in database 5', T, async () => {
    const a = open(unixUrl(`db=5&password=${q(SECRET)}`));
    const b = open(unixUrl(`user=tslsa&password=${q(ACL_SECRET)}&db=5`));
    assert.equal(await a.whenReady(10_000), true, redis.log());
    assert.equal(await b.whenReady(10_000), true, redis.log());
    const key = `unix-${Date.now()}`;
    assert.equal(await a.replayCache.checkAndStore(key, Date.now() + 60_000), true, 'first sight');
    assert.equal(await b.replayCache.checkAndStore(key, Date.now() + 60_000), false, 'a replay, seen by the other store');
    await a.handshakes.park('h1', { scheme: 'NTLM', context: Uint8Array.of(1, 2, 3), startedAt: 7, channelBound: false }, 60_000);
    const got = await b.handshakes.take('h1');
    assert.deepEqual(got && { ...got, context: [...(got.context as Uint8Array)] }, { scheme: 'NTLM', context: [1, 2, 3], startedAt: 7, channelBound: false });
    assert.equal(await a.handshakes.take('h1'), null, 'taken once');

    // The keys are in database 5, not 0: read over TCP by a client of our own.
    const raw = createClient({ url: redis.url, password: SECRET });
    raw.on('error', () => undefined);
    await raw.connect();
    try {
      assert.equal(await raw.exists(`tslsa:rc:${key}`), 0, 'not in database 0');
      await raw.select(5);
      assert.equal(await raw.exists(`tslsa:rc:${key}`), 1, 'in database 5');
    } finally {
      raw.destroy();
    }
  });

  it('a wrong password: WRONGPASS said without the password, commands fail with SEC_E_INTERNAL_ERROR', T, async () => {
    const status: Array<[boolean, string]> = [];
    const s = open(unixUrl(`password=${q(WRONG)}`), status);
    assert.equal(await s.whenReady(1500), false);
    assert.ok(await eventually(() => status.some(([up, d]) => !up && /WRONGPASS/.test(d))), JSON.stringify(status));
    await assert.rejects(async () => s.replayCache.checkAndStore('x', Date.now() + 1000), (e: unknown) => e instanceof SspiError && e.status === SecurityStatus.SEC_E_INTERNAL_ERROR && !SECRETS.some((x) => e.message.includes(x)));
    assertNoSecret('status', JSON.stringify(status));
  });

  it('Redis killed: commands fail at once; started again: served over the new socket', T, async () => {
    const s = open(unixUrl(`password=${q(SECRET)}`));
    assert.equal(await s.whenReady(10_000), true);
    await redis.kill();
    assert.ok(await eventually(() => !s.ready()), 'not ready while Redis is away');
    const t0 = Date.now();
    await assert.rejects(async () => s.replayCache.checkAndStore('away', Date.now() + 1000), (e: unknown) => e instanceof SspiError && e.status === SecurityStatus.SEC_E_INTERNAL_ERROR);
    assert.ok(Date.now() - t0 < 1500, 'failed within the command timeout');
    await redis.start();
    assert.ok(await eventually(async () => (await (async () => s.replayCache.checkAndStore(`back-${Math.random()}`, Date.now() + 1000))().catch(() => false)) === true, 15_000), 'serves again');
  });

  it('malformed unix URLs: SEC_E_INVALID_PARAMETER naming the mistake, never the password', () => {
    const cases: Array<[string, RegExp]> = [
      [`unix://somehost/tmp/r.sock?password=${q(SECRET)}`, /takes no host or user/],
      [`unix://tslsa:${q(SECRET)}@localhost/tmp/r.sock`, /takes no host or user/],
      [`unix:///tmp/r.sock?password=${q(SECRET)}#frag`, /#fragment/],
      ['unix:///', /names no socket/],
      ['unix:///tmp/dir/', /names no socket/],
      [`unix:///tmp/r.sock?pass=${q(SECRET)}`, /unknown parameter/],
      [`unix:///tmp/r.sock?password=${q(SECRET)}&password=${q(ACL_SECRET)}`, /gives password twice/],
      ['unix:///tmp/r.sock?db=x', /database number/],
      ['unix:///tmp/r.sock?db=-1', /database number/],
      ['unix:///tmp/r.sock?user=tslsa', /a user but no password/],
      [`unix:///tmp/r.sock?user=&password=${q(SECRET)}`, /empty user/],
      ['unix:///tmp/r.sock?password=', /empty password/],
      ['unix:///tmp/%zz.sock', /percent-encoded/],
      [`ftp://:${q(SECRET)}@host/`, /redis:\/\/, rediss:\/\/ or unix:\/\//],
    ];
    for (const [url, says] of cases) {
      assert.throws(() => createRedisStore({ url }), (e: unknown) => {
        assert.ok(e instanceof SspiError && e.status === SecurityStatus.SEC_E_INVALID_PARAMETER, String(e));
        assert.match(e.message, says, url);
        assertNoSecret(url, e.message);
        return true;
      });
    }
    assert.throws(() => createRedisStore({ url: 'unix:///tmp/r.sock', tls: {} }), /TLS options need a rediss:\/\/ URL/);
  });
});

describe('tslsa serve --redis unix:///...', () => {
  it('?user=tslsa with --redis-password-file on two nodes: NTLM legs across them; the log names the socket, never the password', T, async () => {
    const store = join(dir, 'accounts.db');
    const env = cleanEnv();
    delete env.TSLSA_REDIS_URL;
    await addUser(store, 'EXAMPLE\\alice', PASSWORD, env);
    client = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmPackage()] });
    const pw = join(dir, 'acl.txt');
    writeFileSync(pw, `${ACL_SECRET}\n`, { mode: 0o600 });
    const args = ['--store', store, '--domain', 'EXAMPLE', '--redis', unixUrl('user=tslsa&db=2'), '--redis-password-file', pw];
    const [a, b] = await Promise.all([startServe(args, env), startServe(args, env)]);
    nodes.push(a, b);
    for (const n of [a, b]) {
      assert.ok(n.stderr().includes(`cluster mode, Redis unix://${redis.socketPath})`), n.stderr());
      assert.ok(await eventually(() => n.stderr().includes(`Redis unix://${redis.socketPath} is up`)), n.stderr());
    }
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const { reply: r } = await ntlmAcross(client, x, y);
      assert.equal(r.status, 200, `${r.body}\n${x.stderr()}\n${y.stderr()}`);
      assert.equal((JSON.parse(r.body) as { user: string }).user, 'alice');
    }
    for (const n of [a, b]) {
      assertNoSecret('stdout', n.stdout());
      assertNoSecret('stderr', n.stderr());
    }
  });

  it('a password both in the unix URL and in --redis-password-file: exit 2, saying so, never the password', { timeout: 30_000 }, async () => {
    const pw = join(dir, 'both.txt');
    writeFileSync(pw, `${ACL_SECRET}\n`, { mode: 0o600 });
    const out = sink();
    const err = sink();
    const code = await serveCommand(['--port', '0', '--store', join(dir, 'none.db'), '--redis', unixUrl(`password=${q(SECRET)}`), '--redis-password-file', pw], { stdout: out, stderr: err, env: {}, stopSignal: new Promise(() => {}) });
    assert.equal(code, 2, err.text());
    assert.match(err.text(), /--redis already holds a password/);
    assertNoSecret('stderr', err.text());
    assertNoSecret('stdout', out.text());
  });
});
