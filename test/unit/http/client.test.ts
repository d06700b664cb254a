// The Negotiate/NTLM HTTP client against node:http servers that authenticate with our own acceptor.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { Agent } from 'undici';
import { createFetch, negotiateInterceptor, type NegotiateClientOptions, type NegotiateFetch, type SignOnEvent } from '../../../src/http/client.js';
import { SspiError } from '../../../src/sspi/error.js';
import { DOMAIN, PASSWORD, USER, acceptorLsa, initiatorLsa, startServer, type LogEntry, type TestServer } from './client-harness.js';

const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
  await (await acceptorLsa()).shutdown();
});

async function server(opts: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(opts);
  closers.push(() => s.close());
  return s;
}

async function client(opts: NegotiateClientOptions = {}): Promise<NegotiateFetch> {
  const lsa = await initiatorLsa();
  const f = createFetch({ lsa, credentials: { user: USER, domain: DOMAIN, password: PASSWORD }, ...opts });
  closers.push(async () => {
    await f.close();
    await lsa.shutdown();
  });
  return f;
}

/** The cause chain of a rejected fetch (undici wraps errors in TypeError('fetch failed')). */
async function rejection(p: Promise<unknown>): Promise<SspiError> {
  try {
    await p;
  } catch (e) {
    let c: unknown = e;
    while (c && !(c instanceof SspiError)) c = (c as { cause?: unknown }).cause;
    if (c instanceof SspiError) return c;
    throw e;
  }
  assert.fail('expected the request to fail');
}

const authLegs = (log: LogEntry[]): LogEntry[] => log.filter((e) => e.auth !== null);

describe('HTTP client: NTLM', () => {
  it('answers an NTLM challenge on one keep-alive connection and reuses it afterwards', async () => {
    const s = await server({ offer: ['NTLM'] });
    const f = await client();
    const r = await f(`${s.url}/a`);
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { user: string }).user, `${DOMAIN}\\${USER}`);
    const legs = authLegs(s.log);
    assert.deepEqual(legs.map((e) => e.auth), ['NTLM', 'NTLM']);
    assert.equal(legs[0]!.socket, legs[1]!.socket, 'NEGOTIATE and AUTHENTICATE on the same connection');
    // The authenticated connection serves the next request as it is.
    const r2 = await f(`${s.url}/b`);
    assert.equal(r2.status, 200);
    const last = s.log.at(-1)!;
    assert.equal(last.auth, null);
    assert.equal(last.socket, legs[1]!.socket);
    assert.equal(s.log.length, 4, 'probe, two legs, then one plain request');
  });

  it('returns the 401 as it is when the password is wrong, after one handshake', async () => {
    const s = await server({ offer: ['NTLM'] });
    const f = await client({ credentials: { user: USER, domain: DOMAIN, password: 'wrong' } });
    const r = await f(`${s.url}/`);
    assert.equal(r.status, 401);
    await r.text();
    assert.equal(s.log.length, 3, 'probe, NEGOTIATE, AUTHENTICATE and no retry');
  });

  it('an endless 401 is returned after the final leg, and after maxLegs', async () => {
    const challenge = await ntlmChallengeToken();
    const s = await server({ endless: { scheme: 'NTLM', token: challenge } });
    const f = await client();
    const r = await f(`${s.url}/`);
    assert.equal(r.status, 401);
    await r.text();
    assert.equal(s.log.length, 3);
    const s2 = await server({ endless: { scheme: 'NTLM', token: challenge } });
    const f2 = await client({ maxLegs: 1 });
    const r2 = await f2(`${s2.url}/`);
    assert.equal(r2.status, 401);
    await r2.text();
    assert.equal(s2.log.length, 2, 'probe and one leg');
  });
});

