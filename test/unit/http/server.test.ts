// The HTTP handler through node:http with our own SSPI initiator: NTLM and Negotiate(NTLM) over
// keep-alive, the final token, the identity, connection-bound state, timeouts, garbage headers.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { LsaHost } from '../../../src/lsa/host.js';
import { NegState, parseNegotiationToken } from '../../../src/packages/negotiate/spnego.js';
import { MemoryHandshakeStore } from '../../../src/http/handshakeStore.js';
import type { Identity } from '../../../src/http/server.js';
import { Client, clientContext, header, lsaHost, PASSWORD, signOn, startServer, tokenOf, type TestServer } from './helpers.js';

let host: LsaHost;
let srv: TestServer;
let store: MemoryHandshakeStore;

before(async () => {
  host = await lsaHost();
  store = new MemoryHandshakeStore();
  srv = await startServer(host, { store });
});
after(async () => {
  await srv.close();
  await store.close();
  await host.shutdown();
});

function challenges(h: http.IncomingHttpHeaders): string[] {
  const v = h['www-authenticate'];
  return Array.isArray(v) ? v : v === undefined ? [] : v.split(/,\s*/);
}

describe('401 challenges', () => {
  it('a request without Authorization gets 401 with Negotiate and NTLM challenges, in that order', async () => {
    const c = new Client(srv.url);
    const r = await c.get('/');
    assert.equal(r.status, 401);
    assert.deepEqual(challenges(r.headers), ['Negotiate', 'NTLM']);
    c.close();
  });

  it('offers only the configured schemes', async () => {
    const s = await startServer(host, { packages: ['NTLM'] });
    const c = new Client(s.url);
    assert.deepEqual(challenges((await c.get('/')).headers), ['NTLM']);
    // Negotiate is not offered here: a Negotiate token is treated as an unknown scheme.
    const ctx = await clientContext(host, 'Negotiate');
    const r = await c.get('/', header('Negotiate', (await ctx.step())!));
    assert.equal(r.status, 401);
    c.close();
    await ctx.delete();
    await s.close();
  });
});

describe('NTLM over keep-alive', () => {
  it('NEGOTIATE -> 401 CHALLENGE -> AUTHENTICATE -> 200 with the identity, on one connection', async () => {
    const before = srv.sockets.size;
    const c = new Client(srv.url);
    const ctx = await clientContext(host, 'NTLM');
    const { reply, legs } = await signOn(c, ctx, 'NTLM');
    assert.equal(reply.status, 200, reply.body);
    assert.equal(legs, 2);
    assert.equal(srv.sockets.size - before, 1, 'every leg on the same connection');
    const id = JSON.parse(reply.body) as Identity;
    assert.equal(id.user, 'alice');
    assert.equal(id.domain, 'EXAMPLE');
    assert.equal(id.name, 'EXAMPLE\\alice');
    assert.equal(id.package, 'NTLM');
    assert.equal(id.scheme, 'NTLM');
    assert.ok(Array.isArray(id.flags));
    assert.deepEqual(id.groups, []);
    assert.equal(id.channelBindings, false);
    // NTLM has no final token.
    assert.equal(reply.headers['www-authenticate'], undefined);
    // The connection stays authenticated (as browsers expect of NTLM).
    const again = await c.get('/again');
    assert.equal(again.status, 200);
    assert.equal((JSON.parse(again.body) as Identity).user, 'alice');
    assert.equal(await store.size(), 0);
    c.close();
    await ctx.delete();
  });

  it('a wrong password gets 401 with fresh challenges and SEC_E_LOGON_DENIED in the failure log', async () => {
    const c = new Client(srv.url);
    const ctx = await clientContext(host, 'NTLM', 'wrong');
    const n = srv.failures.length;
    const { reply } = await signOn(c, ctx, 'NTLM');
    assert.equal(reply.status, 401);
    assert.deepEqual(challenges(reply.headers), ['Negotiate', 'NTLM']);
    assert.equal(srv.failures[n]?.code, 'SEC_E_LOGON_DENIED');
    assert.ok(!JSON.stringify(srv.failures).includes('wrong'));
    assert.equal(await store.size(), 0);
    c.close();
    await ctx.delete();
  });

  it('without persistConnection every request authenticates again', async () => {
    const s = await startServer(host, { persistConnection: false });
    const c = new Client(s.url);
    const ctx = await clientContext(host, 'NTLM');
    assert.equal((await signOn(c, ctx, 'NTLM')).reply.status, 200);
    assert.equal((await c.get('/')).status, 401);
    c.close();
    await ctx.delete();
    await s.close();
  });

  it('the AUTHENTICATE on a new connection finds no handshake: 401', async () => {
    const a = new Client(srv.url);
    const b = new Client(srv.url);
    const ctx = await clientContext(host, 'NTLM');
    const r1 = await a.get('/', header('NTLM', (await ctx.step())!));
    assert.equal(r1.status, 401);
    const t3 = await ctx.step(tokenOf(r1.headers, 'NTLM')!);
    const r2 = await b.get('/', header('NTLM', t3!));
    assert.equal(r2.status, 401);
    assert.match(srv.failures.at(-1)!.reason, /without a handshake in progress/);
    // The one parked on connection a goes when a closes.
    assert.equal(await store.size(), 1);
    a.close();
    b.close();
    await waitFor(async () => (await store.size()) === 0);
    await ctx.delete();
  });

  it('a connection closed mid-handshake deletes its context', async () => {
    const c = new Client(srv.url);
    const ctx = await clientContext(host, 'NTLM');
    const r = await c.get('/', header('NTLM', (await ctx.step())!));
    assert.equal(r.status, 401);
    assert.equal(await store.size(), 1);
    c.close();
    await waitFor(async () => (await store.size()) === 0);
    await ctx.delete();
  });

  it('a handshake that never finishes is dropped after handshakeTimeoutMs', async () => {
    const own = new MemoryHandshakeStore();
    const s = await startServer(host, { store: own, handshakeTimeoutMs: 80 });
    const c = new Client(s.url);
    const ctx = await clientContext(host, 'NTLM');
    const r1 = await c.get('/', header('NTLM', (await ctx.step())!));
    assert.equal(await own.size(), 1);
    await waitFor(async () => (await own.size()) === 0);
    const r2 = await c.get('/', header('NTLM', (await ctx.step(tokenOf(r1.headers, 'NTLM')!))!));
    assert.equal(r2.status, 401);
    c.close();
    await ctx.delete();
    await s.close();
    await own.close();
  });

  it('a new NEGOTIATE restarts the handshake on the same connection', async () => {
    const c = new Client(srv.url);
    const stale = await clientContext(host, 'NTLM');
    await c.get('/', header('NTLM', (await stale.step())!));
    const ctx = await clientContext(host, 'NTLM');
    const { reply } = await signOn(c, ctx, 'NTLM');
    assert.equal(reply.status, 200);
    assert.equal(await store.size(), 0);
    c.close();
    await stale.delete();
    await ctx.delete();
  });
});

