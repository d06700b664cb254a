// Live session-key objects shared across handshakes that use the same ticket. Key derivation
// (RFC 3961 5.3 Ke/Ki for the authenticator and the AP-REP) and the cipher objects behind it are
// cached per key object (crypto/keystate.ts), so one object per ticket, rather than a fresh copy
// per handshake, spares every handshake after the first that work, on both sides. Like a TLS
// session cache it holds secrets across connections: bounded, entries are zeroed when evicted,
// when their bytes no longer match, and on clear() (the owning credential handle is freed).
import { constantTimeEqual } from '../../crypto/bytes.js';
import { destroyKey, isKeyLive } from './crypto/index.js';
import type { KerberosKey } from './crypto/types.js';

export class SessionKeyCache<Id> {
  readonly #keys = new Map<Id, KerberosKey>();
  constructor(readonly maxEntries: number) {}

  /**
   * The shared live key for `id` when it holds the same bytes as `key`; otherwise a new shared
   * copy of `key` is stored under `id` (the caller keeps and zeroes its own `key`).
   */
  get(id: Id, key: KerberosKey): KerberosKey {
    const map = this.#keys;
    const k = map.get(id);
    if (k !== undefined) {
      if (isKeyLive(k) && k.enctype === key.enctype && constantTimeEqual(k.keyvalue, key.keyvalue)) return k;
      map.delete(id);
      destroyKey(k);
    }
    if (map.size >= this.maxEntries) {
      const [oldId, old] = map.entries().next().value as [Id, KerberosKey];
      map.delete(oldId);
      destroyKey(old);
    }
    const nk: KerberosKey = { enctype: key.enctype, keyvalue: Uint8Array.from(key.keyvalue) };
    map.set(id, nk);
    return nk;
  }

  get size(): number {
    return this.#keys.size;
  }

  /** Zero and drop every key. */
  clear(): void {
    for (const k of this.#keys.values()) destroyKey(k);
    this.#keys.clear();
  }
}
