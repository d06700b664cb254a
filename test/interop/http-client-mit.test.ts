// Our HTTP client (negotiateInterceptor/createFetch) against a Negotiate HTTP server built on MIT's
// GSS-API: python3-gssapi's SPNEGO acceptor with gss-ntlmssp inside (no KDC needed).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createFetch } from '../../src/http/client.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { negotiatePackage } from '../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { SYSTEM_PYTHON, requireGssNtlmPeer } from './lib/gssntlmssp.js';
import { LineChild } from './lib/proc.js';
import { cleanEnv } from './lib/realm.js';

const DOMAIN = 'EXAMPLE';
const USER = 'alice';
const PASSWORD = 'Passw0rd!';
const SERVER_SCRIPT = fileURLToPath(new URL('./py/negotiate_http_server.py', import.meta.url));

let server: LineChild;
let port = 0;
let dir: string;
let lsa: LsaHost;

before(async () => {
  await requireGssNtlmPeer();
  dir = mkdtempSync(join(tmpdir(), 'tslsa-http-mit-'));
  const users = join(dir, 'ntlm-users');
  writeFileSync(users, `${DOMAIN}:${USER}:${PASSWORD}\n`, { mode: 0o600 });
  server = new LineChild('negotiate_http_server', SYSTEM_PYTHON, [SERVER_SCRIPT, '--mech', 'ntlm'], { ...cleanEnv(), NTLM_USER_FILE: users });
  const ready = await server.readLine(15_000);
  const m = /^READY (\d+)$/.exec(ready);
  assert.ok(m, `the MIT Negotiate server did not start: ${ready}\n${server.stderr}`);
  port = Number(m[1]);
  lsa = await createLsa({ packages: [negotiatePackage(), ntlmPackage()] });
});

after(async () => {
  await lsa?.shutdown();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** GSSERROR lines the server printed (its acceptor refused a token). */
const gssErrors: string[] = [];

/** The next `count` REQUEST lines the server printed. */
async function serverLog(count: number): Promise<Array<{ connection: number; scheme: string; status: number }>> {
  const out = [];
  while (out.length < count) {
    const line = await server.readLine(5_000);
    if (line.startsWith('GSSERROR ')) {
      gssErrors.push(line);
      continue;
    }
    const m = /^REQUEST (\d+) (\S+) (\d+)$/.exec(line);
    assert.ok(m, `unexpected server line: ${line}`);
    out.push({ connection: Number(m[1]), scheme: m[2]!, status: Number(m[3]) });
  }
  return out;
}

describe('HTTP client interop: MIT SPNEGO (gss-ntlmssp) Negotiate server', () => {
  it('the right password: 200, the server saw EXAMPLE\\alice, the final token was checked', async () => {
    const f = createFetch({ lsa, credentials: { user: USER, domain: DOMAIN, password: PASSWORD } });
    try {
      const r = await f(`http://127.0.0.1:${port}/hello`, { method: 'POST', body: 'payload' });
      assert.equal(r.status, 200);
      const j = (await r.json()) as { user: string; mech: string; body: string; legs: number };
      assert.match(j.user, /^EXAMPLE\\alice$/i);
      assert.equal(j.body, 'payload');
      assert.equal(j.legs, 2, 'NegTokenInit(NEGOTIATE) then NegTokenResp(AUTHENTICATE)');
      const log = await serverLog(3);
      assert.deepEqual(log.map((e) => [e.scheme, e.status]), [['-', 401], ['Negotiate', 401], ['Negotiate', 200]]);
      assert.equal(log[1]!.connection, log[2]!.connection, 'both legs on one connection');
      // The connection stays authenticated.
      const r2 = await f(`http://127.0.0.1:${port}/again`);
      assert.equal(r2.status, 200);
      await r2.text();
      const [again] = await serverLog(1);
      assert.deepEqual([again!.connection, again!.scheme, again!.status], [log[2]!.connection, '-', 200]);
    } finally {
      await f.close();
    }
  });

  it('a wrong password: the 401 is returned as it is, with no retry loop', async () => {
    const f = createFetch({ lsa, credentials: { user: USER, domain: DOMAIN, password: 'not-the-password' } });
    try {
      const r = await f(`http://127.0.0.1:${port}/hello`);
      assert.equal(r.status, 401);
      await r.text();
      const log = await serverLog(3);
      assert.deepEqual(log.map((e) => [e.scheme, e.status]), [['-', 401], ['Negotiate', 401], ['Negotiate', 401]]);
      assert.equal(gssErrors.length, 1, 'MIT refused the AUTHENTICATE once');
    } finally {
      await f.close();
    }
  });
});
