// Proxy mode of the handler (createAuthenticator({ proxy: true })) in a small forward proxy: 407
// with Proxy-Authenticate, the legs in Proxy-Authorization, nothing of it forwarded to the origin,
// our own client (its `proxy` option) signing on through it, and CONNECT: NTLM's legs as
// successive CONNECTs on one connection, then the tunnel.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as fc from 'fast-check';
import { createFetch, type SignOnEvent } from '../../../src/http/client.js';
import { openTunnel } from '../../../src/http/client-tunnel.js';
import { type AuthFailure, type Authenticator, createAuthenticator } from '../../../src/http/server.js';
import type { LsaHost } from '../../../src/lsa/host.js';
import { SspiError } from '../../../src/sspi/error.js';
import { assertSettled } from '../../fuzz/settle.js';
import { initiatorLsa, selfSigned } from './client-harness.js';
import { type EchoOrigin, type ForwardProxy, startEchoOrigin, startForwardProxy } from './forward-proxy.js';
import { PASSWORD, RawHttpConnection, type Reply, clientContext, header, lsaHost, sspiErrorIn, startServer } from './helpers.js';

let host: LsaHost;
let auth: Authenticator;
let proxy: ForwardProxy;
let origin: EchoOrigin;
const failures: AuthFailure[] = [];

before(async () => {
  host = await lsaHost();
  auth = createAuthenticator({ host, proxy: true, onFailure: (_req, f) => failures.push(f) });
  proxy = await startForwardProxy(auth);
  origin = await startEchoOrigin();
});

after(async () => {
  await proxy.close();
  await origin.close();
  await auth.close();
  await host.shutdown();
});

