// A server farm finds a parked handshake by a cookie set on the continuing 401: the client sends
// it back on the handshake's later legs, next to the caller's own cookies, and nowhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Credentials } from '../../../src/credentials.js';
import { createFetch } from '../../../src/http/client.js';
import { AcceptorContext } from '../../../src/http/acceptor.js';
import { SECPKG_ATTR } from '../../../src/sspi/flags.js';
import { acceptorLsa, initiatorLsa, DOMAIN, PASSWORD, USER } from './client-harness.js';

interface Seen {
  leg: number;
  cookie: string | undefined;
}

async function cookieServer(scheme: 'NTLM' | 'Negotiate') {
  const sspi = (await acceptorLsa()).sspi();
  const cred = await Credentials.acquire(sspi, { package: scheme, use: 'inbound' });
  // Parked by cookie only, never by connection: a leg without the cookie finds nothing.
  const parked = new Map<string, AcceptorContext>();
  const seen: Seen[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const auth = req.headers.authorization;
    seen.push({ leg: seen.length + 1, cookie: req.headers.cookie });
    if (!auth) {
      res.writeHead(401, { 'WWW-Authenticate': scheme }).end();
      return;
    }
    const token = new Uint8Array(Buffer.from(auth.slice(auth.indexOf(' ') + 1), 'base64'));
    const id = /(?:^|;\s*)hs=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    let ctx = id ? parked.get(id) : undefined;
    if (id) parked.delete(id);
    ctx ??= new AcceptorContext(sspi, cred.handle, 0);
    let out: Uint8Array | null;
    try {
      out = await ctx.step(token, null);
    } catch {
      res.writeHead(401, { 'WWW-Authenticate': scheme }).end();
      return;
    }
    if (!ctx.complete) {
      const key = randomBytes(16).toString('base64url');
      parked.set(key, ctx);
      res.writeHead(401, { 'WWW-Authenticate': `${scheme} ${Buffer.from(out!).toString('base64')}`, 'Set-Cookie': [`hs=${key}; Path=/; HttpOnly`, 'other=x; Max-Age=0'] }).end();
      return;
    }
    const names = await ctx.query<{ sUserName: string }>(SECPKG_ATTR.NAMES);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (out) headers['WWW-Authenticate'] = `${scheme} ${Buffer.from(out).toString('base64')}`;
    res.writeHead(200, headers).end(JSON.stringify({ user: names?.sUserName }));
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

for (const scheme of ['NTLM', 'Negotiate'] as const) {
  test(`${scheme}: the cookie from the continuing 401 goes back on the next leg, beside the caller's own`, async () => {
    const srv = await cookieServer(scheme);
    const f = createFetch({ lsa: await initiatorLsa(), credentials: { user: USER, domain: DOMAIN, password: PASSWORD } });
    try {
      const res = await f(srv.url, { headers: { cookie: 'mine=1; other=y' } });
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { user: string }).user, `${DOMAIN}\\${USER}`);
      const legs = srv.seen.filter((s) => s.leg > 1);
      // The first authenticated leg carries only the caller's cookies; the next one adds hs=.
      assert.equal(legs[0]!.cookie, 'mine=1; other=y');
      const last = legs[legs.length - 1]!.cookie!;
      assert.match(last, /(^|; )mine=1(;|$)/);
      assert.match(last, /(^|; )hs=[A-Za-z0-9_-]{22}(;|$)/);
      // A cookie set already expired is not echoed; the caller's own same-named one stays as it was.
      assert.ok(!last.includes('other=x'), last);
      assert.match(last, /(^|; )other=y(;|$)/);
    } finally {
      await f.close();
      await srv.close();
    }
  });
}
