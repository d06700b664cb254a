// curl (nghttp2) against our handler on node:http2's createSecureServer with allowHTTP1, the way
// sites serve browsers: Kerberos from a private MIT realm signs on over HTTP/2 in one leg; NTLM
// runs over HTTP/1.1 on the same server; a connection-bound leg sent over HTTP/2 gets
// HTTP_1_1_REQUIRED, and curl retries it over HTTP/1.1 by itself.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { type AuthFailure, type Authenticator, createAuthenticator } from '../../src/http/server.js';
import type { LsaHost } from '../../src/lsa/host.js';
import { selfSigned } from '../unit/http/client-harness.js';
import { createRealm, type Realm } from './lib/realm.js';
import { describeFailure, requireBinary, run } from './lib/proc.js';
import { ALICE_PASSWORD as PASSWORD, serverLsa } from './lib/server-lsa.js';
import { startHttp2Site, type Http2Site } from './lib/http2-site.js';

let realm: Realm;
let dir = '';
let host: LsaHost;
let auth: Authenticator;
let site: Http2Site | undefined;
let base = '';
const failures: AuthFailure[] = [];

before(async () => {
  requireBinary('curl');
  realm = await createRealm();
  dir = mkdtempSync(join(tmpdir(), 'tslsa-http2-curl-'));
  host = await serverLsa(realm);
  auth = createAuthenticator({ host, principal: 'HTTP/localhost', onFailure: (_req, f) => failures.push(f) });
  const tls = selfSigned();
  site = await startHttp2Site(auth, tls);
  base = site.base;
});

after(async () => {
  await site?.close();
  await auth?.close();
  await host?.shutdown();
  if (realm) await realm.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** curl over TLS (the test's self-signed certificate), HTTP/2 offered by ALPN. */
async function curl(args: string[]) {
  const r = await run('curl', ['-s', '-S', '-k', '--http2', '-v', '-D', '-', '-o', join(dir, 'body'), '-w', '\n%{http_code} %{http_version}', ...args, `${base}/`], {
    env: realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }),
    timeoutMs: 20_000,
  });
  if (r.code !== 0) throw new Error(describeFailure(r));
  const [status, version] = r.stdout.slice(r.stdout.lastIndexOf('\n') + 1).split(' ');
  return { status: Number(status), version: version!, headers: r.stdout, body: readFileSync(join(dir, 'body'), 'utf8'), stderr: r.stderr };
}

describe('curl against the handler on node:http2 (allowHTTP1)', () => {
  it('curl --negotiate: Kerberos over HTTP/2 in one leg, the AP-REP on the 200 checked by curl', async () => {
    await realm.kinit('user');
    const r = await curl(['--negotiate', '-u', ':']);
    assert.equal(r.status, 200, `${r.stderr}\n${JSON.stringify(failures)}`);
    assert.equal(r.version, '2');
    const j = JSON.parse(r.body) as { name: string; package: string; httpVersion: string };
    assert.deepEqual(j, { name: `user@${realm.realm}`, package: 'Kerberos', httpVersion: '2.0' });
    assert.match(r.headers, /^HTTP\/2 200[\s\S]*www-authenticate: Negotiate \S+/im);
    assert.doesNotMatch(r.stderr, /gss_init_sec_context\(\) failed/);
  });

  it('curl --ntlm: curl keeps NTLM to HTTP/1.1, and the same server signs it on there', async () => {
    const r = await curl(['--ntlm', '-u', `EXAMPLE\\alice:${PASSWORD}`]);
    assert.equal(r.status, 200, `${r.stderr}\n${JSON.stringify(failures)}`);
    assert.equal(r.version, '1.1');
    assert.deepEqual(JSON.parse(r.body), { name: 'EXAMPLE\\alice', package: 'NTLM', httpVersion: '1.1' });
  });

  it('an NTLM leg sent over HTTP/2: HTTP_1_1_REQUIRED, and curl retries it over HTTP/1.1, where the handshake continues', async () => {
    const cred = await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: PASSWORD } });
    const ctx = SecurityContext.client(cred, { target: 'HTTP/localhost' });
    try {
      const negotiate = Buffer.from((await ctx.step())!).toString('base64');
      const before = failures.length;
      const r = await curl(['-H', `Authorization: NTLM ${negotiate}`]);
      assert.match(r.stderr, /HTTP_1_1_REQUIRED/, r.stderr);
      assert.ok(failures.slice(before).some((f) => f.http11Required), JSON.stringify(failures.slice(before)));
      // The retry: over HTTP/1.1 the NEGOTIATE message gets its CHALLENGE.
      assert.equal(r.version, '1.1');
      assert.equal(r.status, 401);
      assert.match(r.headers, /^www-authenticate: NTLM \S{40,}/im);
    } finally {
      await ctx.delete();
      await cred.free();
    }
  });
});
