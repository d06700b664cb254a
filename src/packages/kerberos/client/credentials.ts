// Client credentials from a password, a client keytab, or an existing ccache, as MIT's
// gss_acquire_cred/kinit find them: KRB5_CONFIG, KRB5CCNAME, KRB5_CLIENT_KTNAME are honoured.
// They stay usable in a process that runs for days: a TGT got with a password or a keytab is
// renewed or fetched again past half its life (MIT's rule, refreshTime below), and a ccache is
// read at every use, so a TGT another process (kinit, k5start) put there is the one used.

import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { resolveClientKeytabName } from '../ccache.js';
import type { KerberosKey } from '../crypto/types.js';
import { findKeys, formatPrincipal, type KeytabEntry, type KrbPrincipal, principalEquals, readKeytabFile } from '../keytab.js';
import { type Krb5Config, loadKrb5Config } from '../krb5conf.js';
import { KrbErrorCode } from '../asn1/constants.js';
import { destroyKey } from '../crypto/index.js';
import { getInitialTicket, type InitialTicketOptions, resolvePrincipal } from './as.js';
import { type CredentialCache, MemoryCredentialCache } from './cache.js';
import { openCredentialCache, openCredentialCollection } from './open.js';
import { krbErrorToStatus } from './errors.js';
import { getServiceTicket, renewTicket, type ServiceTicketOptions } from './tgs.js';
import { type KerberosTicketCredential, destroyTicketCredential, isCurrent, isRenewable, isTgtFor } from './types.js';

/** The AS exchange settings a TGT request passes on to getInitialTicket as they are. */
type AsExchangeOptions = Pick<
  InitialTicketOptions,
  'password' | 'config' | 'enctypes' | 'lifetime' | 'renewLifetime' | 'forwardable' | 'now' | 'transport' | 'send'
>;

export interface AcquireOptions extends AsExchangeOptions {
  /** The client; default: the keytab's first principal, or the ccache's default principal. */
  principal?: KrbPrincipal | string;
  /** Keytab name ("FILE:/path"); `true`: the client keytab (KRB5_CLIENT_KTNAME / default_client_keytab_name). */
  keytab?: string | true;
  /** Use an existing ccache: its name, or `true` for the default one (KRB5CCNAME). */
  ccache?: string | true;
  /** Where a new TGT is stored; default a private in-memory cache. */
  storeIn?: CredentialCache;
  env?: NodeJS.ProcessEnv;
}

export interface KerberosCredentials {
  principal: KrbPrincipal;
  /** Where the TGT comes from: renewed or fetched again (password, keytab), or read from the ccache at each use. */
  readonly source: 'password' | 'keytab' | 'ccache';
  /** The TGT as last seen (its endtime is the credential's expiry); currentTgt() gives one fit to use. */
  readonly tgt: KerberosTicketCredential;
  cache: CredentialCache;
  config: Krb5Config;
  /**
   * A current TGT: refreshed first when due (password, keytab), taken from the cache (ccache).
   * Expired credentials: SEC_E_CONTEXT_EXPIRED; none at all: SEC_E_NO_CREDENTIALS.
   */
  currentTgt(): Promise<KerberosTicketCredential>;
  /** A service ticket from the cache, or from the KDC (then stored in the cache). */
  getServiceTicket(server: KrbPrincipal | string, opts?: { enctypes?: readonly number[] }): Promise<KerberosTicketCredential>;
  /** Zeroes the keys it holds (long-term keys kept for refreshing, its TGT) and removes a private cache; a cache of the caller's keeps its own copies. The handle is unusable afterwards. */
  destroy(): Promise<void>;
}

/** The keys of `principal` (default: the keytab's first) at its highest kvno. */
export function keytabKeys(keytabName: string, principal?: KrbPrincipal): { principal: KrbPrincipal; keys: KerberosKey[] } {
  const kt = readKeytabFile(keytabName);
  const first = kt.entries[0];
  if (!first) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `keytab ${keytabName} is empty`);
  const p = principal ?? first.principal;
  const entries: KeytabEntry[] = findKeys(kt, p);
  if (entries.length === 0) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `keytab ${keytabName} has no key for ${formatPrincipal(p)}`);
  return { principal: p, keys: entries.map((e) => ({ enctype: e.key.enctype, keyvalue: e.key.keyvalue })) };
}

/** MIT's pause after a failed refresh before the next try (kg_cred_time_to_refresh: "avoid retrying for 30 seconds"). */
export const REFRESH_RETRY_MS = 30_000;

