// HTTP/2 through node:http2's compatibility API (createSecureServer with allowHTTP1, as sites serve
// browsers today): a Negotiate sign-on that completes in one leg (Kerberos) authenticates its own
// request and nothing more; NTLM, SPNEGO that needs another leg and any later leg reset the stream
// with HTTP_1_1_REQUIRED (RFC 9113 error 0xd), and the same server then serves that sign-on over
// HTTP/1.1. Over TLS the channel bindings come from the session's certificate.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Credentials } from '../../../src/credentials.js';
import { SecurityContext } from '../../../src/context.js';
import { type AuthFailure, type Authenticator, createAuthenticator, type AuthenticatorOptions } from '../../../src/http/server.js';
import { tlsServerEndPoint } from '../../../src/http/channelBindings.js';
import { closeWorld, getWorld, PASSWORD, SPN, type World } from '../../fuzz/negotiate-http-properties.js';
import * as fc from 'fast-check';
import { Agent } from 'undici';
import { assertSettled } from '../../fuzz/settle.js';
import { negotiateInterceptor } from '../../../src/http/client.js';
import { selfSigned } from './client-harness.js';
import { Client, H2Client, header, tokenOf } from './helpers.js';

interface H2Server {
  url: string;
  auth: Authenticator;
  failures: AuthFailure[];
  /** The HTTP version of every request the application saw authenticated. */
  versions: string[];
  /** The HTTP version of every request that reached the server. */
  seen: string[];
  /** HTTP/2 responses the handler gave a Connection header (node:http2 drops it with a process warning). */
  connectionHeaders: number;
  close(): Promise<void>;
}

const tls = selfSigned();
let w: World;

before(async () => {
  w = await getWorld();
});

after(async () => {
  await closeWorld();
});

async function startH2(options: Partial<AuthenticatorOptions> = {}): Promise<H2Server> {
  const failures: AuthFailure[] = [];
  const versions: string[] = [];
  const seen: string[] = [];
  const auth = createAuthenticator({ host: w.host, onFailure: (_req, f) => failures.push(f), ...options });
  const state = { connectionHeaders: 0 };
  const server = http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: true, maxSessionMemory: 64 }, (req, res) => {
    seen.push(req.httpVersion);
    if (req.httpVersionMajor === 2) {
      const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => unknown;
      (res as { writeHead: unknown }).writeHead = (...args: unknown[]) => {
        const named = (h: unknown): boolean => typeof h === 'object' && h !== null && Object.keys(h).some((k) => k.toLowerCase() === 'connection');
        if (args.some(named)) state.connectionHeaders++;
        return writeHead(...args);
      };
    }
    void auth.authenticate(req, res).then((id) => {
      if (!id) return;
      versions.push(req.httpVersion);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(id));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    auth,
    failures,
    versions,
    seen,
    get connectionHeaders() {
      return state.connectionHeaders;
    },
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      await auth.close();
    },
  };
}

/** A server, an HTTP/2 session and an HTTP/1.1 keep-alive connection to it, closed after `fn`. */
async function withH2(options: Partial<AuthenticatorOptions>, fn: (srv: H2Server, c: H2Client, h1: Client) => Promise<void>): Promise<void> {
  const srv = await startH2(options);
  const c = new H2Client(srv.url);
  const h1 = new Client(srv.url, true);
  try {
    await fn(srv, c, h1);
  } finally {
    h1.close();
    c.close();
    await srv.close();
  }
}

function clientContext(cred: Credentials, bindings?: Uint8Array): SecurityContext {
  return SecurityContext.client(cred, { target: SPN, flags: ['MUTUAL_AUTH'], ...(bindings ? { channelBindings: { applicationData: bindings } } : {}) });
}

const HTTP_1_1_REQUIRED = http2.constants.NGHTTP2_HTTP_1_1_REQUIRED;

