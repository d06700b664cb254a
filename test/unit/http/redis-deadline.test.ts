// The Redis store's own command deadline (src/store/redis.ts): a Redis that holds its socket open
// but stops answering (SIGSTOP) fails commands after commandTimeoutMs instead of hanging them,
// ready() turns false, and service resumes on SIGCONT; many commands in a burst all settle; close()
// fails what is still waiting.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRedisStore, type RedisStore } from '../../../src/store/redis.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SecurityStatus } from '../../../src/sspi/status.js';
import { startRedis, type RedisServer } from '../../interop/lib/redis.js';
import { sleep } from '../../interop/lib/proc.js';

const T = { timeout: 60_000 };

async function eventually(f: () => boolean | Promise<boolean>, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return true;
    await sleep(25);
  }
  return false;
}

const isStoreFailure = (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INTERNAL_ERROR);

describe('Redis store: command deadline', () => {
  let redis: RedisServer;
  let store: RedisStore;

  before(async () => {
    redis = await startRedis();
    store = createRedisStore({ url: redis.url, keyPrefix: `dl-${process.pid}:`, commandTimeoutMs: 300 });
    assert.ok(await store.whenReady(15_000), 'connected');
  });

  after(async () => {
    await store?.close();
    if (redis?.pid !== undefined) {
      try {
        process.kill(redis.pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await redis?.stop();
  });

  it('a burst of commands all settle, in time and with the right answers', T, async () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `burst-${i}`);
    const first = await Promise.all(keys.map((k) => store.replayCache.checkAndStore(k, Date.now() + 60_000)));
    assert.ok(first.every((v) => v === true));
    const again = await Promise.all(keys.slice(0, 50).map((k) => store.replayCache.checkAndStore(k, Date.now() + 60_000)));
    assert.ok(again.every((v) => v === false));
    assert.equal(store.ready(), true);
  });

  it('Redis stopped (SIGSTOP, socket still open): commands fail after the deadline, not never; SIGCONT: back', T, async () => {
    const pid = redis.pid;
    assert.ok(pid !== undefined);
    await store.handshakes.park('held', { scheme: 'NTLM', context: Uint8Array.of(1, 2, 3), startedAt: Date.now(), channelBound: false }, 60_000);
    process.kill(pid, 'SIGSTOP');
    try {
      const t0 = Date.now();
      const outcomes = await Promise.allSettled([store.handshakes.take('held'), store.replayCache.checkAndStore('stalled', Date.now() + 60_000), store.handshakes.discard('x')]);
      for (const o of outcomes) {
        assert.equal(o.status, 'rejected');
        assert.ok(isStoreFailure((o as PromiseRejectedResult).reason), String((o as PromiseRejectedResult).reason));
        assert.match(String(((o as PromiseRejectedResult).reason as Error).message), /TimeoutError/);
      }
      // Not before the deadline; well before "never" even on a loaded box.
      const took = Date.now() - t0;
      assert.ok(took >= 250 && took < 20_000, `${took} ms`);
      assert.equal(store.ready(), false, 'a timed-out command makes the store not ready for a while');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.ok(await eventually(() => store.ready()), 'ready again');
    // The take that timed out may or may not have run on the server; either way new work goes through.
    assert.equal(await store.replayCache.checkAndStore('after-stall', Date.now() + 60_000), true);
  });

  it('close() fails the commands still waiting, at once', T, async () => {
    const other = createRedisStore({ url: redis.url, keyPrefix: `dl2-${process.pid}:`, commandTimeoutMs: 30_000 });
    try {
      assert.ok(await other.whenReady(15_000));
      const pid = redis.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        const pending = other.replayCache.checkAndStore('k', Date.now() + 60_000);
        await sleep(50);
        await other.close();
        await assert.rejects(Promise.resolve(pending), isStoreFailure);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    } finally {
      await other.close();
    }
  });
});
