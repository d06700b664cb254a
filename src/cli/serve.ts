// `tslsa serve`: an HTTP(S) server protected by Negotiate/NTLM over the embedded account store
// (and Kerberos from a keytab). `GET /` shows who you are as a page, `GET /whoami` as JSON.
//
//   tslsa serve [--port 8080] [--host 127.0.0.1] [--store PATH] [--domain D]
//               [--keytab KT [--spn HTTP/host]] [--tls-cert F --tls-key F]
//               [--channel-bindings required|if-present|off]
//               [--redis URL [--redis-password-file FILE] [--redis-ca FILE] [--redis-cert FILE --redis-key FILE]]
//               [--behind-proxy] [--persist-connection on|off] [--drain-timeout SECONDS]
//               [--kerberos-only]
//
// The Redis URL may come from TSLSA_REDIS_URL and its password from a file, so that the password
// is not on a command line that every user of the machine can read (ps).
// One log line per request on stdout (no credentials, no query strings); diagnostics on stderr.
// With --redis several nodes share the half-built handshakes and the Kerberos replay cache
// (src/store/redis.ts); while Redis is away requests that need it get 503.
// GET /healthz answers without sign-on, for load balancers: 200, or 503 while Redis is away or
// the node is stopping. SIGINT/SIGTERM drain (src/http/drain.ts: requests in flight and NTLM
// handshakes between legs finish, up to --drain-timeout), close the LSA and exit 0; a second
// signal stops at once.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createLsa, type LsaHost, type PackageSpec } from '../lsa/host.js';
import { kerberosPackage } from '../packages/kerberos/package.js';
import { msv1_0Package } from '../packages/msv1_0/package.js';
import { negotiatePackage } from '../packages/negotiate/package.js';
import { ntlmPackage } from '../packages/ntlm/package.js';
import { SspiError } from '../sspi/error.js';
import { type AccountStore, AccountStoreError } from '../store/accounts.js';
import { defaultStorePath, SqliteAccountStore } from '../store/sqlite.js';
import { type AuthFailure, type Authenticator, type ChannelBindingPolicy, type Identity, createAuthenticator, RETRY_AFTER_S } from '../http/server.js';
import { type ServerDrain, trackConnections } from '../http/drain.js';
import { type HttpAuthScheme, MemoryHandshakeStore } from '../http/handshakeStore.js';
import type { ReplayCache } from '../packages/kerberos/replay.js';
import type { RedisStore } from '../store/redis.js';
import { parseArgs, UsageError } from './args.js';

export interface ServeIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** Resolves when the server should stop (default: SIGINT or SIGTERM). */
  stopSignal?: Promise<unknown>;
  /** Resolves when a drain should end at once (default: a second SIGINT or SIGTERM). */
  forceStop?: Promise<unknown>;
  /** Told the bound address once listening (tests). */
  onListening?: (address: AddressInfo) => void;
}

