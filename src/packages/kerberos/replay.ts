// Authenticator replay cache (RFC 4120 3.2.3). The key is a hash of the server and the
// authenticator's ciphertext, as MIT's rcache has keyed it since 1.18: a replay is the same
// ciphertext, while two genuine authenticators always differ (each encryption has a fresh
// confounder), even from one client in the same microsecond with the same GSS checksum, which a
// key over (client, server, ctime, cusec, checksum) would wrongly call a replay. The replay check
// runs after the authenticator decrypted, so only the holder of the session key can make another
// valid ciphertext, and that holder could make a fresh authenticator anyway. checkAndStore may be
// async so that a shared store (Redis, a database) can implement the same interface for a farm.
import { hash } from 'node:crypto';
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
  // node:crypto's one-shot hash: about 0.35 µs here, against 1.8 µs for our JS SHA-256 plus toHex.
  return hash('sha256', buf.subarray(0, off), 'hex');
}

function field(buf: Buffer, off: number, s: string): number {
  const n = buf.write(s, off + 4, 'utf8');
  buf.writeUInt32BE(n, off);
  return off + 4 + n;
}

export interface MemoryReplayCacheOptions {
  /**
   * Upper bound on live entries. A full cache refuses new authenticators (fail closed) rather than
   * forget live ones, which would let a captured AP-REQ be replayed. Default 4 000 000: a sustained
   * 13 000 handshakes/s with the default 300 s skew, in at most ~170 MB.
   */
  maxEntries?: number;
  /** Clock, for tests. */
  now?: () => number;
}

const EMPTY = 0;
const MIN_CAPACITY = 1024;
// Rebuilt when this share of the slots is taken, to at least twice the live entries.
const MAX_LOAD = 0.7;

/**
 * In-process replay cache: an open-addressing table in typed arrays (no object per entry, so a
 * cache of millions of entries costs the garbage collector nothing). An entry is 128 bits of the
 * key's hash and its expiry in whole seconds, rounded up (an entry may outlive its expiry by under a
 * second, never the reverse). Expired entries are reused in place and dropped when the table is
 * rebuilt, which happens as it fills; sweep() rebuilds it on demand.
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #max: number;
  readonly #now: () => number;
  #cap = MIN_CAPACITY;
  #keys = new Uint32Array(MIN_CAPACITY * 4);
  #exp = new Uint32Array(MIN_CAPACITY); // EMPTY, or the expiry (seconds since the epoch)
  #count = 0; // slots holding an entry, live or expired
  readonly #k = new Uint32Array(4);

  constructor(opts: MemoryReplayCacheOptions = {}) {
    this.#max = opts.maxEntries ?? 4_000_000;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'maxEntries must be a positive integer');
    this.#now = opts.now ?? Date.now;
  }

  /** Entries held (live, and expired ones not yet dropped; exact after sweep()). */
  get size(): number {
    return this.#count;
  }

  checkAndStore(key: string, expiresAt: number): boolean {
    const now = Math.floor(this.#now() / 1000);
    const exp = Math.max(1, Math.min(0xffffffff, Math.ceil(expiresAt / 1000)));
    const k = this.#digest(key);
    if (this.#count + 1 > this.#cap * MAX_LOAD) this.#rebuild(now, this.#count + 1);
    const mask = this.#cap - 1;
    const keys = this.#keys;
    const exps = this.#exp;
    let reuse = -1;
    for (let i = k[0]! & mask; ; i = (i + 1) & mask) {
      const e = exps[i]!;
      if (e === EMPTY) {
        if (reuse < 0) {
          if (this.#count >= this.#max) {
            // Full of entries, some perhaps expired: drop those, then try again or fail closed.
            this.#rebuild(now, 0);
            if (this.#count >= this.#max) throw new SspiError(SecurityStatus.SEC_E_INSUFFICIENT_MEMORY, `replay cache full (${this.#max} live authenticators); raise maxEntries`);
            return this.checkAndStore(key, expiresAt);
          }
          reuse = i;
          this.#count++;
        }
        break;
      }
      const o = i * 4;
      if (keys[o] === k[0] && keys[o + 1] === k[1] && keys[o + 2] === k[2] && keys[o + 3] === k[3]) {
        if (e > now) return false; // a live entry: the authenticator was seen
        reuse = i; // the same key, expired: it may come again
        break;
      }
      // An expired entry can take the key, once the probe shows the key is not further on.
      if (reuse < 0 && e <= now) reuse = i;
    }
    const o = reuse * 4;
    keys[o] = k[0]!;
    keys[o + 1] = k[1]!;
    keys[o + 2] = k[2]!;
    keys[o + 3] = k[3]!;
    exps[reuse] = exp;
    return true;
  }

  /** Drops expired entries. */
  sweep(now = this.#now()): void {
    this.#rebuild(Math.floor(now / 1000), 0);
  }

  clear(): void {
    this.#keys.fill(0);
    this.#exp.fill(EMPTY);
    this.#count = 0;
  }

  // 128 bits of the key: replayKey()'s SHA-256 hex as it stands, any other string hashed first.
  #digest(key: string): Uint32Array {
    const k = this.#k;
    if (key.length === 64 && hex128(key, k)) {
      // taken as it stands
    } else {
      const d = sha256(Buffer.from(key, 'utf8'));
      for (let j = 0; j < 4; j++) k[j] = ((d[4 * j]! << 24) | (d[4 * j + 1]! << 16) | (d[4 * j + 2]! << 8) | d[4 * j + 3]!) >>> 0;
    }
    return k;
  }

  // A new table holding the live entries only, sized for `extra` more (grows, or shrinks back).
  #rebuild(now: number, extra: number): void {
    const oldKeys = this.#keys;
    const oldExp = this.#exp;
    let live = 0;
    for (let i = 0; i < this.#cap; i++) if (oldExp[i]! > now) live++;
    let cap = MIN_CAPACITY;
    while (cap < 2 * Math.max(live, extra, 1) || cap * MAX_LOAD < Math.max(live, extra) + 1) cap *= 2;
    const keys = new Uint32Array(cap * 4);
    const exps = new Uint32Array(cap);
    const mask = cap - 1;
    for (let i = 0; i < this.#cap; i++) {
      const e = oldExp[i]!;
      if (e <= now) continue; // empty or expired
      const o = i * 4;
      let j = oldKeys[o]! & mask;
      while (exps[j] !== EMPTY) j = (j + 1) & mask;
      keys.set(oldKeys.subarray(o, o + 4), j * 4);
      exps[j] = e;
    }
    this.#cap = cap;
    this.#keys = keys;
    this.#exp = exps;
    this.#count = live;
  }
}

/** The first 32 hex digits of `key` into `out` when all 64 are lower-case hex (replayKey's form). */
function hex128(key: string, out: Uint32Array): boolean {
  for (let j = 0; j < 8; j++) {
    let v = 0;
    for (let i = 8 * j; i < 8 * j + 8; i++) {
      const c = key.charCodeAt(i);
      const n = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
      if (n < 0) return false;
      v = (v << 4) | n;
    }
    if (j < 4) out[j] = v >>> 0;
  }
  return true;
}
