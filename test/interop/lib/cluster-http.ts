// What the cluster tests share. They run `tslsa serve --redis` nodes and send each leg of a sign-on
// where they like, over a new connection, carrying the handshake cookie as a browser behind a
// balancer would: one request and its reply, the cookie and token of a reply, our NTLM initiator,
// the NTLM legs across two nodes, the account every node signs on, the end of a test file, and
// two balancers (one per request, one per TCP connection) that record where each request went.
import assert from 'node:assert/strict';
import http from 'node:http';
import { rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { Credentials } from '../../../src/credentials.js';
import { SecurityContext } from '../../../src/context.js';
import type { LsaHost } from '../../../src/lsa/host.js';
import { tslsa, type ServeProcess } from '../../unit/http/serveProcess.js';
import { eventually } from './poll.js';
import { LOOPBACK } from './ports.js';
import { describeFailure } from './proc.js';
import type { Realm } from './realm.js';
import type { RedisServer } from './redis.js';

/** The handshake cookie's name, spelled out: these tests check what goes on the wire. */
export const COOKIE = 'tslsa-handshake';
/** EXAMPLE\alice's password unless a test says otherwise. */
export const PASSWORD = 'Passw0rd';

export type Scheme = 'NTLM' | 'Negotiate';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  /** The CA to trust for an https:// node (the test CA). */
  ca?: Buffer;
}

/** GET `base`/whoami on a new connection (as a balancer may route it), with the handshake cookie when given. */
export function request(base: string, authorization?: string, cookie?: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (authorization !== undefined) headers.Authorization = authorization;
    if (cookie !== undefined) headers.Cookie = `${COOKIE}=${cookie}`;
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    };
    const url = `${base}/whoami`;
    const req = url.startsWith('https:') ? https.request(url, { agent: false, ca: options.ca, headers }, onResponse) : http.request(url, { agent: false, headers }, onResponse);
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${base} in 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** An Authorization header value. */
export const header = (scheme: Scheme, token: Uint8Array): string => `${scheme} ${Buffer.from(token).toString('base64')}`;

/** The handshake id a continuing 401 set (over TLS only with the Secure attribute), or undefined. */
export function cookieOf(r: Reply, secure = false): string | undefined {
  const re = new RegExp(`^${COOKIE}=([A-Za-z0-9_-]{22});${secure ? '.*; Secure' : ''}`);
  for (const c of r.headers['set-cookie'] ?? []) {
    const m = re.exec(c);
    if (m) return m[1];
  }
  return undefined;
}

/** The token of the reply's `WWW-Authenticate: <scheme> <token>`; fails the test when there is none. */
export function tokenOf(r: Reply, scheme: Scheme): Uint8Array {
  const m = new RegExp(`^${scheme} (\\S+)$`).exec(String(r.headers['www-authenticate']));
  assert.ok(m, `a ${scheme} token in ${JSON.stringify(r.headers['www-authenticate'])}`);
  return new Uint8Array(Buffer.from(m[1]!, 'base64'));
}

export interface NtlmOptions {
  /** EXAMPLE\alice's password (default PASSWORD). */
  password?: string;
  /** The SPN asked for (default HTTP/localhost). */
  target?: string;
  /** Application data of SEC_CHANNEL_BINDINGS (a tls-server-end-point binding); none when absent. */
  bindings?: Uint8Array | null;
}

/** Our NTLM initiator for EXAMPLE\alice, through `host`'s SSPI, lent to `f`: deleted and its credentials freed after. */
export async function withNtlmContext<T>(host: LsaHost, options: NtlmOptions, f: (ctx: SecurityContext) => Promise<T>): Promise<T> {
  const cred = await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: options.password ?? PASSWORD } });
  try {
    const ctx = SecurityContext.client(cred, { target: options.target ?? 'HTTP/localhost', ...(options.bindings ? { channelBindings: { applicationData: options.bindings } } : {}) });
    try {
      return await f(ctx);
    } finally {
      await ctx.delete();
    }
  } finally {
    await cred.free();
  }
}

/** The NEGOTIATE leg alone, to `node`: its reply (503 while the node cannot use Redis). */
export function firstLeg(host: LsaHost, node: ServeProcess, options: NtlmOptions & RequestOptions = {}): Promise<Reply> {
  return withNtlmContext(host, options, async (ctx) => request(node.url, header('NTLM', (await ctx.step())!), undefined, options));
}

/**
 * NEGOTIATE to `first`, AUTHENTICATE to `second`, each on a new connection and the second with the
 * handshake cookie the first set (Secure over TLS): the last reply, and the AUTHENTICATE header and
 * cookie sent (to replay them).
 */
export function ntlmAcross(host: LsaHost, first: ServeProcess, second: ServeProcess, options: NtlmOptions & RequestOptions = {}): Promise<{ reply: Reply; auth: string; cookie: string }> {
  return withNtlmContext(host, options, async (ctx) => {
    const r1 = await request(first.url, header('NTLM', (await ctx.step())!), undefined, options);
    assert.equal(r1.status, 401, `${r1.status} ${r1.body}\n${first.stderr()}`);
    const cookie = cookieOf(r1, first.url.startsWith('https:'));
    assert.ok(cookie, `the continuing 401 sets the handshake cookie: ${JSON.stringify(r1.headers['set-cookie'])}`);
    const auth = header('NTLM', (await ctx.step(tokenOf(r1, 'NTLM')))!);
    return { reply: await request(second.url, auth, cookie, options), auth, cookie };
  });
}

