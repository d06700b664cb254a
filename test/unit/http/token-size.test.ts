// Kerberos token bloat: a user in thousands of groups carries a PAC that makes the AP-REQ tens of
// kilobytes (Windows allows 48,000 bytes by default, MaxTokenSize, and up to 65,535), and the
// Authorization header a third more in base64. Node's HTTP parser refuses headers over its
// maxHeaderSize (16 KiB by default) with 431 before any handler runs, so a server must raise it;
// our handler, our client and `tslsa serve` then carry such a sign-on whole, groups included;
// node:http2 takes a 50 KB header with its defaults.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Credentials } from '../../../src/credentials.js';
import { SecurityContext } from '../../../src/context.js';
import { createFetch } from '../../../src/http/client.js';
import { createAuthenticator, type Identity } from '../../../src/http/server.js';
import { createLsa, type LsaHost } from '../../../src/lsa/host.js';
import { randomToKey } from '../../../src/packages/kerberos/crypto/index.js';
import { writeKeytabFile } from '../../../src/packages/kerberos/keytab.js';
import { parseKrb5Conf } from '../../../src/packages/kerberos/krb5conf.js';
import { kerberosPackage } from '../../../src/packages/kerberos/package.js';
import { negotiatePackage } from '../../../src/packages/negotiate/package.js';
import { buildPac, pacAuthorizationData } from '../../fuzz/kerberos-properties.js';
import { inProcessKdc, PASSWORD, REALM, SPN, USER } from '../../fuzz/negotiate-http-properties.js';
import { selfSigned } from './client-harness.js';
import { H2Client, header } from './helpers.js';
import { startServe } from './serveProcess.js';

/** Group RIDs in the PAC: 8 bytes each in KERB_VALIDATION_INFO, so about 36 KB of PAC. */
const GROUPS = 4500;
/** About 56 KB of PAC: past a 64 KiB header limit once in base64. */
const MORE_GROUPS = 7000;

interface Bloated {
  host: LsaHost;
  keytab: string;
}

let dir: string;
let host: LsaHost;
const hosts: LsaHost[] = [];

/** An LSA whose in-process KDC puts a PAC with `groups` group RIDs in the service tickets for SPN. */
async function bloated(groups: number): Promise<Bloated> {
  const serviceKey = randomToKey(18, crypto.getRandomValues(new Uint8Array(32)));
  const keytab = join(dir, `http-${groups}.keytab`);
  writeKeytabFile(keytab, [{ principal: { realm: REALM, components: SPN.split('/'), nameType: 2 }, timestamp: 0, kvno: 3, kvno8: 3, key: serviceKey }]);
  const rids = Array.from({ length: groups }, (_, i) => 10_000 + i);
  const pac = buildPac(serviceKey, { names: [USER, 'Alice Liddell'], groups: rids, domainSid: [21, 1, 2, 3], extraSids: [], resourceSid: null, resourceGroups: [] }).pac;
  const krb5Conf = parseKrb5Conf(`[libdefaults]\n default_realm = ${REALM}\n`);
  const h = await createLsa({ domainName: 'EXAMPLE', packages: [negotiatePackage(), kerberosPackage({ krb5Conf, keytab, kdcSend: inProcessKdc(serviceKey, pacAuthorizationData(pac)), env: {} })] });
  hosts.push(h);
  return { host: h, keytab };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tslsa-bloat-'));
  host = (await bloated(GROUPS)).host;
});

