// The real curl against two `tslsa serve --redis` nodes behind a load balancer of our own (lib/cluster-http.ts).
//
// curl runs a whole NTLM handshake on one connection, so a balancer that picks a node per TCP
// connection sends every leg to one node. The case that needs the cluster store is a balancer
// that picks a node per request (an L7 proxy with its own upstream connections) or a connection
// that closes between legs: then the AUTHENTICATE leg reaches the other node, which finds the
// parked handshake by the `tslsa-handshake` cookie. curl sends that cookie on its second leg when
// its cookie engine is on (-b/-c); without it, the second leg cannot be found and is refused (401).
//
// Clients: curl --negotiate through MIT's SPNEGO with gss-ntlmssp (NTLM_USER_FILE, no Kerberos
// ticket: SPNEGO ends up in NTLM) and curl --ntlm (curl's own NTLM).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanEnv } from './lib/realm.js';
import { startRedis, type RedisServer } from './lib/redis.js';
import { describeFailure, INSTALL_HINT, requireBinary, run } from './lib/proc.js';
import { addUser, logShows, PASSWORD, perConnectionBalancer, perRequestBalancer, tearDown } from './lib/cluster-http.js';
import { startServe, type ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 120_000 };

let dir = '';
let redis: RedisServer;
let nodes: ServeProcess[] = [];

// ---- curl ------------------------------------------------------------------------------------

/** Fails (never skips) when curl lacks SPNEGO/NTLM or gss-ntlmssp is not registered with MIT's mechglue. */
async function requireCurlWithGssNtlmssp(): Promise<void> {
  requireBinary('curl');
  const v = await run('curl', ['-V'], { env: cleanEnv() });
  const features = /^Features:(.*)$/m.exec(v.stdout)?.[1] ?? '';
  for (const f of ['GSS-API', 'SPNEGO', 'NTLM']) if (!features.split(/\s+/).includes(f)) throw new Error(`curl has no ${f} (features:${features}): ${INSTALL_HINT}`);
  const mechDir = '/etc/gss/mech.d';
  const registered = existsSync(mechDir) && readdirSync(mechDir).some((f) => /ntlmssp/i.test(readFileSync(join(mechDir, f), 'utf8')));
  if (!registered) throw new Error(`gss-ntlmssp is not registered in ${mechDir}: ${INSTALL_HINT}`);
}

/** curl's environment: no ccache and no krb5.conf (no Kerberos), gss-ntlmssp's user file for SPNEGO/NTLM. */
function curlEnv(password = PASSWORD): NodeJS.ProcessEnv {
  const users = join(dir, `ntlm-users-${password}`);
  writeFileSync(users, `EXAMPLE:alice:${password}\n`, { mode: 0o600 });
  return { ...cleanEnv(), KRB5_CONFIG: '/dev/null', KRB5CCNAME: `FILE:${join(dir, 'no-ccache')}`, NTLM_USER_FILE: users, NTLMUSER: 'alice' };
}

interface CurlReply {
  status: number;
  body: string;
  /** curl -v: the request and response headers of every leg. */
  trace: string;
}

let jarSeq = 0;

/** curl -v against `url`; `cookies` turns the cookie engine on with a fresh jar. */
async function curl(url: string, auth: string[], opts: { cookies: boolean; extra?: string[]; password?: string; exitCode?: number }): Promise<CurlReply> {
  const body = join(dir, `body-${++jarSeq}`);
  const jar = join(dir, `jar-${jarSeq}`);
  const args = ['-s', '-S', '-v', '-o', body, '-w', '%{http_code}', ...auth, ...(opts.cookies ? ['-b', jar, '-c', jar] : []), ...(opts.extra ?? []), url];
  const r = await run('curl', args, { env: curlEnv(opts.password), timeoutMs: 30_000 });
  assert.equal(r.code, opts.exitCode ?? 0, describeFailure(r));
  return { status: Number(r.stdout.slice(-3)), body: existsSync(body) ? readFileSync(body, 'utf8') : '', trace: r.stderr };
}

const NEGOTIATE = ['--negotiate', '-u', ':'];
const NTLM = ['--ntlm', '-u', `EXAMPLE\\alice:${PASSWORD}`];

function whoami(r: CurlReply): Record<string, unknown> {
  assert.equal(r.status, 200, `${r.body}\n${r.trace}`);
  return JSON.parse(r.body) as Record<string, unknown>;
}

