// The cluster store: HTTP handshakes parked between legs and the Kerberos authenticator replay
// cache, shared by every node through one Redis (node-redis, one client).
//
//   handshakes   SET <prefix>hs:<id> <record> PX <ttl>     park
//                GETDEL <prefix>hs:<id>                     take: atomic, so a parked leg is
//                                                           continued at most once even when two
//                                                           nodes race for it
//                DEL <prefix>hs:<id>                        discard
//   replay cache SET <prefix>rc:<key> 1 NX PXAT <expiry>    OK: first sight; nil: a replay
//
// Redis being away must never crash or hang a node: the client's 'error' events are listened to,
// it reconnects with capped backoff on its own, commands fail at once while it is offline
// (disableOfflineQueue) and after `commandTimeoutMs` when Redis stops answering. Every failure
// is an SspiError; ready() says whether it is worth trying (the HTTP server answers 503 if not).
//
// The deadline is ours, not node-redis' `commandOptions.timeout`: that one only covers a command
// waiting to be written (a stalled Redis that holds the socket open would hang every request),
// and it costs an AbortSignal.timeout per command whose timer fires (a DOMException, an event)
// seconds after the reply. Every command has the same timeout, so the commands in flight are in
// deadline order: one FIFO and one timer serve them all.

import nodeTls, { type ConnectionOptions } from 'node:tls';
import { createClient, ErrorReply, RESP_TYPES } from 'redis';
import type { HandshakeStore, HttpAuthScheme, ParkedHandshake } from '../http/handshakeStore.js';
import type { ReplayCache } from '../packages/kerberos/replay.js';
import { PackedReader, PackedWriter } from '../lsa/packed.js';
import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';

export interface RedisStoreOptions {
  /**
   * redis://[[user]:password@]host[:port][/db], rediss://... (TLS), or unix:///path/to/redis.sock
   * [?db=N][&user=U][&password=P] for a Redis on this host (its unixsocket; query values
   * percent-encoded). The password never reaches a log.
   */
  url: string;
  /**
   * TLS settings for a rediss:// URL (refused with redis://): `ca` to trust a private CA (PEM),
   * `cert` and `key` for a server with `tls-auth-clients yes`, `servername` for SNI and the name check.
   */
  tls?: Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'servername'>;
  /** Prepended to every key; default 'tslsa:'. Nodes of one cluster must agree on it. */
  keyPrefix?: string;
  /** Deadline of one connection attempt; default 2000 ms. */
  connectTimeoutMs?: number;
  /** A command not answered within this long fails; default 2000 ms. */
  commandTimeoutMs?: number;
  /**
   * Told when Redis becomes reachable (true) or is lost (false), and of the first failure to connect
   * (a refused password too); once per change, for logs. `detail` never holds the URL's password.
   */
  onStatus?: (up: boolean, detail: string) => void;
  /**
   * Told, once per connection, of a setting that weakens the cluster: a `maxmemory-policy` that
   * may evict keys (an evicted replay-cache entry is an AP-REQ another node would accept). Servers
   * that refuse CONFIG (managed Redis, ACLs) are not checked.
   */
  onWarning?: (detail: string) => void;
}

export interface RedisStore {
  /** The shared handshake store (exported contexts, found by the handshake cookie). */
  readonly handshakes: HandshakeStore;
  /** The Kerberos replay cache every node consults (kerberosPackage({ replayCache })). */
  readonly replayCache: ReplayCache;
  /** Redis is connected and its last command did not just fail. */
  ready(): boolean;
  /** Resolves once connected the first time, or false after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<boolean>;
  /** Disconnects; later operations fail. Idempotent. */
  close(): Promise<void>;
}

// ---- the parked-handshake record ---------------------------------------------------------------
//
// In the shared packed layout (src/lsa/packed.ts, big-endian):
//   0   u8    version (1)
//   1   u8    scheme: 1 Negotiate, 2 NTLM
//   2   u8    flags: bit 0 channelBound
//   3   f64   startedAt, ms since the epoch (a non-negative safe integer)
//   11  u32   n, the length of the context export
//   15  n     the context export (AcceptorContext.export())

