// Where an HTTP handshake waits between legs. A multi-leg exchange (NTLM's NEGOTIATE ->
// CHALLENGE -> AUTHENTICATE, SPNEGO around it) leaves an acceptor context half-built after a 401;
// the next request carrying the client's next token takes it back by key. The default key is the
// connection (NTLM is connection-bound, as browsers expect). A store shared between processes
// (Redis, src/store/redis.ts) holds the context as the bytes AcceptorContext.export() made, under
// a handshake id the client carries in a cookie, so the legs may land on different nodes; a
// MemoryHandshakeStore({ shared: true }) does the same in one process, for a server behind a
// reverse proxy that pools its connections.

import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';
import type { AcceptorContext } from './acceptor.js';

export type HttpAuthScheme = 'Negotiate' | 'NTLM';

/** A handshake parked after a 401 that carried a continuation token. */
export interface ParkedHandshake {
  scheme: HttpAuthScheme;
  /**
   * The acceptor context, between AcceptSecurityContext calls: the object itself in an in-process
   * store, its export (AcceptorContext.export()) in a shared one.
   */
  context: AcceptorContext | Uint8Array;
  /** Date.now() when the first leg arrived: the handshake's deadline counts from here. */
  startedAt: number;
  /** Channel bindings were handed to the first leg, so they go to every later one. */
  channelBound: boolean;
}

/**
 * The handshake store. `take` removes what it returns, so one parked leg is continued at most once
 * (a shared store implements it atomically, e.g. Redis GETDEL). The store owns what is parked:
 * on expiry, `discard` and `close` it deletes the context (which zeroes its keys).
 *
 * A `shared` store is handed exported contexts (bytes) and gives bytes back; the server rebuilds
 * them with AcceptorContext.import(). Its operations may throw when its backend is away; the
 * server then answers 503.
 */
export interface HandshakeStore {
  /** Shared between processes: park exported contexts and find them by the handshake cookie. */
  readonly shared?: boolean;
  /** false while the backend is unreachable (the server answers 503 instead of trying); absent: always ready. */
  ready?(): boolean;
  park(key: string, handshake: ParkedHandshake, ttlMs: number): Promise<void>;
  take(key: string): Promise<ParkedHandshake | null>;
  discard(key: string): Promise<void>;
  /** How many handshakes are parked (for tests and metrics). */
  size(): Promise<number>;
  close(): Promise<void>;
}

/** Frees what a parked handshake holds: deletes the context, or zeroes its export. */
export async function dropParked(h: ParkedHandshake): Promise<void> {
  if (h.context instanceof Uint8Array) h.context.fill(0);
  else await h.context.delete().catch(() => undefined);
}

interface Entry {
  handshake: ParkedHandshake;
  timer: NodeJS.Timeout;
}

export interface MemoryHandshakeStoreOptions {
  /**
   * Behave as a shared store in one process: hold exported contexts under the handshake cookie,
   * so the legs of a handshake may arrive on different connections. That is what a single server
   * behind a reverse proxy needs when the proxy reuses its connections to it for several clients
   * (nginx `keepalive`, most cloud balancers): NTLM's AUTHENTICATE may come on another connection
   * than its NEGOTIATE, and a connection's identity must not be kept (persistConnection's default).
   */
  shared?: boolean;
  /**
   * Most handshakes held; parking one more first drops the oldest (default 100 000). A handshake
   * that goes on waits milliseconds between legs, so only abandoned ones (a scan, a flood of first
   * legs) ever fill it, and they are the oldest: memory stays bounded and live handshakes stay.
   */
  maxEntries?: number;
}

/** The in-process store: a Map with one timer per entry. */
export class MemoryHandshakeStore implements HandshakeStore {
  private readonly entries = new Map<string, Entry>();
  readonly shared: boolean;
  readonly maxEntries: number;

  constructor(options: MemoryHandshakeStoreOptions = {}) {
    this.shared = options.shared === true;
    this.maxEntries = options.maxEntries ?? 100_000;
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'maxEntries must be a positive integer');
  }

  async park(key: string, handshake: ParkedHandshake, ttlMs: number): Promise<void> {
    // The server zeroes the export it parks once parked: keep a copy, as a remote store would.
    if (this.shared) {
      if (!(handshake.context instanceof Uint8Array)) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'a shared handshake store parks exported contexts (bytes)');
      handshake = { ...handshake, context: handshake.context.slice() };
    }
    await this.discard(key);
    // A Map keeps insertion order: the first key is the oldest handshake.
    while (this.entries.size >= this.maxEntries) await this.discard(this.entries.keys().next().value!);
    const timer = setTimeout(() => void this.discard(key), Math.max(0, ttlMs));
    // An abandoned handshake must not keep the process alive.
    timer.unref();
    this.entries.set(key, { handshake, timer });
  }

  async take(key: string): Promise<ParkedHandshake | null> {
    const e = this.entries.get(key);
    if (!e) return null;
    this.entries.delete(key);
    clearTimeout(e.timer);
    return e.handshake;
  }

  async discard(key: string): Promise<void> {
    const h = await this.take(key);
    if (h) await dropParked(h);
  }

  async size(): Promise<number> {
    return this.entries.size;
  }

  async close(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((k) => this.discard(k)));
  }
}
