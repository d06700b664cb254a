// Tickets an acceptor has already opened, by their exact ciphertext. A client sends the same
// service ticket in every AP-REQ until it expires (an HTTP client: one per request), and the same
// bytes under the same service key always decrypt to the same EncTicketPart, so after the first
// AP-REQ the ticket's decryption, integrity check and DER parse are skipped; the authenticator
// (fresh per AP-REQ) is still opened and replay-checked every time. The entry also holds the
// ticket's session key as one shared object, so its derived keys serve every AP-REQ of the ticket.
//
// Like a TLS session cache it keeps secrets across connections: bounded, entries are zeroed when
// evicted, when expired, when the service key changed (a reloaded keytab), and on clear().
import { toHex } from '../../crypto/bytes.js';
import { destroyKey, isKeyLive } from './crypto/index.js';
import type { KerberosKey } from './crypto/types.js';
import type { EncTicketPart } from './asn1/index.js';

interface Entry {
  /** The keytab key object that opened it: another object (keytab reloaded) never matches. */
  serviceKey: KerberosKey;
  cipher: Uint8Array;
  /** The decrypted ticket; `part` holds views into it. Zeroed on eviction. */
  plain: Uint8Array;
  part: EncTicketPart;
  sessionKey: KerberosKey;
}

export interface OpenedTicket {
  /** The ticket's EncTicketPart with a session key copy the caller owns (and zeroes). */
  encTicketPart: EncTicketPart;
  /** The shared live session-key object (derived keys cached on it): not to be destroyed by the caller. */
  sharedSessionKey: KerberosKey;
}

export class AcceptedTicketCache {
  readonly #entries = new Map<string, Entry>();
  constructor(readonly maxEntries: number) {}

  /** The ticket opened before with this very service key object and ciphertext, if still cached and current. */
  lookup(serviceKey: KerberosKey, cipher: Uint8Array, nowMs: number): OpenedTicket | undefined {
    const id = ticketId(cipher);
    const e = this.#entries.get(id);
    if (e === undefined) return undefined;
    // Ciphertext is public: an ordinary comparison of all of it.
    if (e.serviceKey !== serviceKey || !isKeyLive(serviceKey) || !isKeyLive(e.sessionKey) || !Buffer.from(e.cipher.buffer, e.cipher.byteOffset, e.cipher.byteLength).equals(cipher)) {
      return undefined;
    }
    if (e.part.endtime.getTime() < nowMs) {
      this.#drop(id, e);
      return undefined;
    }
    return { encTicketPart: withOwnKey(e.part), sharedSessionKey: e.sessionKey };
  }

  /**
   * Keep a ticket just opened (its integrity checked): `plain` and the `part` decoded from it
   * pass to the cache, which zeroes them on eviction. Returns the caller's view of it.
   */
  store(serviceKey: KerberosKey, cipher: Uint8Array, plain: Uint8Array, part: EncTicketPart): OpenedTicket {
    const id = ticketId(cipher);
    const old = this.#entries.get(id);
    if (old !== undefined) this.#drop(id, old);
    if (this.#entries.size >= this.maxEntries) {
      const [oldId, oldest] = this.#entries.entries().next().value as [string, Entry];
      this.#drop(oldId, oldest);
    }
    const sessionKey: KerberosKey = { enctype: part.key.keytype, keyvalue: Uint8Array.from(part.key.keyvalue) };
    this.#entries.set(id, { serviceKey, cipher: Uint8Array.from(cipher), plain, part, sessionKey });
    return { encTicketPart: withOwnKey(part), sharedSessionKey: sessionKey };
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Zero and drop every entry. */
  clear(): void {
    for (const [id, e] of this.#entries) this.#drop(id, e);
  }

  #drop(id: string, e: Entry): void {
    this.#entries.delete(id);
    destroyKey(e.sessionKey);
    e.part.key.keyvalue.fill(0);
    e.plain.fill(0);
  }
}

/** A ticket's map key: its length and last 24 bytes (the MAC's end: public, and as good as random). */
export function ticketId(cipher: Uint8Array): string {
  return `${cipher.length}:${toHex(cipher.subarray(Math.max(0, cipher.length - 24)))}`;
}

function withOwnKey(part: EncTicketPart): EncTicketPart {
  return { ...part, key: { keytype: part.key.keytype, keyvalue: Uint8Array.from(part.key.keyvalue) } };
}
