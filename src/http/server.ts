// HTTP sign-on for node:http and node:https: RFC 4559 (Negotiate) and NTLM over HTTP
// ([MS-NTHT]) in front of AcceptSecurityContext.
//
//   401 + "WWW-Authenticate: Negotiate" / "WWW-Authenticate: NTLM"     no or unusable credentials
//   401 + "WWW-Authenticate: <scheme> <token>"                         a leg that continues
//   the app's response + "WWW-Authenticate: Negotiate <token>"         success with a final token
//   400                                                                 a header that is not a token
//
// A handshake in progress is parked in a HandshakeStore under the connection's key: NTLM is bound
// to its connection, as browsers expect, and a new connection starts over. A handshake that does
// not finish within `handshakeTimeoutMs` is dropped, and so is one whose socket closes. Once a
// connection has authenticated, later requests on it without an Authorization header keep the
// identity (IIS's authPersistNonNTLM/NTLM behaviour), unless `persistConnection` is false (its
// default in cluster mode) or no 401 challenge of ours went out on that connection before (a
// single preemptive Negotiate leg: see Connection.challenged).
//
// Cluster mode (a `shared` store, e.g. Redis): the half-built context is exported and parked under
// a random handshake id that the continuing 401 also sets as the cookie `tslsa-handshake`; the
// next leg finds it by that cookie (any node), or by the id remembered on the connection (clients
// without cookies). The id only finds the parked state: the package still checks the next token
// against it. A store that is away gives 503 with Retry-After, never a crash or a hang.
//
// HTTP/2 (node:http2's compatibility API) multiplexes requests on one connection, so nothing
// connection-bound runs there, as with IIS: a Negotiate sign-on that completes in its first leg
// (Kerberos) authenticates its own request, and any leg that would need another (NTLM, SPNEGO
// asking for more) resets the stream with HTTP_1_1_REQUIRED (RFC 9113 7), which browsers and curl
// answer by retrying over HTTP/1.1.
//
// Proxy mode (`proxy: true`) is the same for a forward proxy: Proxy-Authorization in, 407 and
// Proxy-Authenticate out; a CONNECT request, which Node hands over as a bare socket, goes through
// authenticateConnect (./tunnel.ts writes its answers and gives the socket back to the server),
// as does a server's Upgrade request (a WebSocket handshake) through authenticateUpgrade.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Http2ServerRequest, Http2ServerResponse, constants as http2 } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { randomBytes } from '../crypto/random.js';
import { toHex } from '../crypto/bytes.js';
import { Credentials } from '../credentials.js';
import { LsaHost } from '../lsa/host.js';
import type { SecurityFunctionTable } from '../sspi/api.js';
import { SspiError } from '../sspi/error.js';
import { ASC_RET, SECPKG_ATTR, flagNames } from '../sspi/flags.js';
import { SecurityStatus, statusName } from '../sspi/status.js';
import { isNtlmMessage, parseAuthenticateMessage, parseNtlmv2Response } from '../packages/ntlm/messages.js';
import { avPairsByName } from '../packages/ntlm/avpairs.js';
import { parseNegotiationToken } from '../packages/negotiate/spnego.js';
import { TSLSA_KERB_ATTR } from '../packages/kerberos/package.js';
import type { Pac } from '../packages/kerberos/pac.js';
import { AcceptorContext } from './acceptor.js';
import { socketChannelBindings } from './channelBindings.js';
import { TunnelResponse, returnToServer } from './tunnel.js';
import { type HandshakeStore, type HttpAuthScheme, type ParkedHandshake, MemoryHandshakeStore, dropParked } from './handshakeStore.js';

export type { HttpAuthScheme } from './handshakeStore.js';

/**
 * Extended Protection over HTTPS (channel bindings from the server certificate, RFC 5929):
 * 'required' hands them to every handshake, and a client that does not bind to this TLS channel
 * fails (SEC_E_BAD_BINDINGS), whatever the package; 'if-present' checks them only for clients that
 * sent some (Windows' "Allow"); 'off' never does. Plain HTTP has no channel.
 */
export type ChannelBindingPolicy = 'required' | 'if-present' | 'off';

/** A request as node:http/node:https or node:http2's compatibility API hands it over. */
export type HttpRequest = IncomingMessage | Http2ServerRequest;
export type HttpResponse = ServerResponse | Http2ServerResponse;

