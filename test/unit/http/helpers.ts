// Shared pieces of the HTTP handler tests: an LSA with Negotiate + NTLM over an in-memory account
// store, a server around createAuthenticator, a keep-alive client that sends raw requests on one
// connection, an HTTP/2 session whose requests are streams, our own SSPI initiator stepping
// through 401s, and a stream that keeps what a CLI command (tslsa serve, tslsa user) writes.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import https from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import { PassThrough } from 'node:stream';
import { Credentials } from '../../../src/credentials.js';
import { SecurityContext } from '../../../src/context.js';
import { createLsa, type LsaHost } from '../../../src/lsa/host.js';
import { negotiatePackage } from '../../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../../src/packages/ntlm/package.js';
import { type AuthenticatorOptions, type AuthFailure, type Authenticator, createAuthenticator } from '../../../src/http/server.js';
import { SspiError } from '../../../src/sspi/error.js';
import { realAuthority } from '../../fixtures/authority.js';

export const PASSWORD = 'Passw0rd';

export async function lsaHost(): Promise<LsaHost> {
  return createLsa({ domainName: 'EXAMPLE', packages: [negotiatePackage(), ntlmPackage(), await realAuthority({ alice: PASSWORD }, 'EXAMPLE')] });
}

export interface TestServer {
  url: string;
  port: number;
  auth: Authenticator;
  failures: AuthFailure[];
  /** Server-side sockets seen (one per client connection). */
  sockets: Set<unknown>;
  /** The Authorization header of every request, in order ('-': none). */
  authorizations: string[];
  close(): Promise<void>;
}