describe('HTTP client: Negotiate', () => {
  it('SPNEGO (NTLM inside) with the mutual token checked, on one connection', async () => {
    const s = await server({ offer: ['Negotiate'] });
    const f = await client();
    const r = await f(`${s.url}/n`);
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { user: string }).user, `${DOMAIN}\\${USER}`);
    const legs = authLegs(s.log);
    assert.deepEqual(legs.map((e) => e.auth), ['Negotiate', 'Negotiate']);
    assert.equal(legs[0]!.socket, legs[1]!.socket);
  });

  it('prefers Negotiate when both are offered, NTLM when told to', async () => {
    const s = await server({ offer: ['NTLM', 'Negotiate'] });
    const f = await client();
    assert.equal((await f(`${s.url}/`)).status, 200);
    assert.equal(authLegs(s.log)[0]!.auth, 'Negotiate');
    const s2 = await server({ offer: ['Negotiate', 'NTLM'] });
    const f2 = await client({ packages: ['NTLM'] });
    assert.equal((await f2(`${s2.url}/`)).status, 200);
    assert.equal(authLegs(s2.log)[0]!.auth, 'NTLM');
  });

  it('a corrupted final token is an error, not the response', async () => {
    const s = await server({ offer: ['Negotiate'], mutual: 'bad' });
    const f = await client();
    const e = await rejection(f(`${s.url}/`));
    assert.ok(e.status >>> 0 >= 0x80000000, e.message);
  });

  it('a missing final token is SEC_E_MUTUAL_AUTH_FAILED unless mutualAuth is false', async () => {
    const s = await server({ offer: ['Negotiate'], mutual: 'missing' });
    const f = await client();
    const e = await rejection(f(`${s.url}/`));
    assert.equal(e.code, 'SEC_E_MUTUAL_AUTH_FAILED');
    const f2 = await client({ mutualAuth: false });
    assert.equal((await f2(`${s.url}/`)).status, 200);
  });
});

describe('HTTP client: a connection closed between legs', () => {
  it('the server lost the handshake with it: the handshake starts again on the new connection, and the body goes on its final leg', async () => {
    const s = await server({ offer: ['NTLM'], closeAfterContinue: 'once' });
    const f = await client();
    const r = await f(`${s.url}/post`, { method: 'POST', body: 'once only' });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { user: `${DOMAIN}\\${USER}`, socket: 3, body: 'once only', url: '/post' });
    // The probe; NEGOTIATE (its connection then closed); the AUTHENTICATE on a new connection,
    // refused with a bare challenge; the whole handshake again on that connection.
    assert.deepEqual(s.log.map((e) => [e.socket, e.auth]), [[1, null], [2, 'NTLM'], [3, 'NTLM'], [3, 'NTLM'], [3, 'NTLM']]);
    assert.deepEqual(authLegs(s.log).map((e) => e.body), ['', 'once only', '', 'once only']);
  });

  it('Negotiate (NTLM inside) too', async () => {
    const s = await server({ offer: ['Negotiate'], closeAfterContinue: 'once' });
    const f = await client();
    const r = await f(`${s.url}/n`);
    assert.equal(r.status, 200);
    assert.equal(authLegs(s.log).length, 4);
  });

  it('once only: a server that closes after every challenge gets two handshakes, and the caller its 401', async () => {
    const s = await server({ offer: ['NTLM'], closeAfterContinue: true });
    const f = await client();
    const r = await f(`${s.url}/never`);
    assert.equal(r.status, 401);
    await r.text();
    assert.deepEqual(authLegs(s.log).map((e) => e.socket), [2, 3, 3, 4]);
  });
});