export interface AuthenticatorOptions {
  /** The LSA (a host, or an SSPI table over one) with the Negotiate and/or NTLM packages loaded. */
  host: LsaHost | SecurityFunctionTable;
  /** The acceptor principal (AcquireCredentialsHandle pszPrincipal), e.g. the SPN 'HTTP/host' for Kerberos. */
  principal?: string;
  /** Schemes offered, in the order of the WWW-Authenticate challenges; default ['Negotiate', 'NTLM']. */
  packages?: readonly HttpAuthScheme[];
  channelBindings?: ChannelBindingPolicy;
  /** A handshake must finish within this long after its first leg; default 60 000 ms. */
  handshakeTimeoutMs?: number;
  /** Largest token accepted (decoded); default 65 536 bytes. A larger header gets 400. */
  maxTokenBytes?: number;
  /**
   * Where handshakes wait between legs; default a MemoryHandshakeStore (closed with the
   * authenticator). A `shared` store (createRedisStore().handshakes) is cluster mode; the caller closes it.
   */
  store?: HandshakeStore;
  /**
   * Keep the identity for later requests on an authenticated connection (IIS's NTLM behaviour);
   * default true, but false with a `shared` store. Only where each connection is one client's: a
   * reverse proxy or balancer that reuses its connections to this server for several clients
   * (nginx `keepalive`, most cloud balancers) would hand one user's identity to another's requests.
   * Even when on, only a connection that carried one of our 401 challenges keeps an identity (NTLM
   * always does; Negotiate unless its token came preemptively): that 401 is how proxies that pin a
   * connection-bound sign-on to its client (HAProxy) recognise one.
   */
  persistConnection?: boolean;
  /**
   * With a `shared` store, a later leg that comes without the handshake cookie takes the handshake
   * its connection parked (a client that keeps its connection but not cookies); default true. Turn
   * it off behind a proxy that shares its connections to this server between clients: there that
   * handshake may be another client's, and taking it would break theirs.
   */
  connectionFallback?: boolean;
  /** Accept NTLM anonymous logons (NT AUTHORITY\ANONYMOUS LOGON); default false. */
  allowAnonymous?: boolean;
  /**
   * Hand Kerberos credentials a client delegated (a forwarded TGT: curl --delegation always, our
   * client's `delegate`) to the application as `identity.delegated`, so it can call other
   * services as that user. They need the Kerberos package's `delegatedCcacheDir`, where they are
   * written as a FILE ccache; the file lives until the response is finished (for CONNECT and
   * Upgrade, until the socket closes), then it is removed and its keys zeroed. Default false:
   * delegated credentials are dropped with the context at once.
   */
  delegation?: boolean;
  /** ASC_REQ_* bits requested from AcceptSecurityContext; default none beyond what clients ask. */
  contextFlags?: number;
  /** The handshake store key of a request; default one key per connection (a custom key is not discarded when the socket closes: the store's TTL ends it). Not used with a shared store (the handshake cookie is the key). */
  handshakeKey?: (req: HttpRequest, connectionKey: string) => string;
  /** Told about every refused request (never with secrets: a status name and a reason). */
  onFailure?: (req: HttpRequest, failure: AuthFailure) => void;
  /**
   * Sign on to a forward proxy (RFC 9110 11.7): the token comes in Proxy-Authorization, the
   * challenges are 407s with Proxy-Authenticate, the final token rides in Proxy-Authenticate, and
   * no handshake cookie is set (a cookie would be the origin's). Remove Proxy-Authorization before
   * forwarding. CONNECT requests go through authenticateConnect().
   */
  proxy?: boolean;
}

/** Who authenticated. */
export interface Identity {
  /** The account name (without domain or realm). */
  user: string;
  /** The NetBIOS domain (NTLM) or the realm (Kerberos); '' for a local account. */
  domain: string;
  /** As the package reports it: DOMAIN\user or user@REALM. */
  name: string;
  /** The package that authenticated: 'NTLM', 'Kerberos', ... */
  package: string;
  /** The HTTP scheme used: 'Negotiate' or 'NTLM'. */
  scheme: HttpAuthScheme;
  /** Granted ASC_RET_* names and bits. */
  flags: string[];
  contextAttributes: number;
  /** When the security context (the session) expires; null: no expiry. */
  expiry: Date | null;
  /** Group SIDs from a Kerberos PAC (empty for NTLM over the account store). */
  groups: string[];
  /** The client's token was bound to this TLS channel and the acceptor checked the binding (Extended Protection). */
  channelBindings: boolean;
  /**
   * With `delegation`: the client's delegated Kerberos credentials, for this request only (a
   * later request on the connection that keeps the identity has none).
   */
  delegated?: DelegatedCredentials;
}

/** Credentials a client delegated, as a ccache another Kerberos client can use. */
export interface DelegatedCredentials {
  /** The client principal (user@REALM). */
  principal: string;
  /** 'FILE:/path': for KRB5CCNAME, `createFetch({ credentials: { ccache } })` or a Kerberos credential's authData. */
  ccache: string;
}

export interface AuthFailure {
  /**
   * 503: the shared handshake store (or the replay cache behind it) is unreachable; try again
   * later. 407 in proxy mode, where a server answers 401.
   */
  status: 400 | 401 | 407 | 500 | 503;
  /** What was wrong, for logs. */
  reason: string;
  /** The SSPI status name when AcceptSecurityContext refused. */
  code?: string;
  /**
   * HTTP/2: the stream was reset with HTTP_1_1_REQUIRED instead of answered (the status is the
   * challenge's, 401 or 407), because the sign-on needs a leg more and so a connection of its own.
   */
  http11Required?: true;
}

