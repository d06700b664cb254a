// The account store on disk: one SQLite database (node:sqlite or better-sqlite3, see
// sqliteDriver.ts) in WAL mode, with a schema version table, every write in a transaction and a
// busy timeout for concurrent processes.
//
// Opening never risks the accounts already stored: an existing file is opened only when it starts
// with the SQLite header, passes `PRAGMA integrity_check` and holds our schema (checked before
// anything is written); otherwise the open fails with an AccountStoreError naming the path and the
// file is left as it was. A new store is created only where no file exists, with mode 0600. The
// directory must exist unless `createDirectory` is set (the CLI sets it for the default path).
//
// Default path: $TSLSA_STORE (or the CLI's --store), else $XDG_DATA_HOME/tslsa/accounts.db, else
// ~/.local/share/tslsa/accounts.db. See defaultStorePath().

import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  type Account,
  type AccountInfo,
  type AccountStore,
  AccountStoreError,
  type LockoutPolicy,
  type LogonRecord,
  MemoryAccountStore,
  type NewAccount,
  nameKey,
  nextLogonState,
  validateLockoutPolicy,
  validateName,
  validateNtHash,
} from './accounts.js';
import { openSqlite, sqliteEngine, type SqlDatabase, type SqlStatement } from './sqliteDriver.js';

/** The schema version this code writes and reads. */
export const STORE_SCHEMA_VERSION = 1;

const SQLITE_HEADER = 'SQLite format 3\u0000';

/** The store path when none is given: TSLSA_STORE, else the XDG data directory. */
export function defaultStorePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TSLSA_STORE) return env.TSLSA_STORE;
  const xdg = env.XDG_DATA_HOME;
  // The XDG spec says relative values are invalid and must be ignored.
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'tslsa', 'accounts.db');
}

export interface SqliteStoreOptions {
  lockout?: Partial<LockoutPolicy>;
  /** Create a missing parent directory (mode 0700) instead of failing. */
  createDirectory?: boolean;
  /** Create the store when the file does not exist (default true). */
  create?: boolean;
  /** How long a write waits for another process's lock (default 5000 ms). */
  busyTimeoutMs?: number;
}

interface Row {
  user: string;
  domain: string;
  nt_hash: Uint8Array;
  disabled: number;
  password_expires: number | null;
  bad_password_count: number;
  locked_out_until: number | null;
  last_bad_password_at: number | null;
}

const SCHEMA = `
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE accounts (
  name_key TEXT PRIMARY KEY NOT NULL,
  user TEXT NOT NULL,
  domain TEXT NOT NULL,
  nt_hash BLOB NOT NULL CHECK (length(nt_hash) = 16),
  disabled INTEGER NOT NULL DEFAULT 0,
  password_expires INTEGER,
  bad_password_count INTEGER NOT NULL DEFAULT 0,
  locked_out_until INTEGER,
  last_bad_password_at INTEGER
) WITHOUT ROWID;
`;