export async function startServer(host: LsaHost, options: Partial<AuthenticatorOptions> = {}, tls?: { key: string; cert: string }): Promise<TestServer> {
  const failures: AuthFailure[] = [];
  const auth = createAuthenticator({ host, onFailure: (_req, f) => failures.push(f), ...options });
  const authorizations: string[] = [];
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    authorizations.push(req.headers.authorization ?? '-');
    const id = await auth.authenticate(req, res);
    if (!id) return;
    const body = JSON.stringify(id);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
  };
  const server = tls
    ? https.createServer({ key: tls.key, cert: tls.cert, maxHeaderSize: 256 * 1024 }, (q, r) => void handler(q, r))
    : http.createServer({ maxHeaderSize: 256 * 1024 }, (q, r) => void handler(q, r));
  const sockets = new Set<unknown>();
  server.on(tls ? 'secureConnection' : 'connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    auth,
    failures,
    sockets,
    authorizations,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await auth.close();
    },
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A client pinned to one keep-alive connection (a fresh agent per Client). */
export class Client {
  readonly agent: http.Agent;
  constructor(
    readonly base: string,
    tls = false,
  ) {
    this.agent = tls ? new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false }) : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  get(path = '/', authorization?: string, headers: Record<string, string> = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const mod = this.base.startsWith('https') ? https : http;
      const req = mod.request(this.base + path, { agent: this.agent, headers: authorization === undefined ? headers : { ...headers, Authorization: authorization } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  /** The RST_STREAM code the stream ended with (0: closed normally). */
  rstCode: number;
}

/** One HTTP/2 session (one connection) to the server; requests on it are streams. */
export class H2Client {
  readonly session: http2.ClientHttp2Session;
  constructor(url: string) {
    this.session = http2.connect(url, { rejectUnauthorized: false });
    this.session.on('error', () => undefined);
  }

  get(authorization?: string, path = '/'): Promise<H2Reply> {
    return new Promise((resolve) => {
      const s = this.session.request({ ':path': path, ...(authorization === undefined ? {} : { authorization }) });
      let headers: http2.IncomingHttpHeaders = {};
      let body = '';
      s.setEncoding('utf8');
      s.on('response', (h) => (headers = h));
      s.on('data', (d: string) => (body += d));
      // A reset stream reports an error too; its code is what the test reads.
      s.on('error', () => undefined);
      s.on('close', () => resolve({ status: Number(headers[':status'] ?? 0), headers, body, rstCode: s.rstCode ?? 0 }));
      s.end();
    });
  }

  close(): void {
    this.session.close();
  }
}

/** A raw HTTP/1.1 connection for CONNECT and Upgrade requests, whose answers come on the bare socket. */
export class RawHttpConnection {
  readonly socket: net.Socket;
  private buf = '';
  closed = false;
  constructor(port: number, overTls = false) {
    this.socket = overTls ? tls.connect(port, '127.0.0.1', { rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => (this.buf += d));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
  }

  /** `CONNECT host:port` (its Proxy-Authorization) or `GET /path` (its Authorization), with `extra` header lines. */
  send(request: string, credentials?: string, extra = ''): void {
    const connect = request.startsWith('CONNECT ');
    const host = connect ? request.slice(8) : 'localhost';
    const auth = credentials === undefined ? '' : `${connect ? 'Proxy-Authorization' : 'Authorization'}: ${credentials}\r\n`;
    this.socket.write(`${request} HTTP/1.1\r\nHost: ${host}\r\n${extra}${auth}\r\n`);
  }

  /** One response: its head and a body of its Content-Length (none for a 200 opening a tunnel or a 101). */
  async response(): Promise<{ status: number; head: string; body: string }> {
    for (let i = 0; i < 250; i++) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.buf.slice(0, end);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
        const length = status === 200 || status === 101 ? 0 : Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (this.buf.length >= end + 4 + length) {
          const body = this.buf.slice(end + 4, end + 4 + length);
          this.buf = this.buf.slice(end + 4 + length);
          return { status, head, body };
        }
      }
      if (this.closed) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no complete response (closed: ${this.closed}): ${JSON.stringify(this.buf.slice(0, 200))}`);
  }

  /** Bytes after the response: what came through the tunnel. */
  async rest(length: number): Promise<string> {
    for (let i = 0; i < 250 && this.buf.length < length; i++) await new Promise((r) => setTimeout(r, 10));
    const out = this.buf;
    this.buf = '';
    return out;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The SspiError in a rejection's cause chain (undici wraps errors in TypeError('fetch failed')), or null. */
export function sspiErrorIn(e: unknown): SspiError | null {
  let c: unknown = e;
  while (c && !(c instanceof SspiError)) c = (c as { cause?: unknown }).cause;
  return c instanceof SspiError ? c : null;
}

/** The token of a `WWW-Authenticate: <scheme> <token>` header (the single one). */
export function tokenOf(headers: http.IncomingHttpHeaders, scheme: string): Uint8Array | null {
  const v = headers['www-authenticate'];
  const s = Array.isArray(v) ? v.join(', ') : v;
  if (!s) return null;
  const m = new RegExp(`^${scheme} (\\S+)$`, 'i').exec(s);
  return m ? new Uint8Array(Buffer.from(m[1]!, 'base64')) : null;
}

export function header(scheme: string, token: Uint8Array): string {
  return `${scheme} ${Buffer.from(token).toString('base64')}`;
}

export async function clientContext(host: LsaHost, pkg: 'NTLM' | 'Negotiate', password = PASSWORD, channelBindings?: Uint8Array): Promise<SecurityContext> {
  const cred = await Credentials.acquire(host.sspi(), { package: pkg, use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: password } });
  return SecurityContext.client(cred, { target: 'HTTP/localhost', flags: ['MUTUAL_AUTH'], ...(channelBindings ? { channelBindings: { applicationData: channelBindings } } : {}) });
}

/** Run the whole exchange on one connection; returns the last reply and the client context. */
export async function signOn(client: Client, ctx: SecurityContext, scheme: 'NTLM' | 'Negotiate', path = '/'): Promise<{ reply: Reply; ctx: SecurityContext; legs: number }> {
  let token = await ctx.step();
  let legs = 0;
  for (;;) {
    legs++;
    const reply = await client.get(path, header(scheme, token!));
    if (reply.status !== 401) return { reply, ctx, legs };
    const back = tokenOf(reply.headers, scheme);
    if (!back) return { reply, ctx, legs };
    token = await ctx.step(back);
    if (legs > 5) throw new Error('too many legs');
  }
}

/** A writable for a command's stdout or stderr; text() is all it was given so far. */
export function sink(): PassThrough & { text(): string } {
  const s = new PassThrough() as PassThrough & { text(): string };
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.text = () => Buffer.concat(chunks).toString('utf8');
  return s;
}

/** A connect `lookup` that sends every host name to 127.0.0.1, whatever the system resolver says. */
export const loopbackLookup: LookupFunction = (_host, opts, cb) => {
  if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
};
