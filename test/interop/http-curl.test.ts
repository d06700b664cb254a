// The real curl against `tslsa serve` (its own process, over a store made with `tslsa user add`):
//   curl --ntlm                   curl's minimal NTLM (32-byte NEGOTIATE, no MIC), right and wrong password
//   curl --negotiate              MIT's SPNEGO with gss-ntlmssp (NTLM_USER_FILE): SPNEGO/NTLM with
//                                 mechListMICs, the final token checked by curl
//   garbage headers, HTTPS with Extended Protection (curl sends no channel bindings), the log.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanEnv } from './lib/realm.js';
import { eventually } from './lib/poll.js';
import { describeFailure, requireBinary, run } from './lib/proc.js';
import { startServe, tslsa, type ServeProcess } from '../unit/http/serveProcess.js';

const PASSWORD = 'Passw0rd';
let dir = '';
let store = '';
let srv: ServeProcess;

/** curl with a clean environment (no ccache, no krb5.conf of the machine, NTLM hidden unless asked). */
function curlEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...cleanEnv(), KRB5_CONFIG: '/dev/null', KRB5CCNAME: `FILE:${join(dir, 'no-ccache')}`, ...extra };
}

async function curl(args: string[], env = curlEnv()): Promise<{ status: number; body: string; headers: string; stderr: string }> {
  const r = await run('curl', ['-s', '-S', '-D', '-', '-o', join(dir, 'body'), '-w', '%{http_code}', ...args], { env, timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(describeFailure(r));
  const status = Number(r.stdout.slice(-3));
  const { readFileSync } = await import('node:fs');
  return { status, body: readFileSync(join(dir, 'body'), 'utf8'), headers: r.stdout.slice(0, -3), stderr: r.stderr };
}

before(async () => {
  requireBinary('curl');
  dir = mkdtempSync(join(tmpdir(), 'tslsa-http-curl-'));
  store = join(dir, 'accounts.db');
  const add = await tslsa(['user', 'add', 'EXAMPLE\\alice', '--password-stdin', '--store', store], { input: `${PASSWORD}\n`, env: cleanEnv() });
  assert.equal(add.code, 0, describeFailure(add));
  srv = await startServe(['--store', store, '--domain', 'EXAMPLE'], cleanEnv());
});

after(async () => {
  if (srv) assert.equal(await srv.stop(), 0, 'tslsa serve exits 0 on SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('curl --ntlm against tslsa serve', () => {
  it('right password: /whoami JSON with user, domain and package', async () => {
    const r = await curl(['--ntlm', '-u', `EXAMPLE\\alice:${PASSWORD}`, `${srv.url}/whoami`]);
    assert.equal(r.status, 200, r.headers + r.body);
    const j = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(j.user, 'alice');
    assert.equal(j.domain, 'EXAMPLE');
    assert.equal(j.package, 'NTLM');
    assert.equal(j.scheme, 'NTLM');
    // One connection for both legs.
    assert.match(r.headers, /401 Unauthorized[\s\S]*WWW-Authenticate: NTLM \S+[\s\S]*200 OK/);
  });

  it('GET / is the HTML page for the signed-on user', async () => {
    const r = await curl(['--ntlm', '-u', `EXAMPLE\\alice:${PASSWORD}`, `${srv.url}/`]);
    assert.equal(r.status, 200);
    assert.match(r.headers, /Content-Type: text\/html/i);
    assert.match(r.body, /<h1>Hello, alice<\/h1>/);
    assert.match(r.body, /EXAMPLE/);
    assert.match(r.body, /NTLM/);
  });

  it("the README's path: an account added without a domain, curl -u NAME:PASSWORD", async () => {
    const add = await tslsa(['user', 'add', 'bob', '--password-stdin', '--store', store], { input: `${PASSWORD}\n`, env: cleanEnv() });
    assert.equal(add.code, 0, describeFailure(add));
    // Accounts added while the server runs are seen at once (the store is read per logon).
    const r = await curl(['--ntlm', '-u', `bob:${PASSWORD}`, `${srv.url}/whoami`]);
    assert.equal(r.status, 200, r.body);
    const j = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(j.user, 'bob');
    assert.equal(j.domain, '');
  });

  it("a domain account named without its domain is found in the server's domain, as Windows does", async () => {
    const r = await curl(['--ntlm', '-u', `alice:${PASSWORD}`, `${srv.url}/whoami`]);
    assert.equal(r.status, 200, r.body);
    const j = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(j.user, 'alice');
    assert.equal(j.domain, 'EXAMPLE');
    const wrong = await curl(['--ntlm', '-u', 'alice:wrong-one', `${srv.url}/whoami`]);
    assert.equal(wrong.status, 401);
  });

  it('wrong password: 401 with fresh challenges, logged with SEC_E_LOGON_DENIED and no password', async () => {
    const r = await curl(['--ntlm', '-u', 'EXAMPLE\\alice:wrong-one', `${srv.url}/whoami`]);
    assert.equal(r.status, 401);
    assert.match(r.headers, /WWW-Authenticate: Negotiate\r?\n/);
    assert.match(r.headers, /WWW-Authenticate: NTLM\r?\n/);
    assert.ok(await eventually(() => /401 - .*SEC_E_LOGON_DENIED/.test(srv.stdout())), srv.stdout());
    assert.ok(!srv.stdout().includes('wrong-one') && !srv.stdout().includes(PASSWORD));
    assert.ok(!srv.stderr().includes('wrong-one') && !srv.stderr().includes(PASSWORD));
  });

  it('no credentials: 401 with Negotiate and NTLM challenges', async () => {
    const r = await curl([`${srv.url}/whoami`]);
    assert.equal(r.status, 401);
    assert.match(r.headers, /WWW-Authenticate: Negotiate\r?\n[\s\S]*WWW-Authenticate: NTLM\r?\n/);
  });

  it('garbage Authorization headers: 400 or 401, and the server keeps serving', async () => {
    for (const [h, want] of [
      ['NTLM %%%', 400],
      ['Negotiate', 400],
      ['Negotiate YWJj', 400],
      ['Basic YWxpY2U6UGFzc3cwcmQ=', 401],
      // Inside the server's header limit, so the handler sees it: not a token, 400.
      [`NTLM ${'A'.repeat(60_000)}`, 400],
      // Inside it too, but longer than the handler's largest token (64 KiB) in base64: 400.
      [`NTLM ${'A'.repeat(90_000)}`, 400],
      // Over the server's 96 KiB header limit: Node answers 431 before the handler runs.
      [`NTLM ${'A'.repeat(100_000)}`, 431],
    ] as Array<[string, number]>) {
      const r = await curl(['-H', `Authorization: ${h}`, `${srv.url}/whoami`]);
      assert.equal(r.status, want, h.slice(0, 40));
    }
    const ok = await curl(['--ntlm', '-u', `EXAMPLE\\alice:${PASSWORD}`, `${srv.url}/whoami`]);
    assert.equal(ok.status, 200);
  });
});

describe('curl --negotiate (MIT SPNEGO + gss-ntlmssp) against tslsa serve', () => {
  function ntlmEnv(password: string): NodeJS.ProcessEnv {
    const users = join(dir, `ntlm-users-${password}`);
    writeFileSync(users, `EXAMPLE:alice:${password}\n`, { mode: 0o600 });
    // With NTLM_USER_FILE in the client's environment MIT's SPNEGO offers NTLM (INTEROP.md).
    return curlEnv({ NTLM_USER_FILE: users, NTLMUSER: 'alice' });
  }

  it('SPNEGO/NTLM: 200, package NTLM under the Negotiate scheme, the final token accepted by curl', async () => {
    requireBinary('curl');
    const r = await curl(['-v', '--negotiate', '-u', ':', `${srv.url}/whoami`], ntlmEnv(PASSWORD));
    assert.equal(r.status, 200, r.stderr);
    const j = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(j.user, 'alice');
    assert.equal(j.domain, 'EXAMPLE');
    assert.equal(j.package, 'NTLM');
    assert.equal(j.scheme, 'Negotiate');
    // The accept-completed NegTokenResp (with our mechListMIC) rides on the 200, and curl took it.
    assert.match(r.headers, /200 OK[\s\S]*WWW-Authenticate: Negotiate \S+/);
    assert.doesNotMatch(r.stderr, /gss_init_sec_context\(\) failed/);
  });

  it('SPNEGO/NTLM with a wrong password: 401', async () => {
    const r = await curl(['--negotiate', '-u', ':', `${srv.url}/whoami`], ntlmEnv('not-it'));
    assert.equal(r.status, 401);
  });
});

describe('tslsa serve over HTTPS with curl', () => {
  let tlsDir = '';
  let cert = '';
  let key = '';
  before(() => {
    tlsDir = mkdtempSync(join(tmpdir(), 'tslsa-http-curl-tls-'));
    cert = join(tlsDir, 'cert.pem');
    key = join(tlsDir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-sha256', '-days', '2', '-subj', '/CN=localhost'], { stdio: 'pipe' });
  });
  after(() => rmSync(tlsDir, { recursive: true, force: true }));

  it('if-present (the default): curl --ntlm, which sends no channel bindings, signs on unbound', async () => {
    const s = await startServe(['--store', store, '--domain', 'EXAMPLE', '--tls-cert', cert, '--tls-key', key], cleanEnv());
    try {
      assert.match(s.url, /^https:/);
      const r = await curl(['-k', '--ntlm', '-u', `EXAMPLE\\alice:${PASSWORD}`, `${s.url}/whoami`]);
      assert.equal(r.status, 200, r.body);
      const j = JSON.parse(r.body) as Record<string, unknown>;
      assert.equal(j.user, 'alice');
      assert.equal(j.channelBindings, false);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  it('required: the same curl is refused with SEC_E_BAD_BINDINGS', async () => {
    const s = await startServe(['--store', store, '--domain', 'EXAMPLE', '--tls-cert', cert, '--tls-key', key, '--channel-bindings', 'required'], cleanEnv());
    try {
      const r = await curl(['-k', '--ntlm', '-u', `EXAMPLE\\alice:${PASSWORD}`, `${s.url}/whoami`]);
      assert.equal(r.status, 401);
      // curl has its answer before serve's access line (written on 'finish', flushed on setImmediate) is read.
      assert.ok(await eventually(() => /SEC_E_BAD_BINDINGS/.test(s.stdout())), s.stdout());
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });
});

describe('tslsa serve on an empty store', () => {
  it('says how to add an account', async () => {
    const s = await startServe(['--store', join(dir, 'empty.db')], cleanEnv());
    try {
      assert.match(s.stderr(), /tslsa user add alice --password-stdin/);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });
});