export interface Authenticator {
  /** Authenticate `req`: the identity, or null when a 401 (407)/400/500/503 has been sent on `res` (or its HTTP/2 stream reset). */
  authenticate(req: HttpRequest, res: HttpResponse): Promise<Identity | null>;
  /** (req, res, next) middleware: sets `req.identity` and calls next() once authenticated. */
  middleware(): (req: HttpRequest, res: HttpResponse, next: (err?: unknown) => void) => void;
  /**
   * Proxy mode, for a server's 'connect' event (req, socket, head): the identity and the headers
   * (the final token) to send with your `HTTP/1.1 200 Connection Established`, or null once a
   * 407/400 went out on the socket; the client's next CONNECT on that connection then arrives as
   * a new 'connect' event (the socket is emitted to the server again, so its 'connection' or
   * 'secureConnection' listeners see it twice). Throws SEC_E_INVALID_PARAMETER without `proxy: true`.
   */
  authenticateConnect(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<ConnectAuthentication | null>;
  /**
   * The same for a server's 'upgrade' event (a WebSocket handshake, say), which Node also hands
   * over as a bare socket: the identity and the headers (the final token) for your 101 (with `ws`,
   * in its 'headers' event), or null once a 401/400 went out; the next leg arrives as a new
   * 'upgrade' event on the same connection. Throws SEC_E_INVALID_PARAMETER in proxy mode.
   */
  authenticateUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<ConnectAuthentication | null>;
  /** Free the credentials and every parked handshake. */
  close(): Promise<void>;
}

export interface ConnectAuthentication {
  identity: Identity;
  /** Headers for the 200 that opens the tunnel: Proxy-Authenticate with the final token, if any. */
  headers: Record<string, string>;
}

/** The request as the middleware leaves it. */
export interface AuthenticatedRequest extends IncomingMessage {
  identity?: Identity;
}

const SCHEMES: readonly HttpAuthScheme[] = ['Negotiate', 'NTLM'];
const BASE64_CHARS = /^[A-Za-z0-9+/]*$/;
// RFC 9110 11.6.2: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ].
const CREDENTIALS = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +(.*))?$/s;
const ANONYMOUS = 'NT AUTHORITY\\ANONYMOUS LOGON';
/** Cluster mode's handshake cookie: 128 random bits, base64url. */
export const HANDSHAKE_COOKIE = 'tslsa-handshake';
const HANDSHAKE_ID = /^[A-Za-z0-9_-]{22}$/;
/** Seconds a client should wait after a 503 (the store reconnects with backoff capped near 2 s). */
export const RETRY_AFTER_S = 2;

/**
 * RFC 4648 4 base64, padded or not: whole quanta, then an optional last one of 2 or 3 characters
 * ('==' or '=' when padded). One flat character class over a token of kilobytes is several times
 * cheaper than an alternation per quantum. Exported for its tests.
 */
export function isBase64(text: string): boolean {
  const n = text.length;
  const pad = n > 0 && text.charCodeAt(n - 1) === 0x3d ? (n > 1 && text.charCodeAt(n - 2) === 0x3d ? 2 : 1) : 0;
  const body = n - pad;
  if (pad ? n % 4 !== 0 : body % 4 === 1) return false;
  return BASE64_CHARS.test(pad ? text.slice(0, body) : text);
}

/** Decodes base64 that isBase64 accepted into a buffer of its own (not a slice of Node's pool). */
function decodeBase64(text: string): Uint8Array {
  const out = Buffer.allocUnsafeSlow(Buffer.byteLength(text, 'base64'));
  const n = out.write(text, 0, 'base64');
  return new Uint8Array(out.buffer, out.byteOffset, n);
}

/** A fresh handshake id: 128 bits from the shared random pool (src/crypto/random.ts), base64url. */
function handshakeId(): string {
  const bytes = randomBytes(16);
  const id = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url');
  // An id handed out is not kept here.
  bytes.fill(0);
  return id;
}

/** The handshake id in the request's Cookie header, when well-formed (anything else is no cookie). */
function handshakeCookie(req: HttpRequest): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== HANDSHAKE_COOKIE) continue;
    const v = part.slice(eq + 1).trim();
    if (HANDSHAKE_ID.test(v)) return v;
  }
  return null;
}

function isTls(req: HttpRequest): boolean {
  return (req.socket as TLSSocket).encrypted === true;
}

/** The HTTP/2 stream of a request from node:http2's compatibility API; null over HTTP/1.x. */
function http2StreamOf(req: HttpRequest, res: HttpResponse): Http2ServerResponse['stream'] | null {
  return req.httpVersionMajor === 2 && 'stream' in res ? res.stream : null;
}

/** Statuses that mean the token itself was malformed (400), not that the logon failed (401). */
const MALFORMED = new Set<number>([SecurityStatus.SEC_E_INVALID_TOKEN, SecurityStatus.SEC_E_ILLEGAL_MESSAGE]);

