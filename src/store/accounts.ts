// The account store behind the account authority (the SAM of tslsa): users keyed by
// (domain, user), case-insensitive as SAM names are, holding only the NT hash (NTOWFv1), never a
// password. Stores are asynchronous so a remote or out-of-process store fits the same interface.
//
// Lockout follows the Windows account-lockout policy (threshold, duration, observation window):
// a bad password inside the observation window of the previous one increments badPasswordCount
// (outside it the count starts again from 1); reaching the threshold locks the account until
// `now + durationMs` (durationMs 0: until an administrator unlocks it); a good logon resets the
// count. While an account is locked out nothing changes on further attempts.

import { SspiError } from '../sspi/error.js';
import { NtStatus } from '../sspi/status.js';

export interface Account {
  /** The canonical user name, as added. */
  user: string;
  /** The canonical domain name, as added ('' is allowed: a local account). */
  domain: string;
  /** NTOWFv1(password), 16 bytes. A copy: callers zero it when done. */
  ntHash: Uint8Array;
  disabled: boolean;
  /** When the password expires; null: never. */
  passwordExpires: Date | null;
  badPasswordCount: number;
  /** The account is locked out while now < lockedOutUntil. */
  lockedOutUntil: Date | null;
  lastBadPasswordAt: Date | null;
}

/** What list() returns: an account without its hash. */
export type AccountInfo = Omit<Account, 'ntHash'>;

export interface NewAccount {
  user: string;
  domain?: string;
  ntHash: Uint8Array;
  disabled?: boolean;
  passwordExpires?: Date | null;
}

export interface LockoutPolicy {
  /** Bad passwords that lock the account; 0: never lock. */
  threshold: number;
  /** How long a lockout lasts; 0: until an administrator unlocks. */
  durationMs: number;
  /** A bad password more than this after the previous one starts the count again. */
  observationWindowMs: number;
}

/** The Windows 11 (22H2+) local default: 10 bad passwords, 10 minutes, 10 minutes. */
export const DEFAULT_LOCKOUT_POLICY: Readonly<LockoutPolicy> = Object.freeze({ threshold: 10, durationMs: 10 * 60_000, observationWindowMs: 10 * 60_000 });

/** Lockout with durationMs 0 lasts until an unlock: the largest Date. */
export const LOCKED_UNTIL_UNLOCKED = 8.64e15;

export type AccountStoreErrorCode = 'EXISTS' | 'NOT_FOUND' | 'INVALID' | 'NO_DIRECTORY' | 'LOCKED' | 'CORRUPT' | 'NOT_A_STORE' | 'IO' | 'CLOSED' | 'NO_SQLITE';

/**
 * A store failure. `code` says what went wrong; `status` is the closest NTSTATUS (an SspiError,
 * so the LSA keeps it). Messages name the store's path and the account, never a hash.
 */
export class AccountStoreError extends SspiError {
  readonly reason: AccountStoreErrorCode;
  readonly path: string | undefined;
  /** The message without the status prefix (for people, e.g. the CLI). */
  override readonly detail: string;