describe('HTTP client: bodies', () => {
  it('a replayable body: Content-Length 0 on the NEGOTIATE leg, the body on the final leg', async () => {
    const s = await server({ offer: ['NTLM'] });
    const f = await client();
    const r = await f(`${s.url}/post`, { method: 'POST', body: 'hello body' });
    assert.equal(((await r.json()) as { body: string }).body, 'hello body');
    const legs = authLegs(s.log);
    assert.equal(legs[0]!.contentLength, '0');
    assert.equal(legs[0]!.body, '');
    assert.equal(legs[1]!.body, 'hello body');
  });

  it('once the origin is known, the handshake starts at once and the body travels only on the final leg', async () => {
    const s = await server({ offer: ['Negotiate'], closeAfterSuccess: true });
    const f = await client();
    assert.equal((await f(`${s.url}/first`)).status, 200);
    const before = s.log.length;
    // The authenticated connection is gone: a new handshake with no probe, body on the final leg only.
    const r = await f(`${s.url}/second`, { method: 'PUT', body: new TextEncoder().encode('bytes!') });
    assert.equal(((await r.json()) as { body: string }).body, 'bytes!');
    const mine = s.log.slice(before);
    assert.ok(mine.every((e) => e.auth !== null || e.body === ''), 'no unauthenticated request carried the body');
    assert.deepEqual(mine.map((e) => [e.auth, e.body]), [['Negotiate', ''], ['Negotiate', 'bytes!']]);
    assert.notEqual(mine[0]!.socket, s.log[before - 1]!.socket, 'a new connection');
    assert.equal(mine[0]!.socket, mine[1]!.socket);
  });

  it('a stream body is buffered and replayed; one over maxBufferedBody is refused clearly', async () => {
    const s = await server({ offer: ['NTLM'] });
    const lsa = await initiatorLsa();
    const interceptor = negotiateInterceptor({ lsa, credentials: { user: USER, domain: DOMAIN, password: PASSWORD }, maxBufferedBody: 64 });
    const agent = new Agent().compose(interceptor);
    closers.push(async () => {
      await interceptor.close();
      await lsa.shutdown();
    });
    const r = await agent.request({ origin: s.url, path: '/s', method: 'POST', body: Readable.from([Buffer.from('chunk1-'), Buffer.from('chunk2')]) });
    assert.equal(r.statusCode, 200);
    assert.equal(((await r.body.json()) as { body: string }).body, 'chunk1-chunk2');
    const big = Readable.from([Buffer.alloc(50, 1), Buffer.alloc(50, 2)]);
    const e = await rejection(agent.request({ origin: s.url, path: '/big', method: 'POST', body: big }));
    assert.equal(e.code, 'SEC_E_INVALID_PARAMETER');
    assert.match(e.message, /maxBufferedBody/);
  });
});

describe('HTTP client: proxy', () => {
  it('answers 407 with Proxy-Authorization on the pinned proxy connection', async () => {
    const p = await server({ kind: 'proxy', offer: ['NTLM'] });
    const f = await client({ proxy: p.url });
    const r = await f('http://service.invalid/through');
    assert.equal(r.status, 200);
    const j = (await r.json()) as { user: string; url: string };
    assert.equal(j.user, `${DOMAIN}\\${USER}`);
    assert.equal(j.url, 'http://service.invalid/through', 'absolute-form request target');
    const legs = authLegs(p.log);
    assert.equal(legs.length, 2);
    assert.equal(legs[0]!.socket, legs[1]!.socket);
    // The proxy connection stays authenticated.
    assert.equal((await f('http://service.invalid/again')).status, 200);
    assert.equal(p.log.at(-1)!.auth, null);
  });

  it('a proxy that sends no final token (as Squid): signed on, reported without mutual authentication, unless proxyMutualAuth; a bad one is refused either way', async () => {
    const p = await server({ kind: 'proxy', offer: ['Negotiate'], mutual: 'missing' });
    const events: SignOnEvent[] = [];
    const f = await client({ proxy: p.url, onSignOn: (e) => events.push(e) });
    assert.equal((await f('http://service.invalid/squid')).status, 200);
    assert.deepEqual(events.map((e) => [e.kind, e.mutual]), [['proxy', false]]);
    const strict = await client({ proxy: p.url, proxyMutualAuth: true });
    assert.equal((await rejection(strict('http://service.invalid/squid'))).code, 'SEC_E_MUTUAL_AUTH_FAILED');
    const bad = await server({ kind: 'proxy', offer: ['Negotiate'], mutual: 'bad' });
    const f2 = await client({ proxy: bad.url });
    assert.ok((await rejection(f2('http://service.invalid/bad'))).status >>> 0 >= 0x80000000);
    // An origin server is held to it by default.
    const s = await server({ offer: ['Negotiate'], mutual: 'missing' });
    assert.equal((await rejection((await client())(`${s.url}/`))).code, 'SEC_E_MUTUAL_AUTH_FAILED');
  });
});

/** A CHALLENGE_MESSAGE from our acceptor, for the endless server. */
async function ntlmChallengeToken(): Promise<Uint8Array> {
  const { Credentials } = await import('../../../src/credentials.js');
  const { SecurityContext } = await import('../../../src/context.js');
  const lsa = await initiatorLsa();
  const c = SecurityContext.client(await Credentials.acquire(lsa.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: USER, Domain: DOMAIN, Password: PASSWORD } }), { target: 'HTTP/localhost' });
  const a = SecurityContext.server(await Credentials.acquire((await acceptorLsa()).sspi(), { package: 'NTLM', use: 'inbound' }));
  const challenge = await a.step(await c.step());
  await lsa.shutdown();
  return challenge!;
}
