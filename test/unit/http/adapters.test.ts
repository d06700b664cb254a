// The Express and Fastify adapters with the real frameworks (devDependencies): 401 challenges,
// Negotiate(NTLM) to a 200 carrying the final token, and the identity on the request; Fastify
// also in its HTTP/2 mode.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import type { LsaHost } from '../../../src/lsa/host.js';
import { negotiate, type NegotiateRequest } from '../../../src/http/express.js';
import { negotiatePlugin } from '../../../src/http/fastify.js';
import type { Identity } from '../../../src/http/server.js';
import { selfSigned } from './client-harness.js';
import { Client, clientContext, H2Client, header, lsaHost, signOn, tokenOf } from './helpers.js';

let host: LsaHost;
before(async () => {
  host = await lsaHost();
});
after(async () => {
  await host.shutdown();
});

async function exercise(url: string): Promise<void> {
  const tls = url.startsWith('https:');
  const c = new Client(url, tls);
  const first = await c.get('/whoami');
  assert.equal(first.status, 401);
  const www = first.headers['www-authenticate'];
  assert.deepEqual(Array.isArray(www) ? www : String(www).split(/,\s*/), ['Negotiate', 'NTLM']);
  assert.equal((await c.get('/whoami', 'NTLM %%%')).status, 400);
  const c2 = new Client(url, tls);
  const ctx = await clientContext(host, 'Negotiate');
  const { reply } = await signOn(c2, ctx, 'Negotiate', '/whoami');
  assert.equal(reply.status, 200, reply.body);
  assert.equal((JSON.parse(reply.body) as Identity).user, 'alice');
  const final = tokenOf(reply.headers, 'Negotiate');
  assert.ok(final);
  assert.equal(await ctx.step(final), null);
  assert.ok(ctx.complete);
  c.close();
  c2.close();
  await ctx.delete();
}

it('express: app.use(negotiate({ host })) sets req.identity', async () => {
  const app = express();
  const mw = negotiate({ host });
  app.use(mw);
  app.get('/whoami', (req, res) => {
    res.json((req as unknown as NegotiateRequest).identity);
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    await exercise(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await mw.authenticator.close();
  }
});

it('fastify: register(negotiatePlugin) sets request.identity for every route', async () => {
  const app = Fastify();
  await app.register(negotiatePlugin, { options: { host } });
  app.get('/whoami', async (request) => (request as unknown as { identity: Identity }).identity);
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    await exercise(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
  } finally {
    app.server.closeAllConnections();
    await app.close();
  }
});

it('fastify({ http2: true }) with allowHTTP1: NTLM signs on over HTTP/1.1; over HTTP/2 its leg gets HTTP_1_1_REQUIRED', async () => {
  const tls = selfSigned();
  const app = Fastify({ http2: true, https: { key: tls.key, cert: tls.cert, allowHTTP1: true } });
  await app.register(negotiatePlugin, { options: { host } });
  app.get('/whoami', async (request) => (request as unknown as { identity: Identity }).identity);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const h2 = new H2Client(url);
  try {
    await exercise(url);
    assert.equal((await h2.get(undefined, '/whoami')).status, 401);
    const ctx = await clientContext(host, 'NTLM');
    const r = await h2.get(header('NTLM', (await ctx.step())!), '/whoami');
    assert.equal(r.rstCode, http2.constants.NGHTTP2_HTTP_1_1_REQUIRED);
    await ctx.delete();
  } finally {
    h2.close();
    await app.close();
  }
});
