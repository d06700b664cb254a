// The HTTP client side of Negotiate/NTLM sign-on (RFC 4559, MS-NTHT): an undici 7 interceptor that
// answers 401 and 407 challenges by itself, and a `fetch` built on it.
//
// Every handshake runs on one pinned connection (an undici Client of its own per origin, or per
// proxy) because NTLM authenticates the connection, not the request; requests on that connection
// are serialized so no other request slips between two legs. The final response's token is fed
// back to the context (mutual authentication), bindings come from the certificate of the very TLS
// socket the legs travel on, and nothing loops: each kind of challenge (server, proxy) gets one
// handshake of at most `maxLegs` legs per request (started again once when its connection changed
// under it), after which a 401/407 reaches the caller as is. The pinned connection speaks
// HTTP/1.1; the caller's dispatcher may speak HTTP/2, and a request of its that the origin resets
// with HTTP_1_1_REQUIRED goes again on the pin, as curl and browsers retry it.

import type dns from 'node:dns/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { Agent, Client, buildConnector, fetch as undiciFetch, type Dispatcher, type RequestInfo, type RequestInit, type Response } from 'undici';
import { Credentials } from '../credentials.js';
import { SecurityContext, type FlagInput } from '../context.js';
import { createLsa, type LsaHost } from '../lsa/host.js';
import { builtinPackages } from '../packages/index.js';
import { loadKrb5Config } from '../packages/kerberos/krb5conf.js';
import { negotiatePackage } from '../packages/negotiate/package.js';
import { parseNegotiationToken } from '../packages/negotiate/spnego.js';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';
import type { SecPkgContext_NegotiationInfo, SecPkgContext_PackageInfo } from '../sspi/attributes.js';
import { ISC_REQ, ISC_RET, SECPKG_ATTR } from '../sspi/flags.js';
import { type Challenge, parseChallenges } from './client-challenge.js';
import { type TunnelAuth, openTunnel } from './client-tunnel.js';
import { CANONICAL_TTL_MS, Canonicalizer } from './canonical.js';
import { tlsServerEndPoint } from './channelBindings.js';

export type AuthPackage = 'Negotiate' | 'NTLM';

/** A sign-on that succeeded (NegotiateClientOptions.onSignOn). */
export interface SignOnEvent {
  /** 'server': an origin's 401; 'proxy': the proxy's 407. */
  kind: 'server' | 'proxy';
  /** The origin signed on to (the proxy's for 'proxy'). */
  origin: string;
  /** The HTTP scheme answered: 'Negotiate' or 'NTLM'. */
  scheme: string;
  /** The package that authenticated: 'Kerberos' or 'NTLM'. */
  package: string;
  /** The target name the context was made for (after any canonicalization). */
  target: string;
  /** The server's final token completed the context with mutual authentication. */
  mutual: boolean;
  /** The granted ISC_RET flags, by name. */
  flags: string[];
  /** Requests that carried a token of this handshake: 1 for Kerberos, 2 for NTLM. */
  legs: number;
}

export interface PasswordCredentials {
  user: string;
  domain?: string;
  password: string;
}

/** Kerberos credentials from a ccache: a server's `identity.delegated`, or any 'FILE:/path' (as KRB5CCNAME). */
export interface CcacheCredentials {
  ccache: string;
}

export interface NegotiateClientOptions {
  /** An explicit identity, or 'default': what the LSA has (Kerberos ccache, logon-session credentials). */
  credentials?: PasswordCredentials | CcacheCredentials | 'default';
  /** Packages in order of preference; default ['Negotiate', 'NTLM']. */
  packages?: AuthPackage[];
  /**
   * Kerberos or nothing: only Negotiate challenges are answered, with credentials restricted to
   * Kerberos (PackageList "Kerberos"), so no NTLM token ever leaves, not even when Kerberos cannot
   * serve or the server picks NTLM; the request fails instead (as curl with MIT GSS-API alone).
   */
  kerberosOnly?: boolean;
  /** The target name; default `HTTP/<host>` of the server (or of the proxy for 407). */
  spn?: string | ((url: URL, kind: 'server' | 'proxy') => string);
  /**
   * How the default target's host is found, as MIT Kerberos' dns_canonicalize_hostname (without
   * its reverse lookup):
   * - 'fallback': the host as given; when the KDC does not know HTTP/<host> (Negotiate would fall
   *   back to NTLM), the end of the host's CNAME chain in DNS is tried, so a site reached through an
   *   alias signs on with Kerberos for the host behind it. No DNS query unless the KDC said so.
   * - true: always the end of the CNAME chain (browsers do this), one DNS query per new host.
   * - false: the host as given.
   * A name in the hosts file becomes the first name of its line (as getaddrinfo's canonical name);
   * IP literals, localhost, names without a CNAME and failed lookups stay as given. Default:
   * krb5.conf's [libdefaults] dns_canonicalize_hostname when it sets one (the files KRB5_CONFIG
   * names, else /etc/krb5.conf), else 'fallback'.
   */
  dnsCanonicalize?: boolean | 'fallback';
  /** The resolver dnsCanonicalize asks (one pointed at other servers, say); default node:dns's, 2 s per try. */
  resolver?: Pick<dns.Resolver, 'resolveCname'>;
  /** The hosts file dnsCanonicalize reads before DNS; default /etc/hosts (Windows: its own); null: none. */
  hostsFile?: string | null;
  /**
   * Told of every sign-on that succeeded: which package authenticated, for which target, and
   * whether the server proved itself. For logs and audits (an NTLM fallback where Kerberos was
   * meant); what it throws is ignored.
   */
  onSignOn?: (event: SignOnEvent) => void;
  /** Channel bindings (RFC 5929 tls-server-end-point) over https; default true. */
  channelBindings?: boolean;
  /** A 2xx from an origin server without the token that completes the context is an error (SEC_E_MUTUAL_AUTH_FAILED); default true. */
  mutualAuth?: boolean;
  /**
   * The same for a forward proxy's sign-on; default false. Squid, the common corporate proxy,
   * signs a client on and forwards the origin's response with no final Proxy-Authenticate token,
   * and curl goes on without one. A final token that does come is checked either way.
   */
  proxyMutualAuth?: boolean;
  /** ISC_REQ flags; default MUTUAL_AUTH, REPLAY_DETECT, SEQUENCE_DETECT, INTEGRITY. */
  flags?: FlagInput;
  /**
   * Ask to delegate the Kerberos TGT to origin servers (ISC_REQ_DELEGATE), so they can act as you:
   * forwarded to a service the realm trusts for delegation (OK-AS-DELEGATE), or to any with the
   * Kerberos package's `delegation: 'always'`. Needs a forwardable TGT; never sent to a proxy.
   * Default false.
   */
  delegate?: boolean;
  /** Legs (requests carrying a token) per handshake; default 4. */
  maxLegs?: number;
  /** Largest streamed request body buffered so it can be replayed; default 1 MiB. */
  maxBufferedBody?: number;
  /**
   * An HTTP forward proxy (an http: URL), signed on to when it answers 407: requests to http:
   * origins go to it in absolute form, those to https: origins through a CONNECT tunnel (TLS to
   * the origin inside it, its channel bindings from the origin's certificate).
   */
  proxy?: string | URL;
  /** TLS/TCP options for the pinned connections (ca, rejectUnauthorized, ...). */
  connect?: buildConnector.BuildOptions;
  /** The LSA to use; by default one is created with the built-in packages and Negotiate. */
  lsa?: LsaHost | Promise<LsaHost>;
}

