// The SQLite engine under the on-disk account store: Node's own `node:sqlite` where it is there
// without a flag (Node >= 22.13), else better-sqlite3, an optional native module (Node 20).
// better-sqlite3 12 (the last line that builds for Node 20) aborts the process on Node 24 when the
// garbage collector finalizes one of its objects (its ObjectWrap destructor asserts a current
// Environment), so where Node has its own SQLite it is used instead. Both sit behind the few calls
// the store makes, and both report errors with SQLite's result-code names (SQLITE_BUSY...).

import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { AccountStoreError } from './accounts.js';

export interface SqlStatement {
  run(...params: unknown[]): { changes: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface SqlDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  /** `fn` inside BEGIN IMMEDIATE ... COMMIT, rolled back when it throws. */
  immediate<T>(fn: () => T): T;
  close(): void;
}

export interface OpenOptions {
  /** How long a statement waits for another connection's lock, in ms. */
  timeoutMs: number;
}

// The part of node:sqlite the store uses (Node 20's @types/node has no declarations for it): its
// statements already have SqlStatement's shape.
interface NodeDatabaseSync {
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  close(): void;
}
interface NodeSqlite {
  DatabaseSync: new (path: string, options?: { timeout?: number }) => NodeDatabaseSync;
}

// The result codes the store tells apart (sqlite3.h); an extended code's low byte is its primary code.
const RESULT_NAMES: Record<number, string> = {
  3: 'SQLITE_PERM',
  5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED',
  8: 'SQLITE_READONLY',
  10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT',
  13: 'SQLITE_FULL',
  14: 'SQLITE_CANTOPEN',
  19: 'SQLITE_CONSTRAINT',
  26: 'SQLITE_NOTADB',
};

/** node:sqlite's errors carry the numeric code (errcode); give them better-sqlite3's `code` names. */
function named(e: unknown): unknown {
  const errcode = (e as { errcode?: unknown })?.errcode;
  if (typeof errcode === 'number' && e instanceof Error) {
    const name = RESULT_NAMES[errcode & 0xff];
    if (name) Object.defineProperty(e, 'code', { value: name, configurable: true });
  }
  return e;
}

let nodeSqlite: NodeSqlite | null | undefined;

/** node:sqlite when this Node has it without a flag, its one-time ExperimentalWarning kept off stderr. */
function builtinSqlite(): NodeSqlite | null {
  if (nodeSqlite !== undefined) return nodeSqlite;
  const emit = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    if (/SQLite is an experimental feature/.test(typeof warning === 'string' ? warning : warning?.message)) return;
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    nodeSqlite = (process.getBuiltinModule?.('node:sqlite') as NodeSqlite | undefined) ?? null;
  } catch {
    nodeSqlite = null; // a Node that knows the module but wants --experimental-sqlite
  } finally {
    process.emitWarning = emit;
  }
  return nodeSqlite;
}

type BetterConstructor = typeof BetterSqlite3;
let betterModule: BetterConstructor | null = null;

/**
 * better-sqlite3 through `req`, its native part loaded too (it would otherwise wait for the first
 * open); an AccountStoreError NO_SQLITE when it is missing or broken. Typed unknown so that no
 * public declaration names the optional module; exported for its tests.
 */
export function requireSqlite(req: (id: string) => unknown): unknown {
  try {
    const ctor = req('better-sqlite3') as BetterConstructor;
    new ctor(':memory:').close();
    return ctor;
  } catch (e) {
    const code = (e as { code?: unknown })?.code;
    const why = code === 'MODULE_NOT_FOUND' ? 'is not installed' : `did not load (${String((e as Error)?.message ?? e).split('\n')[0]!.slice(0, 200)})`;
    throw new AccountStoreError(
      'NO_SQLITE',
      `the on-disk account store needs Node's node:sqlite (Node 22.13 or later) or the better-sqlite3 module, which ${why}: install it (npm install better-sqlite3, which needs a prebuilt binary for this platform or a C++ compiler), or hand builtinPackages({ accounts }) a store of your own`,
      { cause: e },
    );
  }
}

/**
 * Checks that an engine is there (node:sqlite, or better-sqlite3 loaded and working), before the
 * store makes any file; the chosen engine is then kept for the process.
 */
export function sqliteEngine(): 'node:sqlite' | 'better-sqlite3' {
  if (builtinSqlite()) return 'node:sqlite';
  betterModule ??= requireSqlite(moduleRequire()) as BetterConstructor;
  return 'better-sqlite3';
}

// A CommonJS bundle of tslsa has an empty import.meta, and a require of its own to use instead.
function moduleRequire(): NodeJS.Require {
  const url = (import.meta as { url?: string }).url;
  return url ? createRequire(url) : require;
}

/** Opens `path` (an existing file, or ':memory:') with the engine sqliteEngine() picks. */
export function openSqlite(path: string, options: OpenOptions): SqlDatabase {
  try {
    return sqliteEngine() === 'node:sqlite' ? openBuiltin(builtinSqlite()!, path, options) : openBetter(betterModule!, path, options);
  } catch (e) {
    throw named(e);
  }
}

function openBuiltin(mod: NodeSqlite, path: string, options: OpenOptions): SqlDatabase {
  const db = new mod.DatabaseSync(path, { timeout: options.timeoutMs });
  const wrap = (s: SqlStatement): SqlStatement => ({
    run: (...p) => guard(() => s.run(...p)),
    get: (...p) => guard(() => s.get(...p)),
    all: (...p) => guard(() => s.all(...p)),
  });
  return {
    exec: (sql) => guard(() => db.exec(sql)),
    prepare: (sql) => wrap(guard(() => db.prepare(sql))),
    immediate<T>(fn: () => T): T {
      guard(() => db.exec('BEGIN IMMEDIATE'));
      try {
        const out = fn();
        db.exec('COMMIT');
        return out;
      } catch (e) {
        // A failed COMMIT (or statement) must not leave the connection inside the transaction.
        try {
          db.exec('ROLLBACK');
        } catch {
          // SQLite already rolled back (an error that ends the transaction)
        }
        throw named(e);
      }
    },
    close: () => guard(() => db.close()),
  };
}

function openBetter(ctor: BetterConstructor, path: string, options: OpenOptions): SqlDatabase {
  const db = new ctor(path, { fileMustExist: path !== ':memory:', timeout: options.timeoutMs });
  return {
    exec: (sql) => void db.exec(sql),
    prepare: (sql) => db.prepare(sql),
    immediate: <T>(fn: () => T): T => db.transaction(fn).immediate(),
    close: () => void db.close(),
  };
}

function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw named(e);
  }
}