function date(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

function ms(d: Date | null | undefined): number | null {
  if (!d) return null;
  const t = new Date(d).getTime();
  if (!Number.isFinite(t)) throw new AccountStoreError('INVALID', 'invalid date');
  return t;
}

function toInfo(r: Row): AccountInfo {
  return {
    user: r.user,
    domain: r.domain,
    disabled: r.disabled !== 0,
    passwordExpires: date(r.password_expires),
    badPasswordCount: r.bad_password_count,
    lockedOutUntil: date(r.locked_out_until),
    lastBadPasswordAt: date(r.last_bad_password_at),
  };
}

function sqliteCode(e: unknown): string {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'string' ? c : '';
}

/** Turn a driver error into an AccountStoreError naming the path (the SQL error text holds no secrets). */
function mapError(e: unknown, path: string, doing: string): AccountStoreError {
  if (e instanceof AccountStoreError) return e;
  const code = sqliteCode(e);
  // Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_SHORT_READ...) share their primary code's prefix.
  const base = code.split('_').slice(0, 2).join('_');
  const msg = (e as Error)?.message ?? String(e);
  if (base === 'SQLITE_BUSY' || base === 'SQLITE_LOCKED') {
    return new AccountStoreError('LOCKED', `account store ${path} is locked by another process (${doing}); try again`, { path, cause: e });
  }
  if (base === 'SQLITE_CORRUPT' || base === 'SQLITE_NOTADB') {
    return new AccountStoreError('CORRUPT', `account store ${path} is damaged (${doing}: ${msg}); it was left untouched`, { path, cause: e });
  }
  if (base === 'SQLITE_READONLY' || base === 'SQLITE_PERM' || base === 'SQLITE_CANTOPEN' || base === 'SQLITE_IOERR' || base === 'SQLITE_FULL') {
    return new AccountStoreError('IO', `account store ${path}: ${doing} failed (${msg})`, { path, cause: e });
  }
  if (base === 'SQLITE_CONSTRAINT') {
    return new AccountStoreError('INVALID', `account store ${path}: ${doing} violates the schema (${msg})`, { path, cause: e });
  }
  return new AccountStoreError('IO', `account store ${path}: ${doing} failed (${msg})`, { path, cause: e });
}

/** Check the file before SQLite touches it: absent (create), or a regular file with the SQLite header. */
function inspectFile(path: string): 'absent' | 'sqlite' {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    if (sqliteCode(e) === 'ENOENT') return 'absent';
    throw new AccountStoreError('IO', `cannot read account store ${path}: ${(e as Error).message}`, { path, cause: e });
  }
  if (!st.isFile()) throw new AccountStoreError('NOT_A_STORE', `account store ${path} is not a regular file`, { path });
  const head = Buffer.alloc(16);
  let n = 0;
  try {
    const fd = openSync(path, 'r');
    try {
      n = readSync(fd, head, 0, 16, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new AccountStoreError('IO', `cannot read account store ${path}: ${(e as Error).message}`, { path, cause: e });
  }
  if (n < 16 || head.toString('latin1') !== SQLITE_HEADER) {
    throw new AccountStoreError('NOT_A_STORE', `${path} is not a tslsa account store (not an SQLite database); it was left untouched`, { path });
  }
  return 'sqlite';
}

export class SqliteAccountStore implements AccountStore {
  readonly lockoutPolicy: Readonly<LockoutPolicy>;
  private db: SqlDatabase | null;

  private constructor(
    readonly path: string,
    db: SqlDatabase,
    lockout: LockoutPolicy,
  ) {
    this.db = db;
    this.lockoutPolicy = Object.freeze(lockout);
  }

  /** Open (or create) the store at `path`; see the file comment for what is refused. */
  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteAccountStore> {
    const lockout = validateLockoutPolicy(options.lockout);
    if (typeof path !== 'string' || path.length === 0) throw new AccountStoreError('INVALID', 'the account store path is empty');
    const memory = path === ':memory:';
    const full = memory ? path : resolve(path);
    let state: 'absent' | 'sqlite' = 'absent';
    if (!memory) {
      const dir = dirname(full);
      let dirOk = false;
      try {
        dirOk = statSync(dir).isDirectory();
      } catch {
        dirOk = false;
      }
      if (!dirOk) {
        if (!options.createDirectory) throw new AccountStoreError('NO_DIRECTORY', `the directory of account store ${full} does not exist`, { path: full });
        try {
          mkdirSync(dir, { recursive: true, mode: 0o700 });
        } catch (e) {
          throw new AccountStoreError('NO_DIRECTORY', `cannot create the directory of account store ${full}: ${(e as Error).message}`, { path: full, cause: e });
        }
      }
      state = inspectFile(full);
      if (state === 'absent') {
        if (options.create === false) throw new AccountStoreError('NOT_FOUND', `account store ${full} does not exist`, { path: full });
        // Before the file is made: one made for an engine that then fails to load would stay empty.
        sqliteEngine();
        // Create the file ourselves so it is 0600 from the first byte ('wx' fails if it appeared meanwhile).
        try {
          closeSync(openSync(full, 'wx', 0o600));
        } catch (e) {
          throw new AccountStoreError('IO', `cannot create account store ${full}: ${(e as Error).message}`, { path: full, cause: e });
        }
      }
    }
    let db: SqlDatabase;
    try {
      db = openSqlite(full, { timeoutMs: options.busyTimeoutMs ?? 5000 });
    } catch (e) {
      throw mapError(e, full, 'open');
    }
    try {
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      if (state === 'sqlite') SqliteAccountStore.verify(db, full);
      else {
        db.exec('PRAGMA journal_mode = WAL');
        db.immediate(() => {
          db.exec(SCHEMA);
          db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(STORE_SCHEMA_VERSION);
        });
      }
      // Persistent once set; a no-op on an existing store.
      if (!memory && String(Object.values(db.prepare('PRAGMA journal_mode').get() as object)[0]).toLowerCase() !== 'wal') db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
      db.exec('PRAGMA secure_delete = ON');
    } catch (e) {
      db.close();
      // A store we were creating holds no accounts yet: do not leave a half-made file behind.
      if (state === 'absent' && !memory) for (const f of [full, `${full}-wal`, `${full}-shm`]) rmSync(f, { force: true });
      throw mapError(e, full, 'open');
    }
    return new SqliteAccountStore(full, db, lockout);
  }

  // Read-only checks of an existing file, before anything is written to it.
  private static verify(db: SqlDatabase, path: string): void {
    const check = db.prepare('PRAGMA integrity_check').all() as Array<Record<string, unknown>>;
    const first = check[0] ? String(Object.values(check[0])[0]) : '';
    if (check.length !== 1 || first !== 'ok') {
      throw new AccountStoreError('CORRUPT', `account store ${path} failed its integrity check; it was left untouched (restore a backup)`, { path });
    }
    const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name));
    if (!tables.has('schema_version') || !tables.has('accounts')) {
      throw new AccountStoreError('NOT_A_STORE', `${path} is an SQLite database but not a tslsa account store; it was left untouched`, { path });
    }
    const v = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null } | undefined;
    if (!v || v.v !== STORE_SCHEMA_VERSION) {
      throw new AccountStoreError('NOT_A_STORE', `account store ${path} has schema version ${v?.v ?? 'none'}; this tslsa reads version ${STORE_SCHEMA_VERSION}`, { path });
    }
  }

  private get conn(): SqlDatabase {
    if (!this.db) throw new AccountStoreError('CLOSED', `account store ${this.path} is closed`, { path: this.path });
    return this.db;
  }

  private run<T>(doing: string, fn: (db: SqlDatabase) => T, write = false): T {
    const db = this.conn;
    try {
      return write ? db.immediate(() => fn(db)) : fn(db);
    } catch (e) {
      throw mapError(e, this.path, doing);
    }
  }

  // Prepared once per connection: compiling the SQL costs more than running it, on every logon.
  private rowStatement: { db: SqlDatabase; stmt: SqlStatement } | null = null;

  private row(db: SqlDatabase, domain: string, user: string): Row | undefined {
    if (this.rowStatement?.db !== db) this.rowStatement = { db, stmt: db.prepare('SELECT * FROM accounts WHERE name_key = ?') };
    return this.rowStatement.stmt.get(nameKey(String(domain), String(user))) as Row | undefined;
  }

  private need(db: SqlDatabase, domain: string, user: string): Row {
    const r = this.row(db, domain, user);
    if (!r) throw new AccountStoreError('NOT_FOUND', `no account ${domain ? `${domain}\\` : ''}${user}`, { path: this.path });
    return r;
  }

  async get(domain: string, user: string): Promise<Account | null> {
    return this.run('get', (db) => {
      const r = this.row(db, domain, user);
      if (!r) return null;
      const ntHash = new Uint8Array(r.nt_hash);
      r.nt_hash.fill(0);
      return { ...toInfo(r), ntHash };
    });
  }

  async list(): Promise<AccountInfo[]> {
    return this.run('list', (db) =>
      (db.prepare('SELECT user, domain, disabled, password_expires, bad_password_count, locked_out_until, last_bad_password_at FROM accounts ORDER BY name_key').all() as Row[]).map(toInfo),
    );
  }

  async add(account: NewAccount): Promise<void> {
    const user = validateName('user', account.user);
    const domain = validateName('domain', account.domain ?? '');
    const ntHash = validateNtHash(account.ntHash);
    const expires = ms(account.passwordExpires);
    this.run(
      'add',
      (db) => {
        if (this.row(db, domain, user)) throw new AccountStoreError('EXISTS', `the account ${domain ? `${domain}\\` : ''}${user} already exists`, { path: this.path });
        const copy = Buffer.from(ntHash);
        try {
          db.prepare('INSERT INTO accounts (name_key, user, domain, nt_hash, disabled, password_expires) VALUES (?, ?, ?, ?, ?, ?)').run(nameKey(domain, user), user, domain, copy, account.disabled ? 1 : 0, expires);
        } finally {
          copy.fill(0);
        }
      },
      true,
    );
  }

  async setNtHash(domain: string, user: string, ntHash: Uint8Array, passwordExpires?: Date | null): Promise<void> {
    const h = validateNtHash(ntHash);
    const expires = passwordExpires === undefined ? undefined : ms(passwordExpires);
    this.run(
      'set password',
      (db) => {
        const r = this.need(db, domain, user);
        r.nt_hash.fill(0);
        const copy = Buffer.from(h);
        try {
          if (expires === undefined) db.prepare('UPDATE accounts SET nt_hash = ? WHERE name_key = ?').run(copy, nameKey(r.domain, r.user));
          else db.prepare('UPDATE accounts SET nt_hash = ?, password_expires = ? WHERE name_key = ?').run(copy, expires, nameKey(r.domain, r.user));
        } finally {
          copy.fill(0);
        }
      },
      true,
    );
  }

  async setDisabled(domain: string, user: string, disabled: boolean): Promise<void> {
    this.run(
      disabled ? 'disable' : 'enable',
      (db) => {
        const r = this.need(db, domain, user);
        r.nt_hash.fill(0);
        db.prepare('UPDATE accounts SET disabled = ? WHERE name_key = ?').run(disabled ? 1 : 0, nameKey(r.domain, r.user));
      },
      true,
    );
  }

  async unlock(domain: string, user: string): Promise<void> {
    this.run(
      'unlock',
      (db) => {
        const r = this.need(db, domain, user);
        r.nt_hash.fill(0);
        db.prepare('UPDATE accounts SET bad_password_count = 0, locked_out_until = NULL WHERE name_key = ?').run(nameKey(r.domain, r.user));
      },
      true,
    );
  }

  async delete(domain: string, user: string): Promise<boolean> {
    return this.run('delete', (db) => db.prepare('DELETE FROM accounts WHERE name_key = ?').run(nameKey(String(domain), String(user))).changes > 0, true);
  }

  async recordLogon(domain: string, user: string, ok: boolean, now: Date = new Date()): Promise<LogonRecord | null> {
    // A success that has nothing to reset (the common case) takes no write lock: a failure another
    // process counts meanwhile is simply ordered after it.
    if (ok) {
      const quick = this.run('record logon', (db) => {
        const r = this.row(db, domain, user);
        if (!r) return { done: true, rec: null };
        r.nt_hash.fill(0);
        const cur: LogonRecord = { badPasswordCount: r.bad_password_count, lockedOutUntil: date(r.locked_out_until), lastBadPasswordAt: date(r.last_bad_password_at) };
        return { done: nextLogonState(cur, true, this.lockoutPolicy, now) === null, rec: cur };
      });
      if (quick.done) return quick.rec;
    }
    // Read-modify-write in one IMMEDIATE transaction: two processes counting the same account
    // serialize on the write lock and neither increment is lost.
    return this.run(
      'record logon',
      (db) => {
        const r = this.row(db, domain, user);
        if (!r) return null;
        r.nt_hash.fill(0);
        const cur: LogonRecord = { badPasswordCount: r.bad_password_count, lockedOutUntil: date(r.locked_out_until), lastBadPasswordAt: date(r.last_bad_password_at) };
        const next = nextLogonState(cur, ok, this.lockoutPolicy, now);
        if (!next) return cur;
        db.prepare('UPDATE accounts SET bad_password_count = ?, locked_out_until = ?, last_bad_password_at = ? WHERE name_key = ?').run(
          next.badPasswordCount,
          ms(next.lockedOutUntil),
          ms(next.lastBadPasswordAt),
          nameKey(r.domain, r.user),
        );
        return next;
      },
      true,
    );
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = null;
    this.rowStatement = null;
    if (!db) return;
    try {
      db.close();
    } catch (e) {
      throw mapError(e, this.path, 'close');
    }
  }
}

/** Open the store a path names: ':memory:' gives a MemoryAccountStore, anything else SQLite. */
export async function openAccountStore(path: string, options: SqliteStoreOptions = {}): Promise<AccountStore> {
  if (path === ':memory:') return new MemoryAccountStore(options.lockout ? { lockout: options.lockout } : {});
  return SqliteAccountStore.open(path, options);
}
