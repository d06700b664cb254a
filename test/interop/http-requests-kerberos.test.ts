// Python's requests with requests-kerberos (Debian's python3-requests-kerberos over pykerberos and
// MIT's GSS-API), against `tslsa serve --keytab`, with a TGT from the private MIT realm.
//
//   HTTP: pykerberos asks for the raw Kerberos mechanism, not SPNEGO, so the Negotiate header
//     carries a bare krb5 InitialContextToken; the node answers with a bare AP-REP, which
//     requests-kerberos verifies (mutual authentication REQUIRED) before it hands over the page.
//   Preemptive (force_preemptive): one request, no 401.
//   HTTPS: Debian's pykerberos 1.1.14 has no channelBindings(), so requests-kerberos sends no
//     bindings even with send_cbt: if-present accepts it unbound, required refuses it.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { captureWhile, dissectHttp } from './lib/capture.js';
import { logShows, tearDown } from './lib/cluster-http.js';
import { createRealm, type Realm } from './lib/realm.js';
import { createTestCa, type TestCa } from './lib/redis.js';
import { describeFailure, requirePythonModules, run } from './lib/proc.js';
import { accessLines, startServe, type ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 60_000 };
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./py/requests_kerberos_get.py', import.meta.url));
const KRB5_OID = '1.2.840.113554.1.2.2';

let realm: Realm;
let ca: TestCa;
const started: ServeProcess[] = [];

interface PeerResult {
  status: number;
  body: string;
  legs: number[];
  error: string | null;
}

async function serve(args: readonly string[] = []): Promise<ServeProcess> {
  const s = await startServe(['--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost', '--kerberos-only', ...args], realm.childEnv());
  started.push(s);
  return s;
}

async function get(url: string, extra: string[] = []): Promise<PeerResult> {
  const r = await run(PYTHON, [SCRIPT, url, '--ca', ca.ca, ...extra], { env: realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }) });
  if (r.code !== 0) throw new Error(describeFailure(r));
  return JSON.parse(r.stdout) as PeerResult;
}

function whoami(r: PeerResult): Record<string, unknown> {
  assert.equal(r.error, null);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as Record<string, unknown>;
}

before(async () => {
  await requirePythonModules(['requests_kerberos', 'kerberos'], 'python3-requests-kerberos');
  realm = await createRealm();
  await realm.kinit('user');
  ca = await createTestCa(realm.dir);
});

after(() => tearDown({ nodes: started, realm }));

describe('requests-kerberos (pykerberos, MIT GSS-API) against tslsa serve --keytab', () => {
  it('HTTP: a bare krb5 token (no SPNEGO) in Negotiate, answered with a bare AP-REP that it verifies (mutual authentication REQUIRED)', T, async () => {
    const s = await serve();
    const { value: r, pcap } = await captureWhile(s.port, realm.dir, () => get(`http://localhost:${s.port}/whoami`));
    const j = whoami(r);
    assert.deepEqual([j.name, j.package, j.scheme], [`user@${realm.realm}`, 'Kerberos', 'Negotiate']);
    assert.ok((j.flags as string[]).includes('MUTUAL_AUTH'), String(j.flags));
    assert.deepEqual(r.legs, [401, 200]);
    // tshark: the request's token and the reply's are GSS tokens of the krb5 mechanism itself,
    // an AP-REQ (14) and an AP-REP (15), with no SPNEGO around them.
    const msgs = (await dissectHttp(pcap, ['http.response.code', 'gss-api.OID', 'spnego.negTokenInit_element', 'spnego.negTokenTarg_element', 'kerberos.msg_type'])).filter((m) => m['kerberos.msg_type'] !== '');
    assert.deepEqual(msgs.map((m) => [m['gss-api.OID'], m['kerberos.msg_type'], m['spnego.negTokenInit_element'], m['spnego.negTokenTarg_element']]), [[KRB5_OID, '14', '', ''], [KRB5_OID, '15', '', '']], JSON.stringify(msgs));
    const log = accessLines(s, '/whoami');
    assert.equal(log.length, 2, s.stdout());
    assert.match(log[1]!, / 200 user@EXAMPLE\.TEST Kerberos /);
  });

  it('force_preemptive: the token goes with the first request, which signs on without a 401', T, async () => {
    const s = await serve();
    const r = await get(`http://localhost:${s.port}/whoami`, ['--preemptive']);
    assert.equal(whoami(r).name, `user@${realm.realm}`);
    assert.deepEqual(r.legs, [200]);
    const log = accessLines(s, '/whoami');
    assert.equal(log.length, 1, s.stdout());
    assert.match(log[0]!, / 200 user@EXAMPLE\.TEST Kerberos /);
  });

  it('HTTPS: no channel bindings from Debian\'s pykerberos even with send_cbt: accepted unbound with if-present, refused (SEC_E_BAD_BINDINGS) with required', T, async () => {
    const tls = ['--tls-cert', ca.serverCert, '--tls-key', ca.serverKey];
    const lax = await serve(tls);
    const j = whoami(await get(`https://localhost:${lax.port}/whoami`));
    assert.deepEqual([j.name, j.channelBindings], [`user@${realm.realm}`, false]);
    const strict = await serve([...tls, '--channel-bindings', 'required']);
    const r = await get(`https://localhost:${strict.port}/whoami`);
    assert.equal(r.status, 401);
    assert.ok(await logShows(strict, / 401 - .*SEC_E_BAD_BINDINGS .*sent no channel bindings/), strict.stdout());
    assert.doesNotMatch(strict.stdout(), / 200 /);
  });
});