after(async () => {
  for (const h of hosts) await h.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

/** A node:http server with `maxHeaderSize` around our handler; the identity as JSON on success. */
async function serve(maxHeaderSize: number, on: LsaHost = host): Promise<{ url: string; close(): Promise<void> }> {
  const auth = createAuthenticator({ host: on, principal: SPN });
  const server = http.createServer({ maxHeaderSize }, (req, res) => {
    void auth.authenticate(req, res).then((id) => {
      if (!id) return;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(id));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await auth.close();
    },
  };
}

async function firstToken(from: LsaHost = host): Promise<Uint8Array> {
  const cred = await Credentials.acquire(from.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: USER, Domain: REALM, Password: PASSWORD } });
  const ctx = SecurityContext.client(cred, { target: SPN, flags: ['MUTUAL_AUTH'] });
  try {
    return (await ctx.step())!;
  } finally {
    await ctx.delete();
    await cred.free();
  }
}

function get(url: string, authorization: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers: { Authorization: authorization }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a Kerberos token from a user in thousands of groups', () => {
  it('a 16 KiB header limit (Node\'s default) refuses it with 431; at 96 KiB it signs on with every group', async () => {
    const token = await firstToken();
    const value = header('Negotiate', token);
    assert.ok(token.length > 36_000 && token.length < 48_000, `token of ${token.length} bytes`);
    assert.ok(value.length > 48_000 && value.length < 64 * 1024 - 1024, `header of ${value.length} characters`);

    const small = await serve(16 * 1024);
    try {
      assert.equal((await get(small.url, value)).status, 431);
    } finally {
      await small.close();
    }

    const large = await serve(96 * 1024);
    try {
      const r = await get(large.url, value);
      assert.equal(r.status, 200, r.body);
      const id = JSON.parse(r.body) as Identity;
      assert.deepEqual([id.name, id.package], [`${USER}@${REALM}`, 'Kerberos']);
      assert.equal(id.groups.length, GROUPS);
      assert.equal(id.groups[0], 'S-1-5-21-1-2-3-10000');
      assert.equal(id.groups[GROUPS - 1], `S-1-5-21-1-2-3-${10_000 + GROUPS - 1}`);
    } finally {
      await large.close();
    }
  });

  it('over HTTP/2 with node:http2\'s default settings it signs on too', async () => {
    const value = header('Negotiate', await firstToken());
    const tls = selfSigned();
    const auth = createAuthenticator({ host, principal: SPN });
    const server = http2.createSecureServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      void auth.authenticate(req, res).then((id) => {
        if (!id) return;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(id));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const c = new H2Client(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const r = await c.get(value);
      assert.equal(r.status, 200, r.body);
      assert.equal((JSON.parse(r.body) as Identity).groups.length, GROUPS);
    } finally {
      c.close();
      await new Promise<void>((r) => server.close(() => r()));
      await auth.close();
    }
  });

  it('our client sends it and checks the AP-REP', async () => {
    const srv = await serve(96 * 1024);
    const fetch = createFetch({ lsa: host, credentials: { user: USER, domain: REALM, password: PASSWORD }, spn: SPN, packages: ['Negotiate'] });
    try {
      const res = await fetch(srv.url);
      assert.equal(res.status, 200);
      const id = (await res.json()) as Identity;
      assert.equal(id.package, 'Kerberos');
      assert.equal(id.groups.length, GROUPS);
    } finally {
      await fetch.close();
      await srv.close();
    }
  });

  it('tslsa serve takes a 57 KB token (7,000 groups) that a 64 KiB limit would refuse', async () => {
    const b = await bloated(MORE_GROUPS);
    const token = await firstToken(b.host);
    const value = header('Negotiate', token);
    assert.ok(token.length > 52_000 && token.length < 65_536, `token of ${token.length} bytes`);
    assert.ok(value.length > 64 * 1024, `header of ${value.length} characters`);
    const at64 = await serve(64 * 1024, b.host);
    try {
      assert.equal((await get(at64.url, value)).status, 431);
    } finally {
      await at64.close();
    }
    const store = join(dir, 'accounts.json');
    const krb5Conf = join(dir, 'krb5.conf');
    writeFileSync(krb5Conf, `[libdefaults]\n default_realm = ${REALM}\n`);
    const s = await startServe(['--store', store, '--domain', 'EXAMPLE', '--keytab', b.keytab, '--spn', SPN], { PATH: process.env.PATH ?? '', HOME: dir, KRB5_CONFIG: krb5Conf });
    try {
      const r = await get(`${s.url}/whoami`, value);
      assert.equal(r.status, 200, `${r.body}\n${s.stderr()}`);
      const id = JSON.parse(r.body) as { user: string; package: string; groups: string[] };
      assert.deepEqual([id.user, id.package, id.groups.length], [USER, 'Kerberos', MORE_GROUPS]);
    } finally {
      await s.stop();
    }
  });
});