/** A keep-alive connection to the proxy sending absolute-form requests (as a client configured with the proxy does). */
class ProxyClient {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxy.port, path: url, agent: this.agent, headers: { Host: new URL(url).host, ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function proxyAuthenticate(head: string, scheme: string): Uint8Array {
  const m = new RegExp(`\\r\\nProxy-Authenticate: ${scheme} (\\S+)`, 'i').exec(head);
  assert.ok(m, head);
  return new Uint8Array(Buffer.from(m[1]!, 'base64'));
}

/** A bare CONNECT (407), NTLM's two legs as CONNECTs on the same connection, then data through the tunnel. */
async function ntlmTunnel(p: ForwardProxy, overTls: boolean): Promise<void> {
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const target = `127.0.0.1:${(echo.address() as net.AddressInfo).port}`;
  const c = new RawHttpConnection(p.port, overTls);
  try {
    // First without credentials: 407, and the connection stays open for the next CONNECT.
    c.send(`CONNECT ${target}`);
    const bare = await c.response();
    assert.equal(bare.status, 407);
    assert.match(bare.head, /\r\nProxy-Authenticate: Negotiate\r\nProxy-Authenticate: NTLM/);
    const ctx = await clientContext(host, 'NTLM');
    c.send(`CONNECT ${target}`, header('NTLM', (await ctx.step())!));
    const l1 = await c.response();
    assert.equal(l1.status, 407);
    c.send(`CONNECT ${target}`, header('NTLM', (await ctx.step(proxyAuthenticate(l1.head, 'NTLM')))!));
    const l3 = await c.response();
    assert.equal(l3.status, 200, l3.head);
    assert.equal(p.identities.at(-1)?.name, 'EXAMPLE\\alice');
    assert.equal(p.tunnels.at(-1), target);
    c.socket.write('through the tunnel');
    assert.equal(await c.rest(18), 'through the tunnel');
    await ctx.delete();
  } finally {
    c.close();
    await new Promise<void>((r) => echo.close(() => r()));
  }
}

describe('forward proxy: absolute-form requests', () => {
  it('no credentials: 407 offering Negotiate and NTLM in Proxy-Authenticate; an Authorization for the origin is not taken as the proxy\'s', async () => {
    const c = new ProxyClient();
    try {
      const r = await c.get(`${origin.url}/x`);
      assert.equal(r.status, 407);
      assert.deepEqual(r.headers['proxy-authenticate'], 'Negotiate, NTLM');
      assert.equal(r.headers['www-authenticate'], undefined);
      const ctx = await clientContext(host, 'NTLM');
      const r2 = await c.get(`${origin.url}/x`, { Authorization: header('NTLM', (await ctx.step())!) });
      assert.equal(r2.status, 407);
      assert.equal(failures.at(-1)?.status, 407);
      assert.equal(failures.at(-1)?.reason, 'no Proxy-Authorization header');
      await ctx.delete();
    } finally {
      c.close();
    }
  });

  it('garbage Proxy-Authorization: 400 and the connection closed', async () => {
    const c = new ProxyClient();
    try {
      const r = await c.get(`${origin.url}/x`, { 'Proxy-Authorization': 'NTLM %%%' });
      assert.equal(r.status, 400);
      assert.equal(r.headers.connection, 'close');
      assert.match(r.body, /Bad Proxy-Authorization header/);
    } finally {
      c.close();
    }
  });

  it('our client (proxy option): Negotiate through the proxy, the origin answers and never sees Proxy-Authorization; the connection stays signed on', async () => {
    const lsa = await initiatorLsa();
    const f = createFetch({ lsa, credentials: { user: 'alice', domain: 'EXAMPLE', password: PASSWORD }, proxy: proxy.url });
    try {
      const before = proxy.identities.length;
      const r = await f(`${origin.url}/through`, { method: 'POST', body: 'payload' });
      assert.equal(r.status, 200);
      const j = (await r.json()) as { method: string; url: string; body: string; proxyAuthorization: string | null };
      assert.deepEqual(j, { method: 'POST', url: '/through', body: 'payload', proxyAuthorization: null, authorization: null });
      assert.deepEqual(
        proxy.identities.slice(before).map((i) => [i.name, i.scheme]),
        [['EXAMPLE\\alice', 'Negotiate']],
      );
      // The final token came back in Proxy-Authenticate (the client checked it: no error), and
      // the next request on the signed-on connection needs no 407.
      const refusals = failures.length;
      const again = await f(`${origin.url}/again`);
      assert.equal(again.status, 200);
      assert.equal(((await again.json()) as { url: string }).url, '/again');
      assert.equal(failures.length, refusals);
    } finally {
      await f.close();
      await lsa.shutdown();
    }
  });
});

describe('forward proxy: CONNECT', () => {
  it('NTLM: 407 with the CHALLENGE, the AUTHENTICATE in a second CONNECT on the same connection, then 200 and the tunnel', async () => {
    await ntlmTunnel(proxy, false);
  });

  it('the same with the proxy itself on https (its CONNECTs over TLS)', async () => {
    const tlsProxy = await startForwardProxy(auth, selfSigned());
    try {
      await ntlmTunnel(tlsProxy, true);
    } finally {
      await tlsProxy.close();
    }
  });

  it('garbage in a CONNECT: 400 and the connection closed', async () => {
    const c = new RawHttpConnection(proxy.port);
    try {
      c.send('CONNECT 127.0.0.1:9', 'Negotiate !!');
      const r = await c.response();
      assert.equal(r.status, 400);
      assert.match(r.head, /\r\nConnection: close/i);
      await c.rest(1);
      assert.equal(c.closed, true);
    } finally {
      c.close();
    }
  });

  it('any Proxy-Authorization on a CONNECT: 400 or 407, never a 500, and the proxy still answers', async () => {
    const text = fc.string({ unit: fc.constantFrom(...'NTLMNegotiate =+/AZaz09-_.'.split('')), maxLength: 60, size: 'max' });
    const token = fc.tuple(fc.constantFrom('NTLM ', 'Negotiate '), fc.uint8Array({ maxLength: 120, size: 'max' }), fc.constantFrom('TlRMTVNTUAABAAAA', 'TlRMTVNTUAADAAAA', 'YII', 'oYI', ''))
      .map(([scheme, bytes, prefix]) => scheme + prefix + Buffer.from(bytes).toString('base64'));
    await assertSettled(
      fc.asyncProperty(fc.oneof(text, token), async (value) => {
        const c = new RawHttpConnection(proxy.port);
        try {
          c.send('CONNECT 127.0.0.1:9', value);
          const r = await c.response();
          assert.ok(r.status === 400 || r.status === 407, `${r.status} for ${JSON.stringify(value)}`);
        } finally {
          c.close();
        }
      }),
      { numRuns: 60 },
    );
    assert.ok(failures.every((f) => f.status !== 500), JSON.stringify(failures.filter((f) => f.status === 500)));
    const c = new RawHttpConnection(proxy.port);
    try {
      c.send('CONNECT 127.0.0.1:9');
      assert.equal((await c.response()).status, 407);
    } finally {
      c.close();
    }
  });

  it('authenticateConnect without proxy mode: SEC_E_INVALID_PARAMETER', async () => {
    const plain = createAuthenticator({ host });
    const s = new net.Socket();
    try {
      await assert.rejects(plain.authenticateConnect({ headers: {} } as never, s, Buffer.alloc(0)), (e: unknown) => e instanceof SspiError && e.code === 'SEC_E_INVALID_PARAMETER');
    } finally {
      s.destroy();
      await plain.close();
    }
  });
});

describe('our client to an https origin through the proxy', () => {
  it('a CONNECT tunnel signed on to the proxy (Negotiate), then TLS to the origin and its own sign-on bound to its certificate', async () => {
    const tlsOrigin = await startServer(host, { channelBindings: 'required' }, selfSigned());
    const lsa = await initiatorLsa();
    const signOns: SignOnEvent[] = [];
    const f = createFetch({ lsa, credentials: { user: 'alice', domain: 'EXAMPLE', password: PASSWORD }, proxy: proxy.url, connect: { rejectUnauthorized: false }, onSignOn: (e) => signOns.push(e) });
    try {
      const tunnels = proxy.tunnels.length;
      const r = await f(`${tlsOrigin.url}/inside`, { method: 'POST', body: 'sealed' });
      assert.equal(r.status, 200, JSON.stringify(tlsOrigin.failures));
      // Told of both: the proxy's sign-on for the tunnel, then the origin's inside it.
      assert.deepEqual(signOns.map((e) => [e.kind, e.origin, e.scheme, e.package]), [
        ['proxy', new URL(proxy.url).origin, 'Negotiate', 'NTLM'],
        ['server', tlsOrigin.url, 'Negotiate', 'NTLM'],
      ]);
      assert.equal(signOns[1]!.target, `HTTP/${new URL(tlsOrigin.url).hostname}`);
      const id = (await r.json()) as { name: string; channelBindings: boolean };
      assert.equal(id.name, 'EXAMPLE\\alice');
      assert.equal(id.channelBindings, true, 'bound to the origin certificate, not the proxy');
      assert.deepEqual(proxy.tunnels.slice(tunnels), [`127.0.0.1:${tlsOrigin.port}`]);
      assert.equal(proxy.identities.at(-1)?.scheme, 'Negotiate');
      // The pinned tunnel stays: the next request needs neither a CONNECT nor a sign-on.
      const again = await f(`${tlsOrigin.url}/again`);
      assert.equal(again.status, 200);
      await again.text();
      assert.equal(proxy.tunnels.length, tunnels + 1);
      // A tunnel to another origin sends the offer that worked with its first CONNECT: no bare 407.
      const other = await startServer(host, {}, selfSigned());
      try {
        const refusals = failures.length;
        const r2 = await f(`${other.url}/second`);
        assert.equal(r2.status, 200);
        await r2.text();
        assert.deepEqual(proxy.tunnels.slice(tunnels + 1), [`127.0.0.1:${other.port}`]);
        assert.deepEqual(failures.slice(refusals).map((x) => x.reason), [], 'no 407 without credentials on the second tunnel');
      } finally {
        await other.close();
      }
    } finally {
      await f.close();
      await lsa.shutdown();
      await tlsOrigin.close();
    }
  });

  it('a wrong password at the proxy: the request fails with SEC_E_LOGON_DENIED, nothing reaches the origin', async () => {
    const tlsOrigin = await startServer(host, {}, selfSigned());
    const lsa = await initiatorLsa();
    const f = createFetch({ lsa, credentials: { user: 'alice', domain: 'EXAMPLE', password: 'wrong' }, proxy: proxy.url, connect: { rejectUnauthorized: false } });
    try {
      await assert.rejects(f(`${tlsOrigin.url}/x`), (e: unknown) => sspiErrorIn(e)?.code === 'SEC_E_LOGON_DENIED');
      assert.equal(tlsOrigin.sockets.size, 0);
    } finally {
      await f.close();
      await lsa.shutdown();
      await tlsOrigin.close();
    }
  });

  it('a tunnel whose origin never answers TLS: rejected at the deadline, the socket closed', { timeout: 10_000 }, async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((sock) => {
      sockets.push(sock);
      sock.on('error', () => undefined);
      sock.once('data', () => sock.write('HTTP/1.1 200 Connection Established\r\n\r\n'));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const dial = () =>
        new Promise<net.Socket>((resolve, reject) => {
          const sock = net.connect((silent.address() as net.AddressInfo).port, '127.0.0.1', () => resolve(sock));
          sock.once('error', reject);
        });
      const started = Date.now();
      await assert.rejects(openTunnel(dial, new URL('https://origin.example.test/'), {}, { offers: () => [], start: () => Promise.reject(new Error('unused')), known: null, maxLegs: 2 }, 300), /did not complete within 300 ms/);
      assert.ok(Date.now() - started < 5000);
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(sockets[0]!.destroyed || sockets[0]!.readableEnded, 'the proxy side saw the connection end');
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
