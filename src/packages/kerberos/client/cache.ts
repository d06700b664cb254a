// The ticket cache: one interface, two stores. FILE is MIT's ccache (version 4, ccache.ts), so MIT
// klist/kvno read what we write and we use what MIT kinit writes; MEMORY lives in this process.
// The file is checked on every call (another process, MIT's tools included, may change it): a
// stat, and a new parse when it changed. It is rewritten atomically.

import { statSync, unlinkSync } from 'node:fs';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { decodeTicket } from '../asn1/messages.js';
import {
  type Ccache,
  type Credential,
  isConfigEntry,
  readCcacheFile,
  resolveCcacheName,
  splitTypedName,
  writeCcacheFile,
} from '../ccache.js';
import type { Krb5Config } from '../krb5conf.js';
import { formatPrincipal, type KrbPrincipal, parsePrincipal, principalEquals } from '../keytab.js';
import { type KerberosTicketCredential, isCurrent, isTgtFor } from './types.js';

export interface CredentialCache {
  /** "FILE:/path", "DIR::/dir/tkt..." or "MEMORY:name". */
  readonly name: string;
  /** The default principal, or undefined when the cache does not exist. */
  principal(): Promise<KrbPrincipal | undefined>;
  /** Creates (or empties) the cache for `principal`. */
  initialize(principal: KrbPrincipal): Promise<void>;
  /** Adds a ticket, replacing any earlier one for the same client and server. */
  store(cred: KerberosTicketCredential): Promise<void>;
  /** Every ticket (config entries left out), in cache order. */
  list(): Promise<KerberosTicketCredential[]>;
  /** A current ticket for `server` (optionally with this session-key enctype), or undefined. */
  find(server: KrbPrincipal | string, opts?: { now?: Date; enctype?: number }): Promise<KerberosTicketCredential | undefined>;
  /** The current TGT of `realm` (default: the default principal's), or undefined. */
  tgt(realm?: string, now?: Date): Promise<KerberosTicketCredential | undefined>;
  /** Removes the cache (and zeroes what this process holds). */
  destroy(): Promise<void>;
}

const secs = (d: Date | undefined): number => (d ? Math.max(0, Math.min(0xffffffff, Math.floor(d.getTime() / 1000))) : 0);
const date = (s: number): Date | undefined => (s === 0 ? undefined : new Date(s * 1000));

/**
 * A ticket as an MIT ccache credential, with a copy of its session key: what a cache keeps is its
 * own, so the ticket's holder may zero its key (a credential being freed) without touching the cache.
 */
export function toCcacheCredential(c: KerberosTicketCredential): Credential {
  return {
    client: c.client,
    server: c.server,
    key: { enctype: c.sessionKey.enctype, keyvalue: Uint8Array.from(c.sessionKey.keyvalue) },
    authtime: secs(c.authtime),
    starttime: secs(c.starttime),
    endtime: secs(c.endtime),
    renewTill: secs(c.renewTill),
    isSkey: false,
    ticketFlags: c.flags >>> 0,
    addresses: [],
    authdata: [],
    ticket: c.ticketBytes,
    secondTicket: new Uint8Array(0),
  };
}

// Decoded tickets by their DER bytes: a FILE cache kept across calls hands out the same ticket
// bytes, so a ticket is decoded once, not on every InitializeSecurityContext.
const decoded = new WeakMap<Uint8Array, ReturnType<typeof decodeTicket>>();
function decodedTicket(der: Uint8Array): ReturnType<typeof decodeTicket> {
  let t = decoded.get(der);
  if (t === undefined) {
    t = decodeTicket(der);
    decoded.set(der, t);
  }
  return t;
}

/** An MIT ccache credential as a ticket; SEC_E_INVALID_TOKEN when its ticket does not decode. */
export function fromCcacheCredential(c: Credential): KerberosTicketCredential {
  const out: KerberosTicketCredential = {
    client: c.client,
    server: c.server,
    ticket: decodedTicket(c.ticket),
    ticketBytes: c.ticket,
    sessionKey: { enctype: c.key.enctype, keyvalue: c.key.keyvalue },
    flags: c.ticketFlags >>> 0,
    authtime: date(c.authtime) ?? new Date(0),
    endtime: date(c.endtime) ?? new Date(0),
  };
  const st = date(c.starttime);
  if (st) out.starttime = st;
  const rt = date(c.renewTill);
  if (rt) out.renewTill = rt;
  return out;
}

