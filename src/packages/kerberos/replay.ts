// Authenticator replay cache (RFC 4120 3.2.3). The key is a hash over what MIT's rcache hashes
// (client, server, ctime, cusec and the authenticator checksum), so two different authenticators
// sent in the same microsecond do not collide. checkAndStore may be async so that a shared store
// (Redis, a database) can implement the same interface for a farm of acceptors.
import { createHash } from 'node:crypto';
import { SspiError } from '../../sspi/error.js';
import { SecurityStatus } from '../../sspi/status.js';

export interface ReplayCache {
  /**
   * Records `key` until `expiresAt` (ms since the epoch). Returns false when the key is already
   * present and not expired, i.e. the authenticator is a replay (KRB_AP_ERR_REPEAT).
   */
  checkAndStore(key: string, expiresAt: number): boolean | Promise<boolean>;
}

export interface ReplayKeyInput {
  client: string;
  server: string;
  ctime: Date;
  cusec: number;
  /** The authenticator's cksum value (empty when absent). */
  checksum?: Uint8Array;
}

/** A fixed-length hex key for (client, server, ctime, cusec, checksum); length-prefixed fields cannot collide. */
export function replayKey(v: ReplayKeyInput): string {
  const h = createHash('sha256');
  const field = (b: Uint8Array | string): void => {
    const bytes = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(bytes.length);
    h.update(len).update(bytes);
  };
  field(v.client);
  field(v.server);
  field(`${Math.floor(v.ctime.getTime() / 1000)}.${v.cusec}`);
  field(v.checksum ?? new Uint8Array(0));
  return h.digest('hex');
}

export interface MemoryReplayCacheOptions {
  /** Upper bound on live entries; when full the soonest-expiring are dropped. Default 100 000. */
  maxEntries?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * In-process replay cache. Entries live until their expiry (the caller passes ctime + clock skew);
 * expired ones are swept incrementally. At the size bound, eviction drops the oldest insertions
 * first (Map order), which for a constant skew window are the soonest to expire anyway.
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #entries = new Map<string, number>();
  readonly #max: number;
  readonly #now: () => number;
  #lastSweep = 0;

  constructor(opts: MemoryReplayCacheOptions = {}) {
    this.#max = opts.maxEntries ?? 100_000;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'maxEntries must be a positive integer');
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  checkAndStore(key: string, expiresAt: number): boolean {
    const now = this.#now();
    if (now - this.#lastSweep >= 1000) this.sweep(now);
    const prev = this.#entries.get(key);
    if (prev !== undefined && prev > now) return false;
    if (prev !== undefined) this.#entries.delete(key);
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, expiresAt);
    return true;
  }

  /** Drops expired entries. */
  sweep(now = this.#now()): void {
    this.#lastSweep = now;
    for (const [k, exp] of this.#entries) if (exp <= now) this.#entries.delete(k);
  }

  clear(): void {
    this.#entries.clear();
  }
}
