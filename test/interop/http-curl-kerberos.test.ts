// curl --negotiate with tickets from a private MIT realm against `tslsa serve --keytab`:
// SPNEGO/Kerberos, the AP-REP in the final WWW-Authenticate checked by curl, the identity with the
// realm, and no ticket -> 401 (curl then has nothing to offer; NTLM is hidden from it).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRealm, type Realm } from './lib/realm.js';
import { describeFailure, requireBinary, run } from './lib/proc.js';
import { startServe, tslsa, type ServeProcess } from '../unit/http/serveProcess.js';

let realm: Realm;
let dir = '';
let srv: ServeProcess;

async function curl(args: string[], env: NodeJS.ProcessEnv) {
  const r = await run('curl', ['-s', '-S', '-D', '-', '-o', join(dir, 'body'), '-w', '%{http_code}', ...args], { env, timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(describeFailure(r));
  return { status: Number(r.stdout.slice(-3)), headers: r.stdout.slice(0, -3), body: readFileSync(join(dir, 'body'), 'utf8'), stderr: r.stderr };
}

before(async () => {
  requireBinary('curl');
  realm = await createRealm();
  dir = mkdtempSync(join(tmpdir(), 'tslsa-http-curl-krb-'));
  const store = join(dir, 'accounts.db');
  const add = await tslsa(['user', 'add', 'EXAMPLE\\alice', '--password-stdin', '--store', store], { input: 'Passw0rd\n', env: realm.childEnv() });
  assert.equal(add.code, 0, describeFailure(add));
  srv = await startServe(['--store', store, '--domain', 'EXAMPLE', '--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost'], realm.childEnv());
});

after(async () => {
  if (srv) assert.equal(await srv.stop(), 0);
  if (realm) await realm.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('curl --negotiate (MIT Kerberos) against tslsa serve --keytab', () => {
  it('with a TGT: 200, package Kerberos, user and realm, the AP-REP accepted by curl', async () => {
    await realm.kinit('user');
    // curl names the service HTTP@localhost from the URL's host.
    const url = `http://localhost:${srv.port}/whoami`;
    const r = await curl(['-v', '--negotiate', '-u', ':', url], realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }));
    assert.equal(r.status, 200, `${r.stderr}\n${srv.stdout()}`);
    const j = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(j.user, 'user');
    assert.equal(j.domain, realm.realm);
    assert.equal(j.package, 'Kerberos');
    assert.equal(j.scheme, 'Negotiate');
    assert.ok(Array.isArray(j.groups));
    assert.ok(Array.isArray(j.flags) && (j.flags as string[]).includes('MUTUAL_AUTH'), String(j.flags));
    // Mutual authentication: the final token rides on the 200 and curl checked it.
    assert.match(r.headers, /200 OK[\s\S]*WWW-Authenticate: Negotiate \S+/);
    assert.doesNotMatch(r.stderr, /gss_init_sec_context\(\) failed/);
  });

  it('GET / shows the Kerberos identity', async () => {
    await realm.kinit('user');
    const r = await curl(['--negotiate', '-u', ':', `http://localhost:${srv.port}/`], realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }));
    assert.equal(r.status, 200);
    assert.match(r.body, /Hello, user/);
    assert.match(r.body, /Kerberos/);
  });

  it('without a ticket: 401 (and NTLM over the store still works for the same server)', async () => {
    const env = realm.childEnv({ KRB5CCNAME: `FILE:${join(dir, 'empty-ccache')}`, GSS_MECH_CONFIG: '/dev/null' });
    const r = await curl(['--negotiate', '-u', ':', `http://localhost:${srv.port}/whoami`], env);
    assert.equal(r.status, 401);
    const n = await curl(['--ntlm', '-u', 'EXAMPLE\\alice:Passw0rd', `http://localhost:${srv.port}/whoami`], env);
    assert.equal(n.status, 200);
    assert.equal((JSON.parse(n.body) as { package: string }).package, 'NTLM');
  });
});

describe('tslsa serve --kerberos-only', () => {
  let ko: ServeProcess;
  before(async () => {
    // No --store: no account store is opened, and no hint about adding accounts is printed.
    ko = await startServe(['--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost', '--kerberos-only'], realm.childEnv({ TSLSA_STORE: join(dir, 'never-made.db') }));
  });
  after(async () => {
    if (ko) assert.equal(await ko.stop(), 0);
  });

  it('curl --negotiate signs on with Kerberos; NTLM is neither offered nor taken inside SPNEGO', async () => {
    await realm.kinit('user');
    const url = `http://localhost:${ko.port}/whoami`;
    const k = await curl(['--negotiate', '-u', ':', url], realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }));
    assert.equal(k.status, 200, ko.stderr());
    assert.deepEqual([(JSON.parse(k.body) as { package: string }).package, (JSON.parse(k.body) as { domain: string }).domain], ['Kerberos', realm.realm]);
    // curl --ntlm finds no NTLM challenge to answer.
    const n = await curl(['--ntlm', '-u', 'EXAMPLE\\alice:Passw0rd', url], realm.childEnv());
    assert.equal(n.status, 401);
    const offered = n.headers.split(/\r?\n/).filter((l) => /^www-authenticate:/i.test(l)).map((l) => l.slice(l.indexOf(':') + 1).trim());
    assert.deepEqual(offered, ['Negotiate']);
    // An NTLM token inside SPNEGO (our client with a password and no Kerberos): refused.
    const f = await tslsa(['fetch', '-u', 'EXAMPLE\\alice', '--password-stdin', url], { input: 'Passw0rd\n', env: realm.childEnv({ KRB5CCNAME: `FILE:${join(dir, 'no-ccache')}` }) });
    assert.equal(f.code, 1, describeFailure(f));
    assert.match(f.stderr, /HTTP 401/);
    assert.match(ko.stdout().trimEnd().split('\n').at(-1)!, / 401 .*SEC_E_\w+ \(AcceptSecurityContext failed\)/, 'the SPNEGO token was read and refused');
    // Our client restricted the same way, with the TGT from MIT's kinit.
    const kf = await tslsa(['fetch', '--kerberos-only', '-v', url], { env: realm.childEnv() });
    assert.equal(kf.code, 0, describeFailure(kf));
    assert.match(kf.stderr, /with Negotiate \(Kerberos\) for HTTP\/localhost: 1 leg, mutual authentication/);
    assert.doesNotMatch(ko.stderr(), /has no accounts yet/);
    // The banner says what is served, and names neither NTLM as offered nor a store.
    assert.match(ko.stderr(), /serving http:\/\/127\.0\.0\.1:\d+\/ \(Negotiate with Kerberos \(HTTP\/localhost\) only, NTLM refused\)/);
    assert.doesNotMatch(ko.stderr(), /store /);
    assert.equal(existsSync(join(dir, 'never-made.db')), false);
  });
});
