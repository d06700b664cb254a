// Negotiate's NTLM fallback when the KDC is down, over HTTP against two `tslsa serve --keytab
// --redis` nodes (a private MIT realm). The SSPI-level fallback is tested in
// negotiate-kerberos.test.ts; here the whole path: the client's Negotiate skips Kerberos (no KDC
// for a service ticket), SPNEGO carries NTLM, and its legs land on different nodes, found by the
// handshake cookie, with the mechListMIC checked at the end. With the KDC back, the same client
// gets Kerberos again.
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { negotiatePackage } from '../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { createRealm, type Realm } from './lib/realm.js';
import { startRedis, type RedisServer } from './lib/redis.js';
import { describeFailure } from './lib/proc.js';
import { startServe, tslsa, type ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 120_000 };
const PASSWORD = 'Passw0rd-kdc';
const COOKIE = 'tslsa-handshake';
const KDC_TIMEOUT_MS = 3000;

let realm: Realm;
let redis: RedisServer;
let dir = '';
let nodes: ServeProcess[] = [];
let client: LsaHost;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(base: string, authorization: string, cookie?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Authorization: authorization };
    if (cookie !== undefined) headers.Cookie = `${COOKIE}=${cookie}`;
    const req = http.request(`${base}/whoami`, { agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${base} in 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

function cookieOf(r: Reply): string | undefined {
  for (const c of r.headers['set-cookie'] ?? []) {
    const m = new RegExp(`^${COOKIE}=([A-Za-z0-9_-]{22});`).exec(c);
    if (m) return m[1];
  }
  return undefined;
}

function tokenOf(r: Reply): Uint8Array {
  const m = /^Negotiate (\S+)$/.exec(String(r.headers['www-authenticate']));
  assert.ok(m, `a Negotiate token in ${JSON.stringify(r.headers['www-authenticate'])}`);
  return new Uint8Array(Buffer.from(m[1]!, 'base64'));
}

const header = (t: Uint8Array): string => `Negotiate ${Buffer.from(t).toString('base64')}`;

/** A Negotiate sign-on as alice@REALM, each leg on a new connection to the next node in turn: the final reply and the legs sent. */
async function signOn(): Promise<{ reply: Reply; legs: number; ms: number }> {
  const cred = await Credentials.acquire(client.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: 'alice', Domain: realm.realm, Password: PASSWORD } });
  // http://localhost/: the host name maps to the realm, so Kerberos is tried first.
  const ctx = SecurityContext.client(cred, { target: 'HTTP/localhost', flags: ['MUTUAL_AUTH'] });
  try {
    const t0 = performance.now();
    let r = await request(`http://localhost:${nodes[0]!.port}`, header((await ctx.step())!));
    let legs = 1;
    for (; r.status === 401 && cookieOf(r) && legs < 5; legs++) {
      r = await request(`http://localhost:${nodes[legs % nodes.length]!.port}`, header((await ctx.step(tokenOf(r)))!), cookieOf(r));
    }
    const ms = performance.now() - t0;
    // The final token (AP-REP, or the accept-completed NegTokenResp with its mechListMIC) completes our side.
    if (r.status === 200) assert.equal(await ctx.step(tokenOf(r)), null);
    return { reply: r, legs, ms };
  } finally {
    await ctx.delete();
  }
}

before(async () => {
  [realm, redis] = await Promise.all([createRealm(), startRedis()]);
  await realm.addPrincipal('alice', { password: PASSWORD });
  dir = mkdtempSync(join(tmpdir(), 'tslsa-cluster-kdc-down-'));
  const store = join(dir, 'accounts.db');
  // The same person for NTLM: the account of the realm's name, with the same password.
  const add = await tslsa(['user', 'add', `${realm.realm}\\alice`, '--password-stdin', '--store', store], { input: `${PASSWORD}\n`, env: realm.childEnv() });
  assert.equal(add.code, 0, describeFailure(add));
  const args = ['--store', store, '--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost', '--redis', redis.url];
  nodes = await Promise.all([startServe(args, realm.childEnv()), startServe(args, realm.childEnv())]);
  client = await createLsa({ packages: [negotiatePackage(), kerberosPackage({ krb5Conf: realm.krb5ConfPath, env: realm.childEnv(), kdcTimeoutMs: KDC_TIMEOUT_MS }), ntlmPackage()] });
});

after(async () => {
  const codes: Array<number | null> = [];
  for (const n of nodes) codes.push(await n.stop());
  await client?.shutdown();
  await redis?.stop();
  await realm?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(codes, codes.map(() => 0), 'the nodes exit 0 on SIGTERM');
});

describe('Negotiate against two tslsa serve --keytab --redis nodes, with the KDC down', () => {
  it('KDC up: Kerberos in one leg', T, async () => {
    const { reply, legs } = await signOn();
    assert.equal(reply.status, 200, reply.body);
    const j = JSON.parse(reply.body) as Record<string, unknown>;
    assert.equal(j.package, 'Kerberos');
    assert.equal(j.user, 'alice');
    assert.equal(legs, 1);
  });

  it('KDC stopped: SPNEGO falls back to NTLM within the KDC timeout, its legs on two nodes, 200 with the final token checked; KDC back: Kerberos again', T, async () => {
    await realm.stopKdc();
    try {
      const { reply, legs, ms } = await signOn();
      assert.equal(reply.status, 200, `${reply.body}\n${nodes[0]!.stdout()}\n${nodes[1]!.stdout()}`);
      const j = JSON.parse(reply.body) as Record<string, unknown>;
      assert.equal(j.package, 'NTLM');
      assert.equal(j.scheme, 'Negotiate');
      assert.equal(j.user, 'alice');
      assert.equal(legs, 2, 'NegTokenInit(NEGOTIATE) to one node, NegTokenResp(AUTHENTICATE) to the other');
      console.log(`# HTTP Negotiate NTLM fallback with the KDC down, two nodes: ${ms.toFixed(0)} ms (KDC timeout ${KDC_TIMEOUT_MS} ms)`);
      assert.ok(ms < KDC_TIMEOUT_MS + 5000, `fallback took ${ms.toFixed(0)} ms`);
      for (const n of nodes) assert.doesNotMatch(n.stdout(), /" 5\d\d /, n.stdout());
    } finally {
      await realm.startKdc();
    }
    const again = await signOn();
    assert.equal(again.reply.status, 200, again.reply.body);
    assert.equal((JSON.parse(again.reply.body) as { package: string }).package, 'Kerberos');
  });
});
