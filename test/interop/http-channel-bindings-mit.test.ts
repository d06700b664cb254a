// Channel bindings over HTTPS (RFC 5929 tls-server-end-point) against MIT's GSS-API, in both
// directions, for Kerberos (RFC 4121 4.1.1.2: the MD5 of the bindings in the authenticator's
// checksum) and, on the acceptor side, for NTLM (MsvAvChannelBindings, checked by gss-ntlmssp).
// Browsers, curl and requests-kerberos bind nothing with Kerberos, so python3-gssapi is the
// initiator that does.
//
//   MIT initiator -> tslsa serve --channel-bindings required: bound to the certificate the node
//     showed, signed on (channelBindings: true) and MIT verifies our AP-REP; bound to another
//     certificate (a relay's), SEC_E_BAD_BINDINGS; no bindings, refused ("sent no channel
//     bindings"), and accepted unbound with if-present.
//   Our client (createFetch over TLS) -> MIT's acceptor given its own certificate's bindings: MIT
//     sets GSS_C_CHANNEL_BOUND_FLAG (our checksum's Bnd matched); given another certificate's, MIT
//     refuses the token (GSS_S_BAD_BINDINGS) and the request ends 401.
//   Our client's NTLM over TLS -> gss-ntlmssp's acceptor (SPNEGO with NTLM only): its own
//     certificate's bindings, signed on and reported channel-bound; another's, refused.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFetch } from '../../src/http/client.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { negotiatePackage } from '../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { logShows, tearDown } from './lib/cluster-http.js';
import { LineChild, describeFailure, requirePythonModules, run } from './lib/proc.js';
import { cleanEnv, createRealm, type Realm } from './lib/realm.js';
import { requireGssNtlmPeer } from './lib/gssntlmssp.js';
import { createTestCa, type TestCa } from './lib/redis.js';
import { startServe, type ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 60_000 };
const PYTHON = '/usr/bin/python3';
const CLIENT = fileURLToPath(new URL('./py/gssapi_http_get.py', import.meta.url));
const NTLM_PASSWORD = 'Passw0rd!';
const NTLM_OID = '1.3.6.1.4.1.311.2.2.10';
const KRB5_OID = '1.2.840.113554.1.2.2';
const SERVER = fileURLToPath(new URL('./py/negotiate_http_server.py', import.meta.url));

let realm: Realm;
let ca: TestCa;
const started: ServeProcess[] = [];

interface MitClientResult {
  status: number;
  body: string;
  legs: number[];
  mutual: boolean;
  error: string | null;
}

const pyServers: LineChild[] = [];

/**
 * negotiate_http_server.py over HTTPS with the node's test certificate, its acceptor (`mech` any:
 * MIT's SPNEGO with the keytab in `env`; ntlm: gss-ntlmssp) given the bindings of `bindings`.
 */
async function httpsNegotiateServer(mech: 'any' | 'ntlm', bindings: 'own' | 'other', env: NodeJS.ProcessEnv): Promise<{ port: number; server: LineChild }> {
  const s = new LineChild('negotiate_http_server', PYTHON, [SERVER, '--mech', mech, '--tls', ca.serverCert, ca.serverKey, '--bindings', bindings], env);
  pyServers.push(s);
  const ready = await s.readLine(15_000);
  const m = /^READY (\d+)$/.exec(ready);
  assert.ok(m, `the Python Negotiate server did not start: ${ready}\n${s.stderr}`);
  return { port: Number(m[1]), server: s };
}

/** The next GSS failure the Python server reported. */
async function gssError(s: LineChild): Promise<string> {
  for (;;) {
    const line = await s.readLine(5_000);
    if (line.startsWith('GSSERROR ')) return line;
  }
}

before(async () => {
  await requirePythonModules(['gssapi', 'cryptography'], 'python3-gssapi and python3-cryptography');
  realm = await createRealm();
  await realm.kinit('user');
  ca = await createTestCa(realm.dir);
});

after(async () => {
  for (const s of pyServers) await s.close();
  await tearDown({ nodes: started, realm });
});

