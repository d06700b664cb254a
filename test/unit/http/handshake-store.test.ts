// MemoryHandshakeStore on its own: the shared mode (exports by cookie in one process, for a server
// behind a pooling proxy) and the bound on what it holds (the oldest handshake goes first).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryHandshakeStore } from '../../../src/http/handshakeStore.js';
import type { ParkedHandshake } from '../../../src/http/handshakeStore.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SecurityStatus } from '../../../src/sspi/status.js';
import { COOKIE, cookieOf, header, request, tokenOf } from '../../interop/lib/cluster-http.js';
import type { LsaHost } from '../../../src/lsa/host.js';
import { Client, clientContext, lsaHost, signOn, startServer } from './helpers.js';

const parked = (bytes: number[]): ParkedHandshake => ({ scheme: 'NTLM', context: Uint8Array.from(bytes), startedAt: Date.now(), channelBound: false });

describe('MemoryHandshakeStore', () => {
  it('shared: keeps its own copy of an export (the server zeroes its bytes once parked), refuses a context object', async () => {
    const s = new MemoryHandshakeStore({ shared: true });
    assert.equal(s.shared, true);
    assert.equal(new MemoryHandshakeStore().shared, false);
    const h = parked([1, 2, 3]);
    await s.park('id', h, 60_000);
    (h.context as Uint8Array).fill(0);
    assert.deepEqual((await s.take('id'))?.context, Uint8Array.from([1, 2, 3]));
    assert.equal(await s.take('id'), null, 'taken once');
    await assert.rejects(s.park('obj', { ...h, context: {} as never }, 60_000), (e: unknown) => e instanceof SspiError && e.status === SecurityStatus.SEC_E_INVALID_PARAMETER);
    await s.close();
  });

  it('maxEntries: parking one more drops (and zeroes) the oldest; the others stay', async () => {
    const s = new MemoryHandshakeStore({ shared: true, maxEntries: 3 });
    const kept: Uint8Array[] = [];
    for (let i = 1; i <= 4; i++) await s.park(`k${i}`, parked([i, i, i]), 60_000);
    assert.equal(await s.size(), 3);
    assert.equal(await s.take('k1'), null, 'the oldest went');
    for (const k of ['k2', 'k3', 'k4']) kept.push((await s.take(k))!.context as Uint8Array);
    assert.deepEqual(kept.map((b) => b[0]), [2, 3, 4]);
    // Re-parking a key replaces it rather than counting twice.
    await s.park('a', parked([9]), 60_000);
    await s.park('a', parked([8]), 60_000);
    assert.equal(await s.size(), 1);
    await s.close();
    assert.throws(() => new MemoryHandshakeStore({ maxEntries: 0 }), SspiError);
  });

  it('shared, under createAuthenticator: the legs on two connections meet by the cookie, and no identity stays on a connection', async () => {
    await overSharedConnection({}, async ({ host, store, url, upstream }) => {
      // Each leg on a new connection, the second with the cookie the first set, as behind a pooling proxy.
      const ctx = await clientContext(host, 'NTLM');
      const ctx2 = await clientContext(host, 'NTLM');
      try {
        const r1 = await request(url, header('NTLM', (await ctx.step())!));
        assert.equal(r1.status, 401);
        const cookie = cookieOf(r1);
        assert.ok(cookie, 'the continuing 401 sets the handshake cookie');
        const reply = await request(url, header('NTLM', (await ctx.step(tokenOf(r1, 'NTLM')))!), cookie);
        assert.equal(reply.status, 200, reply.body);
        assert.equal(await store.size(), 0, 'taken by the AUTHENTICATE');
        assert.equal((await signOn(upstream, ctx2, 'NTLM')).reply.status, 200);
        assert.equal((await upstream.get('/')).status, 401, 'no identity kept on the connection');
      } finally {
        await ctx.delete();
        await ctx2.delete();
      }
    });
  });
});

/**
 * A server over a shared in-process store, and one kept-alive connection to it that carries the
 * requests of several clients (as a pooling proxy's upstream does), each with its own cookie.
 */
async function overSharedConnection(options: { connectionFallback?: boolean }, f: (x: { host: LsaHost; store: MemoryHandshakeStore; url: string; upstream: Client; send: (auth: string, cookie?: string) => ReturnType<Client['get']> }) => Promise<void>): Promise<void> {
  const host = await lsaHost();
  const store = new MemoryHandshakeStore({ shared: true });
  const srv = await startServer(host, { store, packages: ['NTLM'], ...options });
  const upstream = new Client(srv.url);
  try {
    await f({ host, store, url: srv.url, upstream, send: (auth, cookie) => upstream.get('/', auth, cookie ? { Cookie: `${COOKIE}=${cookie}` } : {}) });
  } finally {
    upstream.close();
    await srv.close();
    await store.close();
    await host.shutdown();
  }
}

describe('one connection shared by two clients (a pooling proxy in front)', () => {
  it("a client's first leg leaves the handshake another client parked over the same connection", async () => {
    await overSharedConnection({}, async ({ host, store, send }) => {
      const alice = await clientContext(host, 'NTLM');
      const bob = await clientContext(host, 'NTLM');
      try {
        const a1 = await send(header('NTLM', (await alice.step())!));
        const b1 = await send(header('NTLM', (await bob.step())!));
        const [ca, cb] = [cookieOf(a1), cookieOf(b1)];
        assert.ok(ca && cb && ca !== cb);
        assert.equal(await store.size(), 2, "bob's first leg left alice's handshake parked");
        const a2 = await send(header('NTLM', (await alice.step(tokenOf(a1, 'NTLM')))!), ca);
        const b2 = await send(header('NTLM', (await bob.step(tokenOf(b1, 'NTLM')))!), cb);
        assert.equal(a2.status, 200, a2.body);
        assert.equal(b2.status, 200, b2.body);
      } finally {
        await alice.delete();
        await bob.delete();
      }
    });
  });
});

describe('connectionFallback', () => {
  for (const connectionFallback of [true, false]) {
    it(`${connectionFallback ? 'on (the default): a leg without a cookie takes what its connection parked, another client\'s behind a pooling proxy' : 'off: it takes nothing'}`, async () => {
      await overSharedConnection({ connectionFallback }, async ({ host, url, send }) => {
        const bob = await clientContext(host, 'NTLM');
        const carol = await clientContext(host, 'NTLM');
        try {
          // carol parks a handshake elsewhere; bob parks his over the shared connection, last.
          const c1 = await request(url, header('NTLM', (await carol.step())!));
          const b1 = await send(header('NTLM', (await bob.step())!));
          // carol's AUTHENTICATE comes over the shared connection without her cookie.
          const c2 = await send(header('NTLM', (await carol.step(tokenOf(c1, 'NTLM')))!));
          assert.equal(c2.status, 401);
          const b2 = await send(header('NTLM', (await bob.step(tokenOf(b1, 'NTLM')))!), cookieOf(b1));
          assert.equal(b2.status, connectionFallback ? 401 : 200, `bob's handshake ${connectionFallback ? 'was taken by carol' : 'is still his'}`);
        } finally {
          await bob.delete();
          await carol.delete();
        }
      });
    });
  }
});