/**
 * When a TGT we obtained should be replaced. MIT's gss_acquire_cred marks client-keytab credentials
 * "to refresh ... when they are halfway to expired" (kg_cred_set_initial_refresh: starttime +
 * (endtime - starttime) / 2); the half is counted from when we got the ticket if that is later than
 * its starttime, so a local clock ahead of the KDC's cannot put the mark in the past (which would
 * mean an AS exchange on every use).
 */
export function refreshTime(tgt: KerberosTicketCredential, receivedAt: Date): Date {
  const start = Math.max((tgt.starttime ?? tgt.authtime).getTime(), receivedAt.getTime());
  const end = tgt.endtime.getTime();
  return new Date(start + Math.max(0, end - start) / 2);
}

type TgsOptions = Pick<ServiceTicketOptions, 'config' | 'transport' | 'now' | 'send'>;

/** What both kinds of credentials share: service tickets from the cache, else a TGS exchange with a current TGT. */
abstract class BaseCredentials implements KerberosCredentials {
  abstract readonly source: KerberosCredentials['source'];
  abstract readonly tgt: KerberosTicketCredential;
  protected destroyed = false;

  constructor(
    readonly principal: KrbPrincipal,
    readonly cache: CredentialCache,
    readonly config: Krb5Config,
    protected readonly tgs: TgsOptions,
  ) {}

  protected now(): Date {
    return this.tgs.now?.() ?? new Date();
  }

  protected alive(): void {
    if (this.destroyed) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'the Kerberos credentials were freed');
  }

  /** Runs before every use: a due refresh, a check of the ccache's owner. Never leaves a TGT unusable that was usable. */
  protected abstract prepare(): Promise<void>;

  /** The TGT to use now, once prepare() ran; throws when there is none. */
  protected abstract usableTgt(): Promise<KerberosTicketCredential>;

  abstract destroy(): Promise<void>;

  async currentTgt(): Promise<KerberosTicketCredential> {
    this.alive();
    await this.prepare();
    return this.usableTgt();
  }

  async getServiceTicket(server: KrbPrincipal | string, o: { enctypes?: readonly number[] } = {}): Promise<KerberosTicketCredential> {
    this.alive();
    await this.prepare();
    // Only current tickets come back from the cache (find checks endtime against our clock).
    const hit = await this.cache.find(server, { now: this.now() });
    if (hit && (o.enctypes === undefined || o.enctypes.includes(hit.sessionKey.enctype))) return hit;
    const tgt = await this.usableTgt();
    // The cache also keeps (and supplies) the cross-realm TGTs a service in another realm needs.
    const t = await getServiceTicket(tgt, server, { ...this.tgs, cache: this.cache, ...(o.enctypes ? { enctypes: o.enctypes } : {}) });
    await this.cache.store(t).catch(() => undefined);
    return t;
  }
}

/**
 * Credentials from a password or a client keytab: the TGT is ours to replace. Past its refresh time
 * (refreshTime) the next use renews it (TGS with RENEW) when renew-till allows, else gets a new one
 * with the long-term keys (AS exchange). No timer: a credential nobody uses costs nothing. A failed
 * refresh is not an error while the old TGT is current (MIT: "if we were trying to refresh and
 * failed, we can keep going"); it is retried after REFRESH_RETRY_MS, or at once when the TGT expired.
 */
class RefreshingCredentials extends BaseCredentials {
  #tgt: KerberosTicketCredential;
  #refreshAt: number;
  #inflight: Promise<void> | undefined;
  #lastError: unknown;
  // The TGT replaced last: zeroed at the next refresh (or on destroy), so a request still using it is not cut short.
  #retired: KerberosTicketCredential | undefined;

  constructor(
    readonly source: 'password' | 'keytab',
    principal: KrbPrincipal,
    tgt: KerberosTicketCredential,
    cache: CredentialCache,
    config: Krb5Config,
    tgs: TgsOptions,
    private readonly initial: () => Promise<KerberosTicketCredential>,
    private readonly ownsCache: boolean,
    private readonly forget: () => void,
  ) {
    super(principal, cache, config, tgs);
    this.#tgt = tgt;
    this.#refreshAt = refreshTime(tgt, this.now()).getTime();
  }

  get tgt(): KerberosTicketCredential {
    return this.#tgt;
  }

