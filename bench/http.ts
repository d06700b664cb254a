// The HTTP sign-on benchmark (ONLY=http): authenticated requests per second with a new TCP
// connection per handshake, tslsa serve beside Apache httpd + mod_auth_gssapi on this machine,
// driven by one load generator (bench/lib/loadgen.ts) for both.
//   http_negotiate_krb5  Negotiate (SPNEGO/Kerberos): one AP-REQ -> 200 + AP-REP
//   http_ntlm            NTLM: NEGOTIATE -> 401 CHALLENGE -> AUTHENTICATE -> 200 on one connection
// Servers: `tslsa serve` (1 node; 2 nodes sharing a redis-server, requests round-robin, when
// NODES has 2), Apache (mpm_event; Kerberos through MIT krb5, NTLM through gss-ntlmssp). Tickets
// come from a private MIT realm, fetched before timing (the KDC log proves none are asked for
// during the runs). One JSON line per (server, scheme, nodes, load level) in the bench-peers shape:
// every variant of a scheme at one level shares the label, so summarize.js lists them as rows of one table; the
// generator's own token rate, the environment and the KDC check have lines of their own.
// Load levels: CONC lists the handshakes kept in flight (default "8 32"), and every level is a
// table of its own. 8 is a light load, where a server's latency (a Redis round trip) sets the rate;
// 32 keeps every server's CPU busy, so the rate there is its capacity. Each scheme ends with an
// http_peak line: every server's best rate over the levels (the median of its rounds at a level)
// and the ratio of those peaks to Apache's. Every record also gives the server's CPU and context
// switches per request (voluntary: it waited; involuntary: it was preempted), per process for two
// nodes and Redis, where the Redis round trip of each request shows as a sleep and a wake-up more.
// Knobs: DUR, WARM (seconds), CONC (load levels), NODES ("1 2"), HTTP_SERVERS
// ("apache tslsa"), REDIS_LINKS ("tcp"; "tcp unix" adds two nodes reaching Redis on its unix
// socket, as on one host), HTTP_SCHEMES ("krb5 ntlm"), GDUR (seconds of each generator-only loop),
// GEN_WORKERS (generator threads, each with CONC in flight; default 1), SERVER_WARM (seconds of
// untimed load per server process before the counted run, default 3: Node compiles its hot paths
// in the first thousands of requests, so without it tslsa's figure is partly JIT warm-up; Apache
// gets the same, two tslsa nodes twice as long since each sees half the requests), HTTP_ROUNDS
// (default 1: every variant once; R > 1 runs all variants R times in a rotating order, ids marked
// "#r", and ends each scheme with an http_ratio_rounds line: per-round ratios to Apache and their
// median, because this kind of box drifts by tens of percent between minutes).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Credentials } from '../src/credentials.js';
import { SecurityContext } from '../src/context.js';
import { createLsa, type LsaHost } from '../src/lsa/host.js';
import { kerberosPackage } from '../src/packages/kerberos/package.js';
import { msv1_0Package } from '../src/packages/msv1_0/package.js';
import { negotiatePackage } from '../src/packages/negotiate/package.js';
import { NTOWFv1 } from '../src/packages/ntlm/crypto.js';
import { ntlmPackage } from '../src/packages/ntlm/package.js';
import { MemoryAccountStore } from '../src/store/accounts.js';
import { cleanEnv, createRealm, type Realm } from '../test/interop/lib/realm.js';
import { describeFailure } from '../test/interop/lib/proc.js';
import { APACHE_PATHS, startApache, type ApacheServer } from './lib/apache.js';
import { startPool, type CredSpec, type Pool } from './lib/genPool.js';
import { checkFor, handshakeOnce, runLoad, type CheckSpec, type LoadResult, type Scenario } from './lib/loadgen.js';
import { startRedis, startServeNode, tslsa, type RedisServer, type ServeNode } from './lib/procs.js';
import { measure, type Result } from './measure.js';

