// `tslsa serve` behind Debian's nginx as sites run it: HTTP/1.1 upstream with a pool of kept-alive
// connections, which nginx shares between its clients. curl (its own NTLM, cookie engine on) is
// the client.
//   One node without --behind-proxy: an upstream connection signed on by one client carries that
//   identity to the next client's request without credentials (IIS-style persistence), which is
//   why --behind-proxy (and cluster mode) keep none.
//   One node with --behind-proxy: alice's and bob's handshakes, run at the same time many times
//   over, each end as their own user; a request without credentials gets 401.
//   Our own client (createFetch) through it: two users at once, every request as its own user.
//   Two nodes with Redis behind nginx's round-robin: the legs reach both nodes, and sign on.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanEnv } from './lib/realm.js';
import { startRedis, type RedisServer } from './lib/redis.js';
import { requireBinary } from './lib/proc.js';
import { startNginx, type NginxProxy } from './lib/nginx.js';
import { addUser, curlWhoami, logShows, tearDown, type CurlWhoami } from './lib/cluster-http.js';
import { startServe, type ServeProcess } from '../unit/http/serveProcess.js';
import { createFetch } from '../../src/http/client.js';
import { createLsa } from '../../src/lsa/host.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';

const T = { timeout: 120_000 };
const USERS = { alice: 'Passw0rd-a', bob: 'Passw0rd-b' } as const;

let dir = '';
let store = '';
const nodes: ServeProcess[] = [];
const proxies: NginxProxy[] = [];
let redis: RedisServer | undefined;

before(async () => {
  requireBinary('curl');
  requireBinary('nginx');
  dir = mkdtempSync(join(tmpdir(), 'tslsa-nginx-test-'));
  store = join(dir, 'accounts.db');
  for (const [u, p] of Object.entries(USERS)) await addUser(store, `EXAMPLE\\${u}`, p, cleanEnv());
});

after(async () => {
  for (const p of proxies) await p.stop();
  await tearDown({ nodes, redis, dir });
});

async function node(args: string[]): Promise<ServeProcess> {
  const n = await startServe(['--store', store, '--domain', 'EXAMPLE', ...args], cleanEnv());
  nodes.push(n);
  return n;
}

async function nginx(upstreams: ServeProcess[], keepalive = 4): Promise<NginxProxy> {
  const p = await startNginx(upstreams.map((n) => n.url), keepalive);
  proxies.push(p);
  return p;
}

const curl = (base: string, user?: keyof typeof USERS): Promise<CurlWhoami> => curlWhoami(base, dir, user ? { name: user, password: USERS[user] } : undefined);

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
    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([curl(p.url, 'alice'), curl(p.url, 'bob')]);
      assert.equal(a.user, 'alice', a.trace);
      assert.equal(b.user, 'bob', b.trace);
      const anonymous = await curl(p.url);
      assert.equal(anonymous.status, 401, anonymous.trace);
    }
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
    redis = await startRedis();
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