/** The node's `stream` shows `re` (log lines come through a pipe, a little after the response). */
export function logShows(n: ServeProcess, re: RegExp, stream: 'stdout' | 'stderr' = 'stdout', ms = 10_000): Promise<boolean> {
  return eventually(() => re.test(n[stream]()), ms, 50);
}

// ---- the nodes -----------------------------------------------------------------------------------

/** `tslsa user add ACCOUNT --password-stdin --store STORE`: the account the nodes sign on; fails the test unless it exits 0. */
export async function addUser(store: string, account: string, password: string, env: NodeJS.ProcessEnv): Promise<void> {
  const add = await tslsa(['user', 'add', account, '--password-stdin', '--store', store], { input: `${password}\n`, env });
  assert.equal(add.code, 0, describeFailure(add));
}

/**
 * The end of a cluster test file: SIGTERM to each node that started, one after the other, then
 * shuts down what else did (our LSA, Redis, the realm) and removes `dir`; fails unless every node
 * exited 0.
 */
export async function tearDown(what: { nodes: ReadonlyArray<ServeProcess | undefined>; client?: LsaHost; redis?: RedisServer; realm?: Realm; dir?: string }): Promise<void> {
  const codes: Array<number | null> = [];
  for (const n of what.nodes) if (n) codes.push(await n.stop());
  await what.client?.shutdown();
  await what.redis?.stop();
  await what.realm?.stop();
  if (what.dir) rmSync(what.dir, { recursive: true, force: true });
  assert.deepEqual(codes, codes.map(() => 0), 'every node exits 0 on SIGTERM');
}

// ---- balancers -----------------------------------------------------------------------------------

export interface Hop {
  /** Index of the node that served it. */
  node: number;
  /** The Authorization header's first 24 characters ('-' when none). */
  auth: string;
  /** The NTLM message type in an `NTLM` Authorization header (1 NEGOTIATE, 3 AUTHENTICATE), 0 otherwise. */
  ntlm: number;
  status: number;
  /** The request's Cookie header as it came ('-' when none). */
  cookie: string;
}

export interface Balancer {
  url: string;
  /** Per request: what went where, in order (empty for the TCP balancer). */
  hops: Hop[];
  /** Per TCP connection: the node each client connection went to, in order (empty for the per-request balancer). */
  routed: number[];
  /** TCP connections accepted from clients. */
  connections(): number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);

/** Raw headers without the hop-by-hop ones (and without those named in `drop`). */
function endToEnd(raw: string[], drop: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(k) && !drop.has(k)) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function ntlmType(authorization: string | undefined): number {
  const m = /^NTLM (\S+)$/.exec(authorization ?? '');
  return m ? (Buffer.from(m[1]!, 'base64')[8] ?? 0) : 0;
}

async function listening(server: net.Server, sockets: Set<net.Socket>, scheme: string): Promise<{ url: string; close(): Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve((server.address() as net.AddressInfo).port));
  });
  return {
    url: `${scheme}://${LOOPBACK}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * An L7 balancer: keeps the client's connection and sends each request to the next node in turn
 * over a new upstream connection (as proxies with their own pools do), cookies passed through.
 * With `tls` (PEM contents) it bridges TLS: it terminates the client's TLS with that certificate and speaks TLS to
 * the nodes (trusting `tls.ca`), so the client binds to the balancer's certificate and each node
 * checks its own.
 */
export async function perRequestBalancer(nodes: readonly ServeProcess[], tls?: { cert: Buffer; key: Buffer; ca: Buffer }): Promise<Balancer> {
  let next = 0;
  let accepted = 0;
  const hops: Hop[] = [];
  const sockets = new Set<net.Socket>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const i = next++ % nodes.length;
    const target = new URL(nodes[i]!.url);
    const auth = String(req.headers.authorization ?? '-').slice(0, 24);
    const ntlm = ntlmType(req.headers.authorization);
    const cookie = req.headers.cookie ?? '-';
    const options: https.RequestOptions = { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: endToEnd(req.rawHeaders), agent: false };
    const onResponse = (ur: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      ur.on('data', (d: Buffer) => chunks.push(d));
      ur.on('end', () => {
        const body = Buffer.concat(chunks);
        hops.push({ node: i, auth, ntlm, status: ur.statusCode ?? 0, cookie });
        res.writeHead(ur.statusCode ?? 502, [...endToEnd(ur.rawHeaders, new Set(['content-length'])), 'Content-Length', String(body.length)]);
        res.end(body);
      });
      ur.on('error', () => res.destroy());
    };
    const up = target.protocol === 'https:' ? https.request({ ...options, ca: tls?.ca }, onResponse) : http.request(options, onResponse);
    up.on('error', () => {
      hops.push({ node: i, auth, ntlm, status: 502, cookie });
      if (!res.headersSent) res.writeHead(502).end();
    });
    req.pipe(up);
  };
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  server.on('connection', (s: net.Socket) => {
    accepted++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const { url, close } = await listening(server, sockets, tls ? 'https' : 'http');
  return { url, hops, routed: [], connections: () => accepted, close };
}

/** An L4 balancer: each new TCP connection goes whole to the next node in turn, bytes (TLS too) piped as they are. */
export async function perConnectionBalancer(nodes: ReadonlyArray<Pick<ServeProcess, 'url'>>): Promise<Balancer> {
  let next = 0;
  const routed: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const i = next++ % nodes.length;
    routed.push(i);
    const target = new URL(nodes[i]!.url);
    const up = net.connect(Number(target.port), target.hostname);
    for (const s of [down, up]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => {
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up).pipe(down);
  });
  const { url, close } = await listening(server, sockets, new URL(nodes[0]!.url).protocol.slice(0, -1));
  return { url, hops: [], routed, connections: () => routed.length, close };
}
