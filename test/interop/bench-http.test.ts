// CI smoke of the HTTP sign-on benchmark (bench/http.ts): every server variant runs for about a
// second against the real peers (a private MIT realm, Apache httpd + mod_auth_gssapi with MIT
// krb5 and gss-ntlmssp, tslsa serve alone and two nodes over redis-server), and must show a
// non-zero rate with no errors, so the harness cannot rot. Nothing is skipped: a missing peer
// fails the test (the harness's startApache / createRealm / startRedis throw).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { apacheCheck, benchHttp, httpOptionsFromEnv, peaks, tslsaCheck, type HttpRecord, type Peak } from '../../bench/http.js';
import { runLoad, type HttpResponse } from '../../bench/lib/loadgen.js';
import { Credentials } from '../../src/credentials.js';
import { createLsa } from '../../src/lsa/host.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { liveTrackedPids } from './lib/proc.js';

const SCHEMES = ['http_negotiate_krb5', 'http_ntlm'] as const;
let records: HttpRecord[] = [];

before(async () => {
  records = await benchHttp({ dur: 1, warm: 0.3, conc: [4], nodes: [1, 2], servers: ['apache', 'tslsa'], schemes: ['krb5', 'ntlm'], gdur: 0.3, genWorkers: 1 }, () => undefined);
}, { timeout: 300_000 });

after(() => {
  // Apache (master and workers), the serve nodes, redis and the KDC were all stopped by PID.
  assert.deepEqual(liveTrackedPids(), []);
});

function variant(bench: string, impl: 'apache' | 'tslsa', nodes: number): HttpRecord {
  const r = records.find((x) => x.bench === bench && (impl === 'apache' ? x.impl?.startsWith('apache2') : x.impl === 'tslsa' && x.nodes === nodes));
  assert.ok(r, `no ${bench} record for ${impl} (${nodes} node(s)); records: ${records.map((x) => `${x.bench}/${x.impl}/${x.nodes}`).join(', ')}`);
  return r;
}

describe('bench/http.ts: every variant serves authenticated requests', () => {
  for (const bench of SCHEMES) {
    for (const [impl, nodes] of [['apache', 1], ['tslsa', 1], ['tslsa', 2]] as const) {
      it(`${bench}: ${impl}${impl === 'tslsa' ? ` (${nodes} node${nodes > 1 ? 's' : ''})` : ''}: rate > 0, zero errors`, () => {
        const r = variant(bench, impl, nodes);
        assert.equal(r.error, undefined, r.error);
        const res = r.results?.[0];
        assert.ok(res, 'a result');
        assert.ok(res.n > 0 && res.ops_per_s > 0, `rate ${res.ops_per_s}`);
        assert.equal(res.errors, 0, String(res.error_kinds));
        assert.equal(r.checks?.errors, 0);
        assert.equal(r.checks?.kdc_requests_during_run, 0, 'tickets were fetched before timing');
        // The server's CPU was sampled (its cost per request is a reported figure).
        assert.ok(res.cpu_us_per_op > 0, `server cpu ${res.cpu_us_per_op}`);
        // And its context switches: a request that reaches a process wakes it at least once.
        const sw = res.ctx_switches_per_op as unknown as { voluntary: number; involuntary: number };
        assert.ok(sw.voluntary > 0 && sw.involuntary >= 0, JSON.stringify(sw));
        if (nodes === 2) {
          const per = res.per_node_ok as number[];
          assert.equal(per.length, 2);
          assert.ok(per.every((n) => n > 0), `both nodes served: ${per.join('/')}`);
          const by = res.ctx_switches_per_op_by_process as unknown as Record<string, { voluntary: number }>;
          assert.deepEqual(Object.keys(by), ['node0', 'node1', 'redis']);
          assert.ok(Object.values(by).every((x) => x.voluntary > 0), JSON.stringify(by));
        }
        if (impl === 'tslsa') assert.equal(typeof res.ratio_to_apache, 'number', 'ratio to Apache from the same run');
      });
    }
  }

  it('the summarize.js shape: one label per scheme for every server, results with the peer fields', () => {
    for (const bench of SCHEMES) {
      const labels = new Set(records.filter((r) => r.bench === bench).map((r) => r.label));
      assert.equal(labels.size, 1, `${bench}: ${[...labels].join(' | ')}`);
      const ids = records.filter((r) => r.bench === bench).map((r) => r.results?.[0]?.id);
      assert.equal(new Set(ids).size, ids.length, 'distinct ids, so the rows do not collide');
    }
    for (const r of records.filter((x) => x.results)) {
      for (const res of r.results!) for (const k of ['id', 'ops_per_s', 'us_per_op', 'cpu_us_per_op', 'n', 'wall_s', 'cpu_util']) assert.ok(k in res, `${r.bench}: ${k}`);
    }
    assert.ok(records.some((r) => r.bench === 'env' && Array.isArray(r.loadavg_before)));
    const kdc = records.find((r) => r.bench === 'kdc_check');
    assert.equal(kdc?.kdc_requests_during_benchmarks, 0);
  });

  it("the generator's own token rates are measured", () => {
    const g = records.find((r) => r.bench === 'http_generator');
    assert.equal(g?.results?.length, 2);
    for (const res of g!.results!) assert.ok(res.ops_per_s > 0, res.id);
  });
});

