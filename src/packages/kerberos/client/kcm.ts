// KCM caches (KRB5CCNAME=KCM: or KCM:name): tickets held by a cache-manager daemon (sssd-kcm, the
// Fedora/RHEL default; Heimdal's kcm) and reached over its Unix socket with Heimdal's KCM protocol
// as MIT's client speaks it. Each request is length-prefixed: major 2, minor 0, a 16-bit opcode,
// then arguments (names NUL-terminated, principals and credentials in the ccache v4 layout); each
// reply is a length, a transport status, and a payload that starts with the KCM status. One
// connection per call: nothing to keep alive against the daemon's idle timeout.

import { connect, type Socket } from 'node:net';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import {
  type Ccache,
  type Credential,
  decodeCcacheCredential,
  decodeCcachePrincipal,
  encodeCcacheCredential,
  encodeCcachePrincipal,
} from '../ccache.js';
import type { KrbPrincipal } from '../keytab.js';
import { BaseCache, type CredentialCache, type CredentialCollection, matchPrincipal } from './cache.js';

export const DEFAULT_KCM_SOCKET = '/var/run/.heim_org.h5l.kcm-socket';

/** Opcodes (Heimdal's numbering; 13001+ are MIT's extensions). */
export enum KcmOp {
  GEN_NEW = 3,
  INITIALIZE = 4,
  DESTROY = 5,
  STORE = 6,
  GET_PRINCIPAL = 8,
  GET_CRED_UUID_LIST = 9,
  GET_CRED_BY_UUID = 10,
  GET_CACHE_UUID_LIST = 18,
  GET_CACHE_BY_UUID = 19,
  GET_DEFAULT_CACHE = 20,
  SET_DEFAULT_CACHE = 21,
  GET_CRED_LIST = 13001,
}

// krb5 error codes a KCM daemon answers with (MIT's krb5_err table).
export const KRB5_CC_END = -1765328242;
export const KRB5_CC_IO = -1765328191;
export const KRB5_FCC_NOFILE = -1765328189;
export const KRB5_FCC_INTERNAL = -1765328188;
export const KRB5_CC_NOSUPP = -1765328137;

const MAX_REPLY = 10 * 1024 * 1024; // as MIT
const UUID_LEN = 16;
const DEFAULT_TIMEOUT_MS = 10_000;

/** A KCM status other than success, with the daemon's krb5 error code. */
export class KcmStatusError extends SspiError {
  constructor(readonly krb5Code: number, op: number) {
    super(SecurityStatus.SEC_E_NO_CREDENTIALS, `KCM operation ${op} failed with krb5 error ${krb5Code}`);
  }
}

// Heimdal answers an opcode it lacks with KRB5_FCC_INTERNAL; sssd with KRB5_CC_NOSUPP or KRB5_CC_IO (MIT's list).
const unsupported = (e: unknown): boolean =>
  e instanceof KcmStatusError && (e.krb5Code === KRB5_FCC_INTERNAL || e.krb5Code === KRB5_CC_IO || e.krb5Code === KRB5_CC_NOSUPP);
// "No such cache" in its two spellings.
const missing = (e: unknown): boolean => e instanceof KcmStatusError && (e.krb5Code === KRB5_FCC_NOFILE || e.krb5Code === KRB5_CC_END);
const malformed = (what: string): SspiError => new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `KCM reply: ${what}`);

const utf8 = new TextEncoder();
const name0 = (name: string): Uint8Array => {
  if (name.includes('\0')) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'KCM cache name contains NUL');
  return utf8.encode(`${name}\0`);
};

/** Talks to one KCM daemon. */
export class KcmClient {
  constructor(readonly socketPath: string = DEFAULT_KCM_SOCKET, readonly timeoutMs = DEFAULT_TIMEOUT_MS) {}