export interface ParkedRecord {
  scheme: HttpAuthScheme;
  startedAt: number;
  channelBound: boolean;
  context: Uint8Array;
}

const RECORD_VERSION = 1;
const SCHEME_CODES: Readonly<Record<HttpAuthScheme, number>> = { Negotiate: 1, NTLM: 2 };
const F_CHANNEL_BOUND = 0x01;
/** Far above any context export; a larger record is not ours. */
const MAX_CONTEXT = 1 << 20;

const isTime = (t: number): boolean => Number.isSafeInteger(t) && t >= 0;

export function encodeParkedRecord(r: ParkedRecord): Uint8Array {
  const code = SCHEME_CODES[r.scheme];
  if (code === undefined) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'unknown HTTP auth scheme');
  if (!isTime(r.startedAt)) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'startedAt is not a time');
  if (r.context.length > MAX_CONTEXT) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'context export too large');
  return new PackedWriter().u8(RECORD_VERSION).u8(code).u8(r.channelBound ? F_CHANNEL_BOUND : 0).f64(r.startedAt).bytes(r.context).finish();
}

/** Parses a record; SEC_E_INVALID_TOKEN for anything that encodeParkedRecord did not write. */
export function decodeParkedRecord(bytes: Uint8Array): ParkedRecord {
  const bad = (why: string): never => {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `parked handshake record: ${why}`);
  };
  const rd = new PackedReader(bytes, 'parked handshake record');
  const version = rd.u8();
  if (version !== RECORD_VERSION) bad(`version ${version}`);
  const code = rd.u8();
  const scheme = (Object.keys(SCHEME_CODES) as HttpAuthScheme[]).find((s) => SCHEME_CODES[s] === code);
  if (!scheme) bad('unknown scheme');
  const flags = rd.u8();
  if ((flags & ~F_CHANNEL_BOUND) !== 0) bad('unknown flags');
  const startedAt = rd.f64();
  // -0 and NaN payloads would not encode back to the same bytes.
  if (!isTime(startedAt) || Object.is(startedAt, -0)) bad('bad time');
  const context = rd.bytes(MAX_CONTEXT);
  rd.end();
  return { scheme: scheme!, startedAt, channelBound: flags === F_CHANNEL_BOUND, context };
}

// ---- command deadlines ---------------------------------------------------------------------------

interface Pending {
  at: number;
  /** Fails the command (why: 'TimeoutError', or 'closed'); null once settled. */
  onTimeout: ((why: string) => void) | null;
}

/**
 * Deadlines of the commands in flight, all `timeoutMs` long: a FIFO in deadline order and one
 * unref'd timer for its head. A command settled in time is dropped from the head at once (Redis
 * answers in order, so it is nearly always the head); the timer fires at most once per timeout
 * while commands flow, and then fails the ones whose deadline has passed.
 */
class Deadlines {
  private readonly queue: Pending[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly timeoutMs: number) {}

  add(onTimeout: (why: string) => void): Pending {
    const p: Pending = { at: Date.now() + this.timeoutMs, onTimeout };
    this.queue.push(p);
    if (!this.timer) this.arm(this.timeoutMs);
    return p;
  }

  /** true: settled in time (the caller answers); false: it had already timed out. */
  settle(p: Pending): boolean {
    if (!p.onTimeout) return false;
    p.onTimeout = null;
    this.drop();
    return true;
  }

  /** Fails every command still waiting (the store is closing). */
  expireAll(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const all = this.queue.splice(0);
    this.head = 0;
    for (const p of all) {
      const f = p.onTimeout;
      p.onTimeout = null;
      f?.('closed');
    }
  }