describe('bench/http.ts with the generator on two threads (GEN_WORKERS=2)', () => {
  it('NTLM against one tslsa node: the workers\' counts add up, no errors', async () => {
    const recs = await benchHttp({ dur: 1, warm: 0.3, conc: [2], nodes: [1], servers: ['tslsa'], schemes: ['ntlm'], gdur: 0.1, genWorkers: 2 }, () => undefined);
    const r = recs.find((x) => x.bench === 'http_ntlm');
    assert.equal(r?.error, undefined, r?.error);
    const res = r!.results![0]!;
    assert.equal(r!.config?.gen_workers, 2);
    assert.ok(res.n > 0 && res.errors === 0, JSON.stringify(res));
    assert.deepEqual(liveTrackedPids(), []);
  });
});

describe('bench/http.ts with two nodes reaching Redis on its unix socket (REDIS_LINKS=unix)', () => {
  it('Kerberos: both nodes serve, no errors, the record says how they reached Redis', async () => {
    const recs = await benchHttp({ dur: 0.6, warm: 0.2, conc: [2], nodes: [2], redisLinks: ['unix'], servers: ['tslsa'], schemes: ['krb5'], gdur: 0.1, genWorkers: 1, serverWarm: 0 }, () => undefined);
    const r = recs.find((x) => x.bench === 'http_negotiate_krb5');
    assert.equal(r?.error, undefined, r?.error);
    assert.equal(r!.config?.redis_link, 'unix socket');
    const res = r!.results![0]!;
    assert.equal(res.id, 'tslsa serve (2 nodes, Redis on a unix socket)');
    assert.ok(res.n > 0 && res.errors === 0, JSON.stringify(res));
    assert.ok((res.per_node_ok as number[]).every((n) => n > 0), `both nodes served: ${String(res.per_node_ok)}`);
    assert.deepEqual(liveTrackedPids(), []);
  });
});

describe('bench/http.ts in interleaved rounds (HTTP_ROUNDS=2) at two load levels', () => {
  it('per level: a table of its own, every variant once per round, per-round ratios and their median; then each server\'s peak', async () => {
    const recs = await benchHttp({ dur: 0.6, warm: 0.2, conc: [1, 3], nodes: [1], servers: ['apache', 'tslsa'], schemes: ['krb5'], gdur: 0.1, genWorkers: 1, serverWarm: 0, rounds: 2 }, () => undefined);
    const medians = new Map<string, Map<number, number>>();
    for (const conc of [1, 3]) {
      const label = `HTTP Negotiate (SPNEGO/Kerberos), new connection per handshake, ${conc} in flight`;
      const runs = recs.filter((r) => r.bench === 'http_negotiate_krb5' && r.label === label);
      assert.deepEqual(runs.map((r) => [r.round, r.impl === 'tslsa' ? 'tslsa' : 'apache']).sort(), [[1, 'apache'], [1, 'tslsa'], [2, 'apache'], [2, 'tslsa']]);
      for (const r of runs) {
        assert.equal(r.error, undefined, r.error);
        assert.equal(r.config?.conc, conc);
        assert.match(r.results![0]!.id, new RegExp(`#${r.round}$`));
        const id = r.impl === 'tslsa' ? 'tslsa serve (1 node)' : 'apache2 mod_auth_gssapi (mpm_event)';
        const m = medians.get(id) ?? new Map<number, number>();
        // two rounds: their median is the mean
        m.set(conc, (m.get(conc) ?? 0) + r.results![0]!.ops_per_s / 2);
        medians.set(id, m);
      }
      const ours = runs.filter((r) => r.impl === 'tslsa').map((r) => r.results![0]!.ratio_to_apache as number);
      const summary = recs.find((r) => r.bench === 'http_ratio_rounds' && r.label === label);
      assert.equal(summary?.config?.conc, conc);
      const got = (summary?.ratios_to_apache as Record<string, { per_round: number[]; median: number }>)['tslsa serve (1 node)']!;
      assert.deepEqual(got.per_round, ours);
      assert.ok(Math.abs(got.median - (ours[0]! + ours[1]!) / 2) < 0.002, `median ${got.median} of ${ours.join(', ')}`);
    }
    const peak = recs.find((r) => r.bench === 'http_peak')?.peaks as Record<string, Peak>;
    assert.ok(peak, 'an http_peak line');
    const best = (id: string) => [...medians.get(id)!].reduce((a, b) => (b[1] > a[1] ? b : a));
    const [apConc, apOps] = best('apache2 mod_auth_gssapi (mpm_event)');
    const [ourConc, ourOps] = best('tslsa serve (1 node)');
    assert.equal(peak['apache2 mod_auth_gssapi (mpm_event)']!.conc, apConc);
    assert.equal(peak['tslsa serve (1 node)']!.conc, ourConc);
    assert.ok(Math.abs(peak['tslsa serve (1 node)']!.ops_per_s - ourOps) < 0.01);
    assert.ok(Math.abs(peak['tslsa serve (1 node)']!.ratio_to_apache! - ourOps / apOps) < 0.002);
    assert.equal(peak['apache2 mod_auth_gssapi (mpm_event)']!.ratio_to_apache, undefined);
    assert.deepEqual(liveTrackedPids(), []);
  });
});