  protected async prepare(): Promise<void> {
    const now = this.now();
    if (now.getTime() < this.#refreshAt && isCurrent(this.#tgt, now)) return;
    // One refresh at a time: concurrent handshakes wait for the same exchange.
    this.#inflight ??= this.#refresh().finally(() => {
      this.#inflight = undefined;
    });
    await this.#inflight;
  }

  async #refresh(): Promise<void> {
    const old = this.#tgt;
    try {
      let fresh: KerberosTicketCredential | undefined;
      // Renewal only pays when it extends the ticket: renew-till beyond the current endtime.
      if (isRenewable(old, this.now()) && old.renewTill!.getTime() > old.endtime.getTime()) {
        fresh = await renewTicket(old, this.tgs).catch(() => undefined);
      }
      fresh ??= await this.initial();
      if (this.destroyed) {
        fresh.sessionKey.keyvalue.fill(0);
        return;
      }
      await this.cache.store(fresh).catch(() => undefined);
      if (this.#retired) this.#retired.sessionKey.keyvalue.fill(0);
      this.#retired = old;
      this.#tgt = fresh;
      this.#refreshAt = refreshTime(fresh, this.now()).getTime();
      this.#lastError = undefined;
    } catch (e) {
      this.#lastError = e;
      this.#refreshAt = this.now().getTime() + REFRESH_RETRY_MS;
    }
  }

  protected async usableTgt(): Promise<KerberosTicketCredential> {
    const t = this.#tgt;
    if (isCurrent(t, this.now())) return t;
    // The refresh failed: its error says why (KDC unreachable, key no longer valid, ...).
    if (this.#lastError instanceof SspiError) throw this.#lastError;
    throw expiredTgt(`the TGT of ${formatPrincipal(this.principal)} expired and could not be replaced`);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.forget();
    if (this.#retired) this.#retired.sessionKey.keyvalue.fill(0);
    // A cache keeps its own copy of what was stored in it (toCcacheCredential): a cache given to
    // us (storeIn) keeps its TGT for its other users while ours is zeroed.
    this.#tgt.sessionKey.keyvalue.fill(0);
    if (this.ownsCache) await this.cache.destroy().catch(() => undefined);
  }
}

/**
 * Credentials over a ccache another process keeps (kinit, k5start, kinit -R): the TGT is read from
 * the cache at every use (a stat when unchanged), so a refreshed cache is picked up and nothing is
 * written to it but the service tickets we get, as MIT's GSS initiator does.
 */
class CcacheCredentials extends BaseCredentials {
  readonly source = 'ccache' as const;
  #last: KerberosTicketCredential | undefined;

  get tgt(): KerberosTicketCredential {
    return this.#last!;
  }

  protected async prepare(): Promise<void> {
    const def = await this.cache.principal();
    if (!def) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `credential cache ${this.cache.name} no longer exists: run kinit`);
    if (!principalEquals(def, this.principal)) {
      throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `credential cache ${this.cache.name} now holds ${formatPrincipal(def)}, not ${formatPrincipal(this.principal)}`);
    }
  }

  protected async usableTgt(): Promise<KerberosTicketCredential> {
    const now = this.now();
    const t = await this.cache.tgt(undefined, now);
    if (t) {
      this.#last = t;
      return t;
    }
    const who = formatPrincipal(this.principal);
    const tgts = (await this.cache.list()).filter((x) => principalEquals(x.client, this.principal) && isTgtFor(x, this.principal.realm));
    const newest = tgts.sort((a, b) => b.endtime.getTime() - a.endtime.getTime())[0];
    if (newest && newest.endtime.getTime() <= now.getTime()) {
      this.#last ??= newest;
      throw expiredTgt(`the TGT of ${who} in ${this.cache.name} expired at ${newest.endtime.toISOString()}: run kinit`);
    }
    throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `credential cache ${this.cache.name} has no current TGT for ${who}: run kinit`);
  }

  async destroy(): Promise<void> {
    // The cache is the user's: left alone (as FreeCredentialsHandle leaves a logon session's tickets).
    // The TGT last read from it is our copy (caches hand out copies of their keys): zeroed.
    this.destroyed = true;
    this.#last?.sessionKey.keyvalue.fill(0);
  }
}

/**
 * Expired credentials: SEC_E_CONTEXT_EXPIRED. It is what the KDC's KRB_AP_ERR_TKT_EXPIRED maps to
 * (errors.ts) and what an SSPI over MIT GSS reports for GSS_S_CREDENTIALS_EXPIRED (Wine's Kerberos
 * package); SEC_E_NO_CREDENTIALS stays for "no TGT at all".
 */
function expiredTgt(detail: string): SspiError {
  return new SspiError(krbErrorToStatus(KrbErrorCode.KRB_AP_ERR_TKT_EXPIRED), detail);
}

function resolveKeytab(keytab: string | true, env: NodeJS.ProcessEnv, config: Krb5Config): string {
  if (keytab !== true) return keytab;
  const r = resolveClientKeytabName({ env, ...(config.defaultClientKeytabName ? { configDefault: config.defaultClientKeytabName } : {}) });
  return r.path ?? r.residual;
}