  private drop(): void {
    const q = this.queue;
    while (this.head < q.length && q[this.head]!.onTimeout === null) this.head++;
    if (this.head === q.length) {
      q.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > q.length) {
      q.splice(0, this.head);
      this.head = 0;
    }
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.fire(), Math.max(1, ms));
    // Waiting for Redis must not keep a process alive.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    const now = Date.now();
    const q = this.queue;
    while (this.head < q.length && q[this.head]!.at <= now) {
      const p = q[this.head++]!;
      const f = p.onTimeout;
      p.onTimeout = null;
      f?.('TimeoutError');
    }
    this.drop();
    if (this.head < q.length) this.arm(q[this.head]!.at - now);
  }
}

// ---- the store -----------------------------------------------------------------------------------

/** After a failed command, ready() stays false this long (a stalled Redis still looks connected). */
const FAILURE_HOLD_MS = 1000;
const BUFFER_REPLIES = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/** A unix:// URL's query: what node-redis takes as options (it reads only redis:// URLs). */
interface UnixSocket {
  path: string;
  database?: number;
  username?: string;
  password?: string;
}

const UNIX_PARAMS = new Set(['db', 'user', 'password']);

function checkUnixUrl(u: URL): UnixSocket {
  const bad = (why: string): never => {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `the Redis URL ${why}`);
  };
  // unix://host/path would read as a path on another machine: only unix:///path is local.
  if (u.host || u.username || u.password) bad('unix:///path takes no host or user before the path (give user= and password= after ?)');
  if (u.hash) bad('has a #fragment');
  let path = '';
  try {
    path = decodeURIComponent(u.pathname);
  } catch {
    bad('path is not percent-encoded right');
  }
  if (path === '' || path === '/' || path.endsWith('/')) bad('names no socket: unix:///path/to/redis.sock');
  const q = u.searchParams;
  const out: UnixSocket = { path };
  for (const k of new Set(q.keys())) {
    if (!UNIX_PARAMS.has(k)) bad(`has an unknown parameter (db, user and password are known)`);
    if (q.getAll(k).length > 1) bad(`gives ${k} twice`);
  }
  const db = q.get('db');
  if (db !== null) {
    if (!/^\d{1,9}$/.test(db)) bad('db must be a database number');
    out.database = Number(db);
  }
  const user = q.get('user');
  const password = q.get('password');
  if (user !== null) {
    if (!user) bad('has an empty user');
    out.username = user;
  }
  if (password !== null) {
    if (!password) bad('has an empty password');
    out.password = password;
  }
  // node-redis would send AUTH user <nothing>
  if (out.username !== undefined && out.password === undefined) bad('has a user but no password');
  return out;
}

/** The URL, checked; and for unix:// what it asks of node-redis. */
function checkUrl(url: string): { url: URL; unix: UnixSocket | null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'the Redis URL is not a URL');
  }
  if (u.protocol === 'unix:') return { url: u, unix: checkUnixUrl(u) };
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'the Redis URL must be redis://, rediss:// or unix://');
  if (!u.hostname) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'the Redis URL has no host');
  if (u.pathname && u.pathname !== '/' && !/^\/\d+$/.test(u.pathname)) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'the Redis URL path must be a database number');
  try {
    decodeURIComponent(u.username);
    decodeURIComponent(u.password);
  } catch {
    // node-redis would throw a URIError; the message must not echo the password
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, "the Redis URL's user or password is not percent-encoded right (write % as %25)");
  }
  return { url: u, unix: null };
}

/** Redis' error code (NOAUTH, WRONGPASS, NOPERM, ERR...) of a reply, or the error's name: never a key or a value. */
function failureName(e: unknown): string {
  if (e instanceof ErrorReply) return /^[A-Z]+/.exec(e.message)?.[0] ?? 'ErrorReply';
  return e instanceof Error ? e.name : 'error';
}

/**
 * A connection error for the log: OpenSSL's long form ("...:SSL routines:ssl3_read_bytes:tlsv13
 * alert certificate required:../deps/...") cut to its reason.
 */
function connectionError(e: Error): string {
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(e.message);
  if (ssl) return `TLS: ${ssl[1]}`;
  return (e.message || e.name).split('\n')[0]!.slice(0, 200);
}

