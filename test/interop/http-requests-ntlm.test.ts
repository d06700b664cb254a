// Python's requests with requests-ntlm (Debian's python3-requests-ntlm: NTLM from the
// pure-Python ntlm-auth library), against `tslsa serve`:
// an NTLM implementation nobody here wrote, with its own MIC and channel bindings.
//
//   HTTP: 401, NEGOTIATE, AUTHENTICATE on one connection; NTLMv2 with a MIC (tshark); signed on.
//   A wrong password: SEC_E_LOGON_DENIED.
//   HTTPS with --channel-bindings required: its bindings (tls-server-end-point) match; without
//     them (send_cbt=False) the node refuses with SEC_E_BAD_BINDINGS.
//   A server that offers Negotiate only (our handler, as IIS with only its Negotiate provider):
//     requests-ntlm then puts bare NTLMSSP tokens in Negotiate headers, no SPNEGO around them,
//     which the Negotiate package takes as NTLM.
//   Two Redis nodes behind a per-request balancer: the legs land on different nodes, and the
//     handshake cookie comes back as requests-ntlm sends it: the whole Set-Cookie value, attributes
//     and all, pasted into a Cookie header.
//
// ntlm-auth takes MD4 from hashlib, which Debian 12's OpenSSL 3 keeps in its legacy provider: the
// peer runs with an OPENSSL_CONF that activates it (without, it fails with "unsupported hash type
// md4", except over HTTPS with bindings, where loading `cryptography` happens to activate it).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { captureWhile, dissectHttp } from './lib/capture.js';
import { addUser, logShows, PASSWORD, perRequestBalancer, tearDown } from './lib/cluster-http.js';
import { cleanEnv } from './lib/realm.js';
import { createTestCa, startRedis, type RedisServer, type TestCa } from './lib/redis.js';
import { describeFailure, requirePythonModules, run } from './lib/proc.js';
import { accessLines, startServe, type ServeProcess } from '../unit/http/serveProcess.js';
import { lsaHost, startServer } from '../unit/http/helpers.js';

const T = { timeout: 60_000 };
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./py/requests_ntlm_get.py', import.meta.url));
const AUTH_FIELDS = ['ntlmssp.messagetype', 'ntlmssp.auth.username', 'ntlmssp.auth.domain', 'ntlmssp.ntlmv2_response.ntproofstr', 'ntlmssp.ntlmv2_response.flags', 'ntlmssp.authenticate.mic'] as const;

let dir = '';
let store = '';
let ca: TestCa;
let opensslConf = '';
let redis: RedisServer | undefined;
const started: ServeProcess[] = [];

interface PeerResult {
  status: number;
  body: string;
  legs: number[];
}

async function serve(args: readonly string[] = []): Promise<ServeProcess> {
  const s = await startServe(['--store', store, '--domain', 'EXAMPLE', ...args], cleanEnv());
  started.push(s);
  return s;
}

/** One GET by requests-ntlm as EXAMPLE\alice (or with `password`). */
async function get(url: string, opts: { password?: string; extra?: string[] } = {}): Promise<PeerResult> {
  const r = await run(PYTHON, [SCRIPT, url, 'EXAMPLE\\alice', '--ca', ca.ca, ...(opts.extra ?? [])], {
    env: { ...cleanEnv(), OPENSSL_CONF: opensslConf },
    input: `${opts.password ?? PASSWORD}\n`,
  });
  if (r.code !== 0) throw new Error(describeFailure(r));
  return JSON.parse(r.stdout) as PeerResult;
}

/** The identity /whoami showed. */
function whoami(r: PeerResult): Record<string, unknown> {
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as Record<string, unknown>;
}

before(async () => {
  await requirePythonModules(['requests_ntlm', 'ntlm_auth'], 'python3-requests-ntlm');
  dir = mkdtempSync(join(tmpdir(), 'tslsa-requests-ntlm-'));
  store = join(dir, 'accounts.db');
  await addUser(store, 'EXAMPLE\\alice', PASSWORD, cleanEnv());
  ca = await createTestCa(dir);
  opensslConf = join(dir, 'openssl-legacy.cnf');
  writeFileSync(opensslConf, [
    'openssl_conf = openssl_init', '[openssl_init]', 'providers = provider_sect', '[provider_sect]',
    'default = default_sect', 'legacy = legacy_sect', '[default_sect]', 'activate = 1', '[legacy_sect]', 'activate = 1', '',
  ].join('\n'));
});

after(() => tearDown({ nodes: started, redis, dir }));