describe('Negotiate (SPNEGO around NTLM)', () => {
  it('three legs, the accept-completed token with its mechListMIC on the 200, checked by the client', async () => {
    const c = new Client(srv.url);
    const ctx = await clientContext(host, 'Negotiate');
    const { reply, legs } = await signOn(c, ctx, 'Negotiate');
    assert.equal(reply.status, 200, reply.body);
    assert.equal(legs, 2);
    const final = tokenOf(reply.headers, 'Negotiate');
    assert.ok(final, 'final WWW-Authenticate: Negotiate token');
    const resp = parseNegotiationToken(final);
    assert.equal(resp.kind, 'resp');
    assert.equal(resp.kind === 'resp' && resp.negState, NegState.accept_completed);
    // The client verifies the server's mechListMIC: mutual authentication of the negotiation.
    assert.equal(await ctx.step(final), null);
    assert.equal(ctx.complete, true);
    const id = JSON.parse(reply.body) as Identity;
    assert.equal(id.scheme, 'Negotiate');
    assert.equal(id.package, 'NTLM');
    assert.equal(id.user, 'alice');
    assert.equal(id.domain, 'EXAMPLE');
    c.close();
    await ctx.delete();
  });

  it('raw NTLM under the Negotiate scheme (what some clients send) authenticates too', async () => {
    const c = new Client(srv.url);
    const ctx = await clientContext(host, 'NTLM');
    const { reply } = await signOn(c, ctx, 'Negotiate');
    assert.equal(reply.status, 200, reply.body);
    assert.equal((JSON.parse(reply.body) as Identity).package, 'NTLM');
    c.close();
    await ctx.delete();
  });

  it('a NegTokenResp on a connection without a handshake gets 401', async () => {
    const a = new Client(srv.url);
    const ctx = await clientContext(host, 'Negotiate');
    const r1 = await a.get('/', header('Negotiate', (await ctx.step())!));
    const t3 = (await ctx.step(tokenOf(r1.headers, 'Negotiate')!))!;
    const b = new Client(srv.url);
    assert.equal((await b.get('/', header('Negotiate', t3))).status, 401);
    a.close();
    b.close();
    await ctx.delete();
  });
});