export type NegotiateInterceptor = Dispatcher.DispatcherComposeInterceptor & {
  /** Close the pinned connections and free the credentials (and the LSA if we created it). */
  close(): Promise<void>;
};

type Kind = 'server' | 'proxy';
type Body = string | Uint8Array | null;

interface Offer {
  scheme: string;
  pkg: AuthPackage;
}

interface Pending {
  kind: Kind;
  offers: Offer[];
}

interface Head {
  status: number;
  headers: IncomingHttpHeaders;
  statusText: string | undefined;
  serial: number;
}

const DEFAULT_FLAGS: FlagInput = ['MUTUAL_AUTH', 'REPLAY_DETECT', 'SEQUENCE_DETECT', 'INTEGRITY'];

const KIND_STATUS: Record<Kind, number> = { server: 401, proxy: 407 };
const CHALLENGE_HEADER: Record<Kind, string> = { server: 'www-authenticate', proxy: 'proxy-authenticate' };
const AUTH_HEADER: Record<Kind, string> = { server: 'authorization', proxy: 'proxy-authorization' };

const NTLMSSP = Buffer.from('NTLMSSP\0', 'latin1');

/** MS-NLMP 2.2.1.1: a NEGOTIATE_MESSAGE, raw or as SPNEGO's mechToken; the leg after it is a challenge. */
function isNtlmNegotiate(token: Uint8Array): boolean {
  const raw = (t: Uint8Array | undefined): boolean =>
    !!t && t.length >= 12 && Buffer.from(t.subarray(0, 8)).equals(NTLMSSP) && t[8] === 1 && t[9] === 0 && t[10] === 0 && t[11] === 0;
  if (raw(token)) return true;
  try {
    const neg = parseNegotiationToken(token);
    return neg.kind === 'init' && raw(neg.mechToken);
  } catch {
    return false;
  }
}

// ---- the caller's side: one stable controller over the legs' controllers ------------------------

class Run implements Dispatcher.DispatchController {
  private current: Dispatcher.DispatchController | null = null;
  private abortReason: Error | null = null;
  private isPaused = false;
  private finished = false;

  constructor(readonly handler: Dispatcher.DispatchHandler) {}

  get aborted(): boolean {
    return this.abortReason !== null;
  }
  get paused(): boolean {
    return this.isPaused;
  }
  get reason(): Error | null {
    return this.abortReason;
  }
  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason ?? new Error('aborted');
    this.current?.abort(this.abortReason);
  }
  pause(): void {
    this.isPaused = true;
    this.current?.pause();
  }
  resume(): void {
    this.isPaused = false;
    this.current?.resume();
  }

  attach(controller: Dispatcher.DispatchController): void {
    this.current = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  /** Throws the caller's abort reason between legs. */
  check(): void {
    if (this.abortReason) throw this.abortReason;
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onResponseError?.(this, this.abortReason ?? err);
  }

  start(status: number, headers: IncomingHttpHeaders, statusText: string | undefined): void {
    this.handler.onResponseStart?.(this, status, headers, statusText);
  }
  data(chunk: Buffer): void {
    if (!this.finished) this.handler.onResponseData?.(this, chunk);
  }
  end(trailers: IncomingHttpHeaders): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onResponseEnd?.(this, trailers);
  }
}

// ---- one leg: the response is held at its headers until the driver decides --------------------

type Held = { t: 'data'; chunk: Buffer } | { t: 'end'; trailers: IncomingHttpHeaders } | { t: 'error'; err: Error };

