// A node that stops gracefully, and says whether it can serve: GET /healthz without sign-on;
// SIGINT/SIGTERM drain (no new connections, idle ones closed, requests in flight and NTLM
// handshakes between legs finished, the rest cut at --drain-timeout or a second signal), in
// process and as a process that gets real signals.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serveCommand } from '../../../src/cli/serve.js';
import { awaitsNextLeg, trackConnections } from '../../../src/http/drain.js';
import type { LsaHost } from '../../../src/lsa/host.js';
import { NTOWFv1 } from '../../../src/packages/ntlm/crypto.js';
import { SqliteAccountStore } from '../../../src/store/sqlite.js';
import { SspiError } from '../../../src/sspi/error.js';
import { Client, clientContext, header, lsaHost, sink, tokenOf } from './helpers.js';
import { startServe, type ServeProcess } from './serveProcess.js';

const dir = mkdtempSync(join(tmpdir(), 'tslsa-drain-'));
const storePath = join(dir, 'accounts.db');
let host: LsaHost;
before(async () => {
  const st = await SqliteAccountStore.open(storePath, { create: true });
  await st.add({ user: 'alice', domain: 'EXAMPLE', ntHash: NTOWFv1('Passw0rd') });
  await st.close();
  host = await lsaHost();
});
after(async () => {
  await host.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(args: string[]) {
  const out = sink();
  const err = sink();
  let stop!: () => void;
  let force!: () => void;
  const stopSignal = new Promise<void>((r) => (stop = r));
  const forceStop = new Promise<void>((r) => (force = r));
  let listening!: (a: AddressInfo) => void;
  const addr = new Promise<AddressInfo>((r) => (listening = r));
  const done = serveCommand(['--port', '0', '--store', storePath, '--domain', 'EXAMPLE', ...args], { stdout: out, stderr: err, env: {}, stopSignal, forceStop, onListening: (a) => listening(a) });
  const a = await Promise.race([addr, done.then((c) => { throw new Error(`exited ${c}: ${err.text()}`); })]);
  return { port: a.port, url: `http://127.0.0.1:${a.port}`, out, err, done, stop, force };
}

/** A raw keep-alive connection: one request at a time, and whether the server has closed it. */
async function rawConnection(port: number) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
  let buf = '';
  let ended = false;
  const endedP = new Promise<void>((r) => sock.once('close', () => ((ended = true), r())));
  sock.setEncoding('utf8').on('data', (d: string) => (buf += d));
  sock.on('error', () => undefined);
  return {
    async get(path: string, authorization?: string): Promise<string> {
      buf = '';
      sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}\r\n`);
      for (let i = 0; i < 200 && !/\r\n\r\n[\s\S]*\n$/.test(buf); i++) await new Promise((r) => setTimeout(r, 10));
      return buf;
    },
    closed: () => ended,
    whenClosed: endedP,
    destroy: () => sock.destroy(),
  };
}

const refused = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });

/** An NTLM handshake that has had its CHALLENGE; finish() sends the AUTHENTICATE on the same connection. */
async function ntlmBetweenLegs(url: string, tls = false) {
  const c = new Client(url, tls);
  const ctx = await clientContext(host, 'NTLM');
  const first = await c.get('/whoami', header('NTLM', (await ctx.step())!));
  assert.equal(first.status, 401);
  const challenge = tokenOf(first.headers, 'NTLM');
  assert.ok(challenge, 'a continuing 401');
  return {
    async finish() {
      return c.get('/whoami', header('NTLM', (await ctx.step(challenge))!));
    },
    async close() {
      await c.close();
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('tslsa serve: GET /healthz', () => {
  it('answers without sign-on: 200 {"status":"ok"}; HEAD has no body; POST is 405; it is logged', async () => {
    const s = await serve([]);
    try {
      const r = await fetch(`${s.url}/healthz`);
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { status: 'ok' });
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.equal(r.headers.get('www-authenticate'), null);
      const h = await fetch(`${s.url}/healthz`, { method: 'HEAD' });
      assert.equal(h.status, 200);
      assert.equal(await h.text(), '');
      const p = await fetch(`${s.url}/healthz`, { method: 'POST' });
      assert.equal(p.status, 405);
      assert.equal(p.headers.get('allow'), 'GET, HEAD');
      // A query string is the same check; a token on it is not looked at.
      assert.equal((await fetch(`${s.url}/healthz?x=1`, { headers: { Authorization: 'NTLM %%%' } })).status, 200);
      // Everything else still wants sign-on.
      assert.equal((await fetch(`${s.url}/healthz/x`)).status, 401);
    } finally {
      s.stop();
      assert.equal(await s.done, 0);
    }
    assert.match(s.out.text(), /GET "\/healthz" 200 - /);
  });

  it('cluster mode with Redis unreachable: 503 {"status":"unavailable"} with Retry-After', async () => {
    const s = await serve(['--redis', 'redis://127.0.0.1:1']);
    try {
      const r = await fetch(`${s.url}/healthz`);
      assert.equal(r.status, 503);
      assert.deepEqual(await r.json(), { status: 'unavailable', redis: 'unreachable' });
      assert.equal(r.headers.get('retry-after'), '2');
    } finally {
      s.stop();
      assert.equal(await s.done, 0);
    }
  });
});

describe('tslsa serve: a stop drains', () => {
  it('an NTLM handshake between its legs finishes; new connections are refused, idle ones closed, /healthz says stopping', async () => {
    const s = await serve([]);
    const idle = await rawConnection(s.port);
    assert.match(await idle.get('/healthz'), /^HTTP\/1\.1 200/);
    const watcher = await rawConnection(s.port);
    assert.match(await watcher.get('/whoami'), /^HTTP\/1\.1 401/);
    const h = await ntlmBetweenLegs(s.url);
    // A second handshake between legs, on a raw connection, to ask /healthz on while stopping.
    const prober = await rawConnection(s.port);
    const probeCtx = await clientContext(host, 'NTLM');
    try {
      assert.match(await prober.get('/whoami', header('NTLM', (await probeCtx.step())!)), /^HTTP\/1\.1 401[\s\S]*WWW-Authenticate: NTLM \S/);
      s.stop();
      await tick();
      assert.ok(await refused(s.port), 'the listener is closed');
      await Promise.race([idle.whenClosed, new Promise((r) => setTimeout(r, 3000))]);
      assert.ok(idle.closed(), 'an idle connection is closed at once');
      assert.match(s.err.text(), /stopping: 2 connections to finish \(up to 10 s; a second signal stops at once\)/);
      const probe = await prober.get('/healthz');
      assert.match(probe, /^HTTP\/1\.1 503/);
      assert.match(probe, /Connection: close/i);
      assert.match(probe, /\{"status":"stopping"\}/);
      await Promise.race([prober.whenClosed, new Promise((r) => setTimeout(r, 3000))]);
      assert.ok(prober.closed(), 'closed after its answer');

      // The handshake's AUTHENTICATE on its own connection: signed on, then that connection closes.
      const done = await h.finish();
      assert.equal(done.status, 200, done.body);
      assert.equal(done.headers.connection, 'close');
      assert.equal((JSON.parse(done.body) as { user: string }).user, 'alice');
      assert.equal(await s.done, 0);
      assert.doesNotMatch(s.err.text(), /still open/);
      assert.ok(watcher.closed());
    } finally {
      await h.close();
      await probeCtx.delete();
      idle.destroy();
      watcher.destroy();
      prober.destroy();
    }
  });

  it('over HTTPS too: the handshake between legs finishes, an idle TLS connection is closed', async () => {
    const key = join(dir, 'tls.key');
    const cert = join(dir, 'tls.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'pipe' });
    const s = await serve(['--tls-cert', cert, '--tls-key', key]);
    const url = s.url.replace('http:', 'https:');
    const idle = new Client(url, true);
    assert.equal((await idle.get('/healthz')).status, 200);
    const idleSocket = Object.values(idle.agent.freeSockets).flat()[0]!;
    const idleClosed = new Promise<void>((r) => idleSocket.once('close', () => r()));
    const h = await ntlmBetweenLegs(url, true);
    try {
      s.stop();
      await idleClosed;
      const done = await h.finish();
      assert.equal(done.status, 200, done.body);
      assert.equal(await s.done, 0);
      assert.doesNotMatch(s.err.text(), /still open/);
    } finally {
      await h.close();
      idle.close();
    }
  });

  it('a handshake that never sends its next leg is cut at --drain-timeout', async () => {
    const s = await serve(['--drain-timeout', '0.3']);
    const c = await ntlmBetweenLegs(s.url);
    try {
      const t0 = Date.now();
      s.stop();
      assert.equal(await s.done, 0);
      const took = Date.now() - t0;
      assert.ok(took >= 250 && took < 5000, `stopped after ${took} ms`);
      assert.match(s.err.text(), /stopping: 1 connection to finish \(up to 0\.3 s/);
      assert.match(s.err.text(), /1 connection still open at the stop: closed/);
    } finally {
      await c.close();
    }
  });

  it('a second signal stops at once; --drain-timeout 0 does not wait', async () => {
    const s = await serve(['--drain-timeout', '60']);
    const c = await ntlmBetweenLegs(s.url);
    try {
      s.stop();
      await tick();
      assert.match(s.err.text(), /up to 60 s/);
      s.force();
      assert.equal(await s.done, 0);
      assert.match(s.err.text(), /1 connection still open at the stop: closed/);
    } finally {
      await c.close();
    }

    const z = await serve(['--drain-timeout', '0']);
    const c2 = await ntlmBetweenLegs(z.url);
    try {
      z.stop();
      assert.equal(await z.done, 0);
      assert.match(z.err.text(), /tslsa: stopping\n/);
      assert.match(z.err.text(), /1 connection still open at the stop: closed/);
    } finally {
      await c2.close();
    }
  });

  for (const bad of ['x', '-1', '3601', '1e3', '']) {
    it(`--drain-timeout '${bad}' -> exit 2`, async () => {
      const err = sink();
      assert.equal(await serveCommand(['--drain-timeout', bad], { stdout: sink(), stderr: err, env: {} }), 2);
      assert.match(err.text(), bad === '' ? /--drain-timeout needs a value|not a number of seconds/ : /not a number of seconds from 0 to 3600/);
    });
  }
});

describe('trackConnections', () => {
  it('a request in flight when the drain begins gets its whole response; the connection closes after it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const server = http.createServer(async (_req, res) => {
      await gate;
      res.end('x'.repeat(100_000));
    });
    const d = trackConnections(server);
    let closes = 0;
    server.on('close', () => closes++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const agent = new http.Agent({ keepAlive: true });
    const body = new Promise<{ len: number; connection: string | undefined }>((resolve, reject) => {
      http
        .get({ port, host: '127.0.0.1', path: '/', agent }, (res) => {
          let len = 0;
          res.on('data', (b: Buffer) => (len += b.length));
          res.on('end', () => resolve({ len, connection: res.headers.connection }));
        })
        .on('error', reject);
    });
    for (let i = 0; i < 100 && d.busy() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(d.busy(), 1);
    const drained = d.drain(5000);
    assert.equal(d.draining, true);
    await assert.rejects(d.drain(5000), (e: unknown) => e instanceof SspiError && /already draining/.test(e.message));
    await new Promise((r) => setTimeout(r, 50));
    release();
    assert.equal((await body).len, 100_000);
    assert.equal(await drained, 0);
    assert.equal(server.listening, false);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(closes, 1, "'close' once");
    agent.destroy();
  });

  it('awaitsNextLeg: a 401 with a token continues; a bare offer, a 200 with a final token, a 400 do not', () => {
    const res = (status: number, h?: string | string[]) => {
      const r = new http.ServerResponse(new http.IncomingMessage(new net.Socket()));
      r.statusCode = status;
      if (h !== undefined) r.setHeader('WWW-Authenticate', h);
      return r;
    };
    assert.equal(awaitsNextLeg(res(401, 'NTLM TlRMTVNTUAACAAAA')), true);
    assert.equal(awaitsNextLeg(res(401, ['Negotiate oYIB', 'x'])), true);
    assert.equal(awaitsNextLeg(res(401, ['Negotiate', 'NTLM'])), false);
    assert.equal(awaitsNextLeg(res(401)), false);
    assert.equal(awaitsNextLeg(res(200, 'Negotiate oRQw'), ), false);
    assert.equal(awaitsNextLeg(res(400)), false);
  });
});

describe('tslsa serve as a process: SIGTERM', () => {
  const untilStopping = async (p: ServeProcess): Promise<void> => {
    for (let i = 0; i < 300 && !/stopping/.test(p.stderr()); i++) await new Promise((r) => setTimeout(r, 20));
  };

  it('the first signal drains (an NTLM AUTHENTICATE after it is answered), exit 0; a second one stops at once', async () => {
    const env = { PATH: process.env.PATH ?? '', HOME: dir };
    const s = await startServe(['--store', storePath, '--domain', 'EXAMPLE', '--drain-timeout', '60'], env);
    const h = await ntlmBetweenLegs(s.url);
    try {
      process.kill(s.pid, 'SIGTERM');
      await untilStopping(s);
      assert.match(s.stderr(), /stopping: 1 connection to finish \(up to 60 s/);
      const done = await h.finish();
      assert.equal(done.status, 200, done.body);
      assert.equal(await s.exited, 0);
    } finally {
      await h.close();
    }

    const s2 = await startServe(['--store', storePath, '--domain', 'EXAMPLE', '--drain-timeout', '60'], env);
    const c2 = await ntlmBetweenLegs(s2.url);
    try {
      process.kill(s2.pid, 'SIGTERM');
      await untilStopping(s2);
      process.kill(s2.pid, 'SIGTERM');
      assert.equal(await s2.exited, 0);
      assert.match(s2.stderr(), /1 connection still open at the stop: closed/);
    } finally {
      await c2.close();
    }
  });
});
