// A TLS socket of the Redis store must survive a second 'error' event (node-redis listens once):
// Redis refusing a missing client certificate under TLS 1.3 sends an alert, then resets.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { REDIS_SOCKET_MARK, createRedisStore, guardTlsSockets } from '../../../src/store/redis.js';
import { eventually } from '../../interop/lib/poll.js';
import { createTestCa, startRedis, type RedisServer, type TestCa } from '../../interop/lib/redis.js';

describe('Redis store TLS sockets', () => {
  let dir = '';
  let ca: TestCa;
  let redis: RedisServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tslsa-redis-guard-'));
    ca = await createTestCa(dir);
    redis = await startRedis({ tls: { cert: ca.serverCert, key: ca.serverKey, ca: ca.ca, authClients: 'yes' } });
  });
  after(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a marked socket outlives a second error event; an unmarked one would throw', () => {
    guardTlsSockets();
    const marked = tls.connect({ host: '127.0.0.1', port: redis.port, ca: readFileSync(ca.ca), [REDIS_SOCKET_MARK]: true } as tls.ConnectionOptions);
    const plain = tls.connect({ host: '127.0.0.1', port: redis.port, ca: readFileSync(ca.ca) });
    try {
      for (const s of [marked, plain]) s.once('error', () => {}); // what node-redis does
      marked.emit('error', new Error('alert'));
      marked.emit('error', new Error('ECONNRESET'));
      plain.emit('error', new Error('alert'));
      assert.throws(() => plain.emit('error', new Error('ECONNRESET')), /ECONNRESET/);
    } finally {
      marked.destroy();
      plain.on('error', () => {});
      plain.destroy();
    }
  });

  it('createRedisStore marks the TLS sockets it opens, and a refused client certificate never crashes the process', async () => {
    const seen: boolean[] = [];
    const connect = tls.connect;
    tls.connect = function spy(this: unknown, ...args: unknown[]) {
      const o = args[0] as Record<symbol, unknown> | undefined;
      seen.push(o?.[REDIS_SOCKET_MARK] === true);
      return (connect as (...a: unknown[]) => tls.TLSSocket).apply(this, args);
    } as typeof tls.connect;
    // No client certificate: Redis takes the handshake, then refuses and resets, again and again.
    const store = createRedisStore({ url: redis.url, tls: { ca: readFileSync(ca.ca) }, connectTimeoutMs: 1000, commandTimeoutMs: 500 });
    try {
      let refused = 0;
      for (let i = 0; i < 40; i++) {
        await Promise.all(Array.from({ length: 10 }, (_, j) => Promise.resolve(store.replayCache.checkAndStore(`k${i}-${j}`, Date.now() + 1000)).then(() => assert.fail('Redis accepted a client without a certificate'), () => refused++)));
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(refused, 400);
      // The 400 refusals can all fall on the first socket: node-redis can be left holding it dead
      // (the alert arrives in the same read as the handshake), and then the store's own watchdog
      // starts a fresh client after a few seconds of unanswered commands. Keep asking until then.
      let k = 0;
      await eventually(async () => {
        await Promise.resolve(store.replayCache.checkAndStore(`r${k++}`, Date.now() + 1000)).then(() => assert.fail('Redis accepted a client without a certificate'), () => undefined);
        return seen.length >= 2;
      });
      assert.ok(seen.length >= 2, `reconnected (${seen.length} sockets)`);
      assert.ok(seen.every(Boolean), 'every socket of the store carries the mark');
    } finally {
      tls.connect = connect;
      await store.close();
    }
  });
});