class Leg implements Dispatcher.DispatchHandler {
  readonly head: Promise<Head>;
  private resolveHead!: (h: Head) => void;
  private rejectHead!: (e: Error) => void;
  private headSeen: Head | null = null;
  private ctrl: Dispatcher.DispatchController | null = null;
  private mode: 'held' | 'forward' | 'swallow' | 'failed' = 'held';
  private held: Held[] = [];
  private swallowDone: { resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(
    private readonly run: Run,
    private readonly serial: () => number,
  ) {
    this.head = new Promise<Head>((res, rej) => {
      this.resolveHead = res;
      this.rejectHead = rej;
    });
    this.head.catch(() => undefined);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.ctrl = controller;
    this.run.attach(controller);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (this.headSeen) return;
    controller.pause();
    this.headSeen = { status: statusCode, headers, statusText: statusMessage, serial: this.serial() };
    this.resolveHead(this.headSeen);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.mode === 'held') this.held.push({ t: 'data', chunk });
    else if (this.mode === 'forward') this.run.data(chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    if (this.mode === 'held') this.held.push({ t: 'end', trailers });
    else if (this.mode === 'forward') this.run.end(trailers);
    else if (this.mode === 'swallow') this.swallowDone?.resolve();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (!this.headSeen) {
      this.rejectHead(err);
      return;
    }
    if (this.mode === 'held') this.held.push({ t: 'error', err });
    else if (this.mode === 'forward') this.run.fail(err);
    else if (this.mode === 'swallow') this.swallowDone?.reject(err);
  }

  /** Hand the response to the caller. */
  forward(): void {
    const h = this.headSeen!;
    this.mode = 'forward';
    this.run.start(h.status, h.headers, h.statusText);
    for (const e of this.held.splice(0)) {
      if (e.t === 'data') this.run.data(e.chunk);
      else if (e.t === 'end') this.run.end(e.trailers);
      else this.run.fail(e.err);
    }
    if (!this.run.paused) this.ctrl?.resume();
  }

  /** Read and drop the body of a challenge, keeping the connection usable for the next leg. */
  swallow(): Promise<void> {
    this.mode = 'swallow';
    const held = this.held.splice(0);
    const err = held.find((e): e is Extract<Held, { t: 'error' }> => e.t === 'error');
    if (err) return Promise.reject(err.err);
    if (held.some((e) => e.t === 'end')) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => {
      this.swallowDone = { resolve, reject };
    });
    this.ctrl?.resume();
    return p;
  }

  /** Refuse the response: abort its transfer and report `err` to the caller instead. */
  fail(err: Error): void {
    this.mode = 'failed';
    this.held = [];
    this.run.fail(err);
    try {
      this.ctrl?.abort(err);
    } catch {
      // already finished
    }
  }
}

// ---- the pinned connection ---------------------------------------------------------------------

class Pin {
  readonly client: Client;
  serial = 0;
  private socket: Socket | null = null;
  private preopened: Socket | null = null;
  private readonly base: buildConnector.connector;
  private tail: Promise<unknown> = Promise.resolve();
  /** Offers that worked for each kind: the next request starts its handshake at once. */
  readonly known = new Map<Kind, Offer[]>();
  /** Serial of the connection a connection-based (NTLM) handshake authenticated, per kind. */
  readonly authenticated = new Map<Kind, number>();
  /** The origin reset a request over HTTP/2 with HTTP_1_1_REQUIRED: its requests go here (HTTP/1.1) from now on. */
  http11Only = false;

  /** `dial`: how a connection is made instead of straight to `url` (a CONNECT tunnel). */
  constructor(
    readonly url: URL,
    connect: buildConnector.BuildOptions | undefined,
    dial?: buildConnector.connector,
  ) {
    this.base = dial ?? buildConnector({ ...(connect ?? {}) });
    this.client = new Client(url, { pipelining: 1, connect: (opts, cb) => this.connector(opts, cb) });
  }

  private adopt(s: Socket): void {
    this.socket = s;
    this.serial++;
  }

  private connector(opts: buildConnector.Options, cb: buildConnector.Callback): void {
    const pre = this.preopened;
    this.preopened = null;
    if (pre && !pre.destroyed) {
      // Asynchronously, as a real connect would answer: undici's Client is not re-entrant here.
      setImmediate(() => cb(null, pre));
      return;
    }
    this.base(opts, (err, s) => {
      if (err || !s) cb(err ?? new Error('connect failed'), null);
      else {
        this.adopt(s);
        cb(null, s);
      }
    });
  }

  alive(): boolean {
    return !!this.socket && !this.socket.destroyed;
  }

  /** Open the connection before the first token when bindings need its certificate. */
  async ensureConnected(): Promise<void> {
    if (this.alive()) return;
    const u = this.url;
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    const isIp = /^[\d.]+$/.test(u.hostname) || u.hostname.startsWith('[');
    await new Promise<void>((resolve, reject) => {
      this.base({ hostname: u.hostname.replace(/^\[|\]$/g, ''), host: u.host, protocol: u.protocol, port, ...(isIp ? {} : { servername: u.hostname }) }, (err, s) => {
        if (err || !s) reject(err ?? new Error('connect failed'));
        else {
          this.preopened = s;
          this.adopt(s);
          resolve();
        }
      });
    });
  }

  peerCertificate(): Uint8Array | null {
    const s = this.socket as TLSSocket | null;
    const raw = s && typeof s.getPeerCertificate === 'function' ? s.getPeerCertificate(false)?.raw : undefined;
    return raw && raw.length > 0 ? new Uint8Array(raw) : null;
  }

  /** Run `fn` alone on this connection: no other request between the legs of a handshake. */
  lock<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }

  close(): Promise<void> {
    this.preopened?.destroy();
    return this.client.close().catch(() => undefined);
  }
}

/** The connection a handshake's channel bindings were taken from. */
interface Bound {
  serial: number;
  cert: Uint8Array;
  bindings: Uint8Array;
}

/** handshakeOnce's answer when its token went out bound to another connection's certificate. */
const REBIND = Symbol('rebind');

function sameCertificate(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

// ---- headers and bodies ------------------------------------------------------------------------

type HeaderPairs = Array<[string, string]>;

function headerPairs(h: Dispatcher.DispatchOptions['headers']): HeaderPairs {
  const out: HeaderPairs = [];
  if (!h) return out;
  const add = (k: unknown, v: unknown): void => {
    if (v === undefined || v === null) return;
    if (Array.isArray(v)) for (const x of v) out.push([String(k), String(x)]);
    else out.push([String(k), String(v)]);
  };
  if (Array.isArray(h)) {
    if (h.length > 0 && Array.isArray(h[0])) for (const [k, v] of h as unknown as Array<[string, string]>) add(k, v);
    else for (let i = 0; i + 1 < h.length; i += 2) add(h[i], h[i + 1]);
  } else if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [k, v] of h as Iterable<[string, string]>) add(k, v);
  } else {
    for (const [k, v] of Object.entries(h as Record<string, unknown>)) add(k, v);
  }
  return out;
}

