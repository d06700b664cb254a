// `tslsa serve` behind the reverse proxies sites run, each of which passes several clients'
// requests over one connection to the node. curl (its own NTLM, cookie engine on) is the client.
// Debian's nginx, HTTP/1.1 upstream with a `keepalive` pool:
//   One node without --behind-proxy: an upstream connection signed on by one client carries that
//   identity to the next client's request without credentials (IIS-style persistence), which is
//   why --behind-proxy (and cluster mode) keep none.
//   One node with --behind-proxy: alice's and bob's handshakes, run at the same time many times
//   over, each end as their own user; a request without credentials gets 401.
//   Our own client (createFetch) through it: two users at once, every request as its own user.
//   Two nodes with Redis behind nginx's round-robin: the legs reach both nodes, and sign on.
// Debian's Apache httpd, mod_proxy_http (`ProxyPass`): it pools its connections to the node with
// no regard for NTLM (a connection that carried a 401 NTLM challenge serves the next client too),
// so the same two cases as nginx's first two hold.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRedis } from './lib/redis.js';
import { startNginx } from './lib/nginx.js';
import { startApacheProxy } from './lib/apache-proxy.js';
import { logShows } from './lib/cluster-http.js';
import { proxyFixture, USERS, type ProxyFixture } from './lib/proxy-fixture.js';
import type { ServeProcess } from '../unit/http/serveProcess.js';
import { createFetch } from '../../src/http/client.js';
import { createLsa } from '../../src/lsa/host.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';

const T = { timeout: 120_000 };

let f: ProxyFixture;
before(async () => {
  f = await proxyFixture('reverse-proxy', ['nginx', 'apache2']);
});
after(async () => {
  await f?.close();
});

const node = (args: string[]): Promise<ServeProcess> => f.node(args);
const curl: ProxyFixture['curl'] = (base, user) => f.curl(base, user);
const nginx = async (upstreams: ServeProcess[], keepalive = 4) => f.own(await startNginx(upstreams.map((n) => n.url), keepalive));
const apache = async (upstream: ServeProcess) => f.own(await startApacheProxy(upstream.url));

describe('tslsa serve behind nginx (upstream keepalive pool)', () => {
  it('one node without --behind-proxy: the identity an upstream connection signed on with reaches the next client, who sent no credentials', T, async () => {
    const n = await node([]);
    // One idle upstream connection kept: nginx hands it to whichever request comes next.
    const p = await nginx([n], 1);
    const signed = await curl(p.url, 'alice');
    assert.equal(signed.user, 'alice', signed.trace);
    const anonymous = await curl(p.url);
    assert.equal(anonymous.status, 200, `persistence on a shared upstream connection: ${anonymous.trace}`);
    assert.equal(anonymous.user, 'alice');
  });

  it('one node with --behind-proxy: concurrent handshakes each end as their own user; no credentials, 401', T, async () => {
    const n = await node(['--behind-proxy']);
    const p = await nginx([n], 1);
    await f.concurrentRounds(p.url, 5);
    assert.doesNotMatch(p.log(), /\[(error|crit|alert|emerg)\]/, p.log());
  });

  it('our client (createFetch, NTLM) through nginx to --behind-proxy: alice and bob at the same time, each request as its own user', T, async () => {
    const n = await node(['--behind-proxy']);
    const p = await nginx([n], 1);
    const lsa = await createLsa({ packages: [ntlmPackage()] });
    const fetches = (['alice', 'bob'] as const).map((u) => [u, createFetch({ lsa, packages: ['NTLM'], credentials: { user: u, domain: 'EXAMPLE', password: USERS[u] } })] as const);
    try {
      await Promise.all(
        fetches.map(async ([u, f]) => {
          for (let i = 0; i < 3; i++) {
            const r = await f(`${p.url}/whoami`);
            assert.equal(r.status, 200, `${u} #${i}`);
            assert.equal(((await r.json()) as { user: string }).user, u);
          }
        }),
      );
    } finally {
      for (const [, f] of fetches) await f.close();
      await lsa.shutdown();
    }
  });

  it('two nodes with Redis behind nginx round-robin: NTLM legs on both nodes, signed on; no identity kept', T, async () => {
    const redis = (f.redis = await startRedis());
    const a = await node(['--redis', redis.url]);
    const b = await node(['--redis', redis.url]);
    const p = await nginx([a, b]);
    for (let i = 0; i < 4; i++) {
      const r = await curl(p.url, i % 2 ? 'bob' : 'alice');
      assert.equal(r.user, i % 2 ? 'bob' : 'alice', r.trace);
      assert.equal((await curl(p.url)).status, 401);
    }
    // Both nodes took part (round-robin per request, legs included).
    for (const x of [a, b]) assert.ok(await logShows(x, /GET "\/whoami" 200 EXAMPLE\\(alice|bob) NTLM/), x.stdout());
  });
});

describe('tslsa serve behind Apache httpd (mod_proxy_http)', () => {
  it('one node without --behind-proxy: the identity a pooled connection signed on with reaches the next client, who sent no credentials', T, async () => {
    const n = await node([]);
    const p = await apache(n);
    const signed = await curl(p.url, 'alice');
    assert.equal(signed.user, 'alice', `${signed.trace}\n${p.log()}`);
    const anonymous = await curl(p.url);
    assert.equal(anonymous.status, 200, `persistence on a pooled connection: ${anonymous.trace}`);
    assert.equal(anonymous.user, 'alice');
    // Apache adds X-Forwarded-For: the node said once that this calls for --behind-proxy.
    assert.ok(await logShows(n, /^tslsa: warning: requests come through a proxy \(X-Forwarded-For\);.*--behind-proxy/m, 'stderr'), n.stderr());
  });

  it('one node with --behind-proxy: concurrent handshakes each end as their own user; no credentials, 401', T, async () => {
    const n = await node(['--behind-proxy']);
    const p = await apache(n);
    await f.concurrentRounds(p.url, 5);
    assert.doesNotMatch(p.log(), /\[[a-z_]*:(error|crit|alert|emerg)\]/, p.log());
  });
});
