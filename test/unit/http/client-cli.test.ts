// `tslsa fetch` against the test servers (our acceptor), with the CLI's own LSA (built-in packages).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fetchCommand } from '../../../src/cli/fetch.js';
import { main } from '../../../src/cli/main.js';
import { UsageError } from '../../../src/cli/args.js';
import { createAuthenticator } from '../../../src/http/server.js';
import { PASSWORD, acceptorLsa, selfSigned, startServer, type TestServer } from './client-harness.js';
import { startEchoOrigin, startForwardProxy } from './forward-proxy.js';

const closers: Array<() => Promise<unknown>> = [];
let dir: string;
before(() => {
  // No realm: Negotiate finds no Kerberos credentials and settles on NTLM at once.
  dir = mkdtempSync(join(tmpdir(), 'tslsa-fetch-cli-'));
  writeFileSync(join(dir, 'krb5.conf'), '[libdefaults]\n  dns_lookup_kdc = false\n');
  process.env.KRB5_CONFIG = join(dir, 'krb5.conf');
  process.env.KRB5CCNAME = `FILE:${join(dir, 'no-ccache')}`;
  process.env.TSLSA_STORE = join(dir, 'store');
});
after(async () => {
  for (const c of closers.reverse()) await c();
  await (await acceptorLsa()).shutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function server(opts: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(opts);
  closers.push(() => s.close());
  return s;
}

async function run(argv: string[], stdin = '', env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (c: Buffer) => o.push(c));
  err.on('data', (c: Buffer) => e.push(c));
  const code = await fetchCommand(argv, { stdin: Readable.from([Buffer.from(stdin)]), stdout: out, stderr: err, env });
  return { code, out: Buffer.concat(o).toString(), err: Buffer.concat(e).toString() };
}

describe('tslsa fetch', () => {
  it('signs on with -u/--password-stdin, sends -d with -X, and prints headers with -i', async () => {
    const s = await server({ offer: ['Negotiate', 'NTLM'] });
    const r = await run([`${s.url}/cli`, '-u', 'EXAMPLE\\alice', '--password-stdin', '-X', 'PUT', '-d', 'from the CLI', '-H', 'X-Test: 1', '-i'], `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(r.out, /content-type: application\/json/);
    const body = JSON.parse(r.out.slice(r.out.indexOf('\r\n\r\n') + 4)) as { user: string; body: string };
    assert.equal(body.user, 'EXAMPLE\\alice');
    assert.equal(body.body, 'from the CLI');
    assert.ok(s.log.some((e) => e.method === 'PUT' && e.auth === 'Negotiate'));
  });

  it('--package NTLM and user@DOMAIN', async () => {
    const s = await server({ offer: ['Negotiate', 'NTLM'] });
    const r = await run([s.url, '-u', 'alice@EXAMPLE', '--password-stdin', '--package', 'NTLM'], `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.err);
    assert.equal(s.log.find((e) => e.auth)!.auth, 'NTLM');
    assert.equal(r.err, '', 'quiet without -v');
  });

  it('--kerberos-only: an account only NTLM knows fails (exit 1) with no token sent; --package NTLM with it is a usage error (exit 2)', async () => {
    const s = await server({ offer: ['Negotiate', 'NTLM'] });
    const r = await run([s.url, '-u', 'EXAMPLE\\alice', '--password-stdin', '--kerberos-only'], `${PASSWORD}\n`);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /failed/);
    assert.deepEqual(s.log.filter((e) => e.auth), [], 'no Authorization was sent');
    await assert.rejects(run([s.url, '--kerberos-only', '--package', 'NTLM']), (e: unknown) => e instanceof UsageError && /contradict/.test(e.message));
  });

  it('-v tells on stderr which package signed on, for which target, and that NTLM gives no mutual authentication', async () => {
    const s = await server({ offer: ['Negotiate', 'NTLM'] });
    const r = await run([s.url, '-u', 'EXAMPLE\\alice', '--password-stdin', '-v'], `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, `* signed on to ${new URL(s.url).origin} with Negotiate (NTLM) for HTTP/${new URL(s.url).hostname}: 2 legs, no mutual authentication\n`);
    const raw = await run([s.url, '-u', 'EXAMPLE\\alice', '--password-stdin', '--package', 'NTLM', '-v'], `${PASSWORD}\n`);
    assert.match(raw.err, /^\* signed on to \S+ with NTLM for HTTP\/\S+: 2 legs, no mutual authentication\n$/);
  });

  it('a wrong password exits 1 with the HTTP status, and prints the body', async () => {
    const s = await server({ offer: ['NTLM'] });
    const r = await run([s.url, '-u', 'EXAMPLE\\alice', '--password-stdin'], 'wrong\n');
    assert.equal(r.code, 1);
    assert.match(r.err, /HTTP 401 Unauthorized \(authentication was refused\)/);
    assert.equal(r.out, 'authenticate, please');
  });

  it('a failed mutual authentication exits 1 with the status code named', async () => {
    const s = await server({ offer: ['Negotiate'], mutual: 'missing' });
    const r = await run([s.url, '-u', 'EXAMPLE\\alice', '--password-stdin'], `${PASSWORD}\n`);
    assert.equal(r.code, 1);
    assert.match(r.err, /SEC_E_MUTUAL_AUTH_FAILED/);
    assert.equal(r.out, '');
  });

  it('usage errors', async () => {
    await assert.rejects(run(['http://localhost/', '-u', 'alice']), UsageError);
    await assert.rejects(run(['http://localhost/', '--password-stdin']), UsageError);
    await assert.rejects(run(['ftp://localhost/']), UsageError);
    await assert.rejects(run([]), UsageError);
    await assert.rejects(run(['http://localhost/', '--package', 'Kerberos']), UsageError);
    // Secrets typed in the wrong place are refused without being echoed.
    const silent = (secret: string) => (e: unknown): boolean => e instanceof UsageError && !e.message.includes(secret);
    await assert.rejects(run(['http://alice:S3cret-in-url@localhost/']), silent('S3cret-in-url'));
    await assert.rejects(run(['http://alice:S3cret-in-url@[bad/']), silent('S3cret-in-url'));
    await assert.rejects(run(['http://localhost/', '--password=S3cret-opt']), silent('S3cret-opt'));
    await assert.rejects(run(['http://localhost/', '-pS3cret-short']), silent('S3cret-short'));
    await assert.rejects(run(['http://localhost/', '-H', 'Authorization Basic c2VjcmV0LWhkcg==']), silent('c2VjcmV0LWhkcg'));
    await assert.rejects(run(['http://localhost/', '--proxy', 'http://alice:S3cret-proxy@proxy:3128']), silent('S3cret-proxy'));
    await assert.rejects(run(['http://localhost/'], '', { http_proxy: 'http://alice:S3cret-env@proxy:3128' }), silent('S3cret-env'));
    await assert.rejects(run(['http://localhost/', '-x', 'https://proxy:3128']), UsageError);
    const err = new PassThrough();
    const e: Buffer[] = [];
    err.on('data', (c: Buffer) => e.push(c));
    assert.equal(await main(['fetch', 'http://localhost/', '--bogus'], new PassThrough(), err), 2);
    assert.match(Buffer.concat(e).toString(), /unknown option --bogus/);
  });
});

describe('tslsa fetch through a forward proxy', () => {
  it('-x/--proxy, and $https_proxy / $http_proxy unless $no_proxy names the host: the proxy signed on to, then the origin', async () => {
    const auth = createAuthenticator({ host: await acceptorLsa(), proxy: true });
    const proxy = await startForwardProxy(auth);
    const origin = await startEchoOrigin();
    const tlsOrigin = await server({ offer: ['NTLM'], tls: selfSigned() });
    closers.push(async () => {
      await proxy.close();
      await origin.close();
      await auth.close();
    });
    const signOn = ['-u', 'EXAMPLE\\alice', '--password-stdin'];
    const plain = await run([`${origin.url}/via-x`, '-x', proxy.url, ...signOn], `${PASSWORD}\n`);
    assert.equal(plain.code, 0, plain.err);
    assert.deepEqual(JSON.parse(plain.out), { method: 'GET', url: '/via-x', body: '', proxyAuthorization: null, authorization: null });
    assert.equal(proxy.identities.at(-1)?.name, 'EXAMPLE\\alice');
    // http_proxy for an http URL; HTTP_PROXY (upper case) is not read.
    const fromEnv = await run([`${origin.url}/env`, ...signOn], `${PASSWORD}\n`, { http_proxy: proxy.url });
    assert.equal(fromEnv.code, 0, fromEnv.err);
    assert.equal(proxy.identities.length, 2);
    assert.equal((await run([`${origin.url}/upper`], '', { HTTP_PROXY: proxy.url })).code, 0);
    assert.equal(proxy.identities.length, 2, 'HTTP_PROXY is ignored');
    // https through a CONNECT tunnel from $HTTPS_PROXY; the origin signs on inside it.
    const tunnelled = await run([`${tlsOrigin.url}/tunnel`, '--insecure', ...signOn], `${PASSWORD}\n`, { HTTPS_PROXY: proxy.url });
    assert.equal(tunnelled.code, 0, tunnelled.err);
    assert.equal((JSON.parse(tunnelled.out) as { user: string }).user, 'EXAMPLE\\alice');
    assert.equal(proxy.tunnels.at(-1), `localhost:${tlsOrigin.port}`);
    // no_proxy and --proxy '' go straight to the origin.
    const tunnels = proxy.tunnels.length;
    const direct = await run([`${tlsOrigin.url}/direct`, '--insecure', ...signOn], `${PASSWORD}\n`, { https_proxy: proxy.url, no_proxy: 'example.test,.localhost' });
    assert.equal(direct.code, 0, direct.err);
    const off = await run([`${tlsOrigin.url}/off`, '--insecure', '--proxy', '', ...signOn], `${PASSWORD}\n`, { https_proxy: proxy.url });
    assert.equal(off.code, 0, off.err);
    assert.equal(proxy.tunnels.length, tunnels);
  });
});