export const SERVE_HELP = `Usage:
  tslsa serve [--port 8080] [--host 127.0.0.1] [--store PATH] [--domain D]
              [--keytab KEYTAB [--spn HTTP/host]] [--tls-cert FILE --tls-key FILE]
              [--channel-bindings required|if-present|off]
              [--redis URL [--redis-password-file FILE] [--redis-ca FILE]
                           [--redis-cert FILE --redis-key FILE]]
              [--behind-proxy] [--persist-connection on|off] [--drain-timeout SECONDS]
              [--kerberos-only]

An HTTP(S) server protected by Negotiate and NTLM (RFC 4559) over the account store that
\`tslsa user\` manages, and Kerberos too when given a keytab.
  GET /         a page that shows who you are (user, domain, package, flags, session, groups)
  GET /whoami   the same as JSON
  GET /healthz  no sign-on: 200 {"status":"ok"}, or 503 while Redis is unreachable or
                the server is stopping (for a load balancer's health check)

Options:
  --port N              TCP port (default 8080; 0 picks a free one)
  --host H              address to listen on (default 127.0.0.1; 0.0.0.0 or :: for every interface)
  --store PATH          the account store (default $TSLSA_STORE, else $XDG_DATA_HOME/tslsa/accounts.db)
  --domain D            the NetBIOS domain announced in NTLM challenges (default WORKGROUP)
  --keytab KEYTAB       accept Kerberos (through Negotiate) with this keytab (KRB5_CONFIG is read)
  --spn HTTP/host       the service principal to accept as (default: any key in the keytab)
  --kerberos-only       with --keytab: offer Negotiate only and refuse NTLM inside it (as
                        Apache's mod_auth_gssapi and IIS "Negotiate:Kerberos"); no account store
  --tls-cert, --tls-key serve HTTPS with this certificate and key (PEM)
  --channel-bindings P  Extended Protection over HTTPS: required, if-present (default with TLS), off
  --redis URL           cluster mode: handshakes and the Kerberos replay cache shared
                        by every node in Redis (redis://host:6379); 503 while it is down.
                        Default $TSLSA_REDIS_URL (unset: a single node). With a password:
                        redis://:PASSWORD@host or redis://USER:PASSWORD@host (never logged;
                        but ps shows a command line: put it in $TSLSA_REDIS_URL or use
                        --redis-password-file). TLS: rediss://host:6379. A Redis on this
                        host's socket: unix:///run/redis/redis.sock[?db=N&user=U]
  --redis-password-file FILE
                        the Redis password is the first line of FILE (for requirepass, or
                        the user in the URL: redis://USER@host); the URL must hold none
  --redis-ca FILE       rediss: trust this CA (PEM) for the Redis server's certificate
  --redis-cert, --redis-key FILE
                        rediss: client certificate and key (PEM), for tls-auth-clients yes
  --behind-proxy        a reverse proxy in front reuses its connections to this server for
                        several clients (nginx keepalive, cloud balancers): a handshake's next
                        leg is found by its cookie only, on whatever connection it comes, and
                        no identity is kept on a connection (--redis does both but finds a
                        cookie-less leg by its connection too; with --redis, this turns that off)
  --persist-connection on|off
                        keep the identity for later requests on a signed-on connection, as
                        IIS does for NTLM (default on; off with --redis), if a 401 challenge
                        went out on it first. Only where every connection is one client's (or
                        a balancer keeps a challenged one to its client, as HAProxy does): a
                        proxy that reuses its connections for several clients needs off
  --drain-timeout S     on SIGINT/SIGTERM, stop accepting and give requests in flight and
                        NTLM handshakes between legs up to S seconds to finish (default 10;
                        0: close at once); a second signal stops at once

Try it:  echo 'Passw0rd' | tslsa user add alice --password-stdin && tslsa serve
         curl --ntlm -u alice:Passw0rd http://localhost:8080/whoami
`;

const VALUE_OPTIONS = new Set(['port', 'host', 'store', 'domain', 'keytab', 'spn', 'tls-cert', 'tls-key', 'channel-bindings', 'redis', 'redis-password-file', 'redis-ca', 'redis-cert', 'redis-key', 'drain-timeout', 'persist-connection']);
const FLAG_OPTIONS = new Set(['behind-proxy', 'kerberos-only']);
const KNOWN = new Set([...VALUE_OPTIONS, ...FLAG_OPTIONS, 'help', 'h']);

interface Options {
  port: number;
  host: string;
  storePath: string;
  domain: string | undefined;
  keytab: string | undefined;
  spn: string | undefined;
  tls: { cert: string; key: string } | null;
  channelBindings: ChannelBindingPolicy;
  redis: string | undefined;
  /** Where the URL came from, to name it in messages: '--redis' or 'TSLSA_REDIS_URL'. */
  redisFrom: string;
  redisPasswordFile: string | undefined;
  /** PEM files for a rediss:// URL. */
  redisTls: { ca?: string; cert?: string; key?: string };
  /** How long a stop waits for requests in flight and handshakes between legs. */
  drainMs: number;
  /** --persist-connection; undefined: the authenticator's default (on, off in cluster mode). */
  persistConnection: boolean | undefined;
  /** --behind-proxy: handshakes by cookie in this process (cluster mode's behaviour without Redis). */
  behindProxy: boolean;
  /** --kerberos-only: Negotiate with Kerberos and nothing else; no NTLM, no account store. */
  kerberosOnly: boolean;
}