/** Refusals that no reconnection cures: the credentials (or the ACL) are wrong. */
const AUTH_FAILURES = new Set(['NOAUTH', 'WRONGPASS', 'NOPERM']);

/** Warns when Redis may evict keys under memory pressure (anything but `noeviction`). */
function checkEvictionPolicy(client: { sendCommand(args: string[]): Promise<unknown> }, warn: (detail: string) => void): void {
  client.sendCommand(['CONFIG', 'GET', 'maxmemory-policy']).then(
    (r) => {
      const policy = Array.isArray(r) && typeof r[1] === 'string' ? r[1] : undefined;
      if (policy === undefined || policy === 'noeviction') return;
      try {
        warn(`Redis maxmemory-policy is ${policy}: under memory pressure it may evict replay-cache entries, letting a replayed AP-REQ through; set it to noeviction`);
      } catch {
        // a logger must not break the client
      }
    },
    () => undefined, // CONFIG refused or the connection dropped: nothing to say
  );
}

/** Masks the URL's password (as written and percent-decoded) in a text bound for a log. */
function redactor(u: URL): (text: string) => string {
  const written = u.protocol === 'unix:' ? (/[?&]password=([^&]*)/.exec(u.search)?.[1] ?? '') : u.password;
  const decoded = u.protocol === 'unix:' ? (u.searchParams.get('password') ?? '') : decodeURIComponent(u.password);
  if (!written && !decoded) return (text) => text;
  const secrets = [...new Set([written, decoded])].filter(Boolean).sort((x, y) => y.length - x.length);
  return (text) => secrets.reduce((t, s) => t.split(s).join('***'), text);
}

/** The marker createRedisStore puts in its TLS socket options. */
export const REDIS_SOCKET_MARK: unique symbol = Symbol('tslsa.redisSocket');
let tlsGuarded = false;

/**
 * node-redis 5 listens for one 'error' per socket (`once`). A TLS connection that a server drops
 * right after the handshake (Redis refusing a missing client certificate under TLS 1.3) can
 * emit two (the alert, then ECONNRESET), and the second one, unheard, would take the process down.
 * So the TLS sockets made for this store get a listener of their own that keeps later errors
 * quiet (the first still reaches node-redis, which reconnects). Only sockets whose options carry
 * REDIS_SOCKET_MARK are touched: tls.connect is wrapped once, and passes every other call through.
 */
export function guardTlsSockets(): void {
  if (tlsGuarded) return;
  tlsGuarded = true;
  const connect = nodeTls.connect;
  nodeTls.connect = function guardedConnect(this: unknown, ...args: unknown[]) {
    const socket = (connect as (...a: unknown[]) => nodeTls.TLSSocket).apply(this, args);
    const o = args[0];
    if (o !== null && typeof o === 'object' && (o as Record<symbol, unknown>)[REDIS_SOCKET_MARK] === true) socket.on('error', () => {});
    return socket;
  } as typeof nodeTls.connect;
}

