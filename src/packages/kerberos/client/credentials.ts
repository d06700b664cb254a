// Client credentials from a password, a client keytab, or an existing ccache, as MIT's
// gss_acquire_cred/kinit find them: KRB5_CONFIG, KRB5CCNAME, KRB5_CLIENT_KTNAME are honoured.

import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { resolveClientKeytabName } from '../ccache.js';
import type { KerberosKey } from '../crypto/types.js';
import { findKeys, formatPrincipal, type KeytabEntry, type KrbPrincipal, readKeytabFile } from '../keytab.js';
import { type Krb5Config, loadKrb5Config } from '../krb5conf.js';
import { getInitialTicket, type InitialTicketOptions, resolvePrincipal } from './as.js';
import { type CredentialCache, MemoryCredentialCache, openCredentialCache } from './cache.js';
import { getServiceTicket } from './tgs.js';
import type { KerberosTicketCredential } from './types.js';

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
  tgt: KerberosTicketCredential;
  cache: CredentialCache;
  config: Krb5Config;
  /** A service ticket from the cache, or from the KDC (then stored in the cache). */
  getServiceTicket(server: KrbPrincipal | string, opts?: { enctypes?: readonly number[] }): Promise<KerberosTicketCredential>;
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

export async function acquireKerberosCredentials(opts: AcquireOptions = {}): Promise<KerberosCredentials> {
  const env = opts.env ?? process.env;
  const config = opts.config ?? loadKrb5Config(undefined, { env });
  const sources = [opts.password !== undefined, opts.keytab !== undefined, opts.ccache !== undefined].filter(Boolean).length;
  if (sources !== 1) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'give exactly one of password, keytab or ccache');
  const transport = { ...opts.transport };
  const tgsOpts = { config, transport, ...(opts.now ? { now: opts.now } : {}), ...(opts.send ? { send: opts.send } : {}) };
  const make = (principal: KrbPrincipal, tgt: KerberosTicketCredential, cache: CredentialCache): KerberosCredentials => ({
    principal,
    tgt,
    cache,
    config,
    async getServiceTicket(server, o = {}) {
      const hit = await cache.find(server, opts.now ? { now: opts.now() } : {});
      if (hit && (o.enctypes === undefined || o.enctypes.includes(hit.sessionKey.enctype))) return hit;
      // The cache also keeps (and supplies) the cross-realm TGTs a service in another realm needs.
      const t = await getServiceTicket(tgt, server, { ...tgsOpts, cache, ...(o.enctypes ? { enctypes: o.enctypes } : {}) });
      await cache.store(t).catch(() => undefined);
      return t;
    },
  });

  if (opts.ccache !== undefined) {
    const cache = openCredentialCache(opts.ccache === true ? undefined : opts.ccache, { config, env });
    const def = await cache.principal();
    if (!def) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `no credential cache found (${cache.name})`);
    if (opts.principal !== undefined) {
      const want = resolvePrincipal(opts.principal, config);
      if (formatPrincipal(want) !== formatPrincipal(def)) {
        throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `credential cache ${cache.name} holds ${formatPrincipal(def)}, not ${formatPrincipal(want)}`);
      }
    }
    const tgt = await cache.tgt(undefined, opts.now?.());
    if (!tgt) throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `credential cache ${cache.name} has no current TGT for ${formatPrincipal(def)}`);
    return make(def, tgt, cache);
  }

  let principal: KrbPrincipal;
  let material: { password: string } | { keys: KerberosKey[] };
  if (opts.keytab !== undefined) {
    const name =
      opts.keytab === true
        ? (() => {
            const r = resolveClientKeytabName({ env, ...(config.defaultClientKeytabName ? { configDefault: config.defaultClientKeytabName } : {}) });
            return r.path ?? r.residual;
          })()
        : opts.keytab;
    const k = keytabKeys(name, opts.principal !== undefined ? resolvePrincipal(opts.principal, config) : undefined);
    principal = k.principal;
    material = { keys: k.keys };
  } else {
    if (opts.principal === undefined) throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, 'a password needs a principal');
    principal = resolvePrincipal(opts.principal, config);
    material = { password: opts.password! };
  }
  const r = await getInitialTicket({
    principal,
    ...material,
    config,
    transport,
    ...(opts.enctypes ? { enctypes: opts.enctypes } : {}),
    ...(opts.lifetime !== undefined ? { lifetime: opts.lifetime } : {}),
    ...(opts.renewLifetime !== undefined ? { renewLifetime: opts.renewLifetime } : {}),
    ...(opts.forwardable !== undefined ? { forwardable: opts.forwardable } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.send ? { send: opts.send } : {}),
  });
  const cache = opts.storeIn ?? new MemoryCredentialCache(`tslsa-${process.pid}-${Date.now()}`);
  await cache.initialize(r.credential.client);
  await cache.store(r.credential);
  return make(r.credential.client, r.credential, cache);
}
