// Authenticator replay cache (RFC 4120 3.2.3). The key is a hash of the server and the
// authenticator's ciphertext, as MIT's rcache has keyed it since 1.18: a replay is the same
// ciphertext, while two genuine authenticators always differ (each encryption has a fresh
// confounder), even from one client in the same microsecond with the same GSS checksum, which a
// key over (client, server, ctime, cusec, checksum) would wrongly call a replay. The replay check
// runs after the authenticator decrypted, so only the holder of the session key can make another
// valid ciphertext, and that holder could make a fresh authenticator anyway. checkAndStore may be
// async so that a shared store (Redis, a database) can implement the same interface for a farm.
import { toHex } from '../../crypto/bytes.js';
import { sha256 } from './crypto/hmac.js';
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
  /** The service principal that accepted it. */
  server: string;
  /** The AP-REQ's authenticator EncryptedData cipher, as received. */
  authenticatorCipher: Uint8Array;
}

/**
 * A fixed-length hex key: SHA-256 over the server name and the authenticator ciphertext, each
 * with a 4-byte big-endian length prefix, so no two pairs share an encoding.
 */
export function replayKey(v: ReplayKeyInput): string {
  const c = v.authenticatorCipher;
  // One buffer for the whole encoding (UTF-8 takes at most 3 bytes per UTF-16 unit).
  const buf = Buffer.allocUnsafe(8 + 3 * v.server.length + c.length);
  let off = field(buf, 0, v.server);
  buf.writeUInt32BE(c.length, off);
  buf.set(c, off + 4);
  off += 4 + c.length;
  return toHex(sha256(buf.subarray(0, off)));
}

function field(buf: Buffer, off: number, s: string): number {
  const n = buf.write(s, off + 4, 'utf8');
  buf.writeUInt32BE(n, off);
  return off + 4 + n;
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
