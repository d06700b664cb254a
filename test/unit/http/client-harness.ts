// Small Negotiate/NTLM HTTP servers for the client tests, built on node:http/node:https and our own
// acceptor (SecurityContext.server), with a log of every request they saw.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecurityContext } from '../../../src/context.js';
import { Credentials } from '../../../src/credentials.js';
import { createLsa, type LsaHost } from '../../../src/lsa/host.js';
import { negotiatePackage } from '../../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../../src/packages/ntlm/package.js';
import { SECPKG_ATTR } from '../../../src/sspi/flags.js';
import { realAuthority } from '../../fixtures/authority.js';

export const USER = 'alice';
export const DOMAIN = 'EXAMPLE';
export const PASSWORD = 'Passw0rd!';

export interface LogEntry {
  socket: number;
  method: string;
  url: string;
  /** The scheme of the Authorization (or Proxy-Authorization) header, or null. */
  auth: string | null;
  contentLength: string | undefined;
  body: string;
}

export interface TestServerOptions {
  /** Schemes offered in the challenge, in order; default ['Negotiate', 'NTLM']. */
  offer?: string[];
  /** 'server' (401/WWW-Authenticate) or 'proxy' (407/Proxy-Authenticate). */
  kind?: 'server' | 'proxy';
  /** What to do with the acceptor's final token: send it, corrupt it, or leave it out. */
  mutual?: 'good' | 'bad' | 'missing';
  /** Answer every request with 401 and this scheme + token, whatever the client sends. */
  endless?: { scheme: string; token: Uint8Array };
  /** Expected channel bindings (application data) for the acceptor. */
  bindings?: Uint8Array;
  tls?: { key: string; cert: string };
  /** Close the connection after each authenticated response (the next request needs a new handshake). */
  closeAfterSuccess?: boolean;
  /** Close the connection after a 401/407 that carries a continuation token (the next leg goes out on a new one); 'once': only the first time. */
  closeAfterContinue?: boolean | 'once';
}

export interface TestServer {
  url: string;
  port: number;
  log: LogEntry[];
  close(): Promise<void>;
}

let acceptorHost: Promise<LsaHost> | null = null;

/** One acceptor LSA for all test servers: Negotiate, NTLM and the account authority with alice. */
export function acceptorLsa(): Promise<LsaHost> {
  acceptorHost ??= (async () => createLsa({ domainName: DOMAIN, packages: [negotiatePackage(), ntlmPackage(), await realAuthority({ [USER]: PASSWORD }, DOMAIN)] }))();
  return acceptorHost;
}

/** A client-side LSA (no Kerberos: Negotiate settles on NTLM). */
export function initiatorLsa(): Promise<LsaHost> {
  return createLsa({ packages: [negotiatePackage(), ntlmPackage()] });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

interface ConnState {
  ctx: SecurityContext | null;
  user: string | null;
}

export async function startServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const host = await acceptorLsa();
  const kind = opts.kind ?? 'server';
  const status = kind === 'server' ? 401 : 407;
  const challengeHeader = kind === 'server' ? 'WWW-Authenticate' : 'Proxy-Authenticate';
  const authHeader = kind === 'server' ? 'authorization' : 'proxy-authorization';
  const offer = opts.offer ?? ['Negotiate', 'NTLM'];
  const ids = new WeakMap<Socket, number>();
  const states = new WeakMap<Socket, ConnState>();
  let nextId = 1;
  let continuesClosed = 0;
  const log: LogEntry[] = [];

  const challenge = (res: ServerResponse, value?: string): void => {
    res.statusCode = status;
    res.setHeader(challengeHeader, value ? [value] : offer);
    res.end('authenticate, please');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let id = ids.get(req.socket);
    if (id === undefined) {
      id = nextId++;
      ids.set(req.socket, id);
    }
    const header = req.headers[authHeader];
    const body = await readBody(req);
    const [scheme, b64] = typeof header === 'string' ? header.split(' ') : [undefined, undefined];
    log.push({ socket: id, method: req.method ?? '', url: req.url ?? '', auth: scheme ?? null, contentLength: req.headers['content-length'], body });
    if (opts.endless) {
      challenge(res, header ? `${opts.endless.scheme} ${Buffer.from(opts.endless.token).toString('base64')}` : opts.endless.scheme);
      return;
    }
    let st = states.get(req.socket);
    if (!header) {
      // NTLM authenticated the connection: later requests on it need no header.
      if (st?.user) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ user: st.user, socket: id, body, url: req.url }));
        return;
      }
      challenge(res);
      return;
    }
    if (!st || st.ctx === null || st.user) {
      const cred = await Credentials.acquire(host.sspi(), { package: scheme === 'NTLM' ? 'NTLM' : 'Negotiate', use: 'inbound' });
      st = { ctx: SecurityContext.server(cred, opts.bindings ? { channelBindings: { applicationData: opts.bindings } } : {}), user: null };
      states.set(req.socket, st);
    }
    let out: Uint8Array | null;
    try {
      out = await st.ctx!.step(new Uint8Array(Buffer.from(b64 ?? '', 'base64')));
    } catch {
      states.delete(req.socket);
      challenge(res);
      return;
    }
    if (!st.ctx!.complete) {
      if (opts.closeAfterContinue === true || (opts.closeAfterContinue === 'once' && continuesClosed++ === 0)) res.setHeader('connection', 'close');
      challenge(res, `${scheme} ${Buffer.from(out!).toString('base64')}`);
      return;
    }
    st.user = (await st.ctx!.query<{ sUserName: string }>(SECPKG_ATTR.NAMES)).sUserName;
    if (out && opts.mutual !== 'missing') {
      const sent = Buffer.from(out);
      if (opts.mutual === 'bad') sent[sent.length - 1]! ^= 0xff;
      res.setHeader(challengeHeader, `${scheme} ${sent.toString('base64')}`);
    }
    if (opts.closeAfterSuccess) res.setHeader('connection', 'close');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ user: st.user, socket: id, body, url: req.url }));
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((e: unknown) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  };
  const server: Server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, listener) : createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://localhost:${port}`,
    port,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A self-signed certificate for localhost from `openssl req`; `digest` picks its signature hash. */
export function selfSigned(digest: 'sha256' | 'sha384' = 'sha256', keyType: 'rsa' | 'ec' = 'rsa'): { key: string; cert: string; der: Uint8Array } {
  const dir = mkdtempSync(join(tmpdir(), 'tslsa-client-tls-'));
  try {
    const keyArgs = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'];
    execFileSync('openssl', ['req', '-x509', ...keyArgs, '-nodes', `-${digest}`, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
    const key = readFileSync(join(dir, 'key.pem'), 'utf8');
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    return { key, cert, der: new Uint8Array(new X509Certificate(cert).raw) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