  /**
   * One request; resolves with the reply payload after the KCM status, or rejects (KcmStatusError,
   * SspiError). Requests and replies carry session keys: every buffer of the exchange is zeroed
   * once it is settled, except the payload handed back (the caller's to zero).
   */
  call(op: number, ...args: Uint8Array[]): Promise<Uint8Array> {
    const body = Buffer.concat([Buffer.from([2, 0, op >>> 8, op & 0xff]), ...args]);
    const req = Buffer.alloc(4 + body.length);
    req.writeUInt32BE(body.length, 0);
    body.copy(req, 4);
    return new Promise((resolve, reject) => {
      let sock: Socket | undefined;
      const chunks: Buffer[] = [];
      let got = 0;
      let settled = false;
      let head: Buffer | undefined;
      const finish = (err: Error | undefined, value?: Uint8Array): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock?.destroy();
        body.fill(0);
        req.fill(0);
        head?.fill(0);
        for (const c of chunks) c.fill(0);
        if (err) reject(err);
        else resolve(value!);
      };
      const timer = setTimeout(() => finish(noServer(this.socketPath, `did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      sock = connect(this.socketPath);
      sock.on('error', (e: NodeJS.ErrnoException) => finish(noServer(this.socketPath, e.code ?? 'error')));
      sock.on('connect', () => sock!.write(req));
      let len = -1; // the reply's length, once its 8-byte header is in
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        got += d.length;
        if (got < 8) return;
        if (len < 0) {
          const h = Buffer.concat(chunks, 8);
          len = h.readUInt32BE(0);
          if (len > MAX_REPLY) return finish(malformed(`${len} bytes is over the ${MAX_REPLY}-byte limit`));
          const transport = h.readInt32BE(4);
          if (transport !== 0) return finish(new KcmStatusError(transport, op));
        }
        if (got < 8 + len) return;
        // Joined once, when the whole reply is in.
        head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, got);
        if (got > 8 + len) return finish(malformed('bytes after the reply'));
        if (len < 4) return finish(malformed('no status'));
        const status = head.readInt32BE(8);
        if (status !== 0) return finish(new KcmStatusError(status, op));
        finish(undefined, Uint8Array.prototype.slice.call(head, 12, 8 + len));
      });
      sock.on('end', () => finish(malformed(`the daemon closed the connection after ${got} bytes`)));
    });
  }
}

// Parse a reply that holds session keys, then zero it (the parse copies what it keeps).
function withReply<T>(reply: Uint8Array, parse: (r: Uint8Array) => T): T {
  try {
    return parse(reply);
  } finally {
    reply.fill(0);
  }
}

function noServer(path: string, why: string): SspiError {
  return new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `No KCM server found at ${path} (${why})`);
}

/** A NUL-terminated name at the start of a reply. */
export function readKcmName(reply: Uint8Array): string {
  const end = reply.indexOf(0);
  if (end < 0) throw malformed('name without its terminating NUL');
  return new TextDecoder('utf-8', { fatal: false }).decode(reply.subarray(0, end));
}

/** A reply that is a list of 16-byte UUIDs. */
export function readKcmUuids(reply: Uint8Array): Uint8Array[] {
  if (reply.length % UUID_LEN !== 0) throw malformed(`UUID list of ${reply.length} bytes`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < reply.length; i += UUID_LEN) out.push(reply.subarray(i, i + UUID_LEN));
  return out;
}

/** MIT's GET_CRED_LIST reply: count, then count × (length, credential). */
export function readKcmCredList(reply: Uint8Array): Credential[] {
  const v = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  if (reply.length < 4) throw malformed('credential list without its count');
  const count = v.getUint32(0);
  if (count > (reply.length - 4) / 4) throw malformed(`credential count ${count} exceeds the reply`);
  const out: Credential[] = [];
  let pos = 4;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > reply.length) throw malformed('truncated credential list');
    const len = v.getUint32(pos);
    pos += 4;
    if (len > reply.length - pos) throw malformed('credential longer than the reply');
    out.push(decodeCcacheCredential(reply.subarray(pos, pos + len)));
    pos += len;
  }
  if (pos !== reply.length) throw malformed('bytes after the credential list');
  return out;
}

/** One KCM cache, "KCM:name"; "KCM:" is resolved to the daemon's default cache on first use. */
export class KcmCredentialCache extends BaseCache {
  #residual: string | undefined;
  constructor(readonly client: KcmClient, residual = '') {
    super();
    this.#residual = residual === '' ? undefined : residual;
  }

  get name(): string {
    return `KCM:${this.#residual ?? ''}`;
  }

  /** The daemon's name of this cache (the default cache's, resolved once, as MIT does). */
  async residual(): Promise<string> {
    this.#residual ??= readKcmName(await this.client.call(KcmOp.GET_DEFAULT_CACHE));
    return this.#residual;
  }

  // The default principal alone costs one call: collections ask it of every cache.
  override async principal(): Promise<KrbPrincipal | undefined> {
    return this.#principal(name0(await this.residual()));
  }

  protected async read(): Promise<Ccache | undefined> {
    const n = name0(await this.residual());
    const principal = await this.#principal(n);
    return principal && { version: 0x0504, defaultPrincipal: principal, credentials: await this.#credentials(n) };
  }

  async #principal(n: Uint8Array): Promise<KrbPrincipal | undefined> {
    let reply: Uint8Array;
    try {
      reply = await this.client.call(KcmOp.GET_PRINCIPAL, n);
    } catch (e) {
      if (missing(e)) return undefined;
      throw e;
    }
    if (reply.length === 0) return undefined; // Heimdal: an uninitialized cache has no principal
    const { principal, length } = decodeCcachePrincipal(reply);
    if (length !== reply.length) throw malformed('bytes after the principal');
    return principal;
  }

  async #credentials(n: Uint8Array): Promise<Credential[]> {
    try {
      return withReply(await this.client.call(KcmOp.GET_CRED_LIST, n), readKcmCredList);
    } catch (e) {
      if (!unsupported(e)) throw e;
    }
    const out: Credential[] = [];
    for (const uuid of readKcmUuids(await this.client.call(KcmOp.GET_CRED_UUID_LIST, n))) {
      try {
        out.push(withReply(await this.client.call(KcmOp.GET_CRED_BY_UUID, n, uuid), decodeCcacheCredential));
      } catch (e) {
        if (!missing(e)) throw e; // removed meanwhile
      }
    }
    return out;
  }

  // The whole cache again: INITIALIZE empties it, then each credential is stored (as MIT does
  // where the daemon lacks REPLACE).
  protected async write(c: Ccache): Promise<void> {
    const n = name0(await this.residual());
    await this.client.call(KcmOp.INITIALIZE, n, encodeCcachePrincipal(c.defaultPrincipal));
    for (const cred of c.credentials) {
      const bytes = encodeCcacheCredential(cred);
      try {
        await this.client.call(KcmOp.STORE, n, bytes);
      } finally {
        bytes.fill(0);
      }
    }
  }

  async destroy(): Promise<void> {
    try {
      await this.client.call(KcmOp.DESTROY, name0(await this.residual()));
    } catch (e) {
      if (!missing(e)) throw e;
    }
  }
}

/** The caches of one KCM daemon (for this user: the daemon decides by the socket's peer). */
export class KcmCollection implements CredentialCollection {
  readonly name = 'KCM:';
  constructor(readonly client: KcmClient) {}

  async primary(): Promise<KcmCredentialCache> {
    return new KcmCredentialCache(this.client, readKcmName(await this.client.call(KcmOp.GET_DEFAULT_CACHE)));
  }

  async caches(): Promise<KcmCredentialCache[]> {
    let uuids: Uint8Array[];
    try {
      uuids = readKcmUuids(await this.client.call(KcmOp.GET_CACHE_UUID_LIST));
    } catch (e) {
      if (missing(e)) return [];
      throw e;
    }
    const primary = await this.primary();
    const out: KcmCredentialCache[] = [];
    if ((await primary.principal().catch(() => undefined)) !== undefined) out.push(primary);
    for (const uuid of uuids) {
      let name: string;
      try {
        name = readKcmName(await this.client.call(KcmOp.GET_CACHE_BY_UUID, uuid));
      } catch (e) {
        if (missing(e)) continue; // destroyed meanwhile
        throw e;
      }
      if (name !== (await primary.residual())) out.push(new KcmCredentialCache(this.client, name));
    }
    return out;
  }

  async match(principal: KrbPrincipal): Promise<KcmCredentialCache | undefined> {
    return (await matchPrincipal(await this.caches(), principal)) as KcmCredentialCache | undefined;
  }

  async newUnique(): Promise<KcmCredentialCache> {
    return new KcmCredentialCache(this.client, readKcmName(await this.client.call(KcmOp.GEN_NEW)));
  }

  async switchTo(cache: CredentialCache): Promise<void> {
    if (!(cache instanceof KcmCredentialCache)) {
      throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `${cache.name} is not a KCM cache`);
    }
    await this.client.call(KcmOp.SET_DEFAULT_CACHE, name0(await cache.residual()));
  }
}
