// authenticateUpgrade: a WebSocket handshake (an 'upgrade' event, whose socket Node hands over
// bare) signed on like any request: 401 on the socket, NTLM's next leg as a new upgrade request on
// the same connection, then the application's 101 with the final token.
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type AuthFailure, type Authenticator, type Identity, createAuthenticator } from '../../../src/http/server.js';
import type { LsaHost } from '../../../src/lsa/host.js';
import { SspiError } from '../../../src/sspi/error.js';
import { RawHttpConnection, clientContext, header, lsaHost } from './helpers.js';

let host: LsaHost;
let auth: Authenticator;
let server: http.Server;
let port = 0;
const failures: AuthFailure[] = [];
const upgraded: Identity[] = [];
const UPGRADE = 'Upgrade: websocket\r\nConnection: Upgrade\r\n';

before(async () => {
  host = await lsaHost();
  auth = createAuthenticator({ host, onFailure: (_req, f) => failures.push(f) });
  server = http.createServer((_req, res) => res.writeHead(426).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    void auth.authenticateUpgrade(req, socket, head).then((r) => {
      if (!r) return;
      upgraded.push(r.identity);
      const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', ...Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`)];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      socket.pipe(socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await auth.close();
  await host.shutdown();
});

function wwwAuthenticate(head: string, scheme: string): Uint8Array | null {
  const m = new RegExp(`\\r\\nWWW-Authenticate: ${scheme} (\\S+)`, 'i').exec(head);
  return m ? new Uint8Array(Buffer.from(m[1]!, 'base64')) : null;
}

describe('authenticateUpgrade (WebSocket handshakes)', () => {
  it('NTLM: 401, the legs as upgrade requests on one connection, then the 101 and the upgraded stream', async () => {
    const c = new RawHttpConnection(port);
    try {
      c.send('GET /ws', undefined, UPGRADE);
      const bare = await c.response();
      assert.equal(bare.status, 401);
      assert.match(bare.head, /\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM/);
      const ctx = await clientContext(host, 'NTLM');
      c.send('GET /ws', header('NTLM', (await ctx.step())!), UPGRADE);
      const l1 = await c.response();
      assert.equal(l1.status, 401);
      c.send('GET /ws', header('NTLM', (await ctx.step(wwwAuthenticate(l1.head, 'NTLM')!))!), UPGRADE);
      const l3 = await c.response();
      assert.equal(l3.status, 101, l3.head);
      assert.equal(upgraded.at(-1)?.name, 'EXAMPLE\\alice');
      c.socket.write('frames');
      assert.equal(await c.rest(6), 'frames');
      await ctx.delete();
    } finally {
      c.close();
    }
  });

  it('Negotiate: the final token rides on the 101 and completes the client context', async () => {
    const c = new RawHttpConnection(port);
    try {
      const ctx = await clientContext(host, 'Negotiate');
      const leg = (token: Uint8Array) => {
        c.send('GET /ws', header('Negotiate', token), UPGRADE);
        return c.response();
      };
      let r = await leg((await ctx.step())!);
      for (let i = 0; r.status === 401 && i < 3; i++) r = await leg((await ctx.step(wwwAuthenticate(r.head, 'Negotiate')!))!);
      assert.equal(r.status, 101, r.head);
      const final = wwwAuthenticate(r.head, 'Negotiate');
      assert.ok(final, r.head);
      await ctx.step(final);
      assert.equal(ctx.complete, true);
      await ctx.delete();
    } finally {
      c.close();
    }
  });

  it('garbage Authorization on an upgrade: 400 and the connection closed', async () => {
    const c = new RawHttpConnection(port);
    try {
      c.send('GET /ws', 'NTLM %%%', UPGRADE);
      const r = await c.response();
      assert.equal(r.status, 400);
      await c.rest(1);
      assert.equal(c.closed, true);
      assert.equal(failures.at(-1)?.status, 400);
    } finally {
      c.close();
    }
  });

  it('authenticateUpgrade in proxy mode: SEC_E_INVALID_PARAMETER', async () => {
    const proxyAuth = createAuthenticator({ host, proxy: true });
    const s = new net.Socket();
    try {
      await assert.rejects(proxyAuth.authenticateUpgrade({ headers: {} } as never, s, Buffer.alloc(0)), (e: unknown) => e instanceof SspiError && e.code === 'SEC_E_INVALID_PARAMETER');
    } finally {
      s.destroy();
      await proxyAuth.close();
    }
  });
});