describe('requests-ntlm (ntlm-auth) against tslsa serve', () => {
  it('HTTP: NTLMv2 with a MIC (tshark) in three legs on one connection; /whoami shows EXAMPLE\\alice', T, async () => {
    const s = await serve();
    const { value: r, pcap } = await captureWhile(s.port, dir, () => get(`${s.url}/whoami`));
    const j = whoami(r);
    assert.deepEqual([j.name, j.package, j.scheme, j.channelBindings], ['EXAMPLE\\alice', 'NTLM', 'NTLM', false]);
    assert.deepEqual(r.legs, [401, 401, 200]);
    const auth = (await dissectHttp(pcap, AUTH_FIELDS)).filter((m) => m['ntlmssp.messagetype'] === '0x00000003');
    assert.equal(auth.length, 1, JSON.stringify(auth));
    const a = auth[0] as Record<(typeof AUTH_FIELDS)[number], string>;
    assert.deepEqual([a['ntlmssp.auth.username'], a['ntlmssp.auth.domain']], ['alice', 'EXAMPLE']);
    assert.match(a['ntlmssp.ntlmv2_response.ntproofstr'], /^[0-9a-f]{32}$/, 'an NTLMv2 response');
    assert.equal(Number(a['ntlmssp.ntlmv2_response.flags']) & 0x2, 0x2, `MsvAvFlags ${a['ntlmssp.ntlmv2_response.flags']}: a MIC is present`);
    assert.match(a['ntlmssp.authenticate.mic'], /^[0-9a-f]{32}$/);
    assert.notEqual(a['ntlmssp.authenticate.mic'], '0'.repeat(32));
    const log = accessLines(s, '/whoami');
    assert.equal(log.length, 3, s.stdout());
    assert.match(log[0]!, / 401 - .*no Authorization header/);
    assert.match(log[2]!, / 200 EXAMPLE\\alice NTLM /);
  });

  it('a wrong password: 401, the node logs SEC_E_LOGON_DENIED', T, async () => {
    const s = await serve();
    const r = await get(`${s.url}/whoami`, { password: 'wrong' });
    assert.equal(r.status, 401);
    assert.ok(await logShows(s, / 401 - .*SEC_E_LOGON_DENIED/), s.stdout());
    assert.doesNotMatch(s.stdout(), / 200 /);
  });

  it('HTTPS with --channel-bindings required: its tls-server-end-point bindings match; without them (send_cbt=False) SEC_E_BAD_BINDINGS', T, async () => {
    const s = await serve(['--tls-cert', ca.serverCert, '--tls-key', ca.serverKey, '--channel-bindings', 'required']);
    const url = `https://localhost:${s.port}/whoami`;
    const j = whoami(await get(url));
    assert.deepEqual([j.name, j.channelBindings], ['EXAMPLE\\alice', true]);
    const unbound = await get(url, { extra: ['--no-cbt'] });
    assert.equal(unbound.status, 401);
    assert.ok(await logShows(s, / 401 - .*SEC_E_BAD_BINDINGS/), s.stdout());
  });

  it('a server that offers Negotiate only: bare NTLMSSP in Negotiate headers, signed on as NTLM under the Negotiate scheme', T, async () => {
    const host = await lsaHost();
    const srv = await startServer(host, { packages: ['Negotiate'] });
    try {
      const r = await get(`${srv.url}/`);
      const j = whoami(r);
      assert.deepEqual([j.name, j.package, j.scheme], ['EXAMPLE\\alice', 'NTLM', 'Negotiate']);
      assert.deepEqual(r.legs, [401, 401, 200]);
      // NTLMSSP's signature in base64 ('NTLMSSP\0' is TlRMTVNTUAA), straight after the scheme.
      assert.deepEqual(srv.authorizations.map((a) => a.slice(0, 21)), ['-', 'Negotiate TlRMTVNTUAA', 'Negotiate TlRMTVNTUAA']);
    } finally {
      await srv.close();
      await host.shutdown();
    }
  });

  it('two nodes sharing Redis behind a per-request balancer: NEGOTIATE and AUTHENTICATE on different nodes, the cookie sent back as a pasted Set-Cookie value', T, async () => {
    redis = await startRedis();
    const nodes = await Promise.all([serve(['--redis', redis.url]), serve(['--redis', redis.url])]);
    const lb = await perRequestBalancer(nodes);
    try {
      const j = whoami(await get(`${lb.url}/whoami`));
      assert.equal(j.name, 'EXAMPLE\\alice');
      const legs = lb.hops.filter((h) => h.ntlm !== 0);
      const hops = JSON.stringify(lb.hops);
      assert.deepEqual(legs.map((h) => [h.ntlm, h.status]), [[1, 401], [3, 200]], hops);
      assert.notEqual(legs[0]!.node, legs[1]!.node, hops);
      // Each leg over a new upstream connection: the cookie alone joined them, in this form.
      assert.match(legs[1]!.cookie, /^tslsa-handshake=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/, hops);
    } finally {
      await lb.close();
    }
  });
});