  constructor(reason: AccountStoreErrorCode, detail: string, options?: { path?: string; cause?: unknown }) {
    super(statusFor(reason), detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AccountStoreError';
    this.reason = reason;
    this.path = options?.path;
    this.detail = detail;
  }
}

function statusFor(reason: AccountStoreErrorCode): number {
  switch (reason) {
    case 'EXISTS':
      return NtStatus.STATUS_USER_EXISTS;
    case 'NOT_FOUND':
      return NtStatus.STATUS_NO_SUCH_USER;
    case 'INVALID':
      return NtStatus.STATUS_INVALID_PARAMETER;
    case 'NO_DIRECTORY':
      return NtStatus.STATUS_OBJECT_NAME_NOT_FOUND;
    case 'LOCKED':
      return NtStatus.STATUS_SHARING_VIOLATION;
    case 'CORRUPT':
    case 'NOT_A_STORE':
      return NtStatus.STATUS_DISK_CORRUPT_ERROR;
    case 'CLOSED':
      return NtStatus.STATUS_INVALID_HANDLE;
    case 'NO_SQLITE':
      return NtStatus.STATUS_DLL_NOT_FOUND; // the module the store is built on
    default:
      return NtStatus.STATUS_UNSUCCESSFUL;
  }
}

/** The state after recordLogon. */
export interface LogonRecord {
  badPasswordCount: number;
  lockedOutUntil: Date | null;
  lastBadPasswordAt: Date | null;
}

export interface AccountStore {
  /** The account, or null; names compare case-insensitively. The ntHash is a fresh copy. */
  get(domain: string, user: string): Promise<Account | null>;
  /** Every account, without hashes, sorted by domain then user. */
  list(): Promise<AccountInfo[]>;
  /** Add an account; AccountStoreError 'EXISTS' when the name is taken. The hash is copied. */
  add(account: NewAccount): Promise<void>;
  /** Replace the NT hash (a password set); optionally set the new expiry. */
  setNtHash(domain: string, user: string, ntHash: Uint8Array, passwordExpires?: Date | null): Promise<void>;
  setDisabled(domain: string, user: string, disabled: boolean): Promise<void>;
  /** Clear the lockout and the bad-password count. */
  unlock(domain: string, user: string): Promise<void>;
  /** Remove the account; false when there was none. */
  delete(domain: string, user: string): Promise<boolean>;
  /** Record a logon attempt's outcome under the store's lockout policy (see the file comment). */
  recordLogon(domain: string, user: string, ok: boolean, now?: Date): Promise<LogonRecord | null>;
  readonly lockoutPolicy: Readonly<LockoutPolicy>;
  close(): Promise<void>;
}

/** The comparison key of a SAM name: case-insensitive (Unicode upper case, as RtlUpcaseUnicodeString). */
export function nameKey(domain: string, user: string): string {
  return `${domain.toUpperCase()}\\${user.toUpperCase()}`;
}

/** Is the account locked out at `now`? */
export function isLockedOut(a: Pick<Account, 'lockedOutUntil'>, now: Date = new Date()): boolean {
  return a.lockedOutUntil !== null && now.getTime() < a.lockedOutUntil.getTime();
}

/** Is the password expired at `now`? */
export function isPasswordExpired(a: Pick<Account, 'passwordExpires'>, now: Date = new Date()): boolean {
  return a.passwordExpires !== null && now.getTime() >= a.passwordExpires.getTime();
}

export function validateLockoutPolicy(p: Partial<LockoutPolicy> | undefined): LockoutPolicy {
  const out = { ...DEFAULT_LOCKOUT_POLICY, ...(p ?? {}) };
  for (const k of ['threshold', 'durationMs', 'observationWindowMs'] as const) {
    const v = out[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || !Number.isInteger(v)) {
      throw new AccountStoreError('INVALID', `lockout policy ${k} must be a non-negative integer`);
    }
  }
  return out;
}

/** Check a new account's fields; throws AccountStoreError 'INVALID'. */
export function validateName(kind: 'user' | 'domain', name: unknown): string {
  if (typeof name !== 'string') throw new AccountStoreError('INVALID', `${kind} name must be a string`);
  if (kind === 'user' && name.length === 0) throw new AccountStoreError('INVALID', 'user name is empty');
  if (name.length > 256) throw new AccountStoreError('INVALID', `${kind} name is longer than 256 characters`);
  // SAM forbids these in account names; '\\' and '@' would also make names ambiguous here.
  if (/[\u0000-\u001f"/\\[\]:;|=,+*?<>@]/.test(name)) throw new AccountStoreError('INVALID', `${kind} name contains a character SAM names cannot hold`);
  return name;
}

export function validateNtHash(h: unknown): Uint8Array {
  if (!(h instanceof Uint8Array) || h.length !== 16) throw new AccountStoreError('INVALID', 'an NT hash is 16 bytes');
  return h;
}

/**
 * The lockout arithmetic, shared by the stores: the new (count, lockedOutUntil, lastBad) after an
 * attempt, or null when nothing changes.
 */
export function nextLogonState(cur: LogonRecord, ok: boolean, policy: LockoutPolicy, now: Date): LogonRecord | null {
  if (isLockedOut(cur, now)) return null;
  if (ok) {
    if (cur.badPasswordCount === 0 && cur.lockedOutUntil === null) return null;
    return { badPasswordCount: 0, lockedOutUntil: null, lastBadPasswordAt: cur.lastBadPasswordAt };
  }
  // A lockout that has run out starts the count again, as does the observation window passing.
  const expiredLockout = cur.lockedOutUntil !== null;
  const inWindow = cur.lastBadPasswordAt !== null && now.getTime() - cur.lastBadPasswordAt.getTime() < policy.observationWindowMs;
  const count = (expiredLockout || !inWindow ? 0 : cur.badPasswordCount) + 1;
  let lockedOutUntil: Date | null = null;
  if (policy.threshold > 0 && count >= policy.threshold) {
    lockedOutUntil = new Date(policy.durationMs === 0 ? LOCKED_UNTIL_UNLOCKED : Math.min(LOCKED_UNTIL_UNLOCKED, now.getTime() + policy.durationMs));
  }
  return { badPasswordCount: count, lockedOutUntil, lastBadPasswordAt: now };
}

function copyAccount(a: Account): Account {
  return {
    ...a,
    ntHash: a.ntHash.slice(),
    passwordExpires: a.passwordExpires && new Date(a.passwordExpires),
    lockedOutUntil: a.lockedOutUntil && new Date(a.lockedOutUntil),
    lastBadPasswordAt: a.lastBadPasswordAt && new Date(a.lastBadPasswordAt),
  };
}

export function compareAccounts(a: AccountInfo, b: AccountInfo): number {
  const d = nameKey(a.domain, a.user);
  const e = nameKey(b.domain, b.user);
  return d < e ? -1 : d > e ? 1 : 0;
}

/** An in-memory store (tests, `:memory:`). Hashes are zeroed on delete, replacement and close. */
export class MemoryAccountStore implements AccountStore {
  private readonly accounts = new Map<string, Account>();
  private closed = false;
  readonly lockoutPolicy: Readonly<LockoutPolicy>;

  constructor(options: { lockout?: Partial<LockoutPolicy> } = {}) {
    this.lockoutPolicy = Object.freeze(validateLockoutPolicy(options.lockout));
  }

  private open(): void {
    if (this.closed) throw new AccountStoreError('CLOSED', 'the account store is closed');
  }

  private need(domain: string, user: string): Account {
    this.open();
    const a = this.accounts.get(nameKey(String(domain), String(user)));
    if (!a) throw new AccountStoreError('NOT_FOUND', `no account ${domain ? `${domain}\\` : ''}${user}`);
    return a;
  }

  async get(domain: string, user: string): Promise<Account | null> {
    this.open();
    const a = this.accounts.get(nameKey(String(domain), String(user)));
    return a ? copyAccount(a) : null;
  }

  async list(): Promise<AccountInfo[]> {
    this.open();
    return [...this.accounts.values()]
      .map((a) => {
        const { ntHash: _h, ...info } = copyAccount(a);
        _h.fill(0);
        return info;
      })
      .sort(compareAccounts);
  }

  async add(account: NewAccount): Promise<void> {
    this.open();
    const user = validateName('user', account.user);
    const domain = validateName('domain', account.domain ?? '');
    const ntHash = validateNtHash(account.ntHash);
    const key = nameKey(domain, user);
    if (this.accounts.has(key)) throw new AccountStoreError('EXISTS', `the account ${domain ? `${domain}\\` : ''}${user} already exists`);
    this.accounts.set(key, {
      user,
      domain,
      ntHash: ntHash.slice(),
      disabled: !!account.disabled,
      passwordExpires: account.passwordExpires ? new Date(account.passwordExpires) : null,
      badPasswordCount: 0,
      lockedOutUntil: null,
      lastBadPasswordAt: null,
    });
  }

  async setNtHash(domain: string, user: string, ntHash: Uint8Array, passwordExpires?: Date | null): Promise<void> {
    const h = validateNtHash(ntHash);
    const a = this.need(domain, user);
    a.ntHash.fill(0);
    a.ntHash = h.slice();
    if (passwordExpires !== undefined) a.passwordExpires = passwordExpires ? new Date(passwordExpires) : null;
  }

  async setDisabled(domain: string, user: string, disabled: boolean): Promise<void> {
    this.need(domain, user).disabled = !!disabled;
  }

  async unlock(domain: string, user: string): Promise<void> {
    const a = this.need(domain, user);
    a.badPasswordCount = 0;
    a.lockedOutUntil = null;
  }

  async delete(domain: string, user: string): Promise<boolean> {
    this.open();
    const key = nameKey(String(domain), String(user));
    const a = this.accounts.get(key);
    if (!a) return false;
    a.ntHash.fill(0);
    this.accounts.delete(key);
    return true;
  }

  async recordLogon(domain: string, user: string, ok: boolean, now: Date = new Date()): Promise<LogonRecord | null> {
    this.open();
    const a = this.accounts.get(nameKey(String(domain), String(user)));
    if (!a) return null;
    const next = nextLogonState(a, ok, this.lockoutPolicy, now);
    if (next) Object.assign(a, next);
    return { badPasswordCount: a.badPasswordCount, lockedOutUntil: a.lockedOutUntil, lastBadPasswordAt: a.lastBadPasswordAt };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const a of this.accounts.values()) a.ntHash.fill(0);
    this.accounts.clear();
    this.closed = true;
  }
}
