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
import { PASSWORD, acceptorLsa, startServer, type TestServer } from './client-harness.js';

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

async function run(argv: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (c: Buffer) => o.push(c));
  err.on('data', (c: Buffer) => e.push(c));
  const code = await fetchCommand(argv, { stdin: Readable.from([Buffer.from(stdin)]), stdout: out, stderr: err });
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
    const err = new PassThrough();
    const e: Buffer[] = [];
    err.on('data', (c: Buffer) => e.push(c));
    assert.equal(await main(['fetch', 'http://localhost/', '--bogus'], new PassThrough(), err), 2);
    assert.match(Buffer.concat(e).toString(), /unknown option --bogus/);
  });
});
