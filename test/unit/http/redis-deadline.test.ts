// The Redis store's own command deadline (src/store/redis.ts): a Redis that holds its socket open
// but stops answering (SIGSTOP) fails commands after commandTimeoutMs instead of hanging them,
// ready() turns false, and service resumes on SIGCONT; many commands in a burst all settle, with a
// live Redis and with a stopped one; close() fails what is still waiting.
//
// Load: the whole suite runs two files at a time on a 2-core box, so this process may get a small
// share of a core. A command's deadline starts when it is issued and Redis answers in order, so the
// last command of a burst waits for every one before it: 3000 commands took 300-550 ms here with
// two busy loops beside the test, and failed with a 300 ms deadline. So the deadline of a test
// that must succeed is far above any scheduling delay (a hang still fails it, with TimeoutError),
// and the tests that must time out stop Redis, so that they time out whatever the load.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRedisStore, type RedisStore } from '../../../src/store/redis.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SecurityStatus } from '../../../src/sspi/status.js';
import { startRedis, type RedisServer } from '../../interop/lib/redis.js';
import { sleep } from '../../interop/lib/proc.js';
import { eventually } from '../../interop/lib/poll.js';

const T = { timeout: 60_000 };
/** The deadline of the store whose commands are meant to time out (Redis stopped). */
const SHORT_MS = 500;
/** The deadline of a store whose commands must succeed: a Redis that hangs still fails them, well inside T. */
const ROOMY_MS = 15_000;
const BURST = 3000;

const isStoreFailure = (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INTERNAL_ERROR);

function assertTimedOut(outcomes: PromiseSettledResult<unknown>[]): void {
  for (const o of outcomes) {
    assert.equal(o.status, 'rejected', 'a stopped Redis answered nothing');
    const reason = (o as PromiseRejectedResult).reason as Error;
    assert.ok(isStoreFailure(reason), String(reason));
    assert.match(reason.message, /TimeoutError/);
  }
}

describe('Redis store: command deadline', () => {
  let redis: RedisServer;
  let store: RedisStore;
  let roomy: RedisStore;

  before(async () => {
    redis = await startRedis();
    store = createRedisStore({ url: redis.url, keyPrefix: `dl-${process.pid}:`, commandTimeoutMs: SHORT_MS });
    roomy = createRedisStore({ url: redis.url, keyPrefix: `dl3-${process.pid}:`, commandTimeoutMs: ROOMY_MS });
    assert.ok(await store.whenReady(15_000), 'connected');
    assert.ok(await roomy.whenReady(15_000), 'connected');
  });

  after(async () => {
    await store?.close();
    await roomy?.close();
    if (redis?.pid !== undefined) {
      try {
        process.kill(redis.pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await redis?.stop();
  });

  it(`a burst of ${BURST} commands all settle, with the right answers`, T, async (t) => {
    const keys = Array.from({ length: BURST }, (_, i) => `burst-${i}`);
    const t0 = Date.now();
    const first = await Promise.all(keys.map((k) => roomy.replayCache.checkAndStore(k, Date.now() + 60_000)));
    t.diagnostic(`${BURST} commands settled in ${Date.now() - t0} ms`);
    assert.ok(first.every((v) => v === true));
    const again = await Promise.all(keys.slice(0, 50).map((k) => roomy.replayCache.checkAndStore(k, Date.now() + 60_000)));
    assert.ok(again.every((v) => v === false));
    assert.equal(roomy.ready(), true);
  });

  it('Redis stopped (SIGSTOP, socket still open): commands fail after the deadline, not never; SIGCONT: back', T, async () => {
    const pid = redis.pid;
    assert.ok(pid !== undefined);
    // Through the roomy store: parking is not what is under test, and must not time out under load.
    await roomy.handshakes.park('held', { scheme: 'NTLM', context: Uint8Array.of(1, 2, 3), startedAt: Date.now(), channelBound: false }, 60_000);
    process.kill(pid, 'SIGSTOP');
    try {
      const t0 = Date.now();
      const outcomes = await Promise.allSettled([store.handshakes.take('held'), store.replayCache.checkAndStore('stalled', Date.now() + 60_000), store.handshakes.discard('x')]);
      assertTimedOut(outcomes);
      // Not before the deadline; well before "never" even on a loaded box.
      const took = Date.now() - t0;
      assert.ok(took >= SHORT_MS - 50 && took < 20_000, `${took} ms`);
      assert.equal(store.ready(), false, 'a timed-out command makes the store not ready for a while');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.ok(await eventually(() => store.ready()), 'ready again');
    // The take that timed out may or may not have run on the server; either way new work goes through.
    assert.equal(await roomy.replayCache.checkAndStore('after-stall', Date.now() + 60_000), true);
    assert.equal(await store.replayCache.checkAndStore('after-stall-2', Date.now() + 60_000), true);
  });

  it(`a burst of ${BURST} into a stopped Redis: every command fails at its deadline, and the store recovers`, T, async (t) => {
    const pid = redis.pid;
    assert.ok(pid !== undefined);
    assert.ok(await eventually(() => store.ready()), 'ready before the stall');
    process.kill(pid, 'SIGSTOP');
    let took: number;
    try {
      const t0 = Date.now();
      const outcomes = await Promise.allSettled(Array.from({ length: BURST }, (_, i) => store.replayCache.checkAndStore(`stalled-burst-${i}`, Date.now() + 60_000)));
      took = Date.now() - t0;
      assertTimedOut(outcomes);
      assert.ok(took >= SHORT_MS - 50 && took < 20_000, `${took} ms`);
      t.diagnostic(`${BURST} commands into a stopped Redis all failed after ${took} ms`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // The late replies to the stalled commands arrive and are dropped; the next commands are answered.
    assert.ok(await eventually(() => store.ready()), 'ready again');
    assert.equal(await store.replayCache.checkAndStore('after-burst', Date.now() + 60_000), true);
    assert.equal(await store.replayCache.checkAndStore('after-burst', Date.now() + 60_000), false);
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
        const t0 = Date.now();
        await other.close();
        await assert.rejects(Promise.resolve(pending), isStoreFailure);
        // "At once": far below the 30 s deadline, whatever the load.
        assert.ok(Date.now() - t0 < 10_000);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    } finally {
      await other.close();
    }
  });
});
