// Cluster mode over HTTPS with Extended Protection: `tslsa serve --tls-cert --tls-key
// --channel-bindings required --redis URL` nodes, where the NTLM NEGOTIATE and AUTHENTICATE legs
// land on different nodes. The AUTHENTICATE carries the client's tls-server-end-point binding
// (RFC 5929, in MsvAvChannelBindings) and the node that receives it checks it against its own
// certificate, whichever node parked the handshake:
//   same certificate on both nodes, behind a per-request balancer that bridges TLS with that same
//     certificate (as Exchange wants for Extended Protection): our createFetch signs on across nodes;
//     without bindings it is refused (401, SEC_E_BAD_BINDINGS) by the finishing node
//   legs sent to each node directly with the handshake cookie: bound to the certificate, 200;
//     no bindings or another certificate's, 401
//   DIFFERENT certificates per node: an AUTHENTICATE is accepted only when bound to the certificate
//     of the node it reaches, so a client that binds to where its handshake began (ours does) fails
//     when the balancer moves the second leg; a balancer with connection affinity (TCP passthrough)
//     keeps every leg on one node and works.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createFetch, type NegotiateClientOptions } from '../../src/http/client.js';
import { tlsServerEndPoint } from '../../src/http/channelBindings.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { cleanEnv } from './lib/realm.js';
import { createServerCert, createTestCa, startRedis, type RedisServer, type TestCa } from './lib/redis.js';
import { eventually } from './lib/poll.js';
import { addUser, ntlmAcross, PASSWORD, perConnectionBalancer, perRequestBalancer, tearDown, type Balancer, type Hop, type Reply } from './lib/cluster-http.js';
import { startServe, type ServeProcess } from '../unit/http/serveProcess.js';

const T = { timeout: 120_000 };

let dir = '';
let store = '';
let ca: TestCa;
/** The second certificate (same names, same CA, another key). */
let other: { cert: string; key: string };
let caPem: Buffer;
let redis: RedisServer;
let client: LsaHost;
/** A and B share the certificate `ca.serverCert`; C has `other`. All three share Redis. */
let nodeA: ServeProcess;
let nodeB: ServeProcess;
let nodeC: ServeProcess;
const closers: Array<() => Promise<unknown>> = [];

const der = (pemFile: string): Uint8Array => new Uint8Array(new X509Certificate(readFileSync(pemFile)).raw);

/** NEGOTIATE to `first`, AUTHENTICATE to `second` (each on a new HTTPS connection), bound to `bindings` or to nothing: the last reply. */
async function across(first: ServeProcess, second: ServeProcess, bindings: Uint8Array | null): Promise<Reply> {
  return (await ntlmAcross(client, first, second, { target: 'HTTP/127.0.0.1', bindings, ca: caPem })).reply;
}

const BAD_BINDINGS = /^.* 401 - .*SEC_E_BAD_BINDINGS.*$/gm;
const SIGNED_ON = /^.* 200 EXAMPLE\\alice NTLM .*$/gm;

/** Lines of the node's request log that match `re` (a /g regex). */
const count = (n: ServeProcess, re: RegExp): number => n.stdout().match(re)?.length ?? 0;

/** The node logs `more` further lines matching `re` than `before` (lines come through a pipe, a little after the response). */
const logGrows = (n: ServeProcess, re: RegExp, before: number, more = 1): Promise<boolean> => eventually(() => count(n, re) >= before + more, 10_000);

// ---- balancers -----------------------------------------------------------------------------------

/** A per-request balancer that bridges TLS with `tls` (trusting the test CA upstream); closed after the tests. */
async function bridgingBalancer(nodes: readonly ServeProcess[], tls: { cert: string; key: string }): Promise<Balancer> {
  const lb = await perRequestBalancer(nodes, { cert: readFileSync(tls.cert), key: readFileSync(tls.key), ca: caPem });
  closers.push(lb.close);
  return lb;
}

/** A TCP-passthrough balancer (a node per connection); closed after the tests. */
async function passthroughBalancer(nodes: readonly ServeProcess[]): Promise<Balancer> {
  const lb = await perConnectionBalancer(nodes);
  closers.push(lb.close);
  return lb;
}

