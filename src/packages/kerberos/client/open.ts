// Opening caches by name: FILE, MEMORY, DIR (collections of FILE caches) and KCM (a daemon's
// caches), and the collections behind "DIR:/dir" and "KCM:".

import { dirname } from 'node:path';
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import { resolveCcacheName, splitTypedName } from '../ccache.js';
import type { Krb5Config } from '../krb5conf.js';
import { type CredentialCache, type CredentialCollection, FileCredentialCache, MemoryCredentialCache } from './cache.js';
import { DirCollection, openDirCache } from './dircache.js';
import { DEFAULT_KCM_SOCKET, KcmClient, KcmCollection, KcmCredentialCache } from './kcm.js';

type OpenOptions = { config?: Krb5Config; env?: NodeJS.ProcessEnv };
function cacheName(name: string | undefined, opts: OpenOptions): ReturnType<typeof splitTypedName> {
  if (name) return splitTypedName(name);
  return resolveCcacheName({ ...(opts.env ? { env: opts.env } : {}), ...(opts.config?.defaultCcacheName ? { configDefault: opts.config.defaultCcacheName } : {}) });
}

/**
 * Opens a cache by name ("FILE:/path", a bare path, "MEMORY:x", "DIR:/dir" for the primary cache
 * of a DIR collection, "DIR::/dir/tkt..." for one of its caches), or the default one: KRB5CCNAME,
 * else default_ccache_name, else FILE:/tmp/krb5cc_<uid>. "KCM:" is the KCM daemon's default cache and
 * "KCM:name" one of its caches. KEYRING (kernel keyrings: no Node API) is refused.
 */
export function openCredentialCache(name?: string, opts: OpenOptions = {}): CredentialCache {
  const resolved = cacheName(name, opts);
  if (resolved.type === 'FILE' && resolved.path !== undefined) return new FileCredentialCache(resolved.path);
  if (resolved.type === 'MEMORY') return memoryCaches.get(resolved.residual) ?? setMemory(resolved.residual);
  if (resolved.type === 'DIR') return openDirCache(resolved.residual);
  if (resolved.type === 'KCM') return new KcmCredentialCache(kcmClient(opts.config), resolved.residual);
  throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, `credential cache type ${resolved.type} is not supported (FILE, DIR, KCM and MEMORY are)`);
}

/**
 * The collection a cache name (or the default cache) is: "DIR:/dir" or "KCM:"; undefined for a
 * single cache (FILE, MEMORY, "DIR::path", "KCM:name"), as MIT's collection cursor does.
 */
export function openCredentialCollection(name?: string, opts: OpenOptions = {}): CredentialCollection | undefined {
  const resolved = cacheName(name, opts);
  if (resolved.type === 'DIR' && !resolved.residual.startsWith(':')) return new DirCollection(resolved.residual);
  if (resolved.type === 'KCM' && resolved.residual === '') return new KcmCollection(kcmClient(opts.config));
  return undefined;
}

/** The collection the named cache belongs to (any DIR or KCM name), for kswitch -c; undefined for FILE and MEMORY. */
export function collectionOfCache(name: string, opts: OpenOptions = {}): CredentialCollection | undefined {
  const { type, residual } = splitTypedName(name);
  if (type === 'DIR') return new DirCollection(residual.startsWith(':') ? dirname(residual.slice(1)) : residual);
  if (type === 'KCM') return new KcmCollection(kcmClient(opts.config));
  return undefined;
}

function kcmClient(config: Krb5Config | undefined): KcmClient {
  const path = config?.kcmSocket ?? DEFAULT_KCM_SOCKET;
  if (path === '-') throw new SspiError(SecurityStatus.SEC_E_NO_CREDENTIALS, 'KCM caches are turned off (kcm_socket = -)');
  return new KcmClient(path);
}

const memoryCaches = new Map<string, MemoryCredentialCache>();
function setMemory(name: string): MemoryCredentialCache {
  const c = new MemoryCredentialCache(name);
  memoryCaches.set(name, c);
  return c;
}

