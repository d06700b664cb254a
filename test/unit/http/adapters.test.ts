// The Express and Fastify adapters with the real frameworks (devDependencies): 401 challenges,
// Negotiate(NTLM) to a 200 carrying the final token, and the identity on the request.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import type { LsaHost } from '../../../src/lsa/host.js';
import { negotiate, type NegotiateRequest } from '../../../src/http/express.js';
import { negotiatePlugin } from '../../../src/http/fastify.js';
import type { Identity } from '../../../src/http/server.js';
import { Client, clientContext, lsaHost, signOn, tokenOf } from './helpers.js';

let host: LsaHost;
before(async () => {
  host = await lsaHost();
});
after(async () => {
  await host.shutdown();
});

async function exercise(url: string): Promise<void> {
  const c = new Client(url);
  const first = await c.get('/whoami');
  assert.equal(first.status, 401);
  const www = first.headers['www-authenticate'];
  assert.deepEqual(Array.isArray(www) ? www : String(www).split(/,\s*/), ['Negotiate', 'NTLM']);
  assert.equal((await c.get('/whoami', 'NTLM %%%')).status, 400);
  const c2 = new Client(url);
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
