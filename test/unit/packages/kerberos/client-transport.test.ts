// The KDC transport against fake KDCs on loopback sockets: UDP, TCP framing, KRB_ERR_RESPONSE_TOO_BIG
// → TCP, udp_preference_limit, failover, timeouts under the deadline, garbage replies, SRV lookup.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { encodeKrbError } from '../../../../src/packages/kerberos/asn1/index.js';
import { locateKdcs, sendToKdc, type KdcEndpoint } from '../../../../src/packages/kerberos/client/transport.js';
import { parseKrb5Conf } from '../../../../src/packages/kerberos/krb5conf.js';
import { SspiError } from '../../../../src/sspi/error.js';

const REALM = 'EXAMPLE.TEST';
const krbError = (code: number): Uint8Array =>
  encodeKrbError({ stime: new Date(Math.floor(Date.now() / 1000) * 1000), susec: 0, errorCode: code, realm: REALM, sname: { nameType: 2, nameString: ['krbtgt', REALM] } });
const ERR_GENERIC = krbError(60);
const TOO_BIG = krbError(52);
// A well-formed AS-REP is not needed: the transport only checks the outer tag.
const AS_REP_LIKE = Uint8Array.from([0x6b, 0x03, 0x30, 0x01, 0x00]);

type Behaviour = 'reply' | 'silent' | 'garbage' | 'too-big';

interface FakeKdc {
  port: number;
  udpSeen: number;
  tcpSeen: number;
  tcpRequests: Uint8Array[];
  udp: UdpSocket;
  tcp: Server;
  udpMode: Behaviour;
  tcpMode: Behaviour | 'short-close';
  close(): Promise<void>;
}

async function fakeKdc(udpMode: Behaviour, tcpMode: FakeKdc['tcpMode'] = 'reply', reply: Uint8Array = AS_REP_LIKE): Promise<FakeKdc> {
  const tcp = createServer();
  const sockets = new Set<Socket>();
  await new Promise<void>((res) => tcp.listen(0, '127.0.0.1', res));
  const port = (tcp.address() as AddressInfo).port;
  const udp = createSocket('udp4');
  await new Promise<void>((res, rej) => {
    udp.once('error', rej);
    udp.bind(port, '127.0.0.1', () => res());
  });
  const k: FakeKdc = {
    port, udpSeen: 0, tcpSeen: 0, tcpRequests: [], udp, tcp, udpMode, tcpMode,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => tcp.close(() => r()));
      await new Promise<void>((r) => udp.close(() => r()));
    },
  };
  udp.on('message', (msg, rinfo) => {
    k.udpSeen++;
    const out = k.udpMode === 'reply' ? reply : k.udpMode === 'garbage' ? Buffer.from('HTTP/1.1 400 no\r\n') : k.udpMode === 'too-big' ? TOO_BIG : undefined;
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  tcp.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) return;
      k.tcpSeen++;
      k.tcpRequests.push(buf.subarray(4));
      if (k.tcpMode === 'silent') return;
      if (k.tcpMode === 'short-close') {
        s.end(Buffer.from([0, 0, 0, 50, 1, 2]));
        return;
      }
      const out = k.tcpMode === 'garbage' ? Buffer.from([0xff, 0xff, 0xff, 0xff]) : Buffer.from(reply);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(out.length);
      // Split the frame to prove the reader reassembles it.
      s.write(Buffer.concat([len, out.subarray(0, 1)]));
      setTimeout(() => s.write(out.subarray(1)), 5);
    });
  });
  return k;
}

const ep = (k: FakeKdc, transport: KdcEndpoint['transport'] = 'any'): KdcEndpoint => ({ host: '127.0.0.1', port: k.port, transport });
const req = (n: number): Uint8Array => new Uint8Array(n).fill(0x6a);

