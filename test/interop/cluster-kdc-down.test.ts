// Negotiate's NTLM fallback when the KDC is down, over HTTP against two `tslsa serve --keytab
// --redis` nodes (a private MIT realm). The SSPI-level fallback is tested in
// negotiate-kerberos.test.ts; here the whole path: the client's Negotiate skips Kerberos (no KDC
// for a service ticket), SPNEGO carries NTLM, and its legs land on different nodes, found by the
// handshake cookie, with the mechListMIC checked at the end. With the KDC back, the same client
// gets Kerberos again.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
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
import { addUser, cookieOf, header, request, tearDown, tokenOf, type Reply } from './lib/cluster-http.js';
import { startServe, type ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 120_000 };
const PASSWORD = 'Passw0rd-kdc';
const KDC_TIMEOUT_MS = 3000;

let realm: Realm;
let redis: RedisServer;
let dir = '';
let nodes: ServeProcess[] = [];
let client: LsaHost;

/** A Negotiate sign-on as alice@REALM, each leg on a new connection to the next node in turn: the final reply and the legs sent. */
async function signOn(): Promise<{ reply: Reply; legs: number; ms: number }> {
  const cred = await Credentials.acquire(client.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: 'alice', Domain: realm.realm, Password: PASSWORD } });
  // http://localhost/: the host name maps to the realm, so Kerberos is tried first.
  const ctx = SecurityContext.client(cred, { target: 'HTTP/localhost', flags: ['MUTUAL_AUTH'] });
  try {
    const t0 = performance.now();
    let r = await request(`http://localhost:${nodes[0]!.port}`, header('Negotiate', (await ctx.step())!));
    let legs = 1;
    for (; r.status === 401 && cookieOf(r) && legs < 5; legs++) {
      r = await request(`http://localhost:${nodes[legs % nodes.length]!.port}`, header('Negotiate', (await ctx.step(tokenOf(r, 'Negotiate')))!), cookieOf(r));
    }
    const ms = performance.now() - t0;
    // The final token (AP-REP, or the accept-completed NegTokenResp with its mechListMIC) completes our side.
    if (r.status === 200) assert.equal(await ctx.step(tokenOf(r, 'Negotiate')), null);
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
  await addUser(store, `${realm.realm}\\alice`, PASSWORD, realm.childEnv());
  const args = ['--store', store, '--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost', '--redis', redis.url];
  nodes = await Promise.all([startServe(args, realm.childEnv()), startServe(args, realm.childEnv())]);
  client = await createLsa({ packages: [negotiatePackage(), kerberosPackage({ krb5Conf: realm.krb5ConfPath, env: realm.childEnv(), kdcTimeoutMs: KDC_TIMEOUT_MS }), ntlmPackage()] });
});

after(() => tearDown({ nodes, client, redis, realm, dir }));

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
