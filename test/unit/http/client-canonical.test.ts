// The client's dnsCanonicalize: the SPN comes from the end of the host's CNAME chain, as browsers
// and MIT Kerberos build it, so a site reached through an alias signs on with Kerberos for the
// host behind it. A small DNS server on 127.0.0.1 (UDP, RFC 1035 messages) answers the CNAME
// queries of a node:dns Resolver pointed at it.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Canonicalizer, followCnames, parseHosts } from '../../../src/http/canonical.js';
import { createFetch, type SignOnEvent } from '../../../src/http/client.js';
import type { Identity } from '../../../src/http/server.js';
import { SspiError } from '../../../src/sspi/error.js';
import { loopbackLookup, startServer, type TestServer } from './helpers.js';
import { SecurityStatus } from '../../../src/sspi/status.js';
import { createLsa } from '../../../src/lsa/host.js';
import { parseKrb5Conf } from '../../../src/packages/kerberos/krb5conf.js';
import { kerberosPackage } from '../../../src/packages/kerberos/package.js';
import { negotiatePackage } from '../../../src/packages/negotiate/package.js';
import { encodeNegTokenResp, NegState, parseNegotiationToken } from '../../../src/packages/negotiate/spnego.js';
import { NTLMSSP_MECH_OID } from '../../../src/der/index.js';
import { closeWorld, getWorld, inProcessKdc, PASSWORD, REALM, USER, type World } from '../../fuzz/negotiate-http-properties.js';

/** CNAME records: owner -> target. Any other name has none (NOERROR, no answer). */
const CNAMES: Record<string, string> = {
  'alias.example.test': 'web.example.test',
  'a.example.test': 'b.example.test',
  'b.example.test': 'c.example.test',
  'c.example.test': 'web.example.test',
  'loop1.example.test': 'loop2.example.test',
  'loop2.example.test': 'loop1.example.test',
  'upper.example.test': 'WEB.Example.Test',
};

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').map((l) => Buffer.concat([Buffer.of(l.length), Buffer.from(l, 'ascii')]));
  return Buffer.concat([...parts, Buffer.of(0)]);
}

/** Answers one query: the question echoed, and a CNAME when the table has one for its name. */
function answer(q: Buffer): Buffer | null {
  if (q.length < 17) return null;
  let off = 12;
  const labels: string[] = [];
  while (off < q.length && q[off] !== 0) {
    const n = q[off]!;
    labels.push(q.subarray(off + 1, off + 1 + n).toString('ascii'));
    off += 1 + n;
  }
  const questionEnd = off + 5;
  if (questionEnd > q.length) return null;
  const qtype = q.readUInt16BE(off + 1);
  const target = qtype === 5 ? CNAMES[labels.join('.').toLowerCase()] : undefined;
  const head = Buffer.alloc(12);
  q.copy(head, 0, 0, 2);
  head.writeUInt16BE(0x8180, 2); // a response, recursion desired and available, NOERROR
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(target ? 1 : 0, 6);
  const question = q.subarray(12, questionEnd);
  if (!target) return Buffer.concat([head, question]);
  const rdata = encodeName(target);
  const rr = Buffer.alloc(12);
  rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  rr.writeUInt16BE(5, 2); // CNAME
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(60, 6);
  rr.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, question, rr, rdata]);
}

let w: World;
let dnsServer: dgram.Socket;
let resolver: dns.Resolver;
let queries = 0;