interface Connection {
  key: string;
  identity: Identity | null;
  /** Cluster mode: the id of the handshake this connection parked last (for clients without cookies). */
  handshakeId: string | null;
  /** Requests on one connection are authenticated one at a time (pipelining). */
  tail: Promise<unknown>;
  /**
   * A 401 with our challenges went out on it. Only such a connection keeps an identity: that 401
   * is how a proxy that understands connection-bound sign-on (HAProxy) recognises one and keeps
   * the connection to its client; one signed on by a single preemptive leg looks to it like any
   * other, which it may hand to the next client.
   */
  challenged: boolean;
}

class Refusal {
  constructor(readonly failure: AuthFailure) {}
}

/** Thrown once a continuing leg's 401 has been sent: not a failure. */
const CONTINUED = Symbol('continued');

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

type Leg = 'first' | 'next';

/** Which leg a token starts or continues; null when it is neither NTLM nor SPNEGO/Kerberos. */
function legOf(scheme: HttpAuthScheme, token: Uint8Array): Leg | null {
  if (isNtlmMessage(token)) {
    const type = token[8]! | (token[9]! << 8) | (token[10]! << 16) | (token[11]! << 24);
    return type === 1 ? 'first' : type === 3 ? 'next' : null;
  }
  if (scheme === 'NTLM') return null;
  // RFC 2743 3.1 InitialContextToken ([APPLICATION 0]): SPNEGO NegTokenInit or a Kerberos AP-REQ;
  // a bare AP-REQ is [APPLICATION 14]; a NegTokenResp ([1]) continues.
  if (token[0] === 0x60 || token[0] === 0x6e) return 'first';
  if (token[0] === 0xa1) return 'next';
  return null;
}

/**
 * 'if-present': whether the client bound its token to a channel. Only NTLM can tell (an
 * AUTHENTICATE without a non-zero MsvAvChannelBindings has none); the Kerberos acceptor itself
 * lets an authenticator without bindings through unless configured to require them.
 */
function clientSentBindings(token: Uint8Array): boolean {
  try {
    let inner = token;
    if (!isNtlmMessage(inner)) {
      if (inner[0] !== 0xa1) return true;
      const resp = parseNegotiationToken(inner);
      if (resp.kind !== 'resp' || !resp.responseToken || !isNtlmMessage(resp.responseToken)) return true;
      inner = resp.responseToken;
    }
    if (inner[8] !== 3) return true;
    const auth = parseAuthenticateMessage(inner);
    if (auth.NtChallengeResponse.length <= 24) return false;
    const cb = avPairsByName(parseNtlmv2Response(auth.NtChallengeResponse).ClientChallenge.AvPairs).MsvAvChannelBindings;
    return cb !== undefined && cb.some((b) => b !== 0);
  } catch {
    // The package reports the malformed token properly.
    return true;
  }
}

/** flagNames(bits, ASC_RET) walks the whole table; a server sees a handful of distinct values. */
const flagNameCache = new Map<number, readonly string[]>();
function ascRetNames(bits: number): string[] {
  let names = flagNameCache.get(bits);
  if (!names) {
    names = flagNames(bits, ASC_RET);
    if (flagNameCache.size < 256) flagNameCache.set(bits, names);
  }
  // A copy: the identity is the application's to change.
  return names.slice();
}

function splitName(name: string): { user: string; domain: string } {
  const bs = name.indexOf('\\');
  if (bs >= 0) return { domain: name.slice(0, bs), user: name.slice(bs + 1) };
  const at = name.lastIndexOf('@');
  if (at > 0) return { user: name.slice(0, at), domain: name.slice(at + 1) };
  return { user: name, domain: '' };
}

/** MS-PAC 2.5: the user's groups as SIDs (domain SID + RID), then ExtraSids and resource groups. */
function pacGroups(pac: Pac | undefined): string[] {
  const info = pac?.logonInfo;
  if (!info) return [];
  const out: string[] = [];
  if (info.logonDomainId) for (const g of info.groupIds) out.push(`${info.logonDomainId}-${g.relativeId}`);
  for (const s of info.extraSids) out.push(s.sid);
  if (info.resourceGroupDomainSid) for (const g of info.resourceGroupIds) out.push(`${info.resourceGroupDomainSid}-${g.relativeId}`);
  return [...new Set(out)];
}