before(async () => {
  await requireCurlWithGssNtlmssp();
  dir = mkdtempSync(join(tmpdir(), 'tslsa-cluster-curl-'));
  redis = await startRedis();
  const store = join(dir, 'accounts.db');
  await addUser(store, 'EXAMPLE\\alice', PASSWORD, cleanEnv());
  const args = ['--store', store, '--domain', 'EXAMPLE', '--redis', redis.url];
  nodes = await Promise.all([startServe(args, cleanEnv()), startServe(args, cleanEnv())]);
});

after(() => tearDown({ nodes, redis, dir }));

describe('curl through a per-request balancer (each leg to the other node)', () => {
  it('curl --negotiate (SPNEGO/NTLM, gss-ntlmssp) with its cookie engine: the legs on two nodes, 200, the final token taken by curl', T, async () => {
    const lb = await perRequestBalancer(nodes);
    try {
      const r = await curl(`${lb.url}/whoami`, NEGOTIATE, { cookies: true });
      const j = whoami(r);
      assert.equal(j.user, 'alice');
      assert.equal(j.domain, 'EXAMPLE');
      assert.equal(j.package, 'NTLM', 'SPNEGO ended up in NTLM (no Kerberos ticket)');
      assert.equal(j.scheme, 'Negotiate');
      // One client connection; the NEGOTIATE and AUTHENTICATE legs went to different nodes.
      assert.equal(lb.connections(), 1, r.trace);
      const legs = lb.hops.filter((h) => h.auth.startsWith('Negotiate '));
      assert.equal(legs.length, 2, JSON.stringify(lb.hops));
      assert.deepEqual(legs.map((h) => h.status), [401, 200]);
      assert.notEqual(legs[0]!.node, legs[1]!.node, JSON.stringify(lb.hops));
      // curl got the cookie on the 401 and sent it back on the AUTHENTICATE leg.
      assert.match(r.trace, /< Set-Cookie: tslsa-handshake=[A-Za-z0-9_-]{22};/i);
      assert.match(r.trace, /> Cookie: tslsa-handshake=[A-Za-z0-9_-]{22}/i);
      // The accept-completed NegTokenResp (mechListMIC) rode on the 200 and MIT's SPNEGO took it.
      assert.match(r.trace, /< HTTP\/1\.1 200[\s\S]*< WWW-Authenticate: Negotiate \S+/i);
      assert.doesNotMatch(r.trace, /gss_init_sec_context\(\) failed|Negotiate.*fail/i);
      assert.ok(await logShows(nodes[legs[1]!.node]!, /GET "\/whoami" 200 EXAMPLE\\alice NTLM/), nodes[legs[1]!.node]!.stdout());
      assert.ok(await logShows(nodes[legs[0]!.node]!, /GET "\/whoami" 401 /), nodes[legs[0]!.node]!.stdout());
    } finally {
      await lb.close();
    }
  });

  it('curl --ntlm with its cookie engine: the legs on two nodes, 200', T, async () => {
    const lb = await perRequestBalancer(nodes);
    try {
      const j = whoami(await curl(`${lb.url}/whoami`, NTLM, { cookies: true }));
      assert.equal(j.user, 'alice');
      assert.equal(j.package, 'NTLM');
      assert.equal(j.scheme, 'NTLM');
      const legs = lb.hops.filter((h) => h.auth.startsWith('NTLM '));
      assert.equal(legs.length, 2, JSON.stringify(lb.hops));
      assert.notEqual(legs[0]!.node, legs[1]!.node);
    } finally {
      await lb.close();
    }
  });

  it('SPNEGO/NTLM with a wrong password across nodes: 401, logged with SEC_E_LOGON_DENIED', T, async () => {
    const lb = await perRequestBalancer(nodes);
    try {
      const r = await curl(`${lb.url}/whoami`, NEGOTIATE, { cookies: true, password: 'not-it' });
      assert.equal(r.status, 401, r.trace);
      const legs = lb.hops.filter((h) => h.auth.startsWith('Negotiate '));
      assert.equal(legs.length, 2, JSON.stringify(lb.hops));
      assert.ok(await logShows(nodes[legs[1]!.node]!, /401 - .*SEC_E_LOGON_DENIED/), nodes[legs[1]!.node]!.stdout());
    } finally {
      await lb.close();
    }
  });

  it('without curl\'s cookie engine the AUTHENTICATE leg finds no handshake on the other node: a clean 401, never 5xx', T, async () => {
    for (const auth of [NEGOTIATE, NTLM]) {
      const lb = await perRequestBalancer(nodes);
      try {
        const r = await curl(`${lb.url}/whoami`, auth, { cookies: false });
        assert.equal(r.status, 401, r.trace);
        assert.doesNotMatch(r.trace, /> Cookie:/i);
        const legs = lb.hops.filter((h) => h.auth !== '-');
        assert.ok(legs.length >= 2, JSON.stringify(lb.hops));
        assert.notEqual(legs[0]!.node, legs[1]!.node);
        for (const h of lb.hops) assert.ok(h.status === 401, JSON.stringify(lb.hops));
      } finally {
        await lb.close();
      }
    }
  });
});