before(async () => {
  w = await getWorld();
  dnsServer = dgram.createSocket('udp4');
  dnsServer.on('message', (msg, rinfo) => {
    queries++;
    const a = answer(msg);
    if (a) dnsServer.send(a, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => dnsServer.bind(0, '127.0.0.1', r));
  resolver = new dns.Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([`127.0.0.1:${(dnsServer.address() as AddressInfo).port}`]);
});

after(async () => {
  dnsServer.close();
  await closeWorld();
});

describe('followCnames', () => {
  it('follows a chain to its end, stops at a loop, keeps a name without a CNAME, and normalizes case', async () => {
    assert.equal(await followCnames('alias.example.test', resolver), 'web.example.test');
    assert.equal(await followCnames('A.Example.Test', resolver), 'web.example.test');
    assert.equal(await followCnames('web.example.test', resolver), 'web.example.test');
    assert.equal(await followCnames('upper.example.test', resolver), 'web.example.test');
    assert.ok(['loop1.example.test', 'loop2.example.test'].includes(await followCnames('loop1.example.test', resolver)));
  });

  it('a resolver that gets no answer keeps the name as given', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    const r = new dns.Resolver({ timeout: 200, tries: 1 });
    r.setServers([`127.0.0.1:${(silent.address() as AddressInfo).port}`]);
    try {
      assert.equal(await followCnames('alias.example.test', r), 'alias.example.test');
    } finally {
      silent.close();
    }
  });
});

describe('the hosts file', () => {
  it('maps every name of a line to its first name; the first line wins; comments and bad lines are skipped', () => {
    const m = parseHosts([
      '# a comment',
      '127.0.0.1   localhost',
      '10.0.0.5\tWeb.Example.Test.  web  alias.example.test # trailing comment',
      'fe80::1%eth0 v6.example.test v6',
      '2001:db8::7 six.example.test',
      '10.0.0.6 other.example.test web',
      'not-an-address name.example.test',
      '10.0.0.9',
      '',
    ].join('\r\n'));
    assert.equal(m.get('web'), 'web.example.test');
    assert.equal(m.get('alias.example.test'), 'web.example.test');
    assert.equal(m.get('web.example.test'), 'web.example.test');
    assert.equal(m.get('six.example.test'), 'six.example.test');
    assert.equal(m.get('other.example.test'), 'other.example.test');
    assert.equal(m.get('name.example.test'), undefined);
    assert.equal(m.get('v6'), 'v6.example.test', 'an address with a zone index');
  });

  it('a name the hosts file knows is answered there, without DNS; other names go to DNS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-hosts-'));
    try {
      const file = join(dir, 'hosts');
      writeFileSync(file, '10.0.0.5 web.example.test intranet\n10.0.0.7 a.example.test\n');
      const c = new Canonicalizer({ resolver, hostsFile: file });
      const before = queries;
      assert.equal(await c.canonical('INTRANET'), 'web.example.test');
      // a.example.test has a CNAME in DNS, but the file answers first (hosts: files dns).
      assert.equal(await c.canonical('a.example.test'), 'a.example.test');
      assert.equal(queries, before);
      assert.equal(await c.canonical('alias.example.test'), 'web.example.test');
      assert.ok(queries > before);
      assert.equal(await new Canonicalizer({ resolver, hostsFile: join(dir, 'missing') }).canonical('alias.example.test'), 'web.example.test', 'a missing file is no entry');
      assert.equal(await c.canonical('localhost'), 'localhost');
      assert.equal(await c.canonical('::1'), '::1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the client with dnsCanonicalize', () => {
  let server: TestServer;
  let port: number;

  before(async () => {
    server = await startServer(w.host);
    port = server.port;
  });

  after(async () => {
    await server.close();
  });

  /** What the last signOn's client told through onSignOn. */
  let events: SignOnEvent[] = [];
  /** Signs on to each host in turn with one client; krb5Conf, when given, is the client's krb5.conf. */
  async function signOn(hosts: string[], dnsCanonicalize: boolean | 'fallback' | undefined, krb5Conf?: string, hostsFile: string | null = null, credentials = { user: USER, domain: REALM, password: PASSWORD }): Promise<Identity[]> {
    events = [];
    const saved = process.env.KRB5_CONFIG;
    const dir = krb5Conf === undefined ? null : mkdtempSync(join(tmpdir(), 'tslsa-canon-'));
    if (dir) {
      writeFileSync(join(dir, 'krb5.conf'), krb5Conf!);
      process.env.KRB5_CONFIG = join(dir, 'krb5.conf');
    }
    const f = createFetch({ lsa: w.host, credentials, ...(dnsCanonicalize === undefined ? {} : { dnsCanonicalize }), resolver, hostsFile, connect: { lookup: loopbackLookup } as never, onSignOn: (e) => events.push(e) });
    try {
      const out: Identity[] = [];
      for (const h of hosts) {
        const r = await f(`http://${h}:${port}/`);
        assert.equal(r.status, 200);
        out.push((await r.json()) as Identity);
      }
      return out;
    } finally {
      await f.close();
      if (dir) {
        if (saved === undefined) delete process.env.KRB5_CONFIG;
        else process.env.KRB5_CONFIG = saved;
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  const kerberos = [`${USER}@${REALM}`, 'Kerberos'];
  const how = (id: Identity) => [id.name, id.package];

  it('true: a site reached through an alias signs on with Kerberos for the host behind it; false: Negotiate falls back to NTLM', async () => {
    const before = queries;
    const [k] = await signOn(['alias.example.test'], true);
    assert.deepEqual(how(k!), kerberos);
    assert.ok(queries > before, 'the CNAME was asked of DNS');
    assert.deepEqual(events.map((e) => [e.kind, e.scheme, e.package, e.target, e.mutual, e.legs]), [['server', 'Negotiate', 'Kerberos', 'HTTP/web.example.test', true, 1]]);
    // HTTP/alias.example.test is unknown to the KDC.
    const [n] = await signOn(['alias.example.test'], false);
    assert.equal(n!.package, 'NTLM');
    assert.deepEqual(events.map((e) => [e.origin, e.scheme, e.package, e.target, e.mutual, e.legs]), [[`http://alias.example.test:${port}`, 'Negotiate', 'NTLM', 'HTTP/alias.example.test', false, 2]]);
  });

  it("'fallback' asks DNS only when the KDC does not know the name, then goes straight to the name it learned", async () => {
    let before = queries;
    const [direct] = await signOn(['web.example.test'], 'fallback');
    assert.deepEqual(how(direct!), kerberos);
    assert.equal(queries, before, 'a name the KDC knows costs no DNS query');
    before = queries;
    const ids = await signOn(['alias.example.test', 'alias.example.test', 'Alias.Example.Test'], 'fallback');
    for (const id of ids) assert.deepEqual(how(id), kerberos);
    assert.equal(queries, before + 2, 'the unknown alias and the name it leads to were looked up once');
    // An unknown name without a CNAME stays itself: NTLM, as before.
    const [plain] = await signOn(['nocname.example.test'], 'fallback');
    assert.equal(plain!.package, 'NTLM');
  });

  it("without the option, krb5.conf's dns_canonicalize_hostname decides, and 'fallback' when it says nothing", async () => {
    const [off] = await signOn(['alias.example.test'], undefined, '[libdefaults]\n  dns_canonicalize_hostname = false\n');
    assert.equal(off!.package, 'NTLM');
    let before = queries;
    const [on] = await signOn(['web.example.test'], undefined, '[libdefaults]\n  dns_canonicalize_hostname = true\n');
    assert.deepEqual(how(on!), kerberos);
    assert.ok(queries > before, 'true looks every host up');
    before = queries;
    const [unset] = await signOn(['web.example.test', 'alias.example.test'], undefined, '[libdefaults]\n  rdns = false\n');
    assert.deepEqual(how(unset!), kerberos);
    assert.equal(queries, before + 2, 'only the alias was looked up (and the name it leads to): the KDC knew the first name');
    // An explicit option wins over krb5.conf.
    const [explicit] = await signOn(['alias.example.test'], 'fallback', '[libdefaults]\n  dns_canonicalize_hostname = false\n');
    assert.deepEqual(how(explicit!), kerberos);
  });

  it("with Kerberos-only Negotiate the unknown name is an error, and 'fallback' turns it into a sign-on for the name behind the alias", async () => {
    const krb5Conf = parseKrb5Conf(`[libdefaults]\n default_realm = ${REALM}\n[domain_realm]\n .example.test = ${REALM}\n`);
    const lsa = await createLsa({ packages: [negotiatePackage({ allowNtlm: false }), kerberosPackage({ krb5Conf, kdcSend: inProcessKdc(w.serviceKey), env: {} })] });
    const fetchWith = (dnsCanonicalize: boolean | 'fallback') =>
      createFetch({ lsa, credentials: { user: USER, domain: REALM, password: PASSWORD }, dnsCanonicalize, resolver, hostsFile: null, connect: { lookup: loopbackLookup } as never });
    try {
      const off = fetchWith(false);
      await assert.rejects(off(`http://alias.example.test:${port}/`), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_TARGET_UNKNOWN) || SspiError.is((e as Error).cause, SecurityStatus.SEC_E_TARGET_UNKNOWN));
      await off.close();
      const on = fetchWith('fallback');
      const r = await on(`http://alias.example.test:${port}/`);
      assert.equal(r.status, 200);
      assert.deepEqual(how((await r.json()) as Identity), kerberos);
      await on.close();
    } finally {
      await lsa.shutdown();
    }
  });

  it("an alias in the hosts file signs on for its line's first name, as curl with MIT Kerberos does", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-hosts-'));
    try {
      const file = join(dir, 'hosts');
      writeFileSync(file, '127.0.0.1 web.example.test intranet\n');
      const before = queries;
      const [id] = await signOn(['intranet'], 'fallback', undefined, file);
      assert.deepEqual(how(id!), kerberos);
      assert.equal(queries, before, 'no DNS query');
      const [without] = await signOn(['intranet'], 'fallback');
      assert.equal(without!.package, 'NTLM');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kerberosOnly: Kerberos signs on; an account the KDC does not know fails without a single token sent, where NTLM would have served', async () => {
    const before = server.authorizations.length;
    const ok = createFetch({ lsa: w.host, credentials: { user: USER, domain: REALM, password: PASSWORD }, kerberosOnly: true, hostsFile: null, connect: { lookup: loopbackLookup } as never });
    try {
      const r = await ok(`http://web.example.test:${port}/`);
      assert.equal(r.status, 200);
      assert.deepEqual(how((await r.json()) as Identity), kerberos);
    } finally {
      await ok.close();
    }
    const only = createFetch({ lsa: w.host, credentials: { user: USER, domain: 'EXAMPLE', password: PASSWORD }, kerberosOnly: true, hostsFile: null, connect: { lookup: loopbackLookup } as never });
    const sent = server.authorizations.length;
    try {
      await assert.rejects(only(`http://web.example.test:${port}/`), (e: unknown) => e instanceof Error);
      assert.deepEqual(server.authorizations.slice(sent), ['-'], 'only the first, bare request went out');
    } finally {
      await only.close();
    }
    const [ntlm] = await signOn(['web.example.test'], 'fallback', undefined, null, { user: USER, domain: 'EXAMPLE', password: PASSWORD });
    assert.equal(ntlm!.package, 'NTLM', 'the same account without kerberosOnly');
    assert.ok(server.authorizations.length > before);
    assert.throws(() => createFetch({ kerberosOnly: true, packages: ['NTLM'] }), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
  });

  it('kerberosOnly: a server that answers the AP-REQ by picking NTLM gets no NTLM token; its 401 is the answer', async () => {
    // A server that takes our Kerberos offer and says it wants NTLM instead (supportedMech NTLMSSP).
    const seen: string[] = [];
    const picky = http.createServer((req, res) => {
      const a = req.headers.authorization;
      seen.push(a === undefined ? '-' : (parseNegotiationToken(Buffer.from(a.replace(/^Negotiate /, ''), 'base64')).kind));
      const token = a ? ` ${Buffer.from(encodeNegTokenResp({ negState: NegState.accept_incomplete, supportedMech: NTLMSSP_MECH_OID })).toString('base64')}` : '';
      res.writeHead(401, { 'WWW-Authenticate': `Negotiate${token}`, 'Content-Length': '0' });
      res.end();
    });
    await new Promise<void>((r) => picky.listen(0, '127.0.0.1', r));
    const url = `http://web.example.test:${(picky.address() as AddressInfo).port}/`;
    const fetchWith = (kerberosOnly: boolean) => createFetch({ lsa: w.host, credentials: { user: USER, domain: REALM, password: PASSWORD }, kerberosOnly, hostsFile: null, connect: { lookup: loopbackLookup } as never });
    try {
      const only = fetchWith(true);
      const r = await only(url);
      await r.text();
      await only.close();
      assert.equal(r.status, 401);
      assert.deepEqual(seen, ['-', 'init'], 'the bare request and the Kerberos offer, nothing after the switch');
      // Without the option the client follows the switch and sends NTLM's NEGOTIATE.
      seen.length = 0;
      const any = fetchWith(false);
      const r2 = await any(url);
      await r2.text();
      await any.close();
      assert.deepEqual(seen, ['-', 'init', 'resp']);
    } finally {
      picky.closeAllConnections();
      await new Promise<void>((r) => picky.close(() => r()));
    }
  });

  it('a bad dnsCanonicalize is refused when the client is made', () => {
    assert.throws(() => createFetch({ lsa: w.host, dnsCanonicalize: 'yes' as never }), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
  });
});
