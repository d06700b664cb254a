// Channel bindings (RFC 5929 tls-server-end-point) from the HTTP client over https, checked by our
// acceptor configured with the bindings it expects (Extended Protection).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createFetch, type NegotiateClientOptions, type NegotiateFetch } from '../../../src/http/client.js';
import { endPointHash, tlsServerEndPoint } from '../../../src/http/channelBindings.js';
import { createHash } from 'node:crypto';
import { perConnectionBalancer } from '../../interop/lib/cluster-http.js';
import { DOMAIN, PASSWORD, USER, acceptorLsa, initiatorLsa, selfSigned, startServer, type TestServer } from './client-harness.js';

const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
  await (await acceptorLsa()).shutdown();
});

let tls: ReturnType<typeof selfSigned>;
let other: ReturnType<typeof selfSigned>;
before(() => {
  tls = selfSigned('sha256');
  other = selfSigned('sha256');
});

async function server(opts: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(opts);
  closers.push(() => s.close());
  return s;
}

async function client(opts: NegotiateClientOptions = {}): Promise<NegotiateFetch> {
  const lsa = await initiatorLsa();
  const f = createFetch({ lsa, credentials: { user: USER, domain: DOMAIN, password: PASSWORD }, connect: { ca: tls.cert }, ...opts });
  closers.push(async () => {
    await f.close();
    await lsa.shutdown();
  });
  return f;
}

describe('tls-server-end-point', () => {
  it('hashes with SHA-256 for a SHA-256 signature and SHA-384 for an ecdsa-with-SHA384 one', () => {
    assert.equal(endPointHash(tls.der), 'sha256');
    const strong = selfSigned('sha384', 'ec');
    assert.equal(endPointHash(strong.der), 'sha384');
    const cb = tlsServerEndPoint(strong.der);
    assert.equal(Buffer.from(cb.subarray(0, 21)).toString('ascii'), 'tls-server-end-point:');
    assert.deepEqual(Buffer.from(cb.subarray(21)), createHash('sha384').update(strong.der).digest());
    assert.throws(() => endPointHash(new Uint8Array([0x30, 0x00])), { name: 'SspiError' }, 'an unreadable certificate is an error, not a guess');
  });
});

describe('HTTP client: channel bindings over https', () => {
  for (const scheme of ['NTLM', 'Negotiate']) {
    it(`${scheme}: accepted when the server expects this certificate's bindings`, async () => {
      const s = await server({ tls, offer: [scheme], bindings: tlsServerEndPoint(tls.der) });
      const f = await client();
      const r = await f(`${s.url}/cb`);
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as { user: string }).user, `${DOMAIN}\\${USER}`);
    });

    it(`${scheme}: refused (401 returned) when the server expects other bindings`, async () => {
      const s = await server({ tls, offer: [scheme], bindings: tlsServerEndPoint(other.der) });
      const f = await client();
      const r = await f(`${s.url}/cb`);
      assert.equal(r.status, 401);
      await r.text();
    });
  }

  it('without bindings (channelBindings: false) a server that requires them refuses', async () => {
    const s = await server({ tls, offer: ['NTLM'], bindings: tlsServerEndPoint(tls.der) });
    const f = await client({ channelBindings: false });
    const r = await f(`${s.url}/cb`);
    assert.equal(r.status, 401);
    await r.text();
  });
});

/** The per-connection (L4) balancer of the cluster tests in front of `servers`, named as localhost (their certificates' name). */
async function alternate(servers: TestServer[]): Promise<{ url: string; routed: number[] }> {
  const lb = await perConnectionBalancer(servers.map((s) => ({ url: `https://127.0.0.1:${s.port}` })));
  closers.push(() => lb.close());
  return { url: lb.url.replace('127.0.0.1', 'localhost'), routed: lb.routed };
}

describe('HTTP client: bindings follow the connection that carries the token', () => {
  // Two servers with their own certificates behind a balancer that alternates per connection:
  // the unauthenticated request goes to b, the handshake's connection to a, which closes it after
  // its CHALLENGE, so the AUTHENTICATE leg (carrying a's bindings) reaches b, which expects its own.
  it('starts the handshake again, bound to the new connection, when a leg lands on another certificate', async () => {
    const a = await server({ tls, offer: ['NTLM'], bindings: tlsServerEndPoint(tls.der), closeAfterContinue: true });
    const b = await server({ tls: other, offer: ['NTLM'], bindings: tlsServerEndPoint(other.der) });
    const lb = await alternate([b, a]);
    const f = await client({ connect: { ca: [tls.cert, other.cert] } });
    const r = await f(`${lb.url}/moved`);
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { user: string }).user, `${DOMAIN}\\${USER}`);
    // a saw the NEGOTIATE; b the plain request, the AUTHENTICATE it refused, then the whole handshake.
    assert.deepEqual(a.log.map((e) => e.auth), ['NTLM']);
    assert.deepEqual(b.log.map((e) => e.auth), [null, 'NTLM', 'NTLM', 'NTLM']);
    assert.deepEqual(lb.routed, [0, 1, 0], 'b, a, b');
  });

  it('starts again once only: a second move leaves the 401 to the caller', async () => {
    const a = await server({ tls, offer: ['NTLM'], bindings: tlsServerEndPoint(tls.der), closeAfterContinue: true });
    const b = await server({ tls: other, offer: ['NTLM'], bindings: tlsServerEndPoint(other.der), closeAfterContinue: true });
    const lb = await alternate([b, a]);
    const f = await client({ connect: { ca: [tls.cert, other.cert] } });
    const r = await f(`${lb.url}/moving`);
    assert.equal(r.status, 401);
    await r.text();
    // The plain request, the first handshake, the leg that moved (b: the second handshake), and the
    // AUTHENTICATE that moved again (a), whose 401 is the answer.
    assert.deepEqual(lb.routed, [0, 1, 0, 1], 'b, a, b, a');
  });
});
