// Logon sessions and the package-private credentials attached to them (LSA table slots 0-4).

import { NtStatus, type Status } from '../sspi/status.js';
import { zero } from './heap.js';
import type { LUID } from './types.js';

interface StoredCredential {
  key: Uint8Array;
  credentials: Uint8Array;
}

interface LogonSession {
  readonly logonId: LUID;
  /** Credentials per package id, in insertion order. */
  readonly credentials: Map<number, StoredCredential[]>;
}

let nextLuid = 0x10000n;
/** NtAllocateLocallyUniqueId: LUIDs unique for this process's lifetime. */
export function AllocateLocallyUniqueId(): LUID {
  return nextLuid++;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class LogonSessionTable {
  private readonly sessions = new Map<LUID, LogonSession>();

  create(logonId: LUID): Status {
    if (this.sessions.has(logonId)) return NtStatus.STATUS_INVALID_PARAMETER;
    this.sessions.set(logonId, { logonId, credentials: new Map() });
    return NtStatus.STATUS_SUCCESS;
  }

  has(logonId: LUID): boolean {
    return this.sessions.has(logonId);
  }

  delete(logonId: LUID): Status {
    const s = this.sessions.get(logonId);
    if (!s) return NtStatus.STATUS_NO_SUCH_LOGON_SESSION;
    for (const list of s.credentials.values()) for (const c of list) zero(c.credentials);
    this.sessions.delete(logonId);
    return NtStatus.STATUS_SUCCESS;
  }

  add(logonId: LUID, packageId: number, key: Uint8Array, credentials: Uint8Array): Status {
    const s = this.sessions.get(logonId);
    if (!s) return NtStatus.STATUS_NO_SUCH_LOGON_SESSION;
    const list = s.credentials.get(packageId) ?? [];
    const existing = list.findIndex((c) => sameBytes(c.key, key));
    const entry = { key: key.slice(), credentials: credentials.slice() };
    if (existing >= 0) {
      zero(list[existing]!.credentials);
      list[existing] = entry;
    } else {
      list.push(entry);
    }
    s.credentials.set(packageId, list);
    return NtStatus.STATUS_SUCCESS;
  }

  /**
   * GetCredentials: with RetrieveAllCredentials, enumerate from QueryContext (an index) and return
   * the next one with QueryContext advanced; otherwise look the key up.
   */
  get(logonId: LUID, packageId: number, queryContext: number, all: boolean, key: Uint8Array | null): { status: Status; QueryContext: number; PrimaryKeyValue?: Uint8Array; Credentials?: Uint8Array } {
    const s = this.sessions.get(logonId);
    if (!s) return { status: NtStatus.STATUS_NO_SUCH_LOGON_SESSION, QueryContext: queryContext };
    const list = s.credentials.get(packageId) ?? [];
    if (all) {
      const c = list[queryContext];
      if (!c) return { status: NtStatus.STATUS_NO_MORE_ENTRIES, QueryContext: queryContext };
      return { status: NtStatus.STATUS_SUCCESS, QueryContext: queryContext + 1, PrimaryKeyValue: c.key.slice(), Credentials: c.credentials.slice() };
    }
    const c = key ? list.find((x) => sameBytes(x.key, key)) : undefined;
    if (!c) return { status: NtStatus.STATUS_NOT_FOUND, QueryContext: queryContext };
    return { status: NtStatus.STATUS_SUCCESS, QueryContext: queryContext, PrimaryKeyValue: c.key.slice(), Credentials: c.credentials.slice() };
  }

  remove(logonId: LUID, packageId: number, key: Uint8Array): Status {
    const s = this.sessions.get(logonId);
    if (!s) return NtStatus.STATUS_NO_SUCH_LOGON_SESSION;
    const list = s.credentials.get(packageId) ?? [];
    const i = list.findIndex((c) => sameBytes(c.key, key));
    if (i < 0) return NtStatus.STATUS_NOT_FOUND;
    zero(list[i]!.credentials);
    list.splice(i, 1);
    return NtStatus.STATUS_SUCCESS;
  }

  clear(): void {
    for (const id of [...this.sessions.keys()]) this.delete(id);
  }
}