describe('curl through a per-connection (TCP) balancer', () => {
  it('curl keeps its connection for the handshake: both legs on one node, 200 with or without cookies; the next curl on the other node', T, async () => {
    const lb = await perConnectionBalancer(nodes);
    try {
      for (const [auth, cookies] of [[NEGOTIATE, false], [NEGOTIATE, true], [NTLM, false]] as const) {
        const before = lb.connections();
        const j = whoami(await curl(`${lb.url}/whoami`, [...auth], { cookies }));
        assert.equal(j.user, 'alice');
        assert.equal(lb.connections() - before, 1, 'one connection for the whole handshake');
      }
      assert.deepEqual(lb.routed.slice(0, 2), [0, 1], 'successive connections alternate');
    } finally {
      await lb.close();
    }
  });

  // What curl (7.88) really does: a connection closed after a 401 that continues a handshake is
  // "Connection closure while negotiating auth"; it starts the handshake over on a new connection
  // (cookie or not), and gives up after its redirect limit (exit 47). So with curl, legs on two
  // nodes take a per-request balancer (above); each node answers every restart with a fresh
  // challenge and stays well.
  it('a connection closed after each leg (Connection: close): curl restarts the handshake on every new connection and gives up (exit 47); the nodes answer each restart cleanly', T, async () => {
    const lb = await perConnectionBalancer(nodes);
    try {
      const r = await curl(`${lb.url}/whoami`, NEGOTIATE, { cookies: true, extra: ['-H', 'Connection: close', '--max-redirs', '3'], exitCode: 47 });
      assert.equal(r.status, 401);
      assert.match(r.trace, /Connection closure while negotiating auth/);
      // Every connection carried a first leg (an SPNEGO NegTokenInit, "YE..."), never a continuation.
      const sent = [...r.trace.matchAll(/^> Authorization: Negotiate (\S+)/gm)].map((m) => m[1]!);
      assert.ok(sent.length >= 2, r.trace);
      for (const t of sent) assert.ok(t.startsWith('YE'), `a NegTokenInit: ${t.slice(0, 16)}`);
      assert.equal(lb.connections(), sent.length);
      assert.ok(new Set(lb.routed).size === 2, 'the restarts reached both nodes');
      for (const n of nodes) assert.doesNotMatch(n.stdout(), /" 5\d\d /, n.stdout());
      // And the same curl with its connection kept signs on.
      assert.equal(whoami(await curl(`${lb.url}/whoami`, NEGOTIATE, { cookies: true })).user, 'alice');
    } finally {
      await lb.close();
    }
  });
});

describe('one node behind a proxy that opens a new upstream connection per request', () => {
  it('tslsa serve --behind-proxy: curl --ntlm and --negotiate (cookie engine on) sign on through it; without the flag the AUTHENTICATE finds nothing: 401', T, async () => {
    const store = join(dir, 'accounts.db');
    const args = ['--store', store, '--domain', 'EXAMPLE'];
    const proxied = await startServe([...args, '--behind-proxy'], cleanEnv());
    const plain = await startServe(args, cleanEnv());
    try {
      assert.match(proxied.stderr(), /behind a proxy: handshakes by cookie/);
      const lb = await perRequestBalancer([proxied]);
      try {
        for (const auth of [NTLM, NEGOTIATE]) {
          const j = whoami(await curl(`${lb.url}/whoami`, auth, { cookies: true }));
          assert.equal(j.user, 'alice');
          assert.equal(j.package, 'NTLM');
        }
        // Every request went over its own upstream connection, the legs too.
        assert.ok(lb.hops.filter((h) => h.auth !== '-').length >= 4, JSON.stringify(lb.hops));
      } finally {
        await lb.close();
      }
      const lb2 = await perRequestBalancer([plain]);
      try {
        const r = await curl(`${lb2.url}/whoami`, NTLM, { cookies: true });
        assert.equal(r.status, 401, r.trace);
        assert.doesNotMatch(r.trace, /< Set-Cookie: tslsa-handshake/i, 'a single node parks by connection');
      } finally {
        await lb2.close();
      }
    } finally {
      await proxied.stop();
      await plain.stop();
    }
  });
});
