// A browser behind a forward proxy signed on by our handler in proxy mode (407): the proxy
// (unit/http/forward-proxy.ts) on an in-process acceptor with the realm's HTTP/localhost keytab,
// a plain origin and an https origin (the test CA's localhost certificate) that record what
// reached them. The browser loads `/through-proxy` from the first and `/through-tunnel` from the
// second (CONNECT); `check()` asserts both came through, with Kerberos as user@REALM at the proxy.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type AuthFailure, createAuthenticator } from '../../../src/http/server.js';
import { type ForwardProxy, startForwardProxy, startRecordingOrigin } from '../../unit/http/forward-proxy.js';
import type { Realm } from './realm.js';
import type { TestCa } from './redis.js';
import { serverLsa } from './server-lsa.js';

export interface BrowserProxy {
  proxy: ForwardProxy;
  /** The two pages to load through it. */
  plainPage: string;
  tunnelledPage: string;
  check(): void;
  close(): Promise<void>;
}

export async function startBrowserProxy(realm: Realm, ca: TestCa): Promise<BrowserProxy> {
  const host = await serverLsa(realm);
  const failures: AuthFailure[] = [];
  const auth = createAuthenticator({ host, proxy: true, principal: 'HTTP/localhost', onFailure: (_req, f) => failures.push(f) });
  const proxy = await startForwardProxy(auth);
  const plain = await startRecordingOrigin();
  const secure = await startRecordingOrigin({ cert: readFileSync(ca.serverCert), key: readFileSync(ca.serverKey) });
  return {
    proxy,
    plainPage: `${plain.url}/through-proxy`,
    tunnelledPage: `${secure.url}/through-tunnel`,
    check() {
      const shown = JSON.stringify({ identities: proxy.identities, tunnels: proxy.tunnels, failures });
      assert.ok(plain.seen.includes('GET /through-proxy without Proxy-Authorization'), `${plain.seen.join('; ')} ${shown}`);
      assert.ok(secure.seen.includes('GET /through-tunnel without Proxy-Authorization'), `${secure.seen.join('; ')} ${shown}`);
      assert.ok(proxy.tunnels.includes(new URL(secure.url).host), shown);
      assert.ok(proxy.identities.length >= 2, shown);
      for (const id of proxy.identities) assert.deepEqual([id.name, id.package], [`user@${realm.realm}`, 'Kerberos'], shown);
      // Only challenges (a first request without credentials gets its 407); no refusal.
      assert.deepEqual(failures.filter((f) => f.reason !== 'no Proxy-Authorization header'), [], shown);
    },
    async close() {
      await proxy.close();
      await plain.close();
      await secure.close();
      await auth.close();
      await host.shutdown();
    },
  };
}
