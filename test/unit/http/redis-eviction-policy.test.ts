// The cluster's replay cache is only as good as Redis' promise to keep its keys: the store warns
// when maxmemory-policy lets Redis evict them, and stays quiet with the default (noeviction).
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRedisStore } from '../../../src/store/redis.js';
import { startRedis, type RedisServer } from '../../interop/lib/redis.js';

async function warningsOf(url: string): Promise<string[]> {
  const warnings: string[] = [];
  const store = createRedisStore({ url, onWarning: (d) => warnings.push(d) });
  try {
    assert.equal(await store.whenReady(10_000), true, 'redis-server reachable');
    // The check runs right after 'ready': one round trip; a store command after it is answered later.
    await store.replayCache.checkAndStore('probe', Date.now() + 1000);
    await new Promise((r) => setTimeout(r, 50));
    return warnings;
  } finally {
    await store.close();
  }
}

describe('Redis eviction policy check', () => {
  let lru: RedisServer;
  let plain: RedisServer;
  before(async () => {
    lru = await startRedis({ maxmemoryPolicy: 'allkeys-lru' });
    plain = await startRedis();
  });
  after(async () => {
    await lru?.stop();
    await plain?.stop();
  });

  it('warns when Redis may evict replay-cache entries', async () => {
    const w = await warningsOf(lru.url);
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(w[0]!, /maxmemory-policy is allkeys-lru/);
    assert.match(w[0]!, /noeviction/);
  });

  it('says nothing with the default policy', async () => {
    assert.deepEqual(await warningsOf(plain.url), []);
  });
});