let nextAuthenticator = 0;

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const sspi = options.host instanceof LsaHost ? options.host.sspi({ name: 'http' }) : options.host;
  const schemes = [...(options.packages ?? SCHEMES)];
  for (const s of schemes) if (!SCHEMES.includes(s)) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `unknown HTTP auth scheme ${String(s)}`);
  if (!schemes.length) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'no HTTP auth scheme to offer');
  const policy: ChannelBindingPolicy = options.channelBindings ?? 'off';
  if (!['required', 'if-present', 'off'].includes(policy)) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `unknown channel binding policy ${String(policy)}`);
  const timeoutMs = options.handshakeTimeoutMs ?? 60_000;
  const maxToken = options.maxTokenBytes ?? 65_536;
  // base64 of maxToken bytes, the scheme and a little whitespace.
  const maxHeader = Math.ceil(maxToken / 3) * 4 + 64;
  const store: HandshakeStore = options.store ?? new MemoryHandshakeStore();
  const ownsStore = options.store === undefined;
  const requested = options.contextFlags ?? 0;
  const keyOf = options.handshakeKey ?? ((_req, k) => k);
  const shared = store.shared === true;
  // Cluster mode means a balancer in front, which may share a connection between clients.
  const persist = options.persistConnection ?? !shared;
  const connectionFallback = options.connectionFallback ?? true;
  const asProxy = options.proxy === true;
  // RFC 9110 11.6 for a server, 11.7 for a proxy.
  const challengeStatus = asProxy ? 407 : 401;
  const challengeHeader = asProxy ? 'Proxy-Authenticate' : 'WWW-Authenticate';
  const credentialsHeader = asProxy ? 'Proxy-Authorization' : 'Authorization';
  /** Cluster mode: handshakes whose package cannot export them stay on their node and connection. */
  const local = shared ? new MemoryHandshakeStore() : null;
  const connections = new WeakMap<Socket, Connection>();
  const credentials = new Map<HttpAuthScheme, Promise<Credentials>>();
  const prefix = `${process.pid}.${nextAuthenticator++}.${toHex(randomBytes(4))}`;
  let nextConnection = 0;
  let closed = false;

  function newConnection(): Connection {
    return { key: `${prefix}.${nextConnection++}`, identity: null, handshakeId: null, tail: Promise.resolve(), challenged: false };
  }

  function connectionOf(socket: Socket): Connection {
    let c = connections.get(socket);
    if (c) return c;
    const conn = newConnection();
    connections.set(socket, conn);
    // The context of a handshake cut short by a closing connection goes with it.
    socket.once('close', () => {
      conn.identity = null;
      // A shared store keeps it: the next leg may come on another connection (its TTL ends it).
      if (!shared) void store.discard(conn.key).catch(() => undefined);
      void local?.discard(conn.key).catch(() => undefined);
    });
    return conn;
  }

  function credentialFor(scheme: HttpAuthScheme): Promise<Credentials> {
    let p = credentials.get(scheme);
    if (!p) {
      p = Credentials.acquire(sspi, { package: scheme, use: 'inbound', ...(options.principal ? { principal: options.principal } : {}) });
      credentials.set(scheme, p);
      // A package that failed to serve may serve later (a keytab being deployed): try again then.
      p.catch(() => credentials.delete(scheme));
    }
    return p;
  }

  /** Answer a refusal; true when that answer went out (not when the response had already begun). */
  function challenge(res: HttpResponse, failure: AuthFailure): boolean {
    if (res.headersSent) return false;
    if (failure.http11Required) {
      const stream = (res as Http2ServerResponse).stream;
      if (!stream.destroyed) stream.close(http2.NGHTTP2_HTTP_1_1_REQUIRED);
      return false;
    }
    const body = failure.status === challengeStatus ? 'Authentication required\n' : failure.status === 400 ? `Bad ${credentialsHeader} header\n` : failure.status === 503 ? 'Authentication temporarily unavailable\n' : 'Authentication unavailable\n';
    const headers: Record<string, string | string[]> = { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) };
    if (failure.status === challengeStatus) headers[challengeHeader] = schemes.slice();
    if (failure.status === 503) headers['Retry-After'] = String(RETRY_AFTER_S);
    // After garbage the connection's state is suspect: start the next attempt on a new one. Not
    // over HTTP/2, where the session carries other streams and the header is not allowed (RFC 9113
    // 8.2.2; node:http2 drops it with a process warning).
    if (failure.status === 400 && !(res instanceof Http2ServerResponse)) headers.Connection = 'close';
    res.writeHead(failure.status, headers);
    res.end(body);
    return true;
  }

  function refuse(failure: AuthFailure): never {
    throw new Refusal(failure);
  }

  /** HTTP/2: this sign-on needs a connection of its own; the client is to retry over HTTP/1.1. */
  function http11Required(reason: string): never {
    refuse({ status: 401, reason: `${reason} over HTTP/2: needs HTTP/1.1`, http11Required: true });
  }

  function unavailable(reason: string, code?: string): never {
    refuse({ status: 503, reason, ...(code ? { code } : {}) });
  }

  /** A shared store's operation; its failure (the backend is away) is a 503. */
  async function storeOp<T>(op: Promise<T>): Promise<T> {
    try {
      return await op;
    } catch (e) {
      if (!shared) throw e;
      unavailable('the shared handshake store failed', e instanceof SspiError ? e.code : 'ERROR');
    }
  }

  function clearCookie(res: HttpResponse, req: HttpRequest): void {
    if (!res.headersSent && !asProxy) res.setHeader('Set-Cookie', `${HANDSHAKE_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${isTls(req) ? '; Secure' : ''}`);
  }

  async function identityOf(ctx: AcceptorContext, scheme: HttpAuthScheme, bound: boolean): Promise<Identity> {
    const names = await ctx.query<{ sUserName: string }>(SECPKG_ATTR.NAMES);
    if (!names) refuse({ status: 401, reason: 'the context has no client name' });
    // The NTLM scheme's credential is the NTLM package's, and so is its context: no LSA call to
    // learn that. Negotiate says which package it chose.
    const pkg = scheme === 'NTLM' ? null : await ctx.query<{ PackageInfo: { Name: string } }>(SECPKG_ATTR.PACKAGE_INFO);
    const packageName = pkg?.PackageInfo.Name ?? scheme;
    let groups: string[] = [];
    if (packageName.toUpperCase() === 'KERBEROS') {
      const pac = await ctx.query<{ verified: boolean; pac: Pac }>(TSLSA_KERB_ATTR.PAC).catch(() => null);
      if (pac?.verified) groups = pacGroups(pac.pac);
      // Kerberos lets an authenticator with a zero Bnd through unless bindings are required: only
      // the package knows whether this one was bound (browsers' GSSAPI sends none).
      if (bound) bound = (await ctx.query<{ bound: boolean }>(TSLSA_KERB_ATTR.CHANNEL_BINDINGS).catch(() => null))?.bound === true;
    }
    const { user, domain } = splitName(names.sUserName);
    return {
      user,
      domain,
      name: names.sUserName,
      package: packageName,
      scheme,
      flags: ascRetNames(ctx.flags),
      contextAttributes: ctx.flags,
      expiry: ctx.expiry,
      groups,
      channelBindings: bound,
    };
  }

  /** The FILE ccache the Kerberos package wrote for credentials the client delegated; null when it wrote none. */
  async function delegatedOf(ctx: AcceptorContext): Promise<DelegatedCredentials | null> {
    const d = await ctx.query<{ name: string | null; principal: string; ccache?: Uint8Array }>(TSLSA_KERB_ATTR.DELEGATED_CCACHE).catch(() => null);
    // The serialized ccache is our copy, keys included: the file is what the application gets.
    d?.ccache?.fill(0);
    return d?.name ? { principal: d.principal, ccache: d.name } : null;
  }

  /** Delete the context (its ccache file and keys) once the response is finished, or the bare socket closed. */
  function releaseWhenDone(req: HttpRequest, res: HttpResponse, ctx: AcceptorContext): void {
    let done = false;
    const release = (): void => {
      if (done) return;
      done = true;
      void ctx.delete().catch(() => undefined);
    };
    const target = typeof (res as Partial<ServerResponse>).once === 'function' ? (res as ServerResponse) : (req.socket as Socket);
    target.once('close', release);
    // Already gone (the client hung up while we signed it on): nothing will emit 'close' again.
    if ((res as Partial<ServerResponse>).closed === true || req.socket.destroyed) release();
  }

  async function run(req: HttpRequest, res: HttpResponse, conn: Connection): Promise<Identity> {
    if (closed) refuse({ status: 500, reason: 'the authenticator is closed' });
    const header = asProxy ? req.headers['proxy-authorization'] : req.headers.authorization;
    if (header === undefined) {
      if (persist && conn.identity) return conn.identity;
      refuse({ status: 401, reason: `no ${credentialsHeader} header` });
    }
    if (header.length > maxHeader) refuse({ status: 400, reason: `${credentialsHeader} header of ${header.length} bytes` });
    const m = CREDENTIALS.exec(header.trim());
    if (!m) refuse({ status: 400, reason: `malformed ${credentialsHeader} header` });
    const scheme = schemes.find((s) => s.toLowerCase() === m[1]!.toLowerCase());
    if (!scheme) refuse({ status: 401, reason: `scheme ${m[1]!.slice(0, 32)} is not offered` });
    const text = (m[2] ?? '').trim();
    if (!text) refuse({ status: 400, reason: `${scheme} without a token` });
    if (!isBase64(text)) refuse({ status: 400, reason: `${scheme} token is not base64` });
    const token = decodeBase64(text);
    if (token.length > maxToken) refuse({ status: 400, reason: `${scheme} token of ${token.length} bytes` });
    const leg = legOf(scheme, token);
    if (!leg) refuse({ status: 400, reason: `not a ${scheme} token` });
    const stream = http2StreamOf(req, res);
    if (stream && (leg === 'next' || isNtlmMessage(token))) http11Required(leg === 'next' ? `a later ${scheme} leg` : 'NTLM');
    // Any new Authorization header re-authenticates the connection.
    conn.identity = null;

    if (shared && store.ready?.() === false) unavailable('the shared handshake store is unreachable');

    // Cluster mode: the handshake id from the cookie, else the one this connection parked. A first
    // leg drops only its own client's earlier handshake (the cookie's): behind a proxy that shares
    // its connections to us between clients, the one this connection parked may be another's.
    const cookieId = shared ? handshakeCookie(req) : null;
    const priorId = shared ? (leg === 'first' ? cookieId : cookieId ?? (connectionFallback ? conn.handshakeId : null)) : null;
    const key = shared ? priorId : keyOf(req, conn.key);
    let parked: ParkedHandshake | null = null;
    if (key !== null) {
      if (shared && leg === 'first') await storeOp(store.discard(key));
      else parked = await storeOp(store.take(key));
    }
    // A state its package could not export waits on this node, bound to its connection.
    if (local) {
      if (leg === 'first') await local.discard(conn.key);
      else parked ??= await local.take(conn.key);
    }
    if (parked && (leg === 'first' || parked.scheme !== scheme || Date.now() - parked.startedAt > timeoutMs)) {
      await dropParked(parked);
      parked = null;
    }
    if (leg === 'next' && !parked) {
      if (cookieId) clearCookie(res, req);
      refuse({ status: 401, reason: `${scheme} token for a later leg without a handshake in progress on this connection` });
    }

    let cred: Credentials;
    try {
      cred = await credentialFor(scheme);
    } catch (e) {
      if (parked) await dropParked(parked);
      refuse({ status: 500, reason: `no inbound ${scheme} credentials`, code: e instanceof SspiError ? e.code : 'ERROR' });
    }
    let ctx: AcceptorContext;
    if (!parked) ctx = new AcceptorContext(sspi, cred.handle, requested);
    else if (parked.context instanceof Uint8Array) {
      try {
        ctx = await AcceptorContext.import(sspi, cred.handle, requested, scheme, parked.context);
      } catch (e) {
        if (shared) clearCookie(res, req);
        refuse({ status: 401, reason: 'the parked handshake could not be resumed', code: e instanceof SspiError ? e.code : 'ERROR' });
      } finally {
        parked.context.fill(0);
      }
    } else ctx = parked.context;
    const startedAt = parked?.startedAt ?? Date.now();
    // Over HTTP/2, req.socket stands for the stream; the TLS socket is the session's.
    const tls = policy === 'off' ? null : socketChannelBindings(stream?.session?.socket ?? req.socket);
    const bindings = tls && (policy === 'required' || clientSentBindings(token)) ? tls : null;

    let reply: Uint8Array | null;
    try {
      reply = await ctx.step(token, bindings);
    } catch (e) {
      await ctx.delete().catch(() => undefined);
      const status = e instanceof SspiError ? e.status : SecurityStatus.SEC_E_INTERNAL_ERROR;
      // A package that failed because the store behind it (the Kerberos replay cache) is away
      // did not refuse the client: 503, never 401.
      if (shared && store.ready?.() === false) unavailable('the shared store failed during AcceptSecurityContext', statusName(status));
      if (shared && priorId) clearCookie(res, req);
      refuse({ status: MALFORMED.has(status) ? 400 : 401, reason: e instanceof SspiError && e.detail ? e.detail : 'AcceptSecurityContext refused the token', code: statusName(status) });
    }
    if (!ctx.complete) {
      if (stream) {
        await ctx.delete().catch(() => undefined);
        http11Required(`a ${scheme} sign-on that continues`);
      }
      if (!reply) {
        await ctx.delete().catch(() => undefined);
        refuse({ status: 401, reason: 'the handshake continues without a token to send', code: 'SEC_E_INTERNAL_ERROR' });
      }
      const ttl = timeoutMs - (Date.now() - startedAt);
      const headers: Record<string, string> = { [challengeHeader]: `${scheme} ${b64(reply)}`, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '24' };
      let packed: Uint8Array | null = null;
      if (shared) {
        try {
          packed = await ctx.export();
        } catch (e) {
          if (!(e instanceof SspiError && e.status === SecurityStatus.SEC_E_UNSUPPORTED_FUNCTION)) {
            await ctx.delete().catch(() => undefined);
            refuse({ status: 500, reason: `the ${scheme} handshake in progress could not be exported`, code: e instanceof SspiError ? e.code : 'ERROR' });
          }
        }
      }
      if (packed) {
        // A fresh id per leg: an id seen on the wire is spent once its leg is taken.
        const id = handshakeId();
        try {
          await storeOp(store.park(id, { scheme, context: packed, startedAt, channelBound: bindings !== null }, ttl));
        } finally {
          packed.fill(0);
        }
        conn.handshakeId = id;
        if (!asProxy) headers['Set-Cookie'] = `${HANDSHAKE_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax${isTls(req) ? '; Secure' : ''}`;
      } else if (local) {
        // Cluster mode, but the package keeps this state to itself (SPNEGO waiting for a
        // mechListMIC holds keys): the next leg must come on this connection, as NTLM's do anyway.
        conn.handshakeId = null;
        await local.park(conn.key, { scheme, context: ctx, startedAt, channelBound: bindings !== null }, ttl);
      } else {
        await store.park(key!, { scheme, context: ctx, startedAt, channelBound: bindings !== null }, ttl);
      }
      if (!res.headersSent) {
        // Set one by one, not through writeHead: then getHeader() still reads them once sent,
        // which is how a drain (./drain.ts) knows this connection waits for a next leg.
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
        conn.challenged = true;
        res.writeHead(challengeStatus);
        res.end('Authentication continues');
      }
      throw CONTINUED;
    }
    if (shared) {
      conn.handshakeId = null;
      if (priorId) clearCookie(res, req);
    }
    let identity: Identity;
    let delegated: DelegatedCredentials | null = null;
    try {
      identity = await identityOf(ctx, scheme, bindings !== null);
      // 'required' holds for every package: Kerberos lets a zero Bnd through unless its own
      // requireChannelBindings is set, so an unbound sign-on is refused here too.
      if (policy === 'required' && bindings !== null && !identity.channelBindings) {
        refuse({ status: 401, reason: 'the client did not bind its token to this TLS channel', code: 'SEC_E_BAD_BINDINGS' });
      }
      if (!options.allowAnonymous && identity.name.toUpperCase() === ANONYMOUS) refuse({ status: 401, reason: 'anonymous logon refused' });
      if (options.delegation && (ctx.flags & ASC_RET.DELEGATE) !== 0) delegated = await delegatedOf(ctx);
    } finally {
      // The identity is all the server keeps: the context's keys are zeroed now, unless it holds
      // delegated credentials the application is about to use.
      if (!delegated) await ctx.delete().catch(() => undefined);
    }
    // RFC 4559 5: the final token (Kerberos AP-REP, SPNEGO accept-completed) goes with the success.
    if (reply && !res.headersSent) res.setHeader(challengeHeader, `${scheme} ${b64(reply)}`);
    if (persist && conn.challenged) conn.identity = identity;
    if (delegated) {
      releaseWhenDone(req, res, ctx);
      return { ...identity, delegated };
    }
    return identity;
  }

  /** CONNECT or Upgrade: Node hands the socket over bare, so the answer is written on it (./tunnel.ts). */
  async function onBareSocket(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<ConnectAuthentication | null> {
    const res = new TunnelResponse(socket);
    const identity = await authenticator.authenticate(req, res as unknown as ServerResponse);
    if (identity) return { identity, headers: res.successHeaders() };
    // Answered: the client's next request (NTLM's next leg, or a retry with credentials) may
    // follow on this connection, so its requests are parsed again.
    if (!res.closing) returnToServer(socket, head);
    return null;
  }

  const authenticator: Authenticator = {
    async authenticate(req, res) {
      // An HTTP/2 request stands alone: its connection carries other requests, maybe other clients'.
      const conn = http2StreamOf(req, res) ? newConnection() : connectionOf(req.socket as Socket);
      const attempt = conn.tail.then(() => run(req, res, conn));
      conn.tail = attempt.catch(() => undefined);
      try {
        return await attempt;
      } catch (e) {
        if (e === CONTINUED) return null;
        if (e instanceof Refusal) {
          const failure = asProxy && e.failure.status === 401 ? { ...e.failure, status: 407 as const } : e.failure;
          options.onFailure?.(req, failure);
          if (challenge(res, failure) && failure.status === challengeStatus) conn.challenged = true;
          return null;
        }
        // Never expected: answer without echoing anything about the input.
        const failure: AuthFailure = { status: 500, reason: 'internal error', code: e instanceof SspiError ? e.code : 'ERROR' };
        options.onFailure?.(req, failure);
        challenge(res, failure);
        return null;
      }
    },
    async authenticateConnect(req, socket, head) {
      if (!asProxy) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'authenticateConnect needs an authenticator made with proxy: true');
      return onBareSocket(req, socket, head);
    },
    async authenticateUpgrade(req, socket, head) {
      if (asProxy) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'authenticateUpgrade is for a server, not an authenticator made with proxy: true');
      return onBareSocket(req, socket, head);
    },
    middleware() {
      return (req, res, next) => {
        authenticator.authenticate(req, res).then((id) => {
          if (!id) return;
          (req as AuthenticatedRequest).identity = id;
          next();
        }, next);
      };
    },
    async close() {
      closed = true;
      if (ownsStore) await store.close().catch(() => undefined);
      await local?.close().catch(() => undefined);
      const all = [...credentials.values()];
      credentials.clear();
      await Promise.all(all.map((p) => p.then((c) => c.free(), () => undefined).catch(() => undefined)));
    },
  };
  return authenticator;
}

export { MemoryHandshakeStore, type HandshakeStore, type MemoryHandshakeStoreOptions, type ParkedHandshake } from './handshakeStore.js';
export { AcceptorContext } from './acceptor.js';
export { serverEndPointBindings, socketChannelBindings, tlsServerEndPoint } from './channelBindings.js';
