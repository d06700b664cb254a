// The cluster store (src/store/redis.ts) against a Redis that wants a password (requirepass, an ACL
// user) and one that speaks only TLS (a throwaway CA made with openssl here): the right URL
// connects; a wrong or missing password, an untrusted certificate or a missing client
// certificate leave the store not ready with a reason that names the failure, and never the
// password; URL and TLS option mistakes are SEC_E_INVALID_PARAMETER.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRedisStore, type RedisStore, type RedisStoreOptions } from '../../../src/store/redis.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SecurityStatus } from '../../../src/sspi/status.js';
import { createTestCa, startRedis, type RedisServer, type TestCa } from '../../interop/lib/redis.js';
import { sleep } from '../../interop/lib/proc.js';
import { eventually } from '../../interop/lib/poll.js';

const T = { timeout: 60_000 };
// Distinct enough that finding it anywhere is a leak, not a coincidence.
const SECRET = 'Sup3r-s3cret-pw-9417';
const ACL_SECRET = 'acl-pw-5523-Xq';

/** A store with its status reports collected (`told`), closed by the caller. */
function open(options: RedisStoreOptions): { store: RedisStore; told: Array<[boolean, string]> } {
  const told: Array<[boolean, string]> = [];
  const store = createRedisStore({ connectTimeoutMs: 2000, ...options, onStatus: (up, detail) => told.push([up, detail]) });
  return { store, told };
}

/** Parks, takes and replay-checks one key: the store really works through this connection. */
async function roundTrip(s: RedisStore): Promise<void> {
  const key = `k${Math.random().toString(36).slice(2)}`;
  await s.handshakes.park(key, { scheme: 'NTLM', context: Uint8Array.of(1, 2, 3), startedAt: Date.now(), channelBound: false }, 10_000);
  assert.deepEqual([...((await s.handshakes.take(key))!.context as Uint8Array)], [1, 2, 3]);
  assert.equal(await s.replayCache.checkAndStore(key, Date.now() + 10_000), true);
  assert.equal(await s.replayCache.checkAndStore(key, Date.now() + 10_000), false);
}

/** Every way an operation can report: an SspiError whose text holds no password. */
async function failsCleanly(s: RedisStore, secrets: string[]): Promise<string> {
  let message = '';
  await assert.rejects(s.handshakes.take('x'), (e: unknown) => {
    assert.ok(SspiError.is(e, SecurityStatus.SEC_E_INTERNAL_ERROR), String(e));
    message = (e as Error).message;
    return true;
  });
  for (const secret of secrets) assert.ok(!message.includes(secret), message);
  return message;
}

