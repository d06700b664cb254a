// The client's dnsCanonicalize: the SPN comes from the end of the host's CNAME chain, as browsers
// and MIT Kerberos build it, so a site reached through an alias signs on with Kerberos for the
// host behind it. A small DNS server on 127.0.0.1 (UDP, RFC 1035 messages) answers the CNAME
// queries of a node:dns Resolver pointed at it.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createFetch, followCnames } from '../../../src/http/client.js';
import { createAuthenticator, type Identity } from '../../../src/http/server.js';
import { closeWorld, getWorld, PASSWORD, REALM, USER, type World } from '../../fuzz/negotiate-http-properties.js';

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

describe('the client with dnsCanonicalize', () => {
  it('a site reached through an alias signs on with Kerberos for the host behind it; without the option, Negotiate falls back to NTLM', async () => {
    const auth = createAuthenticator({ host: w.host });
    const server = http.createServer((req, res) => {
      void auth.authenticate(req, res).then((id) => {
        if (!id) return;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(id));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    // The alias reaches this server whatever the system resolver says about example.test.
    const lookup: LookupFunction = (_host, opts, cb) => {
      if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
      else cb(null, '127.0.0.1', 4);
    };
    const signOn = async (dnsCanonicalize: boolean): Promise<Identity> => {
      const f = createFetch({ lsa: w.host, credentials: { user: USER, domain: REALM, password: PASSWORD }, dnsCanonicalize, resolver, connect: { lookup } as never });
      try {
        const r = await f(`http://alias.example.test:${port}/`);
        assert.equal(r.status, 200);
        return (await r.json()) as Identity;
      } finally {
        await f.close();
      }
    };
    try {
      const before = queries;
      const k = await signOn(true);
      assert.deepEqual([k.name, k.package], [`${USER}@${REALM}`, 'Kerberos']);
      assert.ok(queries > before, 'the CNAME was asked of DNS');
      // HTTP/alias.example.test is unknown to the KDC: Negotiate goes on with NTLM.
      const n = await signOn(false);
      assert.equal(n.package, 'NTLM');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await auth.close();
    }
  });
});