function asPrincipal(p: KrbPrincipal | string, realm: string): KrbPrincipal {
  return typeof p === 'string' ? parsePrincipal(p.includes('@') ? p : `${p}@${realm}`) : p;
}

/**
 * The CredentialCache operations over a whole-cache read and write: FILE and MEMORY implement
 * them with load()/save(), KCM with calls to the daemon.
 */
export abstract class BaseCache implements CredentialCache {
  abstract readonly name: string;
  protected abstract read(): Promise<Ccache | undefined>;
  protected abstract write(c: Ccache): Promise<void>;
  abstract destroy(): Promise<void>;

  async principal(): Promise<KrbPrincipal | undefined> {
    return (await this.read())?.defaultPrincipal;
  }

  async initialize(principal: KrbPrincipal): Promise<void> {
    await this.write({ version: 0x0504, defaultPrincipal: principal, credentials: [] });
  }

  async store(cred: KerberosTicketCredential): Promise<void> {
    const c = await this.read();
    if (!c) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `credential cache ${this.name} is not initialized`);
    const keep = c.credentials.filter((x) => isConfigEntry(x) || !(principalEquals(x.server, cred.server) && principalEquals(x.client, cred.client)));
    await this.write({ ...c, credentials: [...keep, toCcacheCredential(cred)] });
  }

  async list(): Promise<KerberosTicketCredential[]> {
    const c = await this.read();
    if (!c) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `no credential cache found (${this.name})`);
    return c.credentials.filter((x) => !isConfigEntry(x)).map(fromCcacheCredential);
  }

  async find(server: KrbPrincipal | string, opts: { now?: Date; enctype?: number } = {}): Promise<KerberosTicketCredential | undefined> {
    const c = await this.read();
    if (!c) return undefined;
    const want = asPrincipal(server, c.defaultPrincipal.realm);
    for (const x of c.credentials) {
      if (isConfigEntry(x) || !principalEquals(x.server, want)) continue;
      if (opts.enctype !== undefined && x.key.enctype !== opts.enctype) continue;
      const t = fromCcacheCredential(x);
      if (isCurrent(t, opts.now)) return t;
    }
    return undefined;
  }

  async tgt(realm?: string, now?: Date): Promise<KerberosTicketCredential | undefined> {
    const c = await this.read();
    if (!c) return undefined;
    const r = realm ?? c.defaultPrincipal.realm;
    const hit = c.credentials
      .filter((x) => !isConfigEntry(x) && principalEquals(x.client, c.defaultPrincipal))
      .map(fromCcacheCredential)
      .find((t) => isTgtFor(t, r) && isCurrent(t, now));
    return hit;
  }
}

/** A cache held as a whole in memory or a file: synchronous load and save. */
abstract class LocalCache extends BaseCache {
  protected abstract load(): Ccache | undefined;
  protected abstract save(c: Ccache): void;
  protected async read(): Promise<Ccache | undefined> {
    return this.load();
  }
  protected async write(c: Ccache): Promise<void> {
    this.save(c);
  }
}

// A ccache file modified this recently (ms) is re-read on every call instead of trusted by stat.
const RACY_MS = 100;

/**
 * The cache with its own copy of every session key: callers may zero the keys of the tickets
 * they get (destroyTicketCredential), which must not reach the parse kept for the next call.
 * Ticket bytes are shared (public, never written).
 */
function copyKeys(c: Ccache): Ccache {
  return { ...c, credentials: c.credentials.map((x) => ({ ...x, key: { enctype: x.key.enctype, keyvalue: Uint8Array.from(x.key.keyvalue) } })) };
}

/** MIT FILE ccache (also each cache of a DIR collection, named "DIR::path"). */
export class FileCredentialCache extends LocalCache {
  readonly name: string;
  constructor(readonly path: string, name = `FILE:${path}`) {
    super();
    this.name = name;
  }