/** Records the name=value of each Set-Cookie (a Max-Age=0 or past Expires one removes it). */
function keepCookies(jar: Map<string, string>, setCookie: string | string[] | undefined): void {
  for (const line of typeof setCookie === 'string' ? [setCookie] : setCookie ?? []) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair!.indexOf('=');
    if (eq <= 0) continue;
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    // RFC 6265 4.1.1: cookie-octets only; anything else is not echoed.
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || !/^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/.test(value)) continue;
    const gone = attrs.some((a) => {
      const [k, v = ''] = a.split('=').map((x) => x.trim());
      if (k!.toLowerCase() === 'max-age') return Number(v) <= 0;
      if (k!.toLowerCase() === 'expires') return Date.parse(v) <= Date.now();
      return false;
    });
    if (gone) jar.delete(name);
    else jar.set(name, value);
  }
}

/** The caller's Cookie header with the handshake's cookies in place of same-named ones. */
function withCookies(base: HeaderPairs, jar: ReadonlyMap<string, string>): string {
  const own = base.filter(([k]) => k.toLowerCase() === 'cookie').flatMap(([, v]) => v.split(';').map((c) => c.trim()).filter(Boolean));
  const kept = own.filter((c) => !jar.has(c.slice(0, Math.max(0, c.indexOf('=')))));
  return [...kept, ...[...jar].map(([k, v]) => `${k}=${v}`)].join('; ');
}

/**
 * An HTTP/2 stream reset with HTTP_1_1_REQUIRED (RFC 9113 7), as IIS answers a sign-on over
 * HTTP/2: undici hands on node:http2's stream error.
 */
function isHttp11Required(e: unknown): boolean {
  return e instanceof Error && (e as { code?: unknown }).code === 'ERR_HTTP2_STREAM_ERROR' && e.message.includes('HTTP_1_1_REQUIRED');
}

function hasHeader(pairs: HeaderPairs, name: string): boolean {
  return pairs.some(([k]) => k.toLowerCase() === name);
}

async function replayableBody(body: Dispatcher.DispatchOptions['body'], limit: number): Promise<Body> {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const it = (body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      const c = typeof r.value === 'string' ? Buffer.from(r.value) : (r.value as Uint8Array);
      total += c.length;
      if (total > limit) {
        await it.return?.();
        (body as { destroy?: () => void }).destroy?.();
        throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `the request body is larger than maxBufferedBody (${limit} bytes) and could not be replayed after an authentication challenge`);
      }
      chunks.push(c);
    }
    return Buffer.concat(chunks);
  }
  throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'unsupported request body type (use a string, Uint8Array or a stream)');
}

// ---- the interceptor ---------------------------------------------------------------------------

/** Negotiate went on without Kerberos because the KDC does not know the target (SEC_E_TARGET_UNKNOWN). */
async function kerberosDidNotKnow(ctx: SecurityContext): Promise<boolean> {
  try {
    const info = await ctx.query<SecPkgContext_NegotiationInfo>(SECPKG_ATTR.NEGOTIATION_INFO);
    return info.PackageInfo.Name !== 'Kerberos' && !!info.Skipped?.some((k) => k.Package === 'Kerberos' && k.Status === SecurityStatus.SEC_E_TARGET_UNKNOWN);
  } catch {
    return false;
  }
}

interface FirstLeg {
  ctx: SecurityContext;
  token: Uint8Array | null;
  /** The KDC does not know the target. */
  unknown: boolean;
  /** The first leg failed with this (only SEC_E_TARGET_UNKNOWN is kept, to try another name). */
  error?: unknown;
}

function settled(r: FirstLeg): { ctx: SecurityContext; token: Uint8Array | null } {
  if (r.error !== undefined) throw r.error;
  return { ctx: r.ctx, token: r.token };
}

/** Options checked when a client (or a fetch) is made, not at its first request. */
function checkOptions(o: NegotiateClientOptions): { packages: AuthPackage[]; proxy: URL | null } {
  const packages = o.packages?.length ? o.packages : ((o.kerberosOnly ? ['Negotiate'] : ['Negotiate', 'NTLM']) as AuthPackage[]);
  if (o.kerberosOnly && packages.some((p) => p !== 'Negotiate')) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'kerberosOnly answers Negotiate only');
  for (const p of packages) {
    if (p !== 'Negotiate' && p !== 'NTLM') throw new SspiError(SecurityStatus.SEC_E_SECPKG_NOT_FOUND, `unsupported HTTP authentication package ${String(p)}`);
  }
  if (o.dnsCanonicalize !== undefined && typeof o.dnsCanonicalize !== 'boolean' && o.dnsCanonicalize !== 'fallback') throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, "dnsCanonicalize must be true, false or 'fallback'");
  const proxy = o.proxy ? new URL(o.proxy) : null;
  if (proxy && proxy.protocol !== 'http:') throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'only http: forward proxies are supported');
  return { packages, proxy };
}

class NegotiateClient {
  private readonly pins = new Map<string, Pin>();
  private readonly creds = new Map<AuthPackage, Promise<Credentials>>();
  private lsaPromise: Promise<LsaHost> | null = null;
  private ownsLsa = false;
  private readonly packages: AuthPackage[];
  private readonly proxy: URL | null;
  /** How tunnels sign on to the proxy; its `known` offers carry over from one tunnel to the next. */
  private tunnelAuth: TunnelAuth<Offer> | null = null;
  private proxyDial: buildConnector.connector | null = null;
  private closed = false;