describe('HTTP/2 (node:http2 compatibility API)', () => {
  it('without credentials: 401 offering Negotiate and NTLM', async () => {
    await withH2({}, async (srv, c) => {
    const r = await c.get();
    assert.equal(r.status, 401);
    assert.equal(r.rstCode, 0);
    assert.equal(String(r.headers['www-authenticate']), 'Negotiate, NTLM');
    });
  });

  it('Kerberos in one leg: 200 for that request, the AP-REP checked by the client, and nothing kept for the next stream', async () => {
    await withH2({}, async (srv, c) => {
    const ctx = clientContext(w.clients.kerberos);
    const r = await c.get(header('Negotiate', (await ctx.step())!));
    assert.equal(r.status, 200, JSON.stringify(srv.failures));
    const id = JSON.parse(r.body) as { name: string; package: string; scheme: string };
    assert.deepEqual([id.name, id.package, id.scheme], [w.expected.kerberos.name, 'Kerberos', 'Negotiate']);
    const back = tokenOf(r.headers as never, 'Negotiate');
    assert.ok(back, 'the final token rides on the 200');
    await ctx.step(back);
    assert.equal(ctx.complete, true);
    await ctx.delete();
    assert.deepEqual(srv.versions, ['2.0']);
    // The same session (connection) without a header: a fresh 401, not the identity.
    const bare = await c.get();
    assert.equal(bare.status, 401);
    });
  });

  it('NTLM: the stream is reset with HTTP_1_1_REQUIRED, and the same handshake then runs over HTTP/1.1 on that server', async () => {
    await withH2({}, async (srv, c, h1) => {
    const ctx = clientContext(w.ntlmClient);
    const first = (await ctx.step())!;
    const r = await c.get(header('NTLM', first));
    assert.equal(r.rstCode, HTTP_1_1_REQUIRED);
    assert.equal(r.status, 0, 'no response, only the reset');
    assert.equal(srv.failures.at(-1)?.http11Required, true);
    assert.match(srv.failures.at(-1)!.reason, /NTLM over HTTP\/2/);
    // The retry a browser or curl makes: HTTP/1.1, one connection for the legs.
    const l1 = await h1.get('/', header('NTLM', first));
    assert.equal(l1.status, 401);
    const l3 = await h1.get('/', header('NTLM', (await ctx.step(tokenOf(l1.headers, 'NTLM')!))!));
    assert.equal(l3.status, 200, JSON.stringify(srv.failures));
    assert.equal((JSON.parse(l3.body) as { name: string }).name, w.expected.ntlm.name);
    assert.deepEqual(srv.versions, ['1.1']);
    await ctx.delete();
    });
  });

  it('SPNEGO that continues (NTLM under Negotiate): reset, and Kerberos still served on that session', async () => {
    await withH2({}, async (srv, c) => {
    const ctx = clientContext(w.clients.ntlm);
    const r = await c.get(header('Negotiate', (await ctx.step())!));
    assert.equal(r.rstCode, HTTP_1_1_REQUIRED);
    assert.match(srv.failures.at(-1)!.reason, /Negotiate sign-on that continues over HTTP\/2/);
    await ctx.delete();
    // Still serving Kerberos over HTTP/2 on the same session.
    const k = clientContext(w.clients.kerberos);
    assert.equal((await c.get(header('Negotiate', (await k.step())!))).status, 200);
    await k.delete();
    });
  });

  it('a later leg over HTTP/2 is reset and leaves the HTTP/1.1 connection its handshake', async () => {
    await withH2({}, async (srv, c, h1) => {
    const ctx = clientContext(w.ntlmClient);
    const l1 = await h1.get('/', header('NTLM', (await ctx.step())!));
    assert.equal(l1.status, 401);
    const third = (await ctx.step(tokenOf(l1.headers, 'NTLM')!))!;
    const r = await c.get(header('NTLM', third));
    assert.equal(r.rstCode, HTTP_1_1_REQUIRED);
    const l3 = await h1.get('/', header('NTLM', third));
    assert.equal(l3.status, 200, JSON.stringify(srv.failures));
    await ctx.delete();
    });
  });

  it("channel bindings 'required' over HTTP/2: the TLS session's certificate binds; another certificate's do not", async () => {
    await withH2({ channelBindings: 'required' }, async (srv, c) => {
    const good = clientContext(w.clients.kerberos, tlsServerEndPoint(tls.der));
    const r = await c.get(header('Negotiate', (await good.step())!));
    assert.equal(r.status, 200, JSON.stringify(srv.failures));
    assert.equal((JSON.parse(r.body) as { channelBindings: boolean }).channelBindings, true);
    await good.delete();
    const bad = clientContext(w.clients.kerberos, tlsServerEndPoint(selfSigned().der));
    const refused = await c.get(header('Negotiate', (await bad.step())!));
    assert.equal(refused.status, 401);
    assert.equal(srv.failures.at(-1)?.code, 'SEC_E_BAD_BINDINGS');
    await bad.delete();
    });
  });

  it('our client on a caller\'s allowH2 Agent: the plain request goes over HTTP/2, its NTLM handshake on a pinned HTTP/1.1 connection', async () => {
    const srv = await startH2({ packages: ['NTLM'] });
    const interceptor = negotiateInterceptor({ lsa: w.host, credentials: { user: 'alice', domain: 'EXAMPLE', password: PASSWORD }, connect: { rejectUnauthorized: false } });
    const agent = new Agent({ allowH2: true, connect: { rejectUnauthorized: false } });
    try {
      const r = await agent.compose(interceptor).request({ origin: srv.url, path: '/', method: 'GET' });
      const body = await r.body.text();
      assert.equal(r.statusCode, 200, `${body} ${JSON.stringify(srv.failures)}`);
      assert.equal((JSON.parse(body) as { name: string }).name, w.expected.ntlm.name);
      // The challenge came over HTTP/2, the sign-on's legs over HTTP/1.1.
      assert.equal(srv.failures[0]?.reason, 'no Authorization header');
      assert.deepEqual(srv.seen, ['2.0', '1.1', '1.1']);
      assert.deepEqual(srv.versions, ['1.1']);
    } finally {
      await interceptor.close();
      await agent.close();
      await srv.close();
    }
  });

  it('our client, when the origin resets its plain HTTP/2 request with HTTP_1_1_REQUIRED: sent again over HTTP/1.1 with its body, and later requests go there at once', async () => {
    // An origin that takes no request over HTTP/2 (IIS may answer a Windows-auth site so).
    const auth = createAuthenticator({ host: w.host, packages: ['NTLM'] });
    const seen: string[] = [];
    const server = http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: true }, (req, res) => {
      seen.push(req.httpVersion);
      if (req.httpVersionMajor === 2) {
        (res as http2.Http2ServerResponse).stream.close(HTTP_1_1_REQUIRED);
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void auth.authenticate(req, res).then((id) => {
          if (id) res.end(`${id.name} ${Buffer.concat(chunks).toString('utf8')}`);
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const interceptor = negotiateInterceptor({ lsa: w.host, credentials: { user: 'alice', domain: 'EXAMPLE', password: PASSWORD }, connect: { rejectUnauthorized: false } });
    const agent = new Agent({ allowH2: true, connect: { rejectUnauthorized: false } });
    try {
      const d = agent.compose(interceptor);
      const r = await d.request({ origin, path: '/', method: 'POST', body: 'the body' });
      assert.equal(r.statusCode, 200);
      assert.equal(await r.body.text(), `${w.expected.ntlm.name} the body`);
      assert.equal(seen[0], '2.0');
      assert.ok(seen.slice(1).every((v) => v === '1.1'), seen.join(' '));
      const again = await d.request({ origin, path: '/', method: 'GET' });
      assert.equal(again.statusCode, 200);
      await again.body.text();
      assert.equal(seen.filter((v) => v === '2.0').length, 1, 'the origin is remembered as HTTP/1.1 only');
    } finally {
      await interceptor.close();
      await agent.close();
      await new Promise<void>((r) => server.close(() => r()));
      await auth.close();
    }
  });

  it('any Authorization value over HTTP/2: 400, 401 or HTTP_1_1_REQUIRED, never 500, and the session keeps serving Kerberos', async () => {
    await withH2({}, async (srv, c) => {
      // Field values over HTTP/2 carry no CR, LF or NUL (node:http2 refuses to send them).
      const text = fc.string({ unit: fc.constantFrom(...'NTLMNegotiate Basic=+/AZaz09\t-_.%'.split('')), maxLength: 64, size: 'max' });
      const token = fc.tuple(fc.constantFrom('NTLM ', 'Negotiate ', 'negotiate ', 'NTLM  '), fc.uint8Array({ maxLength: 200, size: 'max' }), fc.constantFrom('TlRMTVNTUAABAAAA', 'TlRMTVNTUAADAAAA', 'YII', 'oYI', ''))
        .map(([scheme, bytes, prefix]) => scheme + prefix + Buffer.from(bytes).toString('base64'));
      const outcomes = new Set<string>();
      await assertSettled(
        fc.asyncProperty(fc.oneof(text, token), async (value) => {
          const r = await c.get(value);
          if (r.rstCode) assert.equal(r.rstCode, HTTP_1_1_REQUIRED, value);
          else assert.ok(r.status === 400 || r.status === 401, `${r.status} for ${JSON.stringify(value)}`);
          outcomes.add(r.rstCode ? 'reset' : String(r.status));
        }),
        { numRuns: 150 },
      );
      assert.deepEqual([...outcomes].sort(), ['400', '401', 'reset']);
      assert.ok(srv.failures.every((f) => f.status !== 500), JSON.stringify(srv.failures.filter((f) => f.status === 500)));
      // A 400 closes an HTTP/1.1 connection; an HTTP/2 session carries other streams and keeps on.
      assert.equal(srv.connectionHeaders, 0, 'no Connection header on an HTTP/2 response');
      const k = clientContext(w.clients.kerberos);
      assert.equal((await c.get(header('Negotiate', (await k.step())!))).status, 200);
      await k.delete();
    });
  });
});
