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
// One WeakMap answers both "derived state of this key" and "was it destroyed" (the DESTROYED
// sentinel), so the per-message path makes one lookup per key, not a WeakSet check besides.
const states = new WeakMap<KerberosKey, KeyState>();
const DESTROYED: KeyState = { enctype: -1, entries: new Map() };

function destroyedError(): SspiError {
  return new SspiError(SecurityStatus.SEC_E_INVALID_HANDLE, 'Kerberos key was destroyed');
}

/** The cached value for (key, slot), made by `make` on first use. */
export function cached<T extends Destroyable>(key: KerberosKey, slot: string | number, make: () => T): T {
  let st = states.get(key);
  if (st === DESTROYED) throw destroyedError();
  if (st === undefined || st.enctype !== key.enctype) {
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
  if (st !== undefined && st !== DESTROYED) clear(st);
  states.set(key, DESTROYED);
  key.keyvalue.fill(0);
}

/** Drop the cached derived keys of `key` (e.g. after its bytes were changed in place). */
export function forgetDerivedKeys(key: KerberosKey): void {
  const st = states.get(key);
  if (st !== undefined && st !== DESTROYED) {
    clear(st);
    states.delete(key);
  }
}

/** Whether `key` has not gone through destroyKey(). */
export function isKeyLive(key: KerberosKey): boolean {
  return states.get(key) !== DESTROYED;
}

/** Throws if `key` went through destroyKey(). */
export function assertLive(key: KerberosKey): void {
  if (states.get(key) === DESTROYED) throw destroyedError();
}

/** Throws unless `key` is usable with an enctype needing `keyBytes` bytes. */
export function checkKey(key: KerberosKey, enctype: number, keyBytes: number): void {
  if (states.get(key) === DESTROYED) throw destroyedError();
  if (key.enctype !== enctype) {
    throw new SspiError(SecurityStatus.SEC_E_ALGORITHM_MISMATCH, `key enctype ${key.enctype} used with enctype ${enctype}`);
  }
  if (key.keyvalue.length !== keyBytes) {
    throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `enctype ${enctype} key must be ${keyBytes} bytes, got ${key.keyvalue.length}`);
  }
}