function zeroKeys(keys: readonly KerberosKey[]): void {
  for (const k of keys) destroyKey(k);
}

export async function acquireKerberosCredentials(opts: AcquireOptions = {}): Promise<KerberosCredentials> {
  const env = opts.env ?? process.env;
  const config = opts.config ?? loadKrb5Config(undefined, { env });
  const sources = [opts.password !== undefined, opts.keytab !== undefined, opts.ccache !== undefined].filter(Boolean).length;
  if (sources !== 1) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'give exactly one of password, keytab or ccache');
  const transport = { ...opts.transport };
  const tgs: TgsOptions = { config, transport, ...(opts.now ? { now: opts.now } : {}), ...(opts.send ? { send: opts.send } : {}) };

  if (opts.ccache !== undefined) {
    const ccName = opts.ccache === true ? undefined : opts.ccache;
    let cache = openCredentialCache(ccName, { config, env });
    const want = opts.principal !== undefined ? resolvePrincipal(opts.principal, config) : undefined;
    // In a DIR or KCM collection a named principal is looked for in every cache, as MIT's GSS does.
    if (want !== undefined) cache = (await openCredentialCollection(ccName, { config, env })?.match(want)) ?? cache;
    const def = await cache.principal();
    if (!def) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `no credential cache found (${cache.name})`);
    if (want !== undefined) {
      if (formatPrincipal(want) !== formatPrincipal(def)) {
        throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `credential cache ${cache.name} holds ${formatPrincipal(def)}, not ${formatPrincipal(want)}`);
      }
    }
    const c = new CcacheCredentials(def, cache, config, tgs);
    await c.currentTgt(); // an expired or empty cache is refused now, with the same words as at use
    return c;
  }

  // The AS settings, copied out of `opts` so that no closure kept by the credential holds `opts` (and its password).
  const asBase: Omit<InitialTicketOptions, 'principal' | 'password' | 'keys'> = {
    config,
    transport,
    ...(opts.enctypes ? { enctypes: [...opts.enctypes] } : {}),
    ...(opts.lifetime !== undefined ? { lifetime: opts.lifetime } : {}),
    ...(opts.renewLifetime !== undefined ? { renewLifetime: opts.renewLifetime } : {}),
    ...(opts.forwardable !== undefined ? { forwardable: opts.forwardable } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.send ? { send: opts.send } : {}),
  };
  const as = (material: { password: string } | { keys: readonly KerberosKey[] }, principal: KrbPrincipal, keepReplyKey: boolean) =>
    getInitialTicket({ principal, ...material, ...asBase, keepReplyKey });

  let first: KerberosTicketCredential;
  let principal: KrbPrincipal;
  let initial: () => Promise<KerberosTicketCredential>;
  let forget: () => void;
  if (opts.keytab !== undefined) {
    // The keytab is read again at each refresh, as MIT does (a rotated key is picked up); keys are zeroed after use.
    const name = resolveKeytab(opts.keytab, env, config);
    const want = opts.principal !== undefined ? resolvePrincipal(opts.principal, config) : undefined;
    const fromKeytab = async (p: KrbPrincipal | undefined): Promise<KerberosTicketCredential> => {
      const k = keytabKeys(name, p);
      try {
        return (await as({ keys: k.keys }, k.principal, false)).credential;
      } finally {
        zeroKeys(k.keys);
      }
    };
    first = await fromKeytab(want);
    principal = first.client;
    initial = () => fromKeytab(principal);
    forget = () => undefined;
  } else {
    if (opts.principal === undefined) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'a password needs a principal');
    // The password is used once; what is kept is the key it gave with the KDC's salt (the reply key).
    const r = await as({ password: opts.password! }, resolvePrincipal(opts.principal, config), true);
    const keys = [r.replyKey!];
    first = r.credential;
    principal = first.client;
    initial = async () => (await as({ keys }, principal, false)).credential;
    forget = () => zeroKeys(keys);
  }
  const ownsCache = opts.storeIn === undefined;
  const cache = opts.storeIn ?? new MemoryCredentialCache(`tslsa-${process.pid}-${Date.now()}`);
  try {
    await cache.initialize(principal);
    await cache.store(first);
  } catch (e) {
    forget();
    destroyTicketCredential(first); // the TGT nobody will hold
    throw e;
  }
  return new RefreshingCredentials(opts.password !== undefined ? 'password' : 'keytab', principal, first, cache, config, tgs, initial, ownsCache, forget);
}