  constructor(private readonly o: NegotiateClientOptions) {
    ({ packages: this.packages, proxy: this.proxy } = checkOptions(o));
    this.canonicalizer = new Canonicalizer({ ...(o.resolver ? { resolver: o.resolver } : {}), ...(o.hostsFile !== undefined ? { hostsFile: o.hostsFile } : {}) });
  }

  private lsa(): Promise<LsaHost> {
    if (!this.lsaPromise) {
      if (this.o.lsa) this.lsaPromise = Promise.resolve(this.o.lsa);
      else {
        this.ownsLsa = true;
        this.lsaPromise = (async () => {
          const host = await createLsa({ packages: await builtinPackages() });
          const r = await host.sspi().QuerySecurityPackageInfo('Negotiate');
          if ((r.status | 0) < 0) await host.loadPackage(negotiatePackage());
          return host;
        })();
      }
    }
    return this.lsaPromise;
  }

  /** ISC_REQ flags for a sign-on: DELEGATE only toward an origin server, when asked. */
  private flagsFor(kind: 'server' | 'proxy'): FlagInput {
    const base = this.o.flags ?? DEFAULT_FLAGS;
    if (kind !== 'server' || !this.o.delegate) return base;
    return typeof base === 'number' ? (base | ISC_REQ.DELEGATE) >>> 0 : [...base, 'DELEGATE'];
  }

  private credentials(pkg: AuthPackage): Promise<Credentials> {
    let p = this.creds.get(pkg);
    if (!p) {
      const c = this.o.credentials;
      // Negotiate restricted to Kerberos (SEC_WINNT_AUTH_IDENTITY_EX's PackageList).
      const only = this.o.kerberosOnly ? { PackageList: 'Kerberos' } : {};
      p = this.lsa().then((host) =>
        Credentials.acquire(host.sspi(), {
          package: pkg,
          use: 'outbound',
          ...(c && c !== 'default' ? { authData: { ...('ccache' in c ? { ccache: c.ccache } : { User: c.user, Domain: c.domain ?? '', Password: c.password }), ...only } } : this.o.kerberosOnly ? { authData: only } : {}),
        }),
      );
      this.creds.set(pkg, p);
      p.catch(() => this.creds.delete(pkg));
    }
    return p;
  }

  /** The offers we can answer, in our order of preference; raw NTLM may travel under "Negotiate". */
  private offers(challenges: readonly Challenge[]): Offer[] {
    const offered = new Set(challenges.map((c) => c.scheme.toLowerCase()));
    const out: Offer[] = [];
    for (const pkg of this.packages) {
      if (offered.has(pkg.toLowerCase())) out.push({ scheme: pkg, pkg });
      else if (pkg === 'NTLM' && offered.has('negotiate')) out.push({ scheme: 'Negotiate', pkg });
    }
    return out;
  }

  /** A 401/407 we can answer, or null. */
  private challengeOf(head: Head): Pending | null {
    for (const kind of ['server', 'proxy'] as const) {
      if (head.status !== KIND_STATUS[kind]) continue;
      if (kind === 'proxy' && !this.proxy) return null;
      const offers = this.offers(parseChallenges(head.headers[CHALLENGE_HEADER[kind]]));
      return offers.length ? { kind, offers } : null;
    }
    return null;
  }

  /** An https origin through the proxy: over a CONNECT tunnel, one pinned connection per origin. */
  private tunnelled(origin: URL): boolean {
    return this.proxy !== null && origin.protocol === 'https:';
  }

  private pinFor(origin: URL): Pin {
    const tunnel = this.tunnelled(origin);
    const key = tunnel ? `${this.proxy!.origin} CONNECT ${origin.origin}` : (this.proxy ?? origin).origin;
    let pin = this.pins.get(key);
    if (!pin) {
      pin = tunnel ? new Pin(new URL(origin.origin), this.o.connect, (_opts, cb) => void this.tunnel(origin).then((s) => cb(null, s), (e: Error) => cb(e, null))) : new Pin(new URL(key), this.o.connect);
      this.pins.set(key, pin);
    }
    return pin;
  }