function fetcher(opts: NegotiateClientOptions = {}) {
  const f = createFetch({ lsa: client, packages: ['NTLM'], credentials: { user: 'alice', domain: 'EXAMPLE', password: PASSWORD }, connect: { ca: caPem }, ...opts });
  closers.push(() => f.close());
  return f;
}

/** The node that received the AUTHENTICATE, after checking that the NEGOTIATE went to the other one. */
function crossed(hops: readonly Hop[]): { negotiate: Hop; authenticate: Hop } {
  const negotiate = hops.find((h) => h.ntlm === 1);
  const authenticate = hops.find((h) => h.ntlm === 3);
  assert.ok(negotiate && authenticate, JSON.stringify(hops));
  assert.notEqual(negotiate.node, authenticate.node, `the legs went to different nodes: ${JSON.stringify(hops)}`);
  return { negotiate, authenticate };
}

// ---- the cluster ----------------------------------------------------------------------------------

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tslsa-cluster-epa-'));
  store = join(dir, 'accounts.db');
  ca = await createTestCa(dir);
  other = await createServerCert(dir, 'server-other');
  caPem = readFileSync(ca.ca);
  redis = await startRedis();
  await addUser(store, 'EXAMPLE\\alice', PASSWORD, cleanEnv());
  const args = (tls: { cert: string; key: string }) => ['--store', store, '--domain', 'EXAMPLE', '--tls-cert', tls.cert, '--tls-key', tls.key, '--channel-bindings', 'required', '--redis', redis.url];
  const shared = { cert: ca.serverCert, key: ca.serverKey };
  [nodeA, nodeB, nodeC] = await Promise.all([startServe(args(shared), cleanEnv()), startServe(args(shared), cleanEnv()), startServe(args(other), cleanEnv())]);
  client = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmPackage()] });
});

after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await tearDown({ nodes: [nodeA, nodeB, nodeC], client, redis, dir });
});