export type HttpScheme = 'krb5' | 'ntlm';
export type HttpServerKind = 'apache' | 'tslsa';
export type RedisLink = 'tcp' | 'unix';

export interface HttpBenchOptions {
  dur: number;
  warm: number;
  /** Load levels: handshakes in flight; every variant runs at each. */
  conc: number[];
  /** tslsa node counts to measure (1, 2). */
  nodes: number[];
  /** How several nodes reach their Redis: loopback TCP (a cluster's link), a unix socket (one host); default tcp. */
  redisLinks?: RedisLink[];
  servers: HttpServerKind[];
  schemes: HttpScheme[];
  /** Seconds of each generator-only loop. */
  gdur: number;
  /** Generator threads (each with the level's handshakes in flight); 1 = the main thread only. */
  genWorkers: number;
  /** Seconds of untimed load per server process (node) before it is measured; default 0. */
  serverWarm?: number;
  /** Times every variant runs, interleaved (default 1). */
  rounds?: number;
}

/** One line of output: the bench-peers record, plus the server fields of this benchmark. */
export interface HttpRecord {
  bench: string;
  label?: string;
  impl?: string;
  nodes?: number;
  config?: Record<string, unknown>;
  checks?: Record<string, unknown>;
  results?: Result[];
  error?: string;
  [k: string]: unknown;
}

const DOMAIN = 'EXAMPLE';
const NTLM_USER = 'user';
const NTLM_PASSWORD = 'Bench-Passw0rd';
const TARGET = 'HTTP@localhost';
const BENCH: Record<HttpScheme, { bench: string; label: string }> = {
  krb5: { bench: 'http_negotiate_krb5', label: 'HTTP Negotiate (SPNEGO/Kerberos), new connection per handshake' },
  ntlm: { bench: 'http_ntlm', label: 'HTTP NTLM (3 legs, 2 requests), new connection per handshake' },
};