  /** A TLS connection to `origin` inside a CONNECT tunnel through the proxy, signed on to it. */
  private tunnel(origin: URL): Promise<TLSSocket> {
    const proxy = this.proxy!;
    const { timeout: _t, socketPath: _s, maxCachedSessions: _m, ...tls } = (this.o.connect ?? {}) as buildConnector.BuildOptions & { timeout?: number; socketPath?: string; maxCachedSessions?: number };
    this.proxyDial ??= buildConnector({});
    const dialer = this.proxyDial;
    const dial = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        dialer({ hostname: proxy.hostname.replace(/^\[|\]$/g, ''), host: proxy.host, protocol: 'http:', port: proxy.port || '80' }, (err, s) => (err || !s ? reject(err ?? new Error('connect failed')) : resolve(s as Socket)));
      });
    this.tunnelAuth ??= {
      offers: (values) => this.offers(parseChallenges(values)),
      start: async (offer) => this.start(await this.credentials(offer.pkg), offer.pkg, proxy, 'proxy', undefined),
      signedOn: (ctx, offer, legs) => this.signedOn(ctx, offer, proxy, 'proxy', legs),
      known: null,
      maxLegs: this.o.maxLegs ?? 4,
      mutualRequired: this.o.proxyMutualAuth ?? false,
    };
    return openTunnel(dial, origin, tls as ConnectionOptions, this.tunnelAuth);
  }

  /** dnsCanonicalize, or what krb5.conf says (read once), or 'fallback'. */
  private canonicalMode(): boolean | 'fallback' {
    if (this.o.dnsCanonicalize !== undefined) return this.o.dnsCanonicalize;
    if (this.confMode === undefined) {
      try {
        this.confMode = loadKrb5Config().dnsCanonicalizeHostnameSetting ?? 'fallback';
      } catch {
        // An unreadable krb5.conf is the Kerberos package's to report.
        this.confMode = 'fallback';
      }
    }
    return this.confMode;
  }

  private confMode: boolean | 'fallback' | undefined;

  /**
   * The target for `url`. `host` is set when it is the default HTTP/<host> and the KDC not knowing
   * it may send us to the host's canonical name ('fallback').
   */
  private async target(url: URL, kind: Kind): Promise<{ spn: string; host: string | null }> {
    const spn = this.o.spn;
    if (typeof spn === 'function') return { spn: spn(url, kind), host: null };
    if (typeof spn === 'string' && kind === 'server') return { spn, host: null };
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const mode = this.canonicalMode();
    if (mode === true) return { spn: `HTTP/${await this.canonicalizer.canonical(host)}`, host: null };
    if (mode === false || isIP(host)) return { spn: `HTTP/${host}`, host: null };
    const learned = this.fellBack.get(host.toLowerCase());
    return learned ? { spn: `HTTP/${learned}`, host: null } : { spn: `HTTP/${host}`, host };
  }

  /**
   * A client context for `url` and its first token. Under 'fallback', when Negotiate could not use
   * Kerberos because the KDC does not know HTTP/<host>, and the host is an alias of another name,
   * the context starts over for that name (and later handshakes go there at once).
   */
  private async start(cred: Credentials, pkg: AuthPackage, url: URL, kind: Kind, bindings: Uint8Array | undefined): Promise<{ ctx: SecurityContext; token: Uint8Array | null }> {
    const { spn, host } = await this.target(url, kind);
    // Only a default target under 'fallback' asks why Negotiate went without Kerberos.
    const check = host !== null && pkg === 'Negotiate';
    const open = async (target: string): Promise<FirstLeg> => {
      const ctx = SecurityContext.client(cred, { target, flags: this.flagsFor(kind), ...(bindings ? { channelBindings: { applicationData: bindings } } : {}) });
      try {
        const token = await ctx.step();
        return { ctx, token, unknown: check && (await kerberosDidNotKnow(ctx)) };
      } catch (e) {
        await ctx.delete().catch(() => undefined);
        // "Kerberos only" Negotiate: the unknown name is the answer itself.
        if (check && SspiError.is(e, SecurityStatus.SEC_E_TARGET_UNKNOWN)) return { ctx, token: null, unknown: true, error: e };
        throw e;
      }
    };
    const first = await open(spn);
    if (!first.unknown || host === null) return settled(first);
    const canonical = await this.canonicalizer.canonical(host);
    if (canonical === host.toLowerCase()) return settled(first);
    await first.ctx.delete().catch(() => undefined);
    const again = await open(`HTTP/${canonical}`);
    if (!again.unknown) {
      const key = host.toLowerCase();
      this.fellBack.set(key, canonical);
      setTimeout(() => this.fellBack.delete(key), CANONICAL_TTL_MS).unref();
    }
    return settled(again);
  }

  /** Tells onSignOn of a sign-on that succeeded. */
  private async signedOn(ctx: SecurityContext, offer: Offer, url: URL, kind: Kind, legs: number): Promise<void> {
    const tell = this.o.onSignOn;
    if (!tell) return;
    let pkg: string = offer.pkg;
    try {
      pkg = (await ctx.query<SecPkgContext_PackageInfo>(SECPKG_ATTR.PACKAGE_INFO)).PackageInfo.Name;
    } catch {
      // the offer's package, then
    }
    try {
      tell({ kind, origin: url.origin, scheme: offer.scheme, package: pkg, target: ctx.target ?? '', mutual: ctx.complete && ctx.has(ISC_RET.MUTUAL_AUTH), flags: ctx.flagNames, legs });
    } catch {
      // a logger must not break the request
    }
  }

  /** Aliases whose canonical name the KDC knew when their own was unknown ('fallback'). */
  private readonly fellBack = new Map<string, string>();

  private readonly canonicalizer: Canonicalizer;

  intercept(dispatch: Dispatcher.Dispatch): Dispatcher.Dispatch {
    return (opts, handler) => {
      const origin = opts.origin ? new URL(String(opts.origin)) : null;
      const pairs = headerPairs(opts.headers);
      // Not ours: upgrades and CONNECT, non-HTTP origins, and callers that authenticate themselves.
      if (this.closed || !origin || (origin.protocol !== 'http:' && origin.protocol !== 'https:') || opts.upgrade || opts.method === 'CONNECT' || hasHeader(pairs, 'authorization')) {
        return dispatch(opts, handler);
      }
      const run = new Run(handler);
      handler.onRequestStart?.(run, {});
      this.drive(dispatch, opts, origin, pairs, run).catch((e: unknown) => run.fail(e instanceof Error ? e : new Error(String(e))));
      return true;
    };
  }

  private send(via: Dispatcher.Dispatch, opts: Dispatcher.DispatchOptions, run: Run, serial: () => number, headers: HeaderPairs, body: Body): Leg {
    run.check();
    const leg = new Leg(run, serial);
    via({ ...opts, headers: headers.flat(), body }, leg);
    return leg;
  }

  private async drive(dispatch: Dispatcher.Dispatch, opts: Dispatcher.DispatchOptions, origin: URL, pairs: HeaderPairs, run: Run): Promise<void> {
    const body = await replayableBody(opts.body, this.o.maxBufferedBody ?? 1024 * 1024);
    const base = pairs.filter(([k]) => !/^(content-length|transfer-encoding|proxy-authorization)$/i.test(k));
    const pin = this.pinFor(origin);
    let first: Pending | null = null;
    if (!this.proxy && pin.known.size === 0 && !pin.http11Only) {
      // An origin not yet known to authenticate: a plain request through the caller's dispatcher.
      const leg = this.send(dispatch, opts, run, () => -1, base, body);
      let head: Head | null = null;
      try {
        head = await leg.head;
      } catch (e) {
        // The caller's dispatcher spoke HTTP/2 and the origin wants this on HTTP/1.1: the pinned
        // connection speaks that, and the body is buffered, so the request goes again there.
        if (!isHttp11Required(e)) throw e;
        pin.http11Only = true;
      }
      if (head) {
        first = this.challengeOf(head);
        if (!first) {
          leg.forward();
          return;
        }
        await leg.swallow();
      }
    }
    // Through the proxy in absolute form, unless the pin is a tunnel to the origin itself.
    const proxy = this.tunnelled(origin) ? null : this.proxy;
    const d: Dispatcher.Dispatch = (o, h) => pin.client.dispatch(proxy ? { ...o, origin: proxy.origin, path: new URL(o.path, origin).href } : o, h);
    await pin.lock(() => this.onPin(pin, d, opts, origin, base, body, run, first));
  }

  private async onPin(pin: Pin, d: Dispatcher.Dispatch, opts: Dispatcher.DispatchOptions, origin: URL, base: HeaderPairs, body: Body, run: Run, first: Pending | null): Promise<void> {
    const done = new Set<Kind>();
    let pending = first;
    for (;;) {
      run.check();
      if (!pending) {
        for (const kind of ['proxy', 'server'] as const) {
          const offers = pin.known.get(kind);
          if (offers && !done.has(kind) && !(pin.authenticated.get(kind) === pin.serial && pin.alive())) {
            pending = { kind, offers };
            break;
          }
        }
      }
      if (!pending) {
        const leg = this.send(d, opts, run, () => pin.serial, base, body);
        const head = await leg.head;
        const ch = this.challengeOf(head);
        if (!ch || done.has(ch.kind)) {
          leg.forward();
          return;
        }
        await leg.swallow();
        pending = ch;
        continue;
      }
      done.add(pending.kind);
      const next = await this.handshake(pin, d, opts, origin, base, body, run, pending, done);
      if (!next) return;
      pending = next;
    }
  }

  /** One handshake; returns the other kind's challenge when the final response is one, else null (answered). */
  private async handshake(pin: Pin, d: Dispatcher.Dispatch, opts: Dispatcher.DispatchOptions, origin: URL, base: HeaderPairs, body: Body, run: Run, p: Pending, done: ReadonlySet<Kind>): Promise<Pending | null> {
    const authUrl = p.kind === 'proxy' ? this.proxy! : origin;
    const binds = (this.o.channelBindings ?? true) && authUrl.protocol === 'https:';
    // A leg may go out on a new connection (the bound one closed between legs, or before the first
    // one was sent) to a server with another certificate, behind an L4 balancer say: the token
    // then carries the wrong bindings; or to a server that lost the handshake with the old
    // connection. The handshake starts again, bound to that connection, once.
    for (let attempt = 0; ; attempt++) {
      let bound: Bound | undefined;
      if (binds) {
        await pin.ensureConnected();
        const cert = pin.peerCertificate();
        if (!cert) throw new SspiError(SecurityStatus.SEC_E_BAD_BINDINGS, 'the TLS connection has no server certificate to bind to');
        bound = { serial: pin.serial, cert, bindings: tlsServerEndPoint(cert) };
      }
      const r = await this.handshakeOnce(pin, d, opts, authUrl, base, body, run, p, done, bound, attempt === 0);
      if (r !== REBIND) return r;
    }
  }

  private async handshakeOnce(pin: Pin, d: Dispatcher.Dispatch, opts: Dispatcher.DispatchOptions, authUrl: URL, base: HeaderPairs, body: Body, run: Run, p: Pending, done: ReadonlySet<Kind>, bound: Bound | undefined, mayRebind: boolean): Promise<Pending | null | typeof REBIND> {
    const { kind } = p;
    const bindings = bound?.bindings;
    let offer: Offer | undefined;
    let cred: Credentials | undefined;
    let lastErr: unknown;
    for (const o of p.offers) {
      try {
        cred = await this.credentials(o.pkg);
        offer = o;
        break;
      } catch (e) {
        lastErr = e;
      }
    }
    if (!offer || !cred) throw lastErr;
    const first = await this.start(cred, offer.pkg, authUrl, kind, bindings);
    const ctx = first.ctx;
    const maxLegs = this.o.maxLegs ?? 4;
    const authName = AUTH_HEADER[kind];
    // Cookies a server sets on a continuing 401/407 go back on the handshake's later legs: a server
    // farm behind a load balancer finds the parked handshake by one (tslsa serve --redis does).
    const legCookies = new Map<string, string>();
    // The connection the last continuing 401/407 came on: the next leg belongs on it.
    let handshakeSerial: number | undefined;
    try {
      let token = first.token;
      for (let legs = 1; ; legs++) {
        if (!token) throw new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, 'the package produced no token to send');
        // The body goes on the leg that can be accepted; the NEGOTIATE leg only gets a challenge.
        const intermediate = isNtlmNegotiate(token);
        const headers: HeaderPairs = [...base.filter(([k]) => k.toLowerCase() !== authName && (!legCookies.size || k.toLowerCase() !== 'cookie')), [authName, `${offer.scheme} ${Buffer.from(token).toString('base64')}`]];
        if (legCookies.size) headers.push(['cookie', withCookies(base, legCookies)]);
        if (intermediate && body !== null) headers.push(['content-length', '0']);
        const leg = this.send(d, opts, run, () => pin.serial, headers, intermediate ? null : body);
        const head = await leg.head;
        if (bound && head.serial !== bound.serial && head.status === KIND_STATUS[kind] && !sameCertificate(pin.peerCertificate(), bound.cert)) {
          if (!mayRebind) {
            leg.forward();
            return null;
          }
          await leg.swallow();
          run.check();
          return REBIND;
        }
        const reply = parseChallenges(head.headers[CHALLENGE_HEADER[kind]]).find((c) => c.scheme.toLowerCase() === offer.scheme.toLowerCase() && c.token);
        const serverToken = reply?.token ?? null;
        // The connection closed between legs (a keep-alive timeout, a server stopping, a balancer)
        // and on the new one the server starts over with a bare challenge: the handshake it knew
        // went with the old connection, as NTLM's does. Start again on this one, once.
        if (handshakeSerial !== undefined && head.serial !== handshakeSerial && head.status === KIND_STATUS[kind] && !serverToken && mayRebind) {
          await leg.swallow();
          run.check();
          return REBIND;
        }
        if (head.status === KIND_STATUS[kind]) {
          if (serverToken && !ctx.complete && legs < maxLegs) {
            // A token our context refuses (a SPNEGO reject, say) leaves the 401 for the caller.
            let next: Uint8Array | null;
            try {
              next = await ctx.step(serverToken);
            } catch {
              leg.forward();
              return null;
            }
            await leg.swallow();
            run.check();
            keepCookies(legCookies, head.headers['set-cookie']);
            handshakeSerial = head.serial;
            token = next;
            continue;
          }
          leg.forward(); // refused after the final leg: the caller gets the 401/407 as it is
          return null;
        }
        // Accepted: the final token, when there is one, must complete the context (mutual auth).
        if (serverToken && !ctx.complete) {
          try {
            await ctx.step(serverToken);
          } catch (e) {
            const err = e instanceof SspiError ? e : new SspiError(SecurityStatus.SEC_E_MUTUAL_AUTH_FAILED, 'the server\'s final token was refused', { cause: e });
            leg.fail(new SspiError(err.status, `mutual authentication failed: ${err.message}`, { cause: e }));
            return null;
          }
        }
        const mutualRequired = kind === 'proxy' ? (this.o.proxyMutualAuth ?? false) : (this.o.mutualAuth ?? true);
        if (!ctx.complete && mutualRequired && head.status >= 200 && head.status < 300) {
          leg.fail(new SspiError(SecurityStatus.SEC_E_MUTUAL_AUTH_FAILED, `the server answered ${head.status} without the token that completes ${offer.scheme} authentication`));
          return null;
        }
        await this.signedOn(ctx, offer, authUrl, kind, legs);
        pin.known.set(kind, [offer, ...p.offers.filter((o) => o !== offer)]);
        if (legs > 1) pin.authenticated.set(kind, head.serial);
        else pin.authenticated.delete(kind);
        const next = this.challengeOf(head);
        if (next && next.kind !== kind && !done.has(next.kind)) {
          await leg.swallow();
          return next;
        }
        leg.forward();
        return null;
      }
    } finally {
      await ctx.delete().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.pins.values()].map((p) => p.close()));
    this.pins.clear();
    const creds = [...this.creds.values()];
    this.creds.clear();
    for (const c of creds) await c.then((x) => x.free()).catch(() => undefined);
    if (this.ownsLsa && this.lsaPromise) await (await this.lsaPromise).shutdown();
  }
}

