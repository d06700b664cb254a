// Our HTTP client through Squid 5.7, the forward proxy most companies run, signing its clients on
// with Negotiate through its negotiate_kerberos_auth helper (MIT Kerberos for HTTP/localhost).
//
//   A plain origin (absolute form) and an https origin (CONNECT, then TLS to the origin): 200,
//     Squid logs the request under user@EXAMPLE.TEST, the origin never sees Proxy-Authorization.
//   Squid signs the client on but forwards the origin's response with no final Proxy-Authenticate
//     token, so the proxy's sign-on is reported without mutual authentication; a client that
//     insists (proxyMutualAuth: true) gets SEC_E_MUTUAL_AUTH_FAILED instead.
//   curl --proxy-negotiate (MIT) through the same Squid goes on without the final token as well.
//   tslsa fetch -x: the same from the command line, with the user's ccache.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createFetch, type NegotiateClientOptions, type SignOnEvent } from '../../src/http/client.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { negotiatePackage } from '../../src/packages/negotiate/package.js';
import { selfSigned } from '../unit/http/client-harness.js';
import { type EchoOrigin, startEchoOrigin } from '../unit/http/forward-proxy.js';
import { sspiErrorIn } from '../unit/http/helpers.js';
import { tslsa } from '../unit/http/serveProcess.js';
import { eventually } from './lib/poll.js';
import { describeFailure, requireBinary, run } from './lib/proc.js';
import { createRealm, type Realm } from './lib/realm.js';
import { startSquid, type SquidProxy } from './lib/squid.js';

const T = { timeout: 60_000 };

let realm: Realm;
let squid: SquidProxy;
let proxyUrl = '';
let origin: EchoOrigin;
let tlsOrigin: EchoOrigin;
let lsa: LsaHost;

before(async () => {
  requireBinary('curl');
  realm = await createRealm();
  await realm.kinit('user');
  squid = await startSquid(realm.httpKeytab, realm.krb5ConfPath, `HTTP/localhost@${realm.realm}`, realm.childEnv());
  // "localhost": the client asks for HTTP/localhost, the principal Squid's helper accepts.
  proxyUrl = squid.url.replace('127.0.0.1', 'localhost');
  origin = await startEchoOrigin();
  const { key, cert } = selfSigned();
  tlsOrigin = await startEchoOrigin({ key, cert });
  lsa = await createLsa({ packages: [negotiatePackage(), kerberosPackage({ krb5Conf: realm.krb5ConfPath, env: realm.childEnv(), kdcTimeoutMs: 5000 })] });
});

after(async () => {
  await lsa?.shutdown();
  await tlsOrigin?.close();
  await origin?.close();
  await squid?.stop();
  if (realm) await realm.stop();
});

/** One GET through Squid with the user's TGT; the sign-on events with it. */
async function viaSquid(url: string, extra: Partial<NegotiateClientOptions> = {}): Promise<{ status: number; body: Record<string, unknown>; events: SignOnEvent[] }> {
  const events: SignOnEvent[] = [];
  const f = createFetch({ lsa, credentials: 'default', packages: ['Negotiate'], proxy: proxyUrl, connect: { rejectUnauthorized: false }, onSignOn: (e) => events.push(e), ...extra });
  try {
    const r = await f(url);
    const text = await r.text();
    assert.equal(r.status, 200, `${text}\n${squid.log().slice(-2000)}`);
    return { status: r.status, body: JSON.parse(text) as Record<string, unknown>, events };
  } finally {
    await f.close();
  }
}

/**
 * Squid writes a request's access-log line when its transaction ends, a CONNECT's when the tunnel
 * closes: after our client has closed it, not before the response reaches us.
 */
async function assertLogged(line: RegExp): Promise<void> {
  await eventually(() => line.test(squid.accessLog()), 5000);
  assert.match(squid.accessLog(), line);
}

describe('our client through Squid (negotiate_kerberos_auth)', () => {
  it('a plain origin: the 407 answered with Kerberos, Squid logs the user, the origin sees no Proxy-Authorization; no final token, so no mutual authentication', T, async () => {
    const r = await viaSquid(`${origin.url}/plain`);
    assert.deepEqual([r.body.url, r.body.proxyAuthorization], ['/plain', null]);
    assert.deepEqual(r.events.map((e) => [e.kind, e.package, e.target, e.mutual]), [['proxy', 'Kerberos', 'HTTP/localhost', false]]);
    await assertLogged(/TCP_MISS\/200 \d+ GET http:\/\/127\.0\.0\.1:\d+\/plain user@EXAMPLE\.TEST /);
  });

  it('an https origin: the CONNECT signed on to Squid, then TLS to the origin through the tunnel', T, async () => {
    const r = await viaSquid(`${tlsOrigin.url}/inside`);
    assert.deepEqual([r.body.url, r.body.proxyAuthorization], ['/inside', null]);
    await assertLogged(/TCP_TUNNEL\/200 \d+ CONNECT 127\.0\.0\.1:\d+ user@EXAMPLE\.TEST /);
  });

  it('proxyMutualAuth: true refuses a proxy that never proves itself (SEC_E_MUTUAL_AUTH_FAILED), for a plain request and for a CONNECT', T, async () => {
    const f = createFetch({ lsa, credentials: 'default', packages: ['Negotiate'], proxy: proxyUrl, proxyMutualAuth: true, connect: { rejectUnauthorized: false } });
    try {
      await assert.rejects(f(`${origin.url}/strict`), (e: unknown) => sspiErrorIn(e)?.code === 'SEC_E_MUTUAL_AUTH_FAILED');
      await assert.rejects(f(`${tlsOrigin.url}/strict`), (e: unknown) => sspiErrorIn(e)?.code === 'SEC_E_MUTUAL_AUTH_FAILED');
    } finally {
      await f.close();
    }
  });

  it('curl --proxy-negotiate through the same Squid goes on without a final token too', T, async () => {
    const r = await run('curl', ['-s', '-S', '--proxy-negotiate', '-U', ':', '-x', proxyUrl, `${origin.url}/curl`], { env: realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }) });
    assert.equal(r.code, 0, describeFailure(r));
    assert.deepEqual(JSON.parse(r.stdout).url, '/curl');
    await assertLogged(/TCP_MISS\/200 \d+ GET http:\/\/127\.0\.0\.1:\d+\/curl user@EXAMPLE\.TEST /);
  });

  it('tslsa fetch -x through Squid with the ccache of kinit; -v says the proxy gave no mutual authentication', T, async () => {
    const r = await tslsa(['fetch', '-v', '-x', proxyUrl, `${origin.url}/cli`], { env: realm.childEnv() });
    assert.equal(r.code, 0, describeFailure(r));
    assert.deepEqual(JSON.parse(r.stdout).url, '/cli');
    assert.equal(r.stderr, `* signed on to the proxy ${new URL(proxyUrl).origin} with Negotiate (Kerberos) for HTTP/localhost: 1 leg, no mutual authentication\n`);
  });
});