export function httpOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): HttpBenchOptions {
  const num = (k: string, d: number) => (env[k] ? Number(env[k]) : d);
  const list = (k: string, d: string) => (env[k] ?? d).split(/[\s,]+/).filter(Boolean);
  const oneOf = <T extends string>(k: string, d: string, allowed: readonly T[]): T[] =>
    list(k, d).map((v) => {
      if (!(allowed as readonly string[]).includes(v)) throw new Error(`${k}: ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
      return v as T;
    });
  return {
    dur: num('DUR', 3),
    warm: num('WARM', 0.5),
    conc: list('CONC', '8 32').map((c) => {
      if (!/^[1-9]\d{0,3}$/.test(c)) throw new Error(`CONC: ${JSON.stringify(c)} is not a number of handshakes in flight (1-9999)`);
      return Number(c);
    }),
    nodes: list('NODES', '1 2').map((n) => {
      if (!/^[1-9]$/.test(n)) throw new Error(`NODES: ${JSON.stringify(n)} is not a number of tslsa nodes (1-9)`);
      return Number(n);
    }),
    redisLinks: list('REDIS_LINKS', 'tcp').map((l) => {
      if (l !== 'tcp' && l !== 'unix') throw new Error(`REDIS_LINKS: ${JSON.stringify(l)} is neither tcp nor unix`);
      return l;
    }),
    servers: oneOf<HttpServerKind>('HTTP_SERVERS', 'apache tslsa', ['apache', 'tslsa']),
    schemes: oneOf<HttpScheme>('HTTP_SCHEMES', 'krb5 ntlm', ['krb5', 'ntlm']),
    gdur: num('GDUR', 1),
    genWorkers: num('GEN_WORKERS', 1),
    serverWarm: num('SERVER_WARM', 3),
    rounds: num('HTTP_ROUNDS', 1),
  };
}

const round = (v: number, d = 3) => Number(v.toFixed(d));

/** A table per scheme and load level: summarize.js groups rows by label. */
const labelOf = (scheme: HttpScheme, conc: number): string => `${BENCH[scheme].label}, ${conc} in flight`;

/** A server at one load level: the median rate of its rounds, and its failed handshakes in all of them. */
export interface LevelRate {
  ops_per_s: number;
  errors: number;
}

export interface Peak extends LevelRate {
  conc: number;
  ratio_to_apache?: number;
}

/**
 * Every server's best rate over the load levels (each level's figure being the median of its
 * rounds), and its ratio to Apache's best: capacity against capacity, wherever each one peaks.
 */
export function peaks(rates: ReadonlyMap<string, ReadonlyMap<number, LevelRate>>, apacheId: string | undefined): Record<string, Peak> | undefined {
  const best = new Map<string, Peak>();
  for (const [id, byConc] of rates) {
    for (const [conc, r] of byConc) if (r.ops_per_s > (best.get(id)?.ops_per_s ?? 0)) best.set(id, { ops_per_s: round(r.ops_per_s), errors: r.errors, conc });
  }
  if (best.size === 0) return undefined;
  const ap = apacheId === undefined ? undefined : best.get(apacheId);
  if (ap) for (const [id, p] of best) if (id !== apacheId) p.ratio_to_apache = round(p.ops_per_s / ap.ops_per_s);
  return Object.fromEntries(best);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The bench-peers result of one load run (the server's CPU is what cpu_us_per_op means here). */
function toResult(id: string, r: LoadResult, extra: Record<string, unknown>): Result {
  const ops = r.ok / r.wall_s;
  const srvCpu = r.server_cpu_s ?? 0;
  const res: Result = {
    id,
    ops_per_s: round(ops),
    us_per_op: round(ops > 0 ? 1e6 / ops : 0),
    cpu_us_per_op: round(r.ok > 0 ? (1e6 * srvCpu) / r.ok : 0),
    n: r.ok,
    wall_s: r.wall_s,
    cpu_util: round(srvCpu / r.wall_s),
    errors: r.errors,
    gen_cpu_util: round(r.gen_cpu_util),
    mean_ms: round(r.mean_ms),
    p99_ms: round(r.p99_ms),
    per_node_ok: r.perUrl,
  };
  if (r.errors > 0) res.error_kinds = JSON.stringify(r.errorKinds);
  return Object.assign(res, extra) as Result;
}

/**
 * Context switches per request in the counted window (first and last snapshot), voluntary and
 * involuntary, for the server as a whole and, with several processes, for each.
 */
function switchesPerOp(names: readonly string[], snaps: ReadonlyArray<ReadonlyArray<readonly [number, number]>>, ok: number): {
  ctx_switches_per_op?: { voluntary: number; involuntary: number };
  ctx_switches_per_op_by_process?: Record<string, { voluntary: number; involuntary: number }>;
} {
  const first = snaps[0];
  const last = snaps[snaps.length - 1];
  if (!first || !last || snaps.length < 2 || ok <= 0 || names.length === 0) return {};
  const per = names.map((_, i) => ({ voluntary: round((last[i]![0] - first[i]![0]) / ok), involuntary: round((last[i]![1] - first[i]![1]) / ok) }));
  const sum = per.reduce((a, b) => ({ voluntary: round(a.voluntary + b.voluntary), involuntary: round(a.involuntary + b.involuntary) }));
  return { ctx_switches_per_op: sum, ...(names.length > 1 ? { ctx_switches_per_op_by_process: Object.fromEntries(names.map((n, i) => [n, per[i]!])) } : {}) };
}

export { apacheCheck, tslsaCheck } from './lib/loadgen.js';

// ---- the run ---------------------------------------------------------------------------------

interface Fixture {
  realm: Realm;
  dir: string;
  store: string;
  lsa: LsaHost;
  krbCred: Credentials;
  ntlmCred: Credentials;
}

async function setUp(): Promise<Fixture> {
  const realm = await createRealm();
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-bench-http-'));
  try {
    const store = join(dir, 'accounts.db');
    const add = await tslsa(['user', 'add', `${DOMAIN}\\${NTLM_USER}`, '--password-stdin', '--store', store], { input: `${NTLM_PASSWORD}\n`, env: cleanEnv() });
    if (add.code !== 0) throw new Error(describeFailure(add));
    // The generator's LSA: Negotiate offering Kerberos only (as curl with NTLM hidden), and NTLM.
    // Its account authority only serves the generator-only NTLM loop (a CHALLENGE to answer).
    const accounts = new MemoryAccountStore({ lockout: { threshold: 0 } });
    await accounts.add({ user: NTLM_USER, domain: DOMAIN, ntHash: NTOWFv1(NTLM_PASSWORD) });
    const lsa = await createLsa({
      domainName: DOMAIN,
      packages: [negotiatePackage({ packages: ['Kerberos'] }), kerberosPackage({ krb5Conf: realm.krb5ConfPath, env: {} }), ntlmPackage(), msv1_0Package({ store: accounts })],
    });
    const sspi = lsa.sspi();
    // A password credential keeps its tickets in memory (the AS and TGS exchanges happen once, in
    // the untimed first handshake): cheaper per AP-REQ than re-reading a FILE ccache, so the
    // generator spends less of the shared CPU.
    const krbCred = await Credentials.acquire(sspi, { package: 'Negotiate', use: 'outbound', authData: { User: 'user', Domain: realm.realm, Password: realm.passwords.user! } });
    const ntlmCred = await Credentials.acquire(sspi, { package: 'NTLM', use: 'outbound', authData: { User: NTLM_USER, Domain: DOMAIN, Password: NTLM_PASSWORD } });
    // Prime the ticket cache (AS-REQ, TGS-REQ for HTTP/localhost) before anything is counted.
    const prime = SecurityContext.client(krbCred, { target: TARGET });
    await prime.step();
    await prime.delete();
    return { realm, dir, store, lsa, krbCred, ntlmCred };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    await realm.stop();
    throw e;
  }
}

async function tearDown(f: Fixture): Promise<void> {
  await f.krbCred.free().catch(() => undefined);
  await f.ntlmCred.free().catch(() => undefined);
  await f.lsa.shutdown().catch(() => undefined);
  await f.realm.stop();
  rmSync(f.dir, { recursive: true, force: true });
}

const kdcRequests = (realm: Realm): number => (realm.kdcLog().match(/(AS|TGS)_REQ/g) ?? []).length;

/** The generator alone: how fast it makes the tokens it sends, so it is known not to be the limit. */
async function benchGenerator(f: Fixture, opts: HttpBenchOptions, schemes: readonly HttpScheme[]): Promise<HttpRecord> {
  const results: Result[] = [];
  const flags = ['MUTUAL_AUTH', 'REPLAY_DETECT', 'SEQUENCE_DETECT', 'CONFIDENTIALITY', 'INTEGRITY'];
  if (schemes.includes('krb5')) {
    results.push(await measure('Negotiate AP-REQ (InitializeSecurityContext leg 1 + delete)', async () => {
      const c = SecurityContext.client(f.krbCred, { target: TARGET, flags });
      await c.step();
      await c.delete();
    }, { seconds: opts.gdur, warm: Math.min(opts.warm, 0.3) }));
  }
  if (schemes.includes('ntlm')) {
    // A real CHALLENGE from the in-process acceptor; the initiator does not care that it repeats.
    const acred = await Credentials.acquire(f.lsa.sspi(), { package: 'NTLM', use: 'inbound' });
    const c0 = SecurityContext.client(f.ntlmCred, { target: TARGET, flags });
    const s0 = SecurityContext.server(acred, {});
    const challenge = (await s0.step((await c0.step())!))!;
    await c0.delete();
    await s0.delete();
    await acred.free();
    results.push(await measure('NTLM NEGOTIATE + AUTHENTICATE (initiator legs + delete)', async () => {
      const c = SecurityContext.client(f.ntlmCred, { target: TARGET, flags });
      await c.step();
      await c.step(challenge);
      await c.delete();
    }, { seconds: opts.gdur, warm: Math.min(opts.warm, 0.3) }));
  }
  return {
    bench: 'http_generator',
    label: 'HTTP load generator: our initiator alone (tokens per second, one thread)',
    impl: 'tslsa',
    config: { dur_s: opts.gdur, through: 'LSA + SSPI in the generator process' },
    checks: {},
    results,
  };
}

interface Variant {
  server: HttpServerKind;
  nodes: number;
  impl: string;
  id: string;
  /** Several nodes: how they reach Redis. */
  link?: RedisLink;
}

/** Runs one (server, scheme, nodes) and returns its record (an error record when it failed). */
async function runVariant(f: Fixture, opts: HttpBenchOptions, scheme: HttpScheme, conc: number, v: Variant, apache: ApacheServer | null, roundNo?: number): Promise<HttpRecord> {
  const base = { bench: BENCH[scheme].bench, label: labelOf(scheme, conc), impl: v.impl, nodes: v.nodes, ...(roundNo !== undefined ? { round: roundNo } : {}) };
  const id = roundNo !== undefined ? `${v.id} #${roundNo}` : v.id;
  const nodes: ServeNode[] = [];
  let redis: RedisServer | null = null;
  let pool: Pool | null = null;
  try {
    let urls: string[];
    let path: string;
    let check: CheckSpec;
    let serverCpu: () => number;
    // Each server process's CPU and context switches, to split the per-request figures (nodes vs
    // redis-server) in the record; Apache's processes count as one.
    let parts: Array<[string, () => number, () => [number, number]]> = [];
    let config: Record<string, unknown>;
    if (v.server === 'apache') {
      if (!apache) throw new Error('apache2 is not running');
      urls = [apache.url];
      path = APACHE_PATHS[scheme];
      // gss-ntlmssp names the NTLM user DOMAIN\user; MIT names the Kerberos one user@REALM.
      check = { kind: 'apache', names: scheme === 'krb5' ? [f.realm.principal('user')] : [`${DOMAIN}\\${NTLM_USER}`] };
      serverCpu = apache.cpuSeconds;
      parts = [['apache', apache.cpuSeconds, apache.switches]];
      config = { mpm: 'event', modules: 'authn_core authz_core authz_user headers auth_gssapi', mech: scheme === 'krb5' ? 'krb5 (GssapiAllowedMech krb5, SPNEGO)' : 'ntlmssp (gss-ntlmssp, GssapiConnectionBound On, NTLM_USER_FILE)', replay_cache: scheme === 'krb5' ? 'MIT default (file2, KRB5RCACHEDIR)' : 'n/a', response: '3-byte static file + X-Remote-User', access_log: 'file' };
    } else {
      const args = ['--store', f.store, '--domain', DOMAIN, '--keytab', f.realm.httpKeytab, '--spn', 'HTTP/localhost'];
      if (v.nodes > 1) {
        redis = await startRedis(f.dir, v.link === 'unix');
        args.push('--redis', redis.url);
      }
      for (let i = 0; i < v.nodes; i++) nodes.push(await startServeNode(args, f.realm.childEnv(), f.dir, `serve-${scheme}-${v.nodes}-${i}`));
      urls = nodes.map((n) => n.url);
      path = '/whoami';
      check = scheme === 'krb5' ? { kind: 'tslsa', user: 'user', domain: f.realm.realm, package: 'Kerberos' } : { kind: 'tslsa', user: NTLM_USER, domain: DOMAIN, package: 'NTLM' };
      const r = redis;
      serverCpu = () => nodes.reduce((s, n) => s + n.cpuSeconds(), 0) + (r ? r.cpuSeconds() : 0);
      parts = nodes.map((n, i) => [`node${i}`, () => n.cpuSeconds(), () => n.switches()] as (typeof parts)[number]);
      if (r) parts.push(['redis', () => r.cpuSeconds(), () => r.switches()]);
      config = { node: process.version, processes: v.nodes, ...(r ? { store: 'redis-server (handshake state, replay cache)', redis_link: v.link === 'unix' ? 'unix socket' : 'loopback TCP', spread: 'round-robin per handshake' } : { replay_cache: 'MemoryReplayCache' }), response: '/whoami JSON', access_log: 'file (stdout)' };
    }
    const scenario: Scenario = { scheme: scheme === 'krb5' ? 'Negotiate' : 'NTLM', credentials: scheme === 'krb5' ? f.krbCred : f.ntlmCred, target: TARGET, urls, path, check: checkFor(check) };
    // One handshake first: a misconfigured server fails here with its reason, not as a rate of 0.
    for (const u of urls) await handshakeOnce(scenario, u);
    // Untimed load, the same per process for every server: the counted window is its steady state.
    const serverWarm = (opts.serverWarm ?? 0) * urls.length;
    if (serverWarm > 0) await runLoad(scenario, { dur: serverWarm, warm: 0, conc });
    if (opts.genWorkers > 1) {
      const cred: CredSpec = scheme === 'krb5'
        ? { kind: 'krb5', krb5Conf: f.realm.krb5ConfPath, user: 'user', realm: f.realm.realm, password: f.realm.passwords.user! }
        : { kind: 'ntlm', user: NTLM_USER, domain: DOMAIN, password: NTLM_PASSWORD };
      pool = await startPool(opts.genWorkers, { scheme: scenario.scheme, cred, target: TARGET, urls, path, check, dur: opts.dur, warm: opts.warm, conc });
    }
    const kdc0 = kdcRequests(f.realm);
    // The load runner samples serverCpu at the start and the end of its counted window: the
    // per-process snapshots ride along, so the split covers exactly that window.
    const snaps: number[][] = [];
    const switchSnaps: Array<Array<[number, number]>> = [];
    const total = serverCpu;
    serverCpu = () => {
      snaps.push(parts.map(([, cpu]) => cpu()));
      switchSnaps.push(parts.map(([, , sw]) => sw()));
      return total();
    };
    process.stderr.write(`  ${id.padEnd(37)} ${scheme.padEnd(5)} `);
    const r = pool ? await pool.run(serverCpu) : await runLoad(scenario, { dur: opts.dur, warm: opts.warm, conc, serverCpu });
    // The KDC logs a request after answering it: give it a moment before counting.
    await new Promise((res) => setTimeout(res, 300));
    const kdcDuring = kdcRequests(f.realm) - kdc0;
    const first = snaps[0];
    const last = snaps[snaps.length - 1];
    const split = parts.length > 1 && r.ok > 0 && first && last && snaps.length >= 2
      ? Object.fromEntries(parts.map(([name], i) => [name, round((1e6 * (last[i]! - first[i]!)) / r.ok)]))
      : undefined;
    const switches = switchesPerOp(parts.map(([name]) => name), switchSnaps, r.ok);
    const result = toResult(id, r, { legs: scheme === 'krb5' ? 2 : 4, requests_per_handshake: scheme === 'krb5' ? 1 : 2, ...(split ? { cpu_us_per_op_by_process: split } : {}), ...switches });
    process.stderr.write(`${String(result.ops_per_s.toFixed(1)).padStart(10)} req/s  errors ${r.errors}  server ${result.cpu_us_per_op.toFixed(0)} cpu-us/req (util ${result.cpu_util.toFixed(2)})  generator util ${r.gen_cpu_util.toFixed(2)}  p99 ${r.p99_ms.toFixed(1)} ms${switches.ctx_switches_per_op ? `  switches/req ${switches.ctx_switches_per_op.voluntary}+${switches.ctx_switches_per_op.involuntary}` : ''}${split ? `  split ${JSON.stringify(split)}` : ''}\n`);
    return {
      ...base,
      config: { ...config, dur_s: opts.dur, warm_s: opts.warm, server_warm_s: (opts.serverWarm ?? 0) * (v.server === 'tslsa' ? v.nodes : 1), conc, gen_workers: Math.max(1, opts.genWorkers), connection: 'new TCP connection per handshake', generator: 'bench/lib/loadgen.ts (node:http, our initiator)' },
      checks: { identity_checked: true, mutual_auth_checked: scheme === 'krb5', kdc_requests_during_run: kdcDuring, errors: r.errors, ...(r.errors ? { error_kinds: r.errorKinds } : {}) },
      results: [result],
    };
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    process.stderr.write(`  ${id} ${scheme}: FAILED ${msg.split('\n')[0]}\n`);
    return { ...base, error: msg.slice(0, 2000) };
  } finally {
    if (pool) await pool.close();
    for (const n of nodes) await n.stop().catch(() => null);
    if (redis) await redis.stop().catch(() => undefined);
  }
}

/**
 * Every variant at one load level, `rounds` times in a rotating order; emits the records (tslsa
 * rows with their ratio to Apache's in the same round) and, with several rounds, the per-round
 * ratios and their median. Returns each variant's figure at this level.
 */
async function runLevel(f: Fixture, opts: HttpBenchOptions, scheme: HttpScheme, conc: number, rounds: number, variants: readonly Variant[], apache: ApacheServer | null, emit: (r: HttpRecord) => void): Promise<Map<string, LevelRate>> {
  process.stderr.write(`http ${scheme}: CONC=${conc} DUR=${opts.dur} WARM=${opts.warm} SERVER_WARM=${opts.serverWarm ?? 0}\n`);
  // Per variant id, its ratio to Apache in each round (rounds with both figures only).
  const perRound = new Map<string, number[]>();
  // Per variant id, its rate in each round and its failed handshakes in all of them.
  const seen = new Map<string, { ops: number[]; errors: number }>();
  for (let k = 0; k < rounds; k++) {
    // Rotated each round, so no variant always runs first (right after set-up) or last.
    const order = variants.map((_, i) => variants[(i + k) % variants.length]!);
    const recs = new Map<Variant, HttpRecord>();
    for (const v of order) recs.set(v, await runVariant(f, opts, scheme, conc, v, apache, rounds > 1 ? k + 1 : undefined));
    const ap = [...recs.values()].find((r) => r.impl !== 'tslsa' && r.results)?.results?.[0];
    for (const v of variants) {
      const r = recs.get(v)!;
      const res = r.results?.[0];
      // A rate counts signed-on requests only; failed handshakes still cost the server its CPU.
      if (res) {
        const x = seen.get(v.id) ?? { ops: [], errors: 0 };
        x.ops.push(res.ops_per_s);
        x.errors += Number(res.errors ?? 0);
        seen.set(v.id, x);
      }
      if (ap && res && r.impl === 'tslsa' && ap.ops_per_s > 0) {
        res.ratio_to_apache = round(res.ops_per_s / ap.ops_per_s);
        perRound.set(v.id, [...(perRound.get(v.id) ?? []), res.ratio_to_apache]);
      }
      emit(r);
    }
  }
  if (rounds > 1 && perRound.size > 0) {
    const ratios = Object.fromEntries([...perRound].map(([id, xs]) => [id, { per_round: xs, median: round(median(xs)) }]));
    emit({ bench: 'http_ratio_rounds', label: labelOf(scheme, conc), config: { rounds, conc, dur_s: opts.dur }, ratios_to_apache: ratios });
    for (const [id, r] of Object.entries(ratios)) process.stderr.write(`  ${id} / Apache, ${rounds} interleaved rounds: ${r.per_round.map((x) => x.toFixed(2)).join(' ')}  median ${r.median.toFixed(2)}\n`);
  }
  return new Map([...seen].map(([id, x]) => [id, { ops_per_s: median(x.ops), errors: x.errors }]));
}

/**
 * Every requested variant; each record goes to `out` as soon as its scheme is done (tslsa rows
 * carry `ratio_to_apache` when Apache ran the same scheme). Returns all records.
 */
export async function benchHttp(opts: HttpBenchOptions, out: (r: HttpRecord) => void = (r) => process.stdout.write(JSON.stringify(r) + '\n')): Promise<HttpRecord[]> {
  const all: HttpRecord[] = [];
  const emit = (r: HttpRecord) => {
    all.push(r);
    out(r);
  };
  const started = performance.now();
  emit({ bench: 'env', date: new Date().toISOString(), loadavg_before: loadavg().map((x) => round(x, 2)), node: process.version, cpus: (await import('node:os')).cpus().length });
  const f = await setUp();
  let apache: ApacheServer | null = null;
  try {
    const kdcStart = kdcRequests(f.realm);
    emit(await benchGenerator(f, opts, opts.schemes));
    if (opts.servers.includes('apache')) {
      try {
        apache = await startApache({ keytab: f.realm.httpKeytab, krb5Conf: f.realm.krb5ConfPath, ntlmUsers: `${DOMAIN}:${NTLM_USER}:${NTLM_PASSWORD}\n`, env: cleanEnv(), connections: Math.max(...opts.conc) * Math.max(1, opts.genWorkers) });
      } catch (e) {
        for (const s of opts.schemes) for (const c of opts.conc) emit({ bench: BENCH[s].bench, label: labelOf(s, c), impl: 'apache2 mod_auth_gssapi', error: (e as Error).message.slice(0, 2000) });
      }
    }
    const variants: Variant[] = [];
    if (apache) {
      const impl = `${apache.version.replace(/^Apache\//, 'apache2 ')} mod_auth_gssapi ${apache.modVersion}`;
      variants.push({ server: 'apache', nodes: 1, impl, id: 'apache2 mod_auth_gssapi (mpm_event)' });
    }
    if (opts.servers.includes('tslsa')) {
      for (const n of opts.nodes) {
        if (n === 1) variants.push({ server: 'tslsa', nodes: n, impl: 'tslsa', id: 'tslsa serve (1 node)' });
        else for (const link of opts.redisLinks ?? ['tcp']) variants.push({ server: 'tslsa', nodes: n, impl: 'tslsa', link, id: `tslsa serve (${n} nodes, Redis${link === 'unix' ? ' on a unix socket' : ''})` });
      }
    }
    const rounds = Math.max(1, Math.floor(opts.rounds ?? 1));
    for (const scheme of opts.schemes) {
      // Per variant id, its figure at each level.
      const rates = new Map<string, Map<number, LevelRate>>();
      for (const conc of opts.conc) {
        const level = await runLevel(f, opts, scheme, conc, rounds, variants, apache, emit);
        for (const [id, r] of level) rates.set(id, (rates.get(id) ?? new Map()).set(conc, r));
      }
      const peak = peaks(rates, variants.find((v) => v.server === 'apache')?.id);
      if (peak) {
        emit({ bench: 'http_peak', label: BENCH[scheme].label, config: { conc: opts.conc, rounds, dur_s: opts.dur }, peaks: peak });
        for (const [id, p] of Object.entries(peak)) process.stderr.write(`  peak ${id}: ${p.ops_per_s.toFixed(1)} req/s at ${p.conc} in flight${p.errors ? ` (${p.errors} failed handshakes)` : ''}${p.ratio_to_apache !== undefined ? `, ${p.ratio_to_apache.toFixed(2)}x Apache's peak` : ''}\n`);
      }
    }
    // Load after, as the peer runs print it: the box is shared, and the figures move with it.
    await new Promise((res) => setTimeout(res, 300));
    emit({ bench: 'kdc_check', kdc_requests_during_benchmarks: kdcRequests(f.realm) - kdcStart, total_s: round((performance.now() - started) / 1000, 1), loadavg_after: loadavg().map((x) => round(x, 2)) });
  } finally {
    if (apache) await apache.stop();
    await tearDown(f);
  }
  return all;
}

// Direct run: node --import tsx bench/http.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  await benchHttp(httpOptionsFromEnv());
}