function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const { positionals, options } = parseArgs([...argv], VALUE_OPTIONS);
  for (const k of options.keys()) if (!KNOWN.has(k)) throw new UsageError(`unknown option --${k} (see tslsa serve --help)`);
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const str = (k: string): string | undefined => {
    const v = options.get(k);
    if (v === true) throw new UsageError(`--${k} needs a value`);
    return v === undefined ? undefined : String(v);
  };
  const drainText = str('drain-timeout') ?? '10';
  if (!/^\d+(\.\d+)?$/.test(drainText) || Number(drainText) > 3600) throw new UsageError(`--drain-timeout ${drainText} is not a number of seconds from 0 to 3600`);
  for (const k of FLAG_OPTIONS) if (options.has(k) && options.get(k) !== true) throw new UsageError(`--${k} takes no value`);
  const persistText = str('persist-connection');
  if (persistText !== undefined && persistText !== 'on' && persistText !== 'off') throw new UsageError('--persist-connection must be on or off');
  const portText = str('port') ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError(`--port ${portText} is not a TCP port`);
  const cert = str('tls-cert');
  const key = str('tls-key');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const spn = str('spn');
  const keytab = str('keytab');
  if (spn !== undefined && keytab === undefined) throw new UsageError('--spn needs --keytab');
  const kerberosOnly = options.has('kerberos-only');
  if (kerberosOnly && keytab === undefined) throw new UsageError('--kerberos-only needs --keytab');
  // NTLM's settings would be silently ignored: say so instead.
  if (kerberosOnly) for (const k of ['store', 'domain']) if (options.has(k)) throw new UsageError(`--${k} is for NTLM, which --kerberos-only turns off`);
  const cbText = str('channel-bindings');
  if (cbText !== undefined && !['required', 'if-present', 'off'].includes(cbText)) throw new UsageError(`--channel-bindings must be required, if-present or off`);
  if (cbText !== undefined && cbText !== 'off' && cert === undefined) throw new UsageError('--channel-bindings needs HTTPS (--tls-cert, --tls-key)');
  // An empty TSLSA_REDIS_URL is unset (a single node), as shells often leave it.
  const redisFrom = options.has('redis') ? '--redis' : 'TSLSA_REDIS_URL';
  const redis = str('redis') ?? (env.TSLSA_REDIS_URL || undefined);
  const redisPasswordFile = str('redis-password-file');
  if (redisPasswordFile !== undefined && redis === undefined) throw new UsageError('--redis-password-file needs --redis (or TSLSA_REDIS_URL)');
  const redisTls = { ca: str('redis-ca'), cert: str('redis-cert'), key: str('redis-key') };
  if ((redisTls.cert === undefined) !== (redisTls.key === undefined)) throw new UsageError('--redis-cert and --redis-key go together');
  if (redisTls.ca !== undefined || redisTls.cert !== undefined) {
    if (redis === undefined) throw new UsageError('--redis-ca, --redis-cert and --redis-key need --redis (or TSLSA_REDIS_URL)');
    if (!/^rediss:/i.test(redis)) throw new UsageError('--redis-ca, --redis-cert and --redis-key need a rediss:// URL (TLS)');
  }
  return {
    port,
    host: str('host') ?? '127.0.0.1',
    storePath: str('store') ?? defaultStorePath(env),
    domain: str('domain'),
    keytab,
    spn,
    tls: cert !== undefined && key !== undefined ? { cert, key } : null,
    channelBindings: (cbText as ChannelBindingPolicy | undefined) ?? (cert !== undefined ? 'if-present' : 'off'),
    redis,
    redisFrom,
    redisPasswordFile,
    redisTls: Object.fromEntries(Object.entries(redisTls).filter(([, v]) => v !== undefined)),
    drainMs: Math.round(Number(drainText) * 1000),
    persistConnection: persistText === undefined ? undefined : persistText === 'on',
    behindProxy: options.has('behind-proxy'),
    kerberosOnly,
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The JSON of /whoami: the identity, with the session expiry as ISO text. */
export function whoami(id: Identity): Record<string, unknown> {
  return {
    user: id.user,
    domain: id.domain,
    name: id.name,
    package: id.package,
    scheme: id.scheme,
    flags: id.flags,
    sessionExpires: id.expiry ? id.expiry.toISOString() : null,
    groups: id.groups,
    channelBindings: id.channelBindings,
  };
}

function page(id: Identity): string {
  const row = (k: string, v: string) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tslsa: ${escapeHtml(id.name)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}th{text-align:left;padding-right:1rem;vertical-align:top}td{font-family:monospace}</style>
</head><body>
<h1>Hello, ${escapeHtml(id.user)}</h1>
<table>
${row('user', id.user)}
${row('domain', id.domain || '(none)')}
${row('package', `${id.package} (HTTP ${id.scheme})`)}
${row('negotiated flags', id.flags.join(' ') || '(none)')}
${row('session expires', id.expiry ? id.expiry.toISOString() : 'never')}
${row('groups', id.groups.join('\n') || '(none)')}
${row('channel bindings', id.channelBindings ? 'checked' : 'not checked')}
</table>
<p>Signed on with tslsa. The same as JSON: <a href="/whoami">/whoami</a></p>
</body></html>
`;
}

/** The LSA's packages; `store` null: Kerberos only (Negotiate refuses NTLM, which is not loaded). */
function packagesFor(store: AccountStore | null, o: Options, replayCache: ReplayCache | undefined): PackageSpec[] {
  const specs: PackageSpec[] = [{ module: negotiatePackage(store ? {} : { allowNtlm: false }) }];
  if (o.keytab) specs.push({ module: kerberosPackage({ keytab: o.keytab, requireChannelBindings: o.tls !== null && o.channelBindings === 'required', ...(replayCache ? { replayCache } : {}) }) });
  if (store) {
    specs.push({ module: ntlmPackage(o.domain ? { domainName: o.domain } : {}) });
    specs.push({ module: msv1_0Package({ store, closeStoreOnShutdown: true }) });
  }
  return specs;
}

/**
 * The Redis URL with the password of --redis-password-file in it, percent-encoded as the URL
 * wants (createRedisStore decodes it, and masks both forms in what it reports).
 */
function withRedisPassword(url: string, password: string, from: string): string {
  // Not a URL: left to createRedisStore, which says so.
  if (!URL.canParse(url)) return url;
  const u = new URL(url);
  const unix = u.protocol === 'unix:';
  if (unix ? u.searchParams.has('password') : u.password) throw new UsageError(`${from} already holds a password: give it there or in --redis-password-file, not both`);
  if (unix) u.searchParams.set('password', password);
  else u.password = encodeURIComponent(password);
  return u.href;
}

/**
 * SIGINT/SIGTERM as promises: the first signal resolves `promise` (drain), the next one `force`
 * (stop at once). `cancel` removes the handlers once the server has stopped.
 */
function signalStop(): { promise: Promise<void>; force: Promise<void>; cancel: () => void } {
  let first!: () => void;
  let second!: () => void;
  const promise = new Promise<void>((r) => (first = r));
  const force = new Promise<void>((r) => (second = r));
  let seen = 0;
  const on = () => (seen++ === 0 ? first() : second());
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  const cancel = () => {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  };
  return { promise, force, cancel };
}

/** `tslsa serve ...`: runs until stopped; the exit code. */
export async function serveCommand(argv: readonly string[], io: ServeIO): Promise<number> {
  const env = io.env ?? process.env;
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(SERVE_HELP);
    return 0;
  }
  let o: Options;
  let cluster: RedisStore | null = null;
  let redisShown = '';
  let redisTold = false;
  try {
    o = parseOptions(argv, env);
    if (o.redis !== undefined) {
      const u = URL.canParse(o.redis) ? new URL(o.redis) : null;
      // Logs name the server, never the password in the URL.
      redisShown = !u ? '' : u.protocol === 'unix:' ? `unix://${u.pathname}` : `${u.protocol}//${u.host}`;
      let url = o.redis;
      if (o.redisPasswordFile !== undefined) {
        let password: string | undefined;
        try {
          password = readFileSync(o.redisPasswordFile, 'utf8').split(/\r?\n/, 1)[0];
        } catch (e) {
          io.stderr.write(`tslsa: --redis-password-file: cannot read ${o.redisPasswordFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})\n`);
          return 1;
        }
        if (!password) {
          io.stderr.write(`tslsa: --redis-password-file: the first line of ${o.redisPasswordFile} is empty\n`);
          return 1;
        }
        url = withRedisPassword(url, password, o.redisFrom);
      }
      const tlsFiles: Record<string, Buffer> = {};
      for (const [k, path] of Object.entries(o.redisTls)) {
        try {
          tlsFiles[k] = readFileSync(path);
        } catch (e) {
          io.stderr.write(`tslsa: --redis-${k}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})\n`);
          return 1;
        }
      }
      // Loaded only in cluster mode: a single node never pays for the Redis client.
      const { createRedisStore } = await import('../store/redis.js');
      try {
        cluster = createRedisStore({
          url,
          ...(Object.keys(tlsFiles).length ? { tls: tlsFiles } : {}),
          // `detail` comes with the URL's password masked.
          onStatus: (up, detail) => {
            redisTold = true;
            io.stderr.write(up ? `tslsa: Redis ${redisShown} is up\n` : `tslsa: Redis ${redisShown} is unreachable (${detail}); answering 503 until it is back\n`);
          },
          onWarning: (detail) => io.stderr.write(`tslsa: warning: ${detail}\n`),
        });
      } catch (e) {
        throw new UsageError(`${o.redisFrom}: ${e instanceof SspiError ? e.message.replace(/^.*?: /, '') : String(e)}`);
      }
    }
  } catch (e) {
    io.stderr.write(`tslsa: ${(e as Error).message}\n`);
    return 2;
  }

  // Signal handlers go in before anything is announced, so a stop right after "serving" is clean.
  const signals = io.stopSignal ? null : signalStop();
  const stopSignal = io.stopSignal ?? signals!.promise;
  const forceStop = io.forceStop ?? signals?.force;
  let host: LsaHost | null = null;
  let auth: Authenticator | null = null;
  let server: http.Server | null = null;
  let flushLogAtStop: (() => void) | null = null;
  let proxyStore: MemoryHandshakeStore | null = null;
  try {
    let tls: { cert: Buffer; key: Buffer } | null = null;
    let store: AccountStore | null = null;
    try {
      if (o.tls) tls = { cert: readFileSync(o.tls.cert), key: readFileSync(o.tls.key) };
      if (!o.kerberosOnly) store = await SqliteAccountStore.open(o.storePath, { create: true, createDirectory: true });
      if (store && (await store.list()).length === 0) {
        io.stderr.write(`tslsa: the account store ${o.storePath} has no accounts yet; add one with\n  echo 'Passw0rd' | tslsa user add alice --password-stdin${o.storePath === defaultStorePath(env) ? '' : ` --store ${o.storePath}`}\n(tslsa user add NAME --password-stdin; accounts added while the server runs are seen at once)\n`);
      }
      if (cluster && !(await cluster.whenReady(1500)) && !redisTold) io.stderr.write(`tslsa: Redis ${redisShown} is unreachable; serving, with 503 for sign-ons until it is up\n`);
      const specs = packagesFor(store, o, cluster?.replayCache);
      store = null; // the account authority owns it from here (closed at shutdown)
      host = await createLsa({ packages: specs, ...(o.domain ? { domainName: o.domain } : {}) });
    } catch (e) {
      if (store) await store.close().catch(() => undefined);
      const msg = e instanceof AccountStoreError ? e.detail : (e as Error)?.message ?? String(e);
      const hint = e instanceof AccountStoreError && e.reason === 'NO_SQLITE' ? '\n(NTLM needs the account store; --keytab KT --kerberos-only serves Kerberos without it)' : '';
      io.stderr.write(`tslsa: ${msg}${hint}\n`);
      return 1;
    }

    const failures = new WeakMap<object, AuthFailure>();
    let connections: ServerDrain | null = null;
    // For a balancer's health check: says only whether this node can sign anyone on now.
    const health = (): [number, string, string, Record<string, string>] => {
      const json = 'application/json';
      if (connections?.draining) return [503, json, '{"status":"stopping"}\n', {}];
      if (cluster && !cluster.ready()) return [503, json, '{"status":"unavailable","redis":"unreachable"}\n', { 'Retry-After': String(RETRY_AFTER_S) }];
      return [200, json, cluster ? '{"status":"ok","redis":"up"}\n' : '{"status":"ok"}\n', {}];
    };
    const schemes: HttpAuthScheme[] = o.kerberosOnly ? ['Negotiate'] : ['Negotiate', 'NTLM'];
    // Behind a pooling proxy, one node: parked by cookie as in cluster mode, in this process.
    if (o.behindProxy && !cluster) proxyStore = new MemoryHandshakeStore({ shared: true });
    auth = createAuthenticator({
      host,
      packages: schemes,
      channelBindings: o.tls ? o.channelBindings : 'off',
      ...(o.spn ? { principal: o.spn } : {}),
      ...(cluster ? { store: cluster.handshakes } : proxyStore ? { store: proxyStore } : {}),
      ...(o.persistConnection !== undefined ? { persistConnection: o.persistConnection } : {}),
      // Behind a proxy that shares connections, a leg finds its handshake by its cookie only.
      ...(o.behindProxy ? { connectionFallback: false } : {}),
      onFailure: (req, f) => failures.set(req, f),
    });

    const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<{ id: Identity | null }> => {
      const path = (req.url ?? '/').split('?')[0];
      const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
        // Stopping: the client learns that this connection ends with this response.
        if (connections?.draining) headers = { ...headers, Connection: 'close' };
        res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (path === '/healthz') {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.setHeader('Allow', 'GET, HEAD');
          send(405, 'text/plain; charset=utf-8', 'Method not allowed\n');
        } else send(...health());
        return { id: null };
      }
      const id = await auth!.authenticate(req, res);
      if (!id) return { id: null };
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        send(405, 'text/plain; charset=utf-8', 'Method not allowed\n');
      } else if (path === '/whoami') send(200, 'application/json', JSON.stringify(whoami(id), null, 2) + '\n');
      else if (path === '/') send(200, 'text/html; charset=utf-8', page(id));
      else send(404, 'text/plain; charset=utf-8', 'Not found\n');
      return { id };
    };

    // The access log: lines of one event-loop turn go out in one write (stdout to a file is a
    // synchronous write per call); flushed before the server reports it has stopped.
    let logLines = '';
    let logScheduled = false;
    const flushLog = () => {
      logScheduled = false;
      if (!logLines) return;
      const text = logLines;
      logLines = '';
      io.stdout.write(text);
    };
    flushLogAtStop = flushLog;
    const log = (line: string) => {
      logLines += line;
      if (logLines.length >= 64 * 1024) flushLog();
      else if (!logScheduled) {
        logScheduled = true;
        setImmediate(flushLog);
      }
    };

    // A proxy's forwarding header, without --behind-proxy: worth one warning. Apache's ProxyPass
    // and cloud balancers add X-Forwarded-For and share their connections to the node between
    // clients; HAProxy (which keeps a challenged connection to its client) adds it when asked.
    let proxyTold = o.behindProxy;
    const forwardedBy = (req: http.IncomingMessage): string | null =>
      req.headers['x-forwarded-for'] !== undefined ? 'X-Forwarded-For' : req.headers.forwarded !== undefined ? 'Forwarded' : req.headers.via !== undefined ? 'Via' : null;

    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const t0 = process.hrtime.bigint();
      if (!proxyTold) {
        const header = forwardedBy(req);
        if (header) {
          proxyTold = true;
          // In cluster mode handshakes already go by cookie and no identity is kept by default.
          const risk = cluster ? 'a leg without its handshake cookie may take another client\'s handshake' : 'NTLM sign-ons fail and a signed-on identity can reach another client';
          io.stderr.write(`tslsa: warning: requests come through a proxy (${header}); if it sends several clients' requests over one connection to this node (nginx keepalive, Apache ProxyPass, most cloud balancers), restart with --behind-proxy, or ${risk} (HAProxy needs no flag)\n`);
        }
      }
      let id: Identity | null = null;
      res.once('finish', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        const f = failures.get(req);
        const who = id ? `${id.name} ${id.package}` : '-';
        const why = f ? ` ${f.code ?? ''}${f.code ? ' ' : ''}(${f.reason})` : '';
        const path = (req.url ?? '/').split('?')[0]!.slice(0, 200);
        log(`${new Date().toISOString()} ${req.socket.remoteAddress ?? '-'} ${req.method} ${JSON.stringify(path)} ${res.statusCode} ${who} ${ms.toFixed(1)}ms${why}\n`);
      });
      handle(req, res).then(
        (r) => {
          id = r.id;
        },
        () => {
          if (!res.headersSent) res.writeHead(500).end();
        },
      );
    };

    // Kerberos tokens with a PAC outgrow Node's default 16 KiB of headers: room for the largest
    // token the handler takes (maxTokenBytes, 64 KiB) in base64, with the other headers.
    const serverOptions = { maxHeaderSize: 96 * 1024, keepAliveTimeout: 30_000 };
    server = tls ? https.createServer({ ...serverOptions, cert: tls.cert, key: tls.key }, onRequest) : http.createServer(serverOptions, onRequest);
    const s = server;
    const tracked = (connections = trackConnections(s));
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(o.port, o.host, () => {
          s.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      io.stderr.write(`tslsa: cannot listen on ${o.host}:${o.port}: ${(e as Error).message}\n`);
      return 1;
    }
    const addr = s.address() as AddressInfo;
    const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    // --kerberos-only loads neither NTLM nor the store: the banner must not name them.
    const what = o.kerberosOnly
      ? `Negotiate with Kerberos (${o.spn ?? o.keytab}) only, NTLM refused`
      : `${['Negotiate', o.keytab ? `Kerberos (${o.spn ?? o.keytab})` : null, 'NTLM'].filter(Boolean).join(', ')}; store ${o.storePath}`;
    io.stderr.write(`tslsa: serving ${tls ? 'https' : 'http'}://${shown}:${addr.port}/ (${what}${tls ? `; channel bindings ${o.channelBindings}` : ''}${cluster ? `; cluster mode, Redis ${redisShown}` : proxyStore ? '; behind a proxy: handshakes by cookie' : ''})\n`);
    io.onListening?.(addr);

    await stopSignal;
    const busy = tracked.busy();
    io.stderr.write(busy && o.drainMs > 0 ? `tslsa: stopping: ${busy} connection${busy === 1 ? '' : 's'} to finish (up to ${o.drainMs / 1000} s; a second signal stops at once)\n` : 'tslsa: stopping\n');
    const cut = await tracked.drain(o.drainMs, forceStop);
    server = null; // closed: the finally block has nothing left to close
    if (cut) io.stderr.write(`tslsa: ${cut} connection${cut === 1 ? '' : 's'} still open at the stop: closed\n`);
    return 0;
  } catch (e) {
    io.stderr.write(`tslsa: ${e instanceof SspiError ? e.message : (e as Error)?.message ?? String(e)}\n`);
    return 1;
  } finally {
    if (server) {
      const s = server;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    flushLogAtStop?.();
    if (auth) await auth.close().catch(() => undefined);
    if (proxyStore) await proxyStore.close().catch(() => undefined);
    if (host) await host.shutdown().catch(() => undefined);
    if (cluster) await cluster.close().catch(() => undefined);
    signals?.cancel();
  }
}