  // The last parse and the file identity it came from (see load()).
  #parsed: { id: string; cache: Ccache } | undefined;

  protected load(): Ccache | undefined {
    // Another process (MIT kinit, kvno) may change the file at any time, so every call looks at
    // it, but a stat is enough when the file is the one parsed last: same inode, size, mtime and
    // ctime, and not modified within the last RACY_MS. File times come from a coarse kernel clock,
    // so a rewrite of the same size inside one tick would keep mtime; a file that recent is
    // re-read every time (git's "racily clean" rule).
    let id: string | undefined;
    try {
      const st = statSync(this.path, { bigint: true });
      // An empty file is a cache not yet initialized: MIT's kinit creates one (mkstemp) before
      // asking the KDC, and leaves it behind when that fails.
      if (st.size === 0n) {
        this.#forget();
        return undefined;
      }
      if (Number(st.mtimeMs) < Date.now() - RACY_MS && Number(st.ctimeMs) < Date.now() - RACY_MS) {
        id = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      }
    } catch {
      // Missing or unreadable: readCcacheFile below says which.
    }
    const hit = this.#parsed;
    if (id !== undefined && hit !== undefined && hit.id === id) return copyKeys(hit.cache);
    this.#forget();
    let c: Ccache;
    try {
      c = readCcacheFile(this.path);
    } catch (e) {
      // A missing file is "no cache"; a damaged one is an error the caller must see.
      if (SspiError.is(e, SecurityStatus.SEC_E_NO_CREDENTIALS)) return undefined;
      throw e;
    }
    if (id === undefined) return c; // not kept: the caller has the only reference
    this.#parsed = { id, cache: c };
    return copyKeys(c);
  }

  protected save(c: Ccache): void {
    this.#forget();
    writeCcacheFile(this.path, c);
  }

  // Drop the kept parse and zero its keys (the caller-facing copies are the callers').
  #forget(): void {
    for (const x of this.#parsed?.cache.credentials ?? []) x.key.keyvalue.fill(0);
    this.#parsed = undefined;
  }

  async destroy(): Promise<void> {
    this.#forget();
    try {
      unlinkSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** A cache held in this process only. */
export class MemoryCredentialCache extends LocalCache {
  readonly name: string;
  private data: Ccache | undefined;
  constructor(name = 'tslsa') {
    super();
    this.name = `MEMORY:${name}`;
  }

  // Tickets handed out carry copies of the keys, as a FILE cache's do: their holders may zero them.
  // The copy is made here, in the same synchronous step as the read: a save by another caller
  // between this read and its use (an await apart) zeroes only the cache's own keys.
  protected load(): Ccache | undefined {
    return this.data && copyKeys(this.data);
  }

  protected save(c: Ccache): void {
    // What is saved was built from copies (load) or is new: every key of the old data is zeroed.
    for (const x of this.data?.credentials ?? []) x.key.keyvalue.fill(0);
    this.data = c;
  }

  async destroy(): Promise<void> {
    for (const c of this.data?.credentials ?? []) c.key.keyvalue.fill(0);
    this.data = undefined;
  }
}

/** Several caches with a primary one: a DIR collection or the caches of a KCM daemon. */
export interface CredentialCollection {
  /** "DIR:/dir" or "KCM:". */
  readonly name: string;
  primary(): Promise<CredentialCache>;
  /** Every cache, the primary first. */
  caches(): Promise<CredentialCache[]>;
  /** The first cache (primary first) whose default principal is `principal`. */
  match(principal: KrbPrincipal): Promise<CredentialCache | undefined>;
  /** A new, empty cache. */
  newUnique(): Promise<CredentialCache>;
  /** Makes `cache` (one of this collection's) the primary. */
  switchTo(cache: CredentialCache): Promise<void>;
}

/** The first cache of `caches` whose default principal is `principal`. */
export async function matchPrincipal(caches: readonly CredentialCache[], principal: KrbPrincipal): Promise<CredentialCache | undefined> {
  for (const c of caches) {
    const p = await c.principal().catch(() => undefined);
    if (p && principalEquals(p, principal)) return c;
  }
  return undefined;
}

export { formatPrincipal };