describe('KDC transport', () => {
  const kdcs: FakeKdc[] = [];
  const make = async (...a: Parameters<typeof fakeKdc>): Promise<FakeKdc> => {
    const k = await fakeKdc(...a);
    kdcs.push(k);
    return k;
  };
  after(async () => {
    for (const k of kdcs) await k.close();
  });

  test('a small request goes over UDP and the reply comes back unchanged', async () => {
    const k = await make('reply');
    const r = await sendToKdc(REALM, req(100), { kdcs: [ep(k)] });
    assert.deepEqual(Uint8Array.from(r), AS_REP_LIKE);
    assert.equal(k.udpSeen, 1);
    assert.equal(k.tcpSeen, 0);
  });

  test('KRB_ERR_RESPONSE_TOO_BIG over UDP switches that KDC to TCP (framed, reassembled)', async () => {
    const k = await make('too-big', 'reply', ERR_GENERIC);
    const r = await sendToKdc(REALM, req(100), { kdcs: [ep(k)] });
    assert.deepEqual(Uint8Array.from(r), ERR_GENERIC);
    assert.equal(k.udpSeen, 1);
    assert.equal(k.tcpSeen, 1);
    assert.equal(k.tcpRequests[0]!.length, 100);
  });

  test('a request above udp_preference_limit goes TCP first', async () => {
    const k = await make('reply');
    const config = parseKrb5Conf(`[libdefaults]\n udp_preference_limit = 50\n[realms]\n ${REALM} = {\n  kdc = 127.0.0.1:${k.port}\n }\n`);
    await sendToKdc(REALM, req(100), { config });
    assert.equal(k.udpSeen, 0);
    assert.equal(k.tcpSeen, 1);
    await sendToKdc(REALM, req(20), { config });
    assert.equal(k.udpSeen, 1);
  });

  test('fails over from a silent KDC to the next one within the per-try timeout', async () => {
    const dead = await make('silent', 'silent');
    const live = await make('reply');
    const t0 = Date.now();
    const r = await sendToKdc(REALM, req(10), { kdcs: [ep(dead), ep(live)], perTryTimeoutMs: 200, timeoutMs: 60_000 });
    assert.deepEqual(Uint8Array.from(r), AS_REP_LIKE);
    assert.equal(dead.udpSeen, 1);
    // Far under the minute of the overall deadline: the per-try timeout moved it on.
    assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
  });

  test('garbage replies count as a failed KDC; the next one answers', async () => {
    const bad = await make('garbage', 'garbage');
    const good = await make('reply');
    const r = await sendToKdc(REALM, req(10), { kdcs: [ep(bad), ep(good)], perTryTimeoutMs: 300 });
    assert.deepEqual(Uint8Array.from(r), AS_REP_LIKE);
  });

  test('only garbage, a short TCP frame, or silence: SEC_E_NO_AUTHENTICATING_AUTHORITY, never a hang', async () => {
    const bad = await make('garbage', 'short-close');
    const silent = await make('silent', 'silent');
    const t0 = Date.now();
    await assert.rejects(sendToKdc(REALM, req(10), { kdcs: [ep(bad), ep(silent)], perTryTimeoutMs: 150, timeoutMs: 800 }), (e: unknown) => {
      assert.ok(e instanceof SspiError && e.code === 'SEC_E_NO_AUTHENTICATING_AUTHORITY', String(e));
      assert.match(e.message, /not a Kerberos message|closed before a full reply/);
      return true;
    });
    assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
  });

  test('the overall deadline bounds the exchange even with long per-try timeouts', async () => {
    const silent = await make('silent', 'silent');
    const t0 = Date.now();
    await assert.rejects(sendToKdc(REALM, req(10), { kdcs: [ep(silent), ep(silent)], perTryTimeoutMs: 60_000, timeoutMs: 300 }), /within 300 ms/);
    const took = Date.now() - t0;
    assert.ok(took >= 280 && took < 10_000, `${took} ms`);
  });

  test('a closed port fails fast (ICMP/RST), well under the deadline', async () => {
    const k = await make('reply');
    const port = k.port;
    await k.close();
    kdcs.splice(kdcs.indexOf(k), 1);
    const t0 = Date.now();
    await assert.rejects(sendToKdc(REALM, req(10), { kdcs: [{ host: '127.0.0.1', port, transport: 'any' }], timeoutMs: 60_000 }), /ECONNREFUSED/);
    assert.ok(Date.now() - t0 < 10_000);
  });

  test('transport prefixes are obeyed (tcp/ KDC never sees UDP)', async () => {
    const k = await make('reply');
    await sendToKdc(REALM, req(10), { kdcs: [ep(k, 'tcp')] });
    assert.equal(k.udpSeen, 0);
    assert.equal(k.tcpSeen, 1);
  });
});

describe('KDC locator', () => {
  let config: ReturnType<typeof parseKrb5Conf>;
  before(() => {
    config = parseKrb5Conf(`[libdefaults]\n dns_lookup_kdc = true\n[realms]\n A.TEST = {\n  kdc = tcp/kdc1.a.test:8888\n  kdc = [::1]:750\n  kdc = https://proxy/kdc\n }\n`);
  });

  test('[realms] kdc entries in order, https proxies skipped', async () => {
    assert.deepEqual(await locateKdcs('A.TEST', { config }), [
      { host: 'kdc1.a.test', port: 8888, transport: 'tcp' },
      { host: '::1', port: 750, transport: 'any' },
    ]);
  });

  test('SRV records when dns_lookup_kdc and no kdc entry, sorted by priority then weight', async () => {
    const asked: string[] = [];
    const resolveSrv = async (name: string) => {
      asked.push(name);
      if (name.startsWith('_kerberos._udp.')) return [
        { name: 'b.b.test', port: 88, priority: 10, weight: 0 },
        { name: 'a.b.test.', port: 88, priority: 0, weight: 5 },
        { name: '.', port: 0, priority: 0, weight: 0 },
      ];
      throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
    };
    const got = await locateKdcs('B.TEST', { config, resolveSrv });
    assert.deepEqual(asked, ['_kerberos._udp.B.TEST', '_kerberos._tcp.B.TEST']);
    assert.deepEqual(got, [
      { host: 'a.b.test', port: 88, transport: 'udp' },
      { host: 'b.b.test', port: 88, transport: 'udp' },
    ]);
  });

  test('no kdc and dns_lookup_kdc = false: SEC_E_NO_AUTHENTICATING_AUTHORITY without any DNS query', async () => {
    const off = parseKrb5Conf('[libdefaults]\n dns_lookup_kdc = false\n');
    let asked = 0;
    await assert.rejects(
      locateKdcs('C.TEST', { config: off, resolveSrv: async () => (asked++, []) }),
      (e: unknown) => e instanceof SspiError && e.code === 'SEC_E_NO_AUTHENTICATING_AUTHORITY',
    );
    assert.equal(asked, 0);
  });
});
