// Per-key cache of derived material (RFC 3961 Kc/Ke/Ki per usage and cipher objects), so that
// per-message encrypt/decrypt does not repeat the key derivation (MIT caches its derived keys too).
// Keyed by the KerberosKey object; destroyKey() zeroes the key and everything derived from it.

import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';
import type { KerberosKey } from './types.js';

export interface Destroyable {
  destroy(): void;
}

interface KeyState {
  enctype: number;
  entries: Map<string | number, Destroyable>;
}

// Usage numbers are small and few per key; the cap only bounds a caller that feeds arbitrary usages.
const MAX_ENTRIES = 64;
const states = new WeakMap<KerberosKey, KeyState>();
const destroyed = new WeakSet<KerberosKey>();

/** The cached value for (key, slot), made by `make` on first use. */
export function cached<T extends Destroyable>(key: KerberosKey, slot: string | number, make: () => T): T {
  let st = states.get(key);
  if (st === undefined || st.enctype !== key.enctype) {
    if (destroyed.has(key)) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'Kerberos key was destroyed');
    if (st !== undefined) clear(st);
    st = { enctype: key.enctype, entries: new Map() };
    states.set(key, st);
  }
  let v = st.entries.get(slot) as T | undefined;
  if (v === undefined) {
    if (st.entries.size >= MAX_ENTRIES) clear(st);
    v = make();
    st.entries.set(slot, v);
  }
  return v;
}

function clear(st: KeyState): void {
  for (const v of st.entries.values()) v.destroy();
  st.entries.clear();
}

/** Zero the key bytes and every cached key derived from it; the key cannot be used afterwards. */
export function destroyKey(key: KerberosKey): void {
  const st = states.get(key);
  if (st !== undefined) {
    clear(st);
    states.delete(key);
  }
  key.keyvalue.fill(0);
  destroyed.add(key);
}

/** Drop the cached derived keys of `key` (e.g. after its bytes were changed in place). */
export function forgetDerivedKeys(key: KerberosKey): void {
  const st = states.get(key);
  if (st !== undefined) {
    clear(st);
    states.delete(key);
  }
}

/** Throws if `key` went through destroyKey(). */
export function assertLive(key: KerberosKey): void {
  if (destroyed.has(key)) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'Kerberos key was destroyed');
}

/** Throws unless `key` is usable with an enctype needing `keyBytes` bytes. */
export function checkKey(key: KerberosKey, enctype: number, keyBytes: number): void {
  if (destroyed.has(key)) throw new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'Kerberos key was destroyed');
  if (key.enctype !== enctype) {
    throw new SspiError(SecurityStatus.SEC_E_ALGORITHM_MISMATCH, `key enctype ${key.enctype} used with enctype ${enctype}`);
  }
  if (key.keyvalue.length !== keyBytes) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `enctype ${enctype} key must be ${keyBytes} bytes, got ${key.keyvalue.length}`);
  }
}