describe('createRedisStore: URL and TLS option checks', () => {
  it('a badly percent-encoded password is SEC_E_INVALID_PARAMETER, and the error does not echo it', () => {
    assert.throws(
      () => createRedisStore({ url: `redis://:${SECRET}%zz@127.0.0.1:6379` }),
      (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER) && !(e as Error).message.includes(SECRET) && !(e as Error).stack!.includes(SECRET),
    );
  });

  it('TLS options with a redis:// URL are SEC_E_INVALID_PARAMETER', () => {
    assert.throws(() => createRedisStore({ url: 'redis://127.0.0.1:6379', tls: { ca: 'x' } }), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
  });

  it("the URL's password is masked in status reports, as written and percent-decoded", T, async () => {
    // The password is the host's address, so the connection error ("connect ECONNREFUSED
    // 127.0.0.1:1") is bound to contain it: the report must not.
    for (const pw of ['127.0.0.1', '%31%32%37.0.0.1']) {
      const { store, told } = open({ url: `redis://:${pw}@127.0.0.1:1` });
      try {
        assert.ok(await eventually(() => told.length > 0), 'the first failure to connect is told');
        const [up, detail] = told[0]!;
        assert.equal(up, false);
        assert.match(detail, /ECONNREFUSED \*\*\*:1/);
        assert.ok(!detail.includes('127.0.0.1'), detail);
      } finally {
        await store.close();
      }
    }
  });
});

describe('createRedisStore against a Redis with a password (requirepass and an ACL user)', () => {
  let redis: RedisServer;
  let authority = '';

  before(async () => {
    redis = await startRedis({ password: SECRET, users: [{ user: 'tslsa', password: ACL_SECRET }] });
    authority = new URL(redis.url).host;
  });
  after(async () => {
    await redis?.stop();
  });

  it('redis://:PASSWORD@ and redis://USER:PASSWORD@ connect; both see the same data', T, async () => {
    const a = open({ url: `redis://:${SECRET}@${authority}`, keyPrefix: 'auth1:' });
    const b = open({ url: `redis://tslsa:${encodeURIComponent(ACL_SECRET)}@${authority}`, keyPrefix: 'auth1:' });
    try {
      assert.ok(await a.store.whenReady(15_000), redis.log());
      assert.ok(await b.store.whenReady(15_000), redis.log());
      await roundTrip(a.store);
      await roundTrip(b.store);
      await a.store.handshakes.park('shared', { scheme: 'NTLM', context: Uint8Array.of(7), startedAt: Date.now(), channelBound: false }, 10_000);
      assert.deepEqual([...((await b.store.handshakes.take('shared'))!.context as Uint8Array)], [7]);
      assert.deepEqual(a.told, [[true, 'connected']]);
    } finally {
      await a.store.close();
      await b.store.close();
    }
  });

  it('a wrong password: never ready, told once with WRONGPASS (no password), operations fail with an SspiError', T, async () => {
    for (const url of [`redis://:not-${SECRET}@${authority}`, `redis://tslsa:not-${ACL_SECRET}@${authority}`]) {
      const { store, told } = open({ url });
      try {
        assert.equal(await store.whenReady(1500), false);
        assert.ok(await eventually(() => told.length > 0), 'the refusal is told');
        assert.equal(told[0]![0], false);
        assert.match(told[0]![1], /WRONGPASS/);
        // It keeps retrying with backoff, but tells the same failure once.
        await sleep(600);
        assert.equal(told.length, 1, JSON.stringify(told));
        await failsCleanly(store, [SECRET, ACL_SECRET]);
        for (const [, d] of told) assert.ok(!d.includes(SECRET) && !d.includes(ACL_SECRET), d);
        assert.equal(store.ready(), false);
      } finally {
        await store.close();
      }
    }
  });

  it('no password at all: the connection is refused command by command (NOAUTH), told, and never passes', T, async () => {
    const { store, told } = open({ url: redis.url });
    try {
      // Redis lets an unauthenticated client connect, so the client reports "ready"...
      await store.whenReady(5000);
      // ...but every command is refused, with Redis' reason in the error.
      const message = await failsCleanly(store, [SECRET]);
      assert.match(message, /NOAUTH|ClientOfflineError/);
      assert.ok(await eventually(() => told.some(([up, d]) => !up && /NOAUTH/.test(d))), JSON.stringify(told));
      assert.equal(store.ready(), false, 'not ready right after a refused command');
      await assert.rejects(Promise.resolve(store.replayCache.checkAndStore('k', Date.now() + 1000)), SspiError);
    } finally {
      await store.close();
    }
  });
});

describe('createRedisStore over TLS (rediss://)', () => {
  let dir = '';
  let ca: TestCa;
  let redis: RedisServer; // TLS, password, client certificates optional
  let mtls: RedisServer; // TLS, client certificates required

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tslsa-redis-tls-'));
    ca = await createTestCa(dir);
    const tls = { cert: ca.serverCert, key: ca.serverKey, ca: ca.ca };
    [redis, mtls] = await Promise.all([startRedis({ password: SECRET, tls: { ...tls, authClients: 'no' } }), startRedis({ tls: { ...tls, authClients: 'yes' } })]);
  });
  after(async () => {
    await redis?.stop();
    await mtls?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('with the CA given (tls.ca) and the password in the URL: connects and works', T, async () => {
    assert.match(redis.url, /^rediss:\/\//);
    const { store, told } = open({ url: `rediss://:${SECRET}@${new URL(redis.url).host}`, tls: { ca: readFileSync(ca.ca) } });
    try {
      assert.ok(await store.whenReady(15_000), `${JSON.stringify(told)}\n${redis.log()}`);
      await roundTrip(store);
    } finally {
      await store.close();
    }
  });

  it('without the CA, or with another CA: not ready, told why (the certificate), operations fail cleanly', T, async () => {
    for (const tls of [undefined, { ca: readFileSync(ca.otherCa) }]) {
      const { store, told } = open({ url: `rediss://:${SECRET}@${new URL(redis.url).host}`, ...(tls ? { tls } : {}) });
      try {
        assert.equal(await store.whenReady(1500), false);
        assert.ok(await eventually(() => told.length > 0));
        assert.match(told[0]![1], /certificate/i);
        await failsCleanly(store, [SECRET]);
      } finally {
        await store.close();
      }
    }
  });

  it('the server name is checked: a name the certificate does not hold is refused', T, async () => {
    const { store, told } = open({ url: redis.url.replace('127.0.0.1', 'localhost'), tls: { ca: readFileSync(ca.ca), servername: 'not-redis.example' } });
    try {
      assert.equal(await store.whenReady(1500), false);
      assert.ok(await eventually(() => told.length > 0));
      assert.match(told[0]![1], /altnames|not-redis/i);
    } finally {
      await store.close();
    }
  });

  it('tls-auth-clients yes: connects with the client certificate (tls.cert, tls.key), not without it', T, async () => {
    const withCert = open({ url: mtls.url, tls: { ca: readFileSync(ca.ca), cert: readFileSync(ca.clientCert), key: readFileSync(ca.clientKey) } });
    const without = open({ url: mtls.url, tls: { ca: readFileSync(ca.ca) } });
    try {
      assert.ok(await withCert.store.whenReady(15_000), `${JSON.stringify(withCert.told)}\n${mtls.log()}`);
      await roundTrip(withCert.store);
      // TLS 1.3: the server's refusal of the missing certificate arrives after the handshake, so
      // the client may see "ready" for a moment; no command ever succeeds.
      await assert.rejects(without.store.handshakes.take('x'), SspiError);
      assert.ok(await eventually(() => without.told.some(([up]) => !up)), JSON.stringify(without.told));
      await assert.rejects(without.store.handshakes.take('x'), SspiError);
    } finally {
      await withCert.store.close();
      await without.store.close();
    }
  });
});
