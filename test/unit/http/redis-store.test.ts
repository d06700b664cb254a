// The cluster store (src/store/redis.ts) against a real redis-server started here on a free port:
// handshakes parked and taken once (also when two clients race), TTL expiry, discard; the replay
// cache seen by two nodes; Redis killed and restarted; the record codec (fast-check). Then the
// HTTP handler in cluster mode: the handshake cookie, legs on two nodes, 503 while the store is away
// or full.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createClient } from 'redis';
import type { LsaHost } from '../../../src/lsa/host.js';
import type { HandshakeStore, ParkedHandshake } from '../../../src/http/handshakeStore.js';
import { HANDSHAKE_COOKIE, type Identity } from '../../../src/http/server.js';
import { createRedisStore, decodeParkedRecord, encodeParkedRecord, type ParkedRecord, type RedisStore } from '../../../src/store/redis.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SecurityStatus } from '../../../src/sspi/status.js';
import { startRedis, type RedisServer } from '../../interop/lib/redis.js';
import { eventually } from '../../interop/lib/poll.js';
import { Client, clientContext, header, lsaHost, signOn, startServer, tokenOf, type Reply } from './helpers.js';

const T = { timeout: 60_000 };

function parked(context: Uint8Array, scheme: 'NTLM' | 'Negotiate' = 'NTLM'): ParkedHandshake {
  return { scheme, context, startedAt: Date.now(), channelBound: false };
}

describe('the parked-handshake record', () => {
  const record = fc.record({
    scheme: fc.constantFrom('NTLM' as const, 'Negotiate' as const),
    startedAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    channelBound: fc.boolean(),
    context: fc.uint8Array({ maxLength: 512, size: 'max' }),
  });

  it('property: decode(encode(r)) is r', () => {
    fc.assert(
      fc.property(record, (r: ParkedRecord) => {
        // fast-check builds prototype-less records: compare as plain objects.
        assert.deepEqual(decodeParkedRecord(encodeParkedRecord(r)), { ...r });
      }),
    );
  });

  it('property: any bytes decode to a record that encodes back to them, or fail with SEC_E_INVALID_TOKEN', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64, size: 'max' }),
      // mutations of a valid record reach past the header checks
      fc.tuple(record, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([r, i, v]) => {
        const b = encodeParkedRecord(r).slice();
        b[i % b.length] = v;
        return b;
      }),
      fc.tuple(record, fc.integer({ min: -3, max: 3 })).map(([r, d]) => {
        const b = encodeParkedRecord(r);
        return d < 0 ? b.slice(0, Math.max(0, b.length + d)) : Uint8Array.from([...b, ...new Array<number>(d).fill(7)]);
      }),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        let r: ParkedRecord;
        try {
          r = decodeParkedRecord(b);
        } catch (e) {
          assert.ok(SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN), String(e));
          return;
        }
        assert.deepEqual(encodeParkedRecord(r), b);
      }),
    );
  });

  it('rejects a wrong version, an unknown scheme or flag, and a length that does not match', () => {
    const good = encodeParkedRecord({ scheme: 'NTLM', startedAt: 1, channelBound: true, context: new Uint8Array([1, 2, 3]) });
    for (const [i, v] of [[0, 2], [1, 0], [1, 3], [2, 2], [14, 4]] as const) {
      const b = good.slice();
      b[i] = v;
      assert.throws(() => decodeParkedRecord(b), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN), `byte ${i} = ${v}`);
    }
    assert.throws(() => encodeParkedRecord({ scheme: 'Basic' as 'NTLM', startedAt: 1, channelBound: false, context: new Uint8Array() }), SspiError);
  });
});

describe('createRedisStore', () => {
  it('refuses a URL that is not redis://, rediss:// or unix:// with SEC_E_INVALID_PARAMETER', () => {
    for (const url of ['http://127.0.0.1:6379', 'not a url', 'redis://', 'redis://h/x']) {
      assert.throws(() => createRedisStore({ url }), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER), url);
    }
  });

  it('an unreachable Redis: created anyway, not ready, operations fail fast with an SspiError', T, async () => {
    // A port nobody listens on (the store is closed before anything could bind it).
    const s = createRedisStore({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 500 });
    try {
      assert.equal(s.ready(), false);
      assert.equal(await s.whenReady(300), false);
      await assert.rejects(s.handshakes.take('x'), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INTERNAL_ERROR));
      await assert.rejects(Promise.resolve(s.replayCache.checkAndStore('k', Date.now() + 1000)), SspiError);
    } finally {
      await s.close();
    }
  });
});