/** An undici 7 interceptor (for `dispatcher.compose(...)`) that answers Negotiate/NTLM challenges. */
export function negotiateInterceptor(options: NegotiateClientOptions = {}): NegotiateInterceptor {
  const client = new NegotiateClient(options);
  const interceptor = ((dispatch: Dispatcher.Dispatch) => client.intercept(dispatch)) as NegotiateInterceptor;
  interceptor.close = () => client.close();
  return interceptor;
}

export type NegotiateFetchInit = RequestInit & { auth?: PasswordCredentials | 'default' };

export interface NegotiateFetch {
  (input: RequestInfo, init?: NegotiateFetchInit): Promise<Response>;
  /** The composed dispatcher (an Agent with the interceptor). */
  readonly dispatcher: Dispatcher;
  close(): Promise<void>;
}

/** undici's fetch over an Agent composed with negotiateInterceptor; `init.auth` picks another identity. */
export function createFetch(options: NegotiateClientOptions = {}): NegotiateFetch {
  checkOptions(options);
  let ownLsa: Promise<LsaHost> | null = null;
  const lsa = (): Promise<LsaHost> | LsaHost => {
    if (options.lsa) return options.lsa;
    ownLsa ??= (async () => {
      const host = await createLsa({ packages: await builtinPackages() });
      const r = await host.sspi().QuerySecurityPackageInfo('Negotiate');
      if ((r.status | 0) < 0) await host.loadPackage(negotiatePackage());
      return host;
    })();
    return ownLsa;
  };
  const agent = new Agent(options.connect ? { connect: options.connect } : {});
  const made = new Map<string, { interceptor: NegotiateInterceptor; dispatcher: Dispatcher }>();
  const forAuth = (auth: PasswordCredentials | 'default' | undefined): Dispatcher => {
    const key = auth === undefined ? '' : auth === 'default' ? 'default' : JSON.stringify([auth.domain ?? '', auth.user, auth.password]);
    let m = made.get(key);
    if (!m) {
      const interceptor = negotiateInterceptor({ ...options, lsa: lsa(), ...(auth !== undefined ? { credentials: auth } : {}) });
      m = { interceptor, dispatcher: agent.compose(interceptor) };
      made.set(key, m);
    }
    return m.dispatcher;
  };
  const fn = ((input: RequestInfo, init?: NegotiateFetchInit) => {
    const { auth, ...rest } = init ?? {};
    return undiciFetch(input, { ...rest, dispatcher: forAuth(auth) });
  }) as NegotiateFetch;
  Object.defineProperty(fn, 'dispatcher', { get: () => forAuth(undefined) });
  fn.close = async () => {
    for (const m of made.values()) await m.interceptor.close();
    made.clear();
    await agent.close();
    if (ownLsa) await (await ownLsa).shutdown();
  };
  return fn;
}

let shared: NegotiateFetch | null = null;

/** fetch with Negotiate/NTLM sign-on and the default credentials, or `init.auth`. */
export function fetch(input: RequestInfo, init?: NegotiateFetchInit): Promise<Response> {
  shared ??= createFetch({ credentials: 'default' });
  return shared(input, init);
}