describe('peaks(): each server at its best load level', () => {
  it('takes the highest level figure per server and divides by Apache\'s own best', () => {
    const at = (ops_per_s: number, errors = 0) => ({ ops_per_s, errors });
    const rates = new Map([
      ['apache', new Map([[8, at(2000)], [32, at(2500, 7)]])],
      ['one', new Map([[8, at(3000)], [32, at(2900)]])],
      ['two', new Map([[8, at(1900, 1)], [32, at(2750)]])],
    ]);
    assert.deepEqual(peaks(rates, 'apache'), {
      apache: { ops_per_s: 2500, errors: 7, conc: 32 },
      one: { ops_per_s: 3000, errors: 0, conc: 8, ratio_to_apache: 1.2 },
      two: { ops_per_s: 2750, errors: 0, conc: 32, ratio_to_apache: 1.1 },
    });
  });

  it('without Apache: peaks and no ratios; with nothing measured: undefined', () => {
    assert.deepEqual(peaks(new Map([['one', new Map([[8, { ops_per_s: 10, errors: 0 }], [32, { ops_per_s: 12, errors: 0 }]])]]), undefined), { one: { ops_per_s: 12, errors: 0, conc: 32 } });
    assert.equal(peaks(new Map(), 'apache'), undefined);
  });
});

describe('the load generator counts what is not a signed-on 200 as an error', () => {
  it('a server that always answers 401: no successes, every handshake an error', async () => {
    const srv = http.createServer((_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': 'NTLM', 'Content-Length': 0 }).end();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const lsa = await createLsa({ packages: [ntlmPackage()] });
    const cred = await Credentials.acquire(lsa.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: 'u', Domain: 'D', Password: 'p' } });
    try {
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      const r = await runLoad({ scheme: 'NTLM', credentials: cred, target: 'HTTP@localhost', urls: [url], path: '/', check: () => null }, { dur: 0.5, warm: 0, conc: 2 });
      assert.equal(r.ok, 0);
      assert.ok(r.errors > 0);
      assert.deepEqual(Object.keys(r.errorKinds), ['401 without an NTLM CHALLENGE']);
    } finally {
      await cred.free();
      await lsa.shutdown();
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });

  it('identity checks refuse another user, realm or package', () => {
    const res = (body: string, headers: Record<string, string> = {}) => ({ status: 200, headers, authenticate: [], body, socket: null } as unknown as HttpResponse);
    const t = tslsaCheck('user', 'EXAMPLE.TEST', 'Kerberos');
    assert.equal(t(res('{"user":"user","domain":"EXAMPLE.TEST","package":"Kerberos"}')), null);
    assert.notEqual(t(res('{"user":"bob","domain":"EXAMPLE.TEST","package":"Kerberos"}')), null);
    assert.notEqual(t(res('{"user":"user","domain":"OTHER","package":"Kerberos"}')), null);
    assert.notEqual(t(res('{"user":"user","domain":"EXAMPLE.TEST","package":"NTLM"}')), null);
    assert.notEqual(t(res('ok')), null);
    const a = apacheCheck(['user@EXAMPLE.TEST']);
    assert.equal(a(res('ok', { 'x-remote-user': 'user@EXAMPLE.TEST' })), null);
    assert.notEqual(a(res('ok', { 'x-remote-user': '' })), null);
    assert.notEqual(a(res('ok')), null);
  });

  it('the knobs refuse what they cannot run, naming the knob', () => {
    const o = httpOptionsFromEnv({ HTTP_SCHEMES: 'krb5', HTTP_SERVERS: 'tslsa', CONC: '8', NODES: '2' });
    assert.deepEqual([o.schemes, o.servers, o.conc, o.nodes], [['krb5'], ['tslsa'], [8], [2]]);
    assert.throws(() => httpOptionsFromEnv({ HTTP_SCHEMES: 'kerberos' }), /^Error: HTTP_SCHEMES: "kerberos" is not one of krb5, ntlm$/);
    assert.throws(() => httpOptionsFromEnv({ HTTP_SERVERS: 'nginx' }), /HTTP_SERVERS: "nginx"/);
    assert.throws(() => httpOptionsFromEnv({ CONC: 'eight' }), /CONC: "eight"/);
    assert.throws(() => httpOptionsFromEnv({ NODES: 'two' }), /NODES: "two"/);
  });
});
