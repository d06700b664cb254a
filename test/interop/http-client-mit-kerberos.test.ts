// Our HTTP client with Kerberos inside Negotiate against a Negotiate HTTP server on MIT's GSS-API
// (python3-gssapi's SPNEGO acceptor over the private realm's HTTP/localhost keytab).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFetch, type SignOnEvent } from '../../src/http/client.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { negotiatePackage } from '../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { loopbackLookup } from '../unit/http/helpers.js';
import { SYSTEM_PYTHON, requireGssNtlmPeer } from './lib/gssntlmssp.js';
import { LineChild } from './lib/proc.js';
import { createRealm, type Realm } from './lib/realm.js';

const SERVER_SCRIPT = fileURLToPath(new URL('./py/negotiate_http_server.py', import.meta.url));
const KRB5_OID = '1.2.840.113554.1.2.2';
const T = { timeout: 60_000 };

let realm: Realm;
let server: LineChild;
let port = 0;
let lsa: LsaHost;

before(async () => {
  await requireGssNtlmPeer();
  realm = await createRealm();
  server = new LineChild('negotiate_http_server', SYSTEM_PYTHON, [SERVER_SCRIPT, '--mech', 'any'], realm.childEnv({ KRB5_KTNAME: realm.httpKeytab }));
  const ready = await server.readLine(15_000);
  const m = /^READY (\d+)$/.exec(ready);
  assert.ok(m, `the MIT Negotiate server did not start: ${ready}\n${server.stderr}`);
  port = Number(m[1]);
  lsa = await createLsa({
    packages: [negotiatePackage(), kerberosPackage({ krb5Conf: realm.krb5ConfPath, env: realm.childEnv(), kdcTimeoutMs: 3000 }), ntlmPackage()],
  });
});

after(async () => {
  await lsa?.shutdown();
  await server?.close();
  await realm?.stop();
});

async function nextRequest(): Promise<string> {
  for (;;) {
    const line = await server.readLine(5_000);
    if (line.startsWith('REQUEST ')) return line.split(' ').slice(2).join(' ');
  }
}

describe('HTTP client interop: MIT SPNEGO with Kerberos', () => {
  it('one leg with an AP-REQ, the AP-REP in the final token checked, the server saw user@REALM', T, async () => {
    const f = createFetch({ lsa, credentials: { user: 'user', domain: realm.realm, password: realm.passwords.user! } });
    try {
      const r = await f(`http://localhost:${port}/krb`, { method: 'POST', body: 'kerberos body' });
      assert.equal(r.status, 200);
      const j = (await r.json()) as { user: string; mech: string; legs: number; body: string };
      assert.equal(j.user, `user@${realm.realm}`);
      assert.equal(j.mech, KRB5_OID);
      assert.equal(j.legs, 1);
      assert.equal(j.body, 'kerberos body');
      assert.deepEqual([await nextRequest(), await nextRequest()], ['- 401', 'Negotiate 200']);
      // Kerberos authenticates requests, not the connection: the next one starts with its AP-REQ.
      const r2 = await f(`http://localhost:${port}/again`);
      assert.equal(r2.status, 200);
      await r2.text();
      assert.equal(await nextRequest(), 'Negotiate 200');
    } finally {
      await f.close();
    }
  });

  it("an alias listed in a hosts file: MIT's KDC does not know HTTP/<alias>, so the client asks again for the line's first name and signs on with Kerberos", T, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-mit-hosts-'));
    writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost intranet-alias\n');
    const events: SignOnEvent[] = [];
    const make = (dnsCanonicalize: boolean | 'fallback') =>
      createFetch({ lsa, credentials: { user: 'user', domain: realm.realm, password: realm.passwords.user! }, dnsCanonicalize, hostsFile: join(dir, 'hosts'), connect: { lookup: loopbackLookup } as never, onSignOn: (e) => events.push(e) });
    const f = make('fallback');
    try {
      const r = await f(`http://intranet-alias:${port}/alias`);
      assert.equal(r.status, 200);
      const j = (await r.json()) as { user: string; mech: string };
      assert.deepEqual([j.user, j.mech], [`user@${realm.realm}`, KRB5_OID]);
      assert.deepEqual(events.map((e) => [e.package, e.target, e.mutual]), [['Kerberos', 'HTTP/localhost', true]]);
    } finally {
      await f.close();
    }
    // Without canonicalization the KDC's refusal stands: Negotiate goes on with NTLM
    const off = make(false);
    try {
      events.length = 0;
      const r = await off(`http://intranet-alias:${port}/alias`);
      await r.text();
      // (this MIT server knows no NTLM account: refused, and no sign-on to tell of)
      assert.deepEqual([r.status, events], [401, []]);
    } finally {
      await off.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a wrong password: the server\'s 401 is returned (Negotiate fell back from Kerberos and was refused)', T, async () => {
    const f = createFetch({ lsa, credentials: { user: 'user', domain: realm.realm, password: 'wrong-password' } });
    try {
      const r = await f(`http://localhost:${port}/krb`);
      assert.equal(r.status, 401);
      await r.text();
    } finally {
      await f.close();
    }
  });
});