describe('MIT (python3-gssapi, SPNEGO) binds its Kerberos authenticator; tslsa serve checks it', () => {
  const serve = async (policy: string): Promise<ServeProcess> => {
    const s = await startServe(['--keytab', realm.httpKeytab, '--spn', 'HTTP/localhost', '--kerberos-only', '--tls-cert', ca.serverCert, '--tls-key', ca.serverKey, '--channel-bindings', policy], realm.childEnv());
    started.push(s);
    return s;
  };
  const mitGet = async (s: ServeProcess, bindings: 'own' | 'other' | 'none'): Promise<MitClientResult> => {
    const r = await run(PYTHON, [CLIENT, `https://localhost:${s.port}/whoami`, '--ca', ca.ca, '--bindings', bindings], { env: realm.childEnv({ GSS_MECH_CONFIG: '/dev/null' }) });
    if (r.code !== 0) throw new Error(describeFailure(r));
    return JSON.parse(r.stdout) as MitClientResult;
  };

  it('required: bound to the certificate the node showed, signed on and bound; MIT verifies our final token', T, async () => {
    const s = await serve('required');
    const r = await mitGet(s, 'own');
    assert.equal(r.error, null);
    assert.equal(r.status, 200, r.body);
    const j = JSON.parse(r.body) as Record<string, unknown>;
    assert.deepEqual([j.name, j.package, j.channelBindings], [`user@${realm.realm}`, 'Kerberos', true]);
    assert.equal(r.mutual, true, 'MIT accepted the AP-REP in the final token');
  });

  it('required: bound to another certificate (a relay\'s view), SEC_E_BAD_BINDINGS; no bindings, refused', T, async () => {
    const s = await serve('required');
    const relayed = await mitGet(s, 'other');
    assert.equal(relayed.status, 401);
    assert.ok(await logShows(s, / 401 - .*SEC_E_BAD_BINDINGS/), s.stdout());
    const unbound = await mitGet(s, 'none');
    assert.equal(unbound.status, 401);
    assert.ok(await logShows(s, / 401 - .*SEC_E_BAD_BINDINGS .*sent no channel bindings/), s.stdout());
    assert.doesNotMatch(s.stdout(), / 200 /);
  });

  it('if-present: unbound accepted and reported unbound; bound to another certificate still refused', T, async () => {
    const s = await serve('if-present');
    const unbound = await mitGet(s, 'none');
    assert.equal(unbound.status, 200, unbound.body);
    assert.equal((JSON.parse(unbound.body) as Record<string, unknown>).channelBindings, false);
    const relayed = await mitGet(s, 'other');
    assert.equal(relayed.status, 401);
    assert.ok(await logShows(s, / 401 - .*SEC_E_BAD_BINDINGS/), s.stdout());
  });
});

describe("Our client binds its token over TLS; acceptors on MIT's GSS-API check it", () => {
  let kerberosLsa: LsaHost;
  let ntlmLsa: LsaHost;
  let users = '';
  before(async () => {
    await requireGssNtlmPeer();
    users = join(realm.dir, 'ntlm-users');
    writeFileSync(users, `EXAMPLE:alice:${NTLM_PASSWORD}\n`, { mode: 0o600 });
    kerberosLsa = await createLsa({ packages: [negotiatePackage(), kerberosPackage({ krb5Conf: realm.krb5ConfPath, env: realm.childEnv(), kdcTimeoutMs: 3000 })] });
    ntlmLsa = await createLsa({ packages: [negotiatePackage(), ntlmPackage()] });
  });
  after(async () => {
    await kerberosLsa?.shutdown();
    await ntlmLsa?.shutdown();
  });

  const acceptors = [
    {
      what: "Kerberos, MIT's acceptor",
      mech: 'any' as const,
      env: () => realm.childEnv({ KRB5_KTNAME: realm.httpKeytab }),
      fetch: () => createFetch({ lsa: kerberosLsa, credentials: { user: 'user', domain: realm.realm, password: realm.passwords.user! }, connect: { ca: readFileSync(ca.ca) } }),
      user: () => `user@${realm.realm}`,
      mechOid: KRB5_OID,
      refusal: /Major \(262144\): Incorrect channel bindings were supplied/,
    },
    {
      what: "NTLM, gss-ntlmssp's acceptor",
      mech: 'ntlm' as const,
      env: () => ({ ...cleanEnv(), NTLM_USER_FILE: users }),
      fetch: () => createFetch({ lsa: ntlmLsa, credentials: { user: 'alice', domain: 'EXAMPLE', password: NTLM_PASSWORD }, connect: { ca: readFileSync(ca.ca) } }),
      user: () => 'EXAMPLE\\alice',
      mechOid: NTLM_OID,
      // gss-ntlmssp says no more than this about a MsvAvChannelBindings that does not match.
      refusal: /Major \(589824\): Invalid token was supplied, Minor \(100001\): Permission denied/,
    },
  ];

  for (const a of acceptors) {
    it(`${a.what} given its own certificate's bindings: signed on, the context channel-bound`, T, async () => {
      const { port } = await httpsNegotiateServer(a.mech, 'own', a.env());
      const f = a.fetch();
      try {
        const r = await f(`https://localhost:${port}/`);
        assert.equal(r.status, 200);
        const j = (await r.json()) as { user: string; mech: string; channelBound: boolean };
        assert.deepEqual([j.user, j.mech, j.channelBound], [a.user(), a.mechOid, true]);
      } finally {
        await f.close();
      }
    });

    it(`${a.what} given another certificate's bindings: our token refused, 401`, T, async () => {
      const { port, server } = await httpsNegotiateServer(a.mech, 'other', a.env());
      const f = a.fetch();
      try {
        const r = await f(`https://localhost:${port}/`);
        assert.equal(r.status, 401);
        await r.text();
        assert.match(await gssError(server), a.refusal);
      } finally {
        await f.close();
      }
    });
  }
});
