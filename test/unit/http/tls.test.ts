// Extended Protection over HTTPS: tls-server-end-point (RFC 5929) from the server certificate,
// checked by the NTLM acceptor through SECBUFFER_CHANNEL_BINDINGS. Certificates are made here
// with `openssl req` (a self-signed one per signature algorithm).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LsaHost } from '../../../src/lsa/host.js';
import { endPointHash, tlsServerEndPoint } from '../../../src/http/channelBindings.js';
import type { Identity } from '../../../src/http/server.js';
import { Client, clientContext, lsaHost, signOn, startServer, type TestServer } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tslsa-http-tls-'));

function makeCert(name: string, keyArgs: string[], digest: string): { key: string; cert: string; der: Uint8Array } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  execFileSync('openssl', ['req', '-x509', ...keyArgs, '-nodes', '-keyout', key, '-out', cert, `-${digest}`, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'pipe' });
  const pem = readFileSync(cert, 'utf8');
  return { key: readFileSync(key, 'utf8'), cert: pem, der: new Uint8Array(new X509Certificate(pem).raw) };
}

let rsa: ReturnType<typeof makeCert>;
let host: LsaHost;

before(async () => {
  rsa = makeCert('rsa', ['-newkey', 'rsa:2048'], 'sha256');
  host = await lsaHost();
});
after(async () => {
  await host.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe('tls-server-end-point (RFC 5929 4.1)', () => {
  const cases: Array<[string, string[], string, string]> = [
    ['RSA with SHA-256', ['-newkey', 'rsa:2048'], 'sha256', 'sha256'],
    ['RSA with SHA-1 (hashed with SHA-256)', ['-newkey', 'rsa:2048'], 'sha1', 'sha256'],
    ['RSA with SHA-512', ['-newkey', 'rsa:2048'], 'sha512', 'sha512'],
    ['ECDSA P-384 with SHA-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], 'sha384', 'sha384'],
    ['RSA-PSS with SHA-384', ['-newkey', 'rsa-pss', '-pkeyopt', 'rsa_keygen_bits:2048', '-sigopt', 'rsa_padding_mode:pss'], 'sha384', 'sha384'],
    ['Ed25519 (no single hash: SHA-256)', ['-newkey', 'ed25519'], 'sha256', 'sha256'],
  ];
  for (const [name, args, digest, want] of cases) {
    it(name, () => {
      // Ed25519 takes no digest option; openssl ignores -sha256 only in some versions, so drop it.
      const c = name.startsWith('Ed25519') ? makeCertNoDigest(args) : makeCert(name.replace(/\W+/g, '-'), args, digest);
      assert.equal(endPointHash(c.der), want);
      const cb = tlsServerEndPoint(c.der);
      const expected = Buffer.concat([Buffer.from('tls-server-end-point:'), createHash(want).update(c.der).digest()]);
      assert.deepEqual(Buffer.from(cb), expected);
      // The same hash by openssl's own tool over the DER certificate.
      const der = join(dir, 'c.der');
      execFileSync('openssl', ['x509', '-outform', 'DER', '-out', der], { input: c.cert });
      const dgst = execFileSync('openssl', ['dgst', `-${want}`, '-hex', der], { encoding: 'utf8' });
      assert.equal(dgst.trim().split(' ').at(-1), createHash(want).update(c.der).digest('hex'));
    });
  }

  it('a malformed certificate is a typed error', () => {
    assert.throws(() => endPointHash(Uint8Array.of(0x30, 0x03, 0x02, 0x01)), { name: 'SspiError' });
  });
});

function makeCertNoDigest(args: string[]): { key: string; cert: string; der: Uint8Array } {
  const key = join(dir, 'ed.key');
  const cert = join(dir, 'ed.pem');
  execFileSync('openssl', ['req', '-x509', ...args, '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'pipe' });
  const pem = readFileSync(cert, 'utf8');
  return { key: readFileSync(key, 'utf8'), cert: pem, der: new Uint8Array(new X509Certificate(pem).raw) };
}

describe('HTTPS with channel bindings', () => {
  let required: TestServer;
  let ifPresent: TestServer;
  let off: TestServer;
  before(async () => {
    required = await startServer(host, { channelBindings: 'required' }, rsa);
    ifPresent = await startServer(host, { channelBindings: 'if-present' }, rsa);
    off = await startServer(host, { channelBindings: 'off' }, rsa);
  });
  after(async () => {
    await required.close();
    await ifPresent.close();
    await off.close();
  });

  async function attempt(srv: TestServer, scheme: 'NTLM' | 'Negotiate', bindings: Uint8Array | undefined) {
    const c = new Client(srv.url, true);
    const ctx = await clientContext(host, scheme, undefined, bindings);
    const n = srv.failures.length;
    const { reply } = await signOn(c, ctx, scheme);
    c.close();
    await ctx.delete();
    return { reply, failure: srv.failures[n] };
  }

  for (const scheme of ['NTLM', 'Negotiate'] as const) {
    it(`${scheme}, required: the right bindings pass and are reported`, async () => {
      const { reply } = await attempt(required, scheme, tlsServerEndPoint(rsa.der));
      assert.equal(reply.status, 200, reply.body);
      const id = JSON.parse(reply.body) as Identity;
      assert.equal(id.user, 'alice');
      assert.equal(id.channelBindings, true);
    });

    it(`${scheme}, required: bindings of another certificate get 401 SEC_E_BAD_BINDINGS`, async () => {
      const other = makeCert('other', ['-newkey', 'rsa:2048'], 'sha256');
      const { reply, failure } = await attempt(required, scheme, tlsServerEndPoint(other.der));
      assert.equal(reply.status, 401);
      assert.equal(failure?.code, 'SEC_E_BAD_BINDINGS');
    });

    it(`${scheme}, required: a client without bindings gets 401 SEC_E_BAD_BINDINGS`, async () => {
      const { reply, failure } = await attempt(required, scheme, undefined);
      assert.equal(reply.status, 401);
      assert.equal(failure?.code, 'SEC_E_BAD_BINDINGS');
    });

    it(`${scheme}, if-present: a client without bindings passes, unbound`, async () => {
      const { reply } = await attempt(ifPresent, scheme, undefined);
      assert.equal(reply.status, 200, reply.body);
      assert.equal((JSON.parse(reply.body) as Identity).channelBindings, false);
    });

    it(`${scheme}, if-present: wrong bindings still fail, right ones pass bound`, async () => {
      const other = makeCert('other2', ['-newkey', 'rsa:2048'], 'sha256');
      const bad = await attempt(ifPresent, scheme, tlsServerEndPoint(other.der));
      assert.equal(bad.reply.status, 401);
      assert.equal(bad.failure?.code, 'SEC_E_BAD_BINDINGS');
      const good = await attempt(ifPresent, scheme, tlsServerEndPoint(rsa.der));
      assert.equal(good.reply.status, 200);
      assert.equal((JSON.parse(good.reply.body) as Identity).channelBindings, true);
    });

    it(`${scheme}, off: bindings are not checked`, async () => {
      const other = makeCert('other3', ['-newkey', 'rsa:2048'], 'sha256');
      const { reply } = await attempt(off, scheme, tlsServerEndPoint(other.der));
      assert.equal(reply.status, 200, reply.body);
      assert.equal((JSON.parse(reply.body) as Identity).channelBindings, false);
    });
  }
});