describe('HTTPS cluster, channel bindings required, one certificate on every node', () => {
  it('every node serves https with bindings required, in cluster mode', () => {
    for (const n of [nodeA, nodeB, nodeC]) assert.match(n.stderr(), /serving https:\/\/.*channel bindings required; cluster mode, Redis redis:\/\//);
  });

  it('createFetch through a TLS-bridging per-request balancer (same certificate): NEGOTIATE on one node, AUTHENTICATE on the other, 200 with bindings checked', T, async () => {
    const lb = await bridgingBalancer([nodeA, nodeB], { cert: ca.serverCert, key: ca.serverKey });
    const f = fetcher();
    const res = await f(`${lb.url}/whoami`);
    const body = await res.text();
    assert.equal(res.status, 200, `${body}\n${JSON.stringify(lb.hops)}\nA:${nodeA.stdout()}\nB:${nodeB.stdout()}`);
    const j = JSON.parse(body) as Record<string, unknown>;
    assert.equal(j.user, 'alice');
    assert.equal(j.package, 'NTLM');
    assert.equal(j.channelBindings, true, 'the finishing node checked the bindings');
    const { negotiate, authenticate } = crossed(lb.hops);
    assert.equal(negotiate.status, 401);
    assert.equal(authenticate.status, 200);
  });

  it('createFetch without channel bindings through the same balancer: refused (401, SEC_E_BAD_BINDINGS) by the finishing node', T, async () => {
    const lb = await bridgingBalancer([nodeA, nodeB], { cert: ca.serverCert, key: ca.serverKey });
    const f = fetcher({ channelBindings: false });
    const res = await f(`${lb.url}/whoami`);
    await res.arrayBuffer();
    assert.equal(res.status, 401);
    const { negotiate, authenticate } = crossed(lb.hops);
    assert.equal(negotiate.status, 401);
    assert.equal(authenticate.status, 401);
    const finisher = [nodeA, nodeB][authenticate.node]!;
    assert.ok(await logGrows(finisher, BAD_BINDINGS, 0), finisher.stdout());
  });

  it('legs sent to each node directly with the cookie: bound to the certificate, 200; no bindings, 401; another certificate\'s bindings, 401', T, async () => {
    const right = tlsServerEndPoint(der(ca.serverCert));
    const [badA, badB] = [count(nodeA, BAD_BINDINGS), count(nodeB, BAD_BINDINGS)];
    for (const [x, y] of [[nodeA, nodeB], [nodeB, nodeA]] as const) {
      const ok = await across(x, y, right);
      assert.equal(ok.status, 200, `${ok.body}\n${y.stdout()}`);
      assert.equal((JSON.parse(ok.body) as { channelBindings: boolean }).channelBindings, true);
    }
    const none = await across(nodeA, nodeB, null);
    assert.equal(none.status, 401, none.body);
    const wrong = await across(nodeB, nodeA, tlsServerEndPoint(der(other.cert)));
    assert.equal(wrong.status, 401, wrong.body);
    assert.ok(await logGrows(nodeB, BAD_BINDINGS, badB), nodeB.stdout());
    assert.ok(await logGrows(nodeA, BAD_BINDINGS, badA), nodeA.stdout());
  });

  it('a bridging balancer with a certificate of its own (not the nodes\'): every sign-on refused, even with both legs on one node', T, async () => {
    const lb = await bridgingBalancer([nodeA], { cert: other.cert, key: other.key });
    const res = await fetcher()(`${lb.url}/whoami`);
    await res.arrayBuffer();
    assert.equal(res.status, 401, JSON.stringify(lb.hops));
  });
});

describe('HTTPS cluster, channel bindings required, a different certificate per node', () => {
  it('NEGOTIATE to A, AUTHENTICATE to C: refused when bound to A\'s certificate (where it began), accepted when bound to C\'s (where it ends)', T, async () => {
    const toA = tlsServerEndPoint(der(ca.serverCert));
    const toC = tlsServerEndPoint(der(other.cert));
    assert.notDeepEqual(toA, toC, 'the two nodes have different bindings');
    const badC = count(nodeC, BAD_BINDINGS);
    const began = await across(nodeA, nodeC, toA);
    assert.equal(began.status, 401, began.body);
    assert.ok(await logGrows(nodeC, BAD_BINDINGS, badC), nodeC.stdout());
    const ends = await across(nodeA, nodeC, toC);
    assert.equal(ends.status, 200, `${ends.body}\n${nodeC.stdout()}`);
  });

  it('createFetch through a bridging per-request balancer in front of A and C: refused on C, whose certificate the client never saw', T, async () => {
    // [C, A]: the probe goes to C, the NEGOTIATE to A, the AUTHENTICATE to C.
    const lb = await bridgingBalancer([nodeC, nodeA], { cert: ca.serverCert, key: ca.serverKey });
    const res = await fetcher()(`${lb.url}/whoami`);
    await res.arrayBuffer();
    const { authenticate } = crossed(lb.hops);
    assert.equal(authenticate.node, 0);
    assert.equal(res.status, 401, JSON.stringify(lb.hops));
  });

  it('createFetch through a TCP-passthrough balancer (a node per connection): every leg on one node, bound to its certificate, 200 on both', T, async () => {
    // A new client each time opens two connections (the unauthenticated probe, then the one it
    // pins for the handshake): with [A, C, A] the first handshake runs on C, the second on A.
    const lb = await passthroughBalancer([nodeA, nodeC, nodeA]);
    for (const expected of [nodeC, nodeA]) {
      const signedOn = count(expected, SIGNED_ON);
      const f = fetcher();
      const res = await f(`${lb.url}/whoami`);
      const body = await res.text();
      assert.equal(res.status, 200, `${body}\n${JSON.stringify(lb.routed)}`);
      assert.equal((JSON.parse(body) as { channelBindings: boolean }).channelBindings, true);
      assert.ok(await logGrows(expected, SIGNED_ON, signedOn), `${expected.url} signed alice on:\n${expected.stdout()}`);
      await f.close();
    }
    assert.deepEqual(lb.routed, [0, 1, 2, 0], 'two connections per client, none moved between nodes');
  });
});
