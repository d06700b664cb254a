// The Redis store's watchdog (src/store/redis.ts): a connection that takes commands and never
// answers them (node-redis left holding a dead socket, or a Redis that accepts and stalls) is
// replaced by a fresh client once commands have timed out for max(4 x commandTimeoutMs, 5 s)
// with no answer in between; a Redis that answers is never reconnected by it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createRedisStore } from '../../../src/store/redis.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SecurityStatus } from '../../../src/sspi/status.js';
import { eventually } from '../../interop/lib/poll.js';
import { startRedis } from '../../interop/lib/redis.js';

describe('Redis store: a silent connection is replaced', () => {
  it('commands that only ever time out make the store open a new connection after ~5 s, and not before', { timeout: 60_000 }, async () => {
    const opened: number[] = [];
    const sockets = new Set<net.Socket>();
    // Takes the connection and whatever is written, answers nothing: a peer that looks alive.
    const server = net.createServer((s) => {
      opened.push(Date.now());
      sockets.add(s);
      s.on('data', () => undefined);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const store = createRedisStore({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300, connectTimeoutMs: 1000 });
    try {
      const t0 = Date.now();
      let k = 0;
      const ask = () => Promise.resolve(store.replayCache.checkAndStore(`k${k++}`, Date.now() + 1000)).then(
        () => assert.fail('nothing answered'),
        (e: unknown) => assert.ok(SspiError.is(e, SecurityStatus.SEC_E_INTERNAL_ERROR), String(e)),
      );
      assert.ok(await eventually(async () => {
        await ask();
        return opened.length >= 2;
      }, 20_000, 50), `a second connection (connections at ${opened.map((t) => t - t0).join(', ')} ms)`);
      // The first replacement waits for the silence to last: 5 s here (4 x 300 ms is less).
      assert.ok(opened[1]! - t0 >= 4_500, `replaced after ${opened[1]! - t0} ms`);
    } finally {
      await store.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('a Redis that answers keeps its one connection however long the store runs', { timeout: 60_000 }, async () => {
    const redis = await startRedis();
    let connects = 0;
    const server = net.createServer((c) => {
      connects++;
      // A counting relay in front of the real Redis.
      const up = net.connect(redis.port, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const store = createRedisStore({ url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`, keyPrefix: `stuck-${process.pid}:`, commandTimeoutMs: 300 });
    try {
      assert.ok(await store.whenReady(15_000));
      const until = Date.now() + 6_000;
      let n = 0;
      while (Date.now() < until) {
        assert.equal(await store.replayCache.checkAndStore(`k${n++}`, Date.now() + 60_000), true);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(connects, 1);
    } finally {
      await store.close();
      await new Promise((r) => server.close(r));
      await redis.stop();
    }
  });
});