/**
 * One Redis client serving both stores. Returns at once: the connection is made (and remade) in
 * the background, and until it is up every operation fails with an SspiError.
 */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  const { url, unix } = checkUrl(options.url);
  const tls = url.protocol === 'rediss:';
  if (options.tls && !tls) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'TLS options need a rediss:// URL');
  const redact = redactor(url);
  const prefix = options.keyPrefix ?? 'tslsa:';
  const commandTimeout = options.commandTimeoutMs ?? 2000;
  if (tls) guardTlsSockets();
  // null until the first connection attempt ends, so that a first failure is told too.
  let up: boolean | null = null;
  let everUp = false;
  let closed = false;
  let failedAt = 0;
  // The last sign of life: an answer from Redis, or an event of the client (connecting, failing).
  let lastSign = Date.now();
  const waiters = new Set<(v: boolean) => void>();
  const report = (next: boolean, detail: string): void => {
    if (next === up) return;
    up = next;
    try {
      options.onStatus?.(next, redact(detail));
    } catch {
      // a logger must not break the client
    }
  };

  function open(): ReturnType<typeof createClient> {
    let c: ReturnType<typeof createClient>;
    try {
      c = createClient({
        ...(unix ? { database: unix.database, username: unix.username, password: unix.password } : { url: options.url }),
        disableOfflineQueue: true,
        // RESP2, as node-redis 5 spoke by default: no HELLO at connect, so a Redis older than 6
        // or a proxy without RESP3 still serves, and a missing password shows per command (NOAUTH).
        RESP: 2,
        socket: {
          ...(tls ? { ...options.tls, tls: true as const, [REDIS_SOCKET_MARK]: true } : {}),
          ...(unix ? { path: unix.path } : {}),
          connectTimeout: options.connectTimeoutMs ?? 2000,
          // Capped exponential backoff with jitter; never gives up (a number, never an Error).
          reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), 2000) + Math.floor(Math.random() * 100),
        },
      });
    } catch (e) {
      // Its message may quote the URL: name the error only.
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `the Redis client refused its options (${e instanceof Error ? e.name : 'error'})`);
    }
    // Without an 'error' listener node-redis' errors would be thrown on the process. A client the
    // watchdog below replaced says nothing more: its last events are about its own end.
    c.on('error', (e: unknown) => {
      if (c !== client) return;
      lastSign = Date.now();
      report(false, e instanceof Error ? connectionError(e) : 'connection error');
    });
    for (const ev of ['connect', 'ready', 'reconnecting', 'end']) c.on(ev, () => c === client && (lastSign = Date.now()));
    // 'ready' only says the socket (and any AUTH/HELLO) went through: under TLS 1.3 a server that
    // refuses our certificate says so after that, and without a password nothing was asked yet.
    // A PING answered is what makes the store up; otherwise every backoff retry would log "up".
    c.on('ready', () => {
      c.sendCommand(['PING']).then(
        () => {
          if (c !== client) return;
          everUp = true;
          failedAt = 0;
          lastSign = Date.now();
          report(true, 'connected');
          if (options.onWarning) checkEvictionPolicy(c, options.onWarning);
          for (const w of waiters) w(true);
          waiters.clear();
        },
        (e: unknown) => {
          if (e instanceof ErrorReply) report(false, e.message.split('\n')[0]!.slice(0, 200));
          // a dropped connection is told by the 'error' event
        },
      );
    });
    // Never rejects with a retrying strategy; errors arrive through 'error'.
    c.connect().catch(() => undefined);
    return c;
  }
  // Declared before open() runs: its listeners compare their client with the current one.
  let client!: ReturnType<typeof createClient>;
  client = open();

  // node-redis can be left for good with a connection that answers nothing: when a TLS server
  // refuses our certificate in the same read as the handshake, the socket fails before node-redis
  // listens to it and the client neither answers nor reconnects (seen in tests, one run in a few);
  // and a peer that accepts and stays silent holds it in its connection set-up, which has no
  // deadline. A command failing after this long without a sign of life (no answer, no client
  // event: a Redis that is down shows its reconnect attempts) makes the store start a fresh client.
  const stuckMs = Math.max(4 * commandTimeout, 5000);
  function commandFailed(): void {
    const now = Date.now();
    if (now - lastSign >= stuckMs && !closed) {
      lastSign = now;
      const old = client;
      client = open();
      try {
        old.destroy();
      } catch {
        // already closed
      }
    }
  }

  const isReady = (): boolean => !closed && client.isReady && Date.now() - failedAt >= FAILURE_HOLD_MS;

  const deadlines = new Deadlines(commandTimeout);

  function command(args: string[] | Array<string | Buffer>, what: string, buffers = false): Promise<unknown> {
    if (closed) return Promise.reject(new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, `${what}: the Redis store is closed`));
    return new Promise((resolve, reject) => {
      const fail = (why: string, e?: unknown): void => {
        failedAt = Date.now();
        commandFailed();
        // Connected but refused (no password given, a wrong ACL): worth a line in the log.
        if (e instanceof ErrorReply && AUTH_FAILURES.has(why)) report(false, e.message.split('\n')[0]!.slice(0, 200));
        // The reason names the failure (offline, timeout, a Redis error), never a key or a value.
        reject(new SspiError(SecurityStatus.SEC_E_INTERNAL_ERROR, `${what}: Redis unavailable (${why})`));
      };
      const p = deadlines.add(fail);
      let sent: Promise<unknown>;
      try {
        sent = client.sendCommand(args, buffers ? BUFFER_REPLIES : undefined);
      } catch (e) {
        if (deadlines.settle(p)) fail(failureName(e), e);
        return;
      }
      sent.then(
        (v) => {
          lastSign = Date.now();
          if (deadlines.settle(p)) resolve(v);
          // Answered after its deadline: nobody waits for it; a value it holds is not kept.
          else if (Buffer.isBuffer(v)) v.fill(0);
        },
        (e: unknown) => {
          if (e instanceof ErrorReply) lastSign = Date.now(); // an answer, if a refusal
          if (deadlines.settle(p)) fail(failureName(e), e);
        },
      );
    });
  }

  const hsKey = (key: string): string => `${prefix}hs:${key}`;

  const handshakes: HandshakeStore = {
    shared: true,
    ready: isReady,
    async park(key: string, h: ParkedHandshake, ttlMs: number): Promise<void> {
      if (!(h.context instanceof Uint8Array)) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'a shared handshake store parks exported contexts (bytes)');
      const record = encodeParkedRecord({ scheme: h.scheme, startedAt: h.startedAt, channelBound: h.channelBound, context: h.context });
      const value = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
      try {
        await command(['SET', hsKey(key), value, 'PX', String(Math.max(1, Math.ceil(ttlMs)))], 'park');
      } finally {
        record.fill(0);
      }
    },
    async take(key: string): Promise<ParkedHandshake | null> {
      const v = await command(['GETDEL', hsKey(key)], 'take', true);
      if (!Buffer.isBuffer(v)) return null;
      try {
        const r = decodeParkedRecord(v);
        return { scheme: r.scheme, startedAt: r.startedAt, channelBound: r.channelBound, context: r.context };
      } catch {
        // Not a record of ours (another version, a stray key): as if nothing were parked.
        return null;
      } finally {
        v.fill(0);
      }
    },
    async discard(key: string): Promise<void> {
      await command(['DEL', hsKey(key)], 'discard');
    },
    async size(): Promise<number> {
      let n = 0;
      let cursor = '0';
      do {
        const r = (await command(['SCAN', cursor, 'MATCH', `${prefix}hs:*`, 'COUNT', '1000'], 'size')) as [string, string[]];
        cursor = String(r[0]);
        n += r[1].length;
      } while (cursor !== '0');
      return n;
    },
    // The client belongs to the RedisStore: closing the handshake store leaves it to store.close().
    async close(): Promise<void> {},
  };

  const replayCache: ReplayCache = {
    async checkAndStore(key: string, expiresAt: number): Promise<boolean> {
      // Throwing (not answering true) when Redis is away: the AP-REQ then fails, never passes unchecked.
      const r = await command(['SET', `${prefix}rc:${key}`, '1', 'NX', 'PXAT', String(Math.max(1, Math.ceil(expiresAt)))], 'replay cache');
      return r !== null && r !== undefined;
    },
  };

  return {
    handshakes,
    replayCache,
    ready: isReady,
    whenReady(timeoutMs: number): Promise<boolean> {
      if (everUp || closed) return Promise.resolve(everUp && !closed);
      return new Promise((resolve) => {
        const done = (v: boolean): void => {
          clearTimeout(t);
          waiters.delete(done);
          resolve(v);
        };
        const t = setTimeout(() => done(false), timeoutMs);
        waiters.add(done);
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      deadlines.expireAll();
      for (const w of waiters) w(false);
      waiters.clear();
      try {
        client.destroy();
      } catch {
        // already closed
      }
    },
  };
}