describe('the Redis stores against redis-server', () => {
  let redis: RedisServer;
  let a: RedisStore;
  let b: RedisStore;
  const prefix = `test${process.pid}:`;

  before(async () => {
    redis = await startRedis();
    a = createRedisStore({ url: redis.url, keyPrefix: prefix });
    b = createRedisStore({ url: redis.url, keyPrefix: prefix });
    assert.ok(await a.whenReady(15_000), `store a connects:\n${redis.log()}`);
    assert.ok(await b.whenReady(15_000), 'store b connects');
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('is shared, parks bytes and gives them back once, on any node', T, async () => {
    assert.equal(a.handshakes.shared, true);
    assert.equal(a.ready(), true);
    const ctx = Uint8Array.from([9, 8, 7, 6]);
    const h = { ...parked(ctx, 'Negotiate'), channelBound: true };
    await a.handshakes.park('k1', h, 60_000);
    assert.equal(await a.handshakes.size(), 1);
    const got = await b.handshakes.take('k1');
    assert.ok(got);
    assert.deepEqual(got, { ...h, context: Uint8Array.from([9, 8, 7, 6]) });
    assert.equal(await a.handshakes.take('k1'), null, 'taken once');
    assert.equal(await a.handshakes.size(), 0);
  });

  it('two nodes racing for one parked leg: exactly one gets it (GETDEL)', T, async () => {
    for (let i = 0; i < 20; i++) {
      await a.handshakes.park(`race${i}`, parked(Uint8Array.of(i)), 60_000);
      const [x, y] = await Promise.all([a.handshakes.take(`race${i}`), b.handshakes.take(`race${i}`)]);
      assert.equal([x, y].filter(Boolean).length, 1, `round ${i}`);
    }
  });

  it('discard removes a parked handshake; a parked one expires with its TTL', T, async () => {
    await a.handshakes.park('d', parked(Uint8Array.of(1)), 60_000);
    await b.handshakes.discard('d');
    assert.equal(await a.handshakes.take('d'), null);
    await a.handshakes.discard('never-parked');
    await a.handshakes.park('ttl', parked(Uint8Array.of(2)), 50);
    assert.ok(await eventually(async () => (await a.handshakes.size()) === 0), 'expired');
    assert.equal(await a.handshakes.take('ttl'), null);
  });

  it('refuses to park a context object (a shared store holds exports), and a stray value reads as nothing', T, async () => {
    const h = { scheme: 'NTLM', context: {} as never, startedAt: 1, channelBound: false } as ParkedHandshake;
    await assert.rejects(a.handshakes.park('obj', h, 1000), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
    const raw = createClient({ url: redis.url });
    raw.on('error', () => undefined);
    await raw.connect();
    try {
      await raw.set(`${prefix}hs:stray`, 'not a record', { expiration: { type: 'PX', value: 60_000 } });
      assert.equal(await a.handshakes.take('stray'), null);
      assert.equal(await raw.exists(`${prefix}hs:stray`), 0, 'taken (and dropped) all the same');
      // The key prefix keeps clusters apart.
      const other = createRedisStore({ url: redis.url, keyPrefix: 'other:' });
      try {
        assert.ok(await other.whenReady(15_000));
        await a.handshakes.park('p', parked(Uint8Array.of(3)), 60_000);
        assert.equal(await other.handshakes.take('p'), null);
        assert.ok(await a.handshakes.take('p'));
      } finally {
        await other.close();
      }
    } finally {
      raw.destroy();
    }
  });

  it('replay cache: true the first time, false for the same key on any node until it expires', T, async () => {
    const key = `rk-${Date.now()}`;
    assert.equal(await a.replayCache.checkAndStore(key, Date.now() + 60_000), true);
    assert.equal(await a.replayCache.checkAndStore(key, Date.now() + 60_000), false);
    assert.equal(await b.replayCache.checkAndStore(key, Date.now() + 60_000), false);
    const short = `${key}-short`;
    assert.equal(await b.replayCache.checkAndStore(short, Date.now() + 100), true);
    assert.ok(await eventually(async () => (await a.replayCache.checkAndStore(short, Date.now() + 60_000)) === true), 'fresh again after expiry');
    // An expiry already past stores nothing that could block a later check.
    assert.equal(await a.replayCache.checkAndStore(`${key}-past`, Date.now() - 1000), true);
  });

  it('Redis killed: not ready, every operation fails fast; restarted: back without a new store', T, async () => {
    await a.handshakes.park('before', parked(Uint8Array.of(4)), 60_000);
    await redis.kill();
    assert.ok(await eventually(() => !a.ready()), 'a notices');
    const t0 = Date.now();
    await assert.rejects(a.handshakes.take('before'), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INTERNAL_ERROR));
    await assert.rejects(a.handshakes.park('x', parked(Uint8Array.of(5)), 1000), SspiError);
    await assert.rejects(Promise.resolve(a.replayCache.checkAndStore('while-down', Date.now() + 1000)), SspiError);
    await assert.rejects(a.handshakes.size(), SspiError);
    // Fails instead of queueing: well under the command timeout even on a slow box.
    assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
    await redis.start();
    assert.ok(await eventually(() => a.ready() && b.ready()), 'reconnected');
    // Nothing persisted (--save ''): the old handshake is gone, new work goes through.
    assert.equal(await a.handshakes.take('before'), null);
    assert.equal(await a.replayCache.checkAndStore('after', Date.now() + 60_000), true);
    assert.equal(await b.replayCache.checkAndStore('after', Date.now() + 60_000), false);
  });
});

// ---- the HTTP handler over a shared store --------------------------------------------------------

/** A client that keeps cookies like a browser: one Cookie header from every Set-Cookie seen. */
class CookieClient extends Client {
  cookies = new Map<string, string>();
  override async get(path = '/', authorization?: string): Promise<Reply> {
    return this.request(path, authorization);
  }
  async request(path: string, authorization?: string, base = this.base): Promise<Reply> {
    const http = await import('node:http');
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (authorization !== undefined) headers.Authorization = authorization;
      if (cookie) headers.Cookie = cookie;
      const req = http.request(base + path, { agent: base === this.base ? this.agent : false, headers }, (res) => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const [pair] = c.split(';');
          const eq = pair!.indexOf('=');
          const name = pair!.slice(0, eq);
          if (/max-age=0/i.test(c)) this.cookies.delete(name);
          else this.cookies.set(name, pair!.slice(eq + 1));
        }
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }
}

/** An NTLM NEGOTIATE that the node cannot park: 503 with Retry-After. */
async function firstLegUnavailable(c: CookieClient, host: LsaHost): Promise<void> {
  const ctx = await clientContext(host, 'NTLM');
  try {
    const r = await c.request('/', header('NTLM', (await ctx.step())!));
    assert.equal(r.status, 503, r.body);
    assert.match(String(r.headers['retry-after']), /^\d+$/);
  } finally {
    await ctx.delete();
  }
}

describe('createAuthenticator with a shared store (cluster mode)', () => {
  let redis: RedisServer;
  let store1: RedisStore;
  let store2: RedisStore;
  let host1: LsaHost;
  let host2: LsaHost;
  let node1: Awaited<ReturnType<typeof startServer>>;
  let node2: Awaited<ReturnType<typeof startServer>>;

  before(async () => {
    redis = await startRedis();
    store1 = createRedisStore({ url: redis.url });
    store2 = createRedisStore({ url: redis.url });
    assert.ok(await store1.whenReady(15_000));
    assert.ok(await store2.whenReady(15_000));
    // Two LSAs: as two processes, nothing shared but Redis.
    host1 = await lsaHost();
    host2 = await lsaHost();
    node1 = await startServer(host1, { store: store1.handshakes, packages: ['Negotiate', 'NTLM'] });
    node2 = await startServer(host2, { store: store2.handshakes, packages: ['Negotiate', 'NTLM'] });
  });

  after(async () => {
    await node1?.close();
    await node2?.close();
    await host1?.shutdown();
    await host2?.shutdown();
    await store1?.close();
    await store2?.close();
    await redis?.stop();
  });

  for (const scheme of ['NTLM', 'Negotiate'] as const) {
    it(`${scheme}: NEGOTIATE on node 1, AUTHENTICATE on node 2 (new connection, cookie): 200, cookie cleared`, T, async () => {
      const c = new CookieClient(node1.url);
      const ctx = await clientContext(host1, scheme);
      try {
        let token = await ctx.step();
        const r1 = await c.request('/', header(scheme, token!));
        assert.equal(r1.status, 401, r1.body);
        const setCookie = String(r1.headers['set-cookie']);
        assert.match(setCookie, new RegExp(`^${HANDSHAKE_COOKIE}=[A-Za-z0-9_-]{22}; Path=/; HttpOnly; SameSite=Lax$`));
        assert.ok(c.cookies.has(HANDSHAKE_COOKIE));
        let reply = r1;
        let base = node2.url;
        for (let legs = 0; reply.status === 401; legs++) {
          assert.ok(legs < 4, 'too many legs');
          token = await ctx.step(tokenOf(reply.headers, scheme)!);
          reply = await c.request('/', header(scheme, token!), base);
          base = base === node2.url ? node1.url : node2.url;
        }
        assert.equal(reply.status, 200, reply.body);
        const id = JSON.parse(reply.body) as Identity;
        assert.equal(id.name, 'EXAMPLE\\alice');
        assert.equal(id.scheme, scheme);
        assert.match(String(reply.headers['set-cookie']), new RegExp(`^${HANDSHAKE_COOKIE}=; .*Max-Age=0`));
        assert.equal(c.cookies.has(HANDSHAKE_COOKIE), false);
        if (scheme === 'Negotiate') await ctx.step(tokenOf(reply.headers, scheme)!);
        assert.equal(await store1.handshakes.size(), 0);
      } finally {
        c.close();
        await ctx.delete();
      }
    });
  }

  it('a client without cookies that keeps its connection: the id remembered on the connection', T, async () => {
    const c = new Client(node1.url);
    const ctx = await clientContext(host1, 'NTLM');
    try {
      const r1 = await c.get('/', header('NTLM', (await ctx.step())!));
      assert.equal(r1.status, 401);
      const r2 = await c.get('/', header('NTLM', (await ctx.step(tokenOf(r1.headers, 'NTLM')!))!));
      assert.equal(r2.status, 200, r2.body);
    } finally {
      c.close();
      await ctx.delete();
    }
  });

  it('the same AUTHENTICATE again (cookie replayed) finds nothing: 401; a forged cookie: 401', T, async () => {
    const c = new CookieClient(node1.url);
    const ctx = await clientContext(host1, 'NTLM');
    try {
      const r1 = await c.request('/', header('NTLM', (await ctx.step())!));
      const cookie = c.cookies.get(HANDSHAKE_COOKIE)!;
      const auth = header('NTLM', (await ctx.step(tokenOf(r1.headers, 'NTLM')!))!);
      const ok = await c.request('/', auth, node2.url);
      assert.equal(ok.status, 200);
      c.cookies.set(HANDSHAKE_COOKIE, cookie);
      const again = await c.request('/', auth, node1.url);
      assert.equal(again.status, 401);
      c.cookies.set(HANDSHAKE_COOKIE, 'A'.repeat(22));
      assert.equal((await c.request('/', auth, node2.url)).status, 401);
      c.cookies.set(HANDSHAKE_COOKIE, 'not-an-id;;');
      assert.equal((await c.request('/', auth, node2.url)).status, 401);
    } finally {
      c.close();
      await ctx.delete();
    }
  });

  it('a wrong password across nodes: 401 with SEC_E_LOGON_DENIED', T, async () => {
    const c = new CookieClient(node1.url);
    const ctx = await clientContext(host1, 'NTLM', 'wrong');
    const n = node2.failures.length;
    try {
      const r1 = await c.request('/', header('NTLM', (await ctx.step())!));
      const r2 = await c.request('/', header('NTLM', (await ctx.step(tokenOf(r1.headers, 'NTLM')!))!), node2.url);
      assert.equal(r2.status, 401);
      assert.equal(node2.failures[n]?.code, 'SEC_E_LOGON_DENIED');
    } finally {
      c.close();
      await ctx.delete();
    }
  });

  it('Redis away: 503 with Retry-After for a token, 400/401 for garbage or nothing; back when Redis is', T, async () => {
    await redis.kill();
    assert.ok(await eventually(() => !store1.ready()));
    const c = new CookieClient(node1.url);
    await firstLegUnavailable(c, host1);
    assert.equal((await c.request('/')).status, 401);
    assert.equal((await c.request('/', 'NTLM %%%')).status, 400);
    assert.equal((await c.request('/', 'Basic YWxpY2U6eA==')).status, 401);
    await redis.start();
    assert.ok(await eventually(() => store1.ready() && store2.ready()));
    const ctx2 = await clientContext(host1, 'NTLM');
    try {
      const r1 = await c.request('/', header('NTLM', (await ctx2.step())!));
      assert.equal(r1.status, 401);
      const r2 = await c.request('/', header('NTLM', (await ctx2.step(tokenOf(r1.headers, 'NTLM')!))!), node2.url);
      assert.equal(r2.status, 200, r2.body);
    } finally {
      c.close();
      await ctx2.delete();
    }
  });
});

describe('a full Redis (maxmemory reached, noeviction)', () => {
  it('parking and the replay check fail with an SspiError naming OOM; a first leg gets 503, nothing is signed on unchecked; room again: served', T, async () => {
    const redis = await startRedis();
    const admin = createClient({ url: redis.url });
    admin.on('error', () => undefined);
    await admin.connect();
    const store = createRedisStore({ url: redis.url });
    const host = await lsaHost();
    const node = await startServer(host, { store: store.handshakes, packages: ['NTLM'] });
    try {
      assert.ok(await store.whenReady(15_000));
      const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
      await admin.configSet('maxmemory', String(used + 256 * 1024));
      // Fill it to the brim: big values, then ever smaller ones, until even a small one is refused.
      let n = 0;
      for (const size of [16 * 1024, 1024, 64, 1]) {
        for (;;) {
          try {
            await admin.set(`filler:${n++}`, 'x'.repeat(size));
          } catch (e) {
            assert.match(String((e as Error).message), /^OOM/);
            break;
          }
          assert.ok(n < 100_000, 'Redis never said it was full');
        }
      }
      const ctx = Uint8Array.from([1, 2, 3]);
      await assert.rejects(store.handshakes.park('full', parked(ctx), 60_000), (e: unknown) => e instanceof SspiError && e.status === SecurityStatus.SEC_E_INTERNAL_ERROR && /Redis unavailable \(OOM\)/.test(e.message));
      await assert.rejects(Promise.resolve().then(() => store.replayCache.checkAndStore('a'.repeat(64), Date.now() + 60_000)), (e: unknown) => e instanceof SspiError && /OOM/.test(e.message));
      const c = new CookieClient(node.url);
      await firstLegUnavailable(c, host);
      // Room again (an operator raised maxmemory): parked and signed on.
      await admin.configSet('maxmemory', '0');
      assert.ok(await eventually(() => store.ready()));
      const nctx2 = await clientContext(host, 'NTLM');
      try {
        const { reply, legs } = await signOn(c, nctx2, 'NTLM');
        assert.equal(reply.status, 200, reply.body);
        assert.equal(legs, 2);
      } finally {
        c.close();
        await nctx2.delete();
      }
    } finally {
      await node.close();
      await host.shutdown();
      await store.close();
      await admin.quit().catch(() => undefined);
      await redis.stop();
    }
  });
});

describe('createAuthenticator with a shared store that is not ready', () => {
  it('answers 503 before touching the store; the memory store is never shared', T, async () => {
    let touched = 0;
    const down: HandshakeStore = {
      shared: true,
      ready: () => false,
      park: async () => void touched++,
      take: async () => (touched++, null),
      discard: async () => void touched++,
      size: async () => 0,
      close: async () => undefined,
    };
    const host = await lsaHost();
    const srv = await startServer(host, { store: down });
    const c = new Client(srv.url);
    const ctx = await clientContext(host, 'NTLM');
    try {
      const r = await c.get('/', header('NTLM', (await ctx.step())!));
      assert.equal(r.status, 503);
      assert.equal(r.headers['www-authenticate'], undefined);
      assert.equal(srv.failures.at(-1)?.status, 503);
      assert.equal(touched, 0);
    } finally {
      c.close();
      await ctx.delete();
      await srv.close();
      await host.shutdown();
    }
  });
});