describe('garbage Authorization headers', () => {
  const cases: Array<[string, string, number]> = [
    ['bad base64', 'NTLM ***not base64***', 400],
    ['scheme without a token', 'Negotiate', 400],
    ['scheme with blanks only', 'NTLM    ', 400],
    ['unknown scheme', 'Basic YWxpY2U6UGFzc3cwcmQ=', 401],
    ['Bearer', 'Bearer abc.def.ghi', 401],
    ['not a header shape', '  ', 400],
    ['random bytes under NTLM', `NTLM ${Buffer.from('hello world, not NTLM').toString('base64')}`, 400],
    ['random bytes under Negotiate', `Negotiate ${Buffer.from([0x30, 3, 1, 2, 3]).toString('base64')}`, 400],
    ['NTLM CHALLENGE sent by a client', `NTLM ${Buffer.concat([Buffer.from('NTLMSSP\0'), Buffer.from([2, 0, 0, 0]), Buffer.alloc(40)]).toString('base64')}`, 400],
    ['NTLM type 3 as a first leg', `NTLM ${Buffer.concat([Buffer.from('NTLMSSP\0'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(60)]).toString('base64')}`, 401],
    ['truncated NEGOTIATE', `NTLM ${Buffer.concat([Buffer.from('NTLMSSP\0'), Buffer.from([1, 0, 0, 0])]).toString('base64')}`, 400],
    ['GSS header with garbage inside', `Negotiate ${Buffer.from([0x60, 5, 6, 3, 1, 2, 3]).toString('base64')}`, 400],
    ['NegTokenResp garbage', `Negotiate ${Buffer.from([0xa1, 3, 0x30, 1, 0]).toString('base64')}`, 401],
  ];
  for (const [name, value, status] of cases) {
    it(`${name} -> ${status}`, async () => {
      const c = new Client(srv.url);
      const r = await c.get('/', value);
      assert.equal(r.status, status, `${name}: ${r.body}`);
      if (status === 401) assert.deepEqual(challenges(r.headers), ['Negotiate', 'NTLM']);
      c.close();
    });
  }

  it('a huge header gets 400, not a crash', async () => {
    const c = new Client(srv.url);
    const r = await c.get('/', `Negotiate ${'A'.repeat(200_000)}`);
    assert.equal(r.status, 400);
    c.close();
  });

  it('property: any header value gets 400 or 401 and the server keeps serving', async () => {
    const c = new Client(srv.url);
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((n) => String.fromCharCode(n)), maxLength: 200 });
    const tokenish = fc.tuple(fc.constantFrom('NTLM', 'Negotiate', 'ntlm', 'NEGOTIATE', 'Kerberos', 'Basic'), fc.uint8Array({ maxLength: 300, size: 'max' }), fc.constantFrom(0x60, 0xa1, 0x4e, 0x6e)).map(([s, b, first]) => {
      const bytes = Buffer.from(b);
      if (bytes.length) bytes[0] = first;
      if (first === 0x4e && bytes.length >= 12) {
        Buffer.from('NTLMSSP\0').copy(bytes);
        bytes[8] = (b[8] ?? 0) % 4;
      }
      return `${s} ${bytes.toString('base64')}`;
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(printable, tokenish), async (value) => {
        let r;
        try {
          r = await c.get('/', value);
        } catch (e) {
          // node:http itself refuses some header values before sending them.
          if ((e as { code?: string }).code === 'ERR_INVALID_CHAR' || (e as { code?: string }).code === 'ERR_HTTP_INVALID_HEADER_VALUE') return;
          throw e;
        }
        assert.ok(r.status === 400 || r.status === 401, `${value} -> ${r.status}`);
      }),
      { numRuns: 150 },
    );
    c.close();
    const ctx = await clientContext(host, 'NTLM');
    const c2 = new Client(srv.url);
    assert.equal((await signOn(c2, ctx, 'NTLM')).reply.status, 200);
    c2.close();
    await ctx.delete();
    await waitFor(async () => (await store.size()) === 0);
  });
});

describe('middleware', () => {
  it('sets req.identity and calls next() once authenticated; never calls next() on a 401', async () => {
    const { createAuthenticator } = await import('../../../src/http/server.js');
    const auth = createAuthenticator({ host });
    const mw = auth.middleware();
    let nexts = 0;
    const server = http.createServer((req, res) => {
      mw(req, res, () => {
        nexts++;
        res.end(JSON.stringify((req as { identity?: Identity }).identity));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const c = new Client(url);
    assert.equal((await c.get('/')).status, 401);
    assert.equal(nexts, 0);
    const ctx = await clientContext(host, 'Negotiate');
    const { reply } = await signOn(c, ctx, 'Negotiate');
    assert.equal(reply.status, 200);
    assert.equal((JSON.parse(reply.body) as Identity).user, 'alice');
    assert.equal(nexts, 1);
    c.close();
    await ctx.delete();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await auth.close();
  });
});

it('PASSWORD is what the authority holds (guards the fixtures)', () => {
  assert.equal(PASSWORD, 'Passw0rd');
});

async function waitFor(cond: () => Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}
