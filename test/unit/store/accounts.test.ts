import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type AccountStore, AccountStoreError, isLockedOut, LOCKED_UNTIL_UNLOCKED, MemoryAccountStore, nextLogonState } from '../../../src/store/accounts.js';
import { defaultStorePath, openAccountStore, SqliteAccountStore } from '../../../src/store/sqlite.js';
import { openSqlite, sqliteEngine } from '../../../src/store/sqliteDriver.js';
import { NTOWFv1 } from '../../../src/packages/ntlm/crypto.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tslsa-store-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const H1 = NTOWFv1('Password');
const H2 = NTOWFv1('Other');
const policy = { threshold: 3, durationMs: 60_000, observationWindowMs: 30_000 };

type Factory = () => Promise<AccountStore>;
const factories: Array<[string, Factory]> = [
  ['MemoryAccountStore', async () => new MemoryAccountStore({ lockout: policy })],
  ['SqliteAccountStore', async () => SqliteAccountStore.open(join(tempDir(), 'accounts.db'), { lockout: policy })],
  ['SqliteAccountStore :memory:', async () => SqliteAccountStore.open(':memory:', { lockout: policy })],
];

for (const [name, make] of factories) {
  describe(`${name}: the AccountStore contract`, () => {
    it('adds, gets case-insensitively, and returns canonical names and a copy of the hash', async () => {
      const s = await make();
      await s.add({ user: 'Alice', domain: 'Example', ntHash: H1 });
      const a = await s.get('EXAMPLE', 'alice');
      assert.ok(a);
      assert.equal(a.user, 'Alice');
      assert.equal(a.domain, 'Example');
      assert.deepEqual(a.ntHash, H1);
      assert.equal(a.disabled, false);
      assert.equal(a.passwordExpires, null);
      assert.equal(a.badPasswordCount, 0);
      assert.equal(a.lockedOutUntil, null);
      a.ntHash.fill(0);
      const b = await s.get('example', 'ALICE');
      assert.deepEqual(b!.ntHash, H1, 'zeroing the copy does not touch the store');
      assert.equal(await s.get('Other', 'alice'), null);
      await s.close();
    });

    it('refuses duplicates (any case), bad hashes and bad names', async () => {
      const s = await make();
      await s.add({ user: 'bob', ntHash: H1 });
      await assert.rejects(s.add({ user: 'BOB', ntHash: H2 }), (e: unknown) => e instanceof AccountStoreError && e.reason === 'EXISTS' && e.message.startsWith('STATUS_USER_EXISTS (0xC0000063): '));
      await assert.rejects(s.add({ user: 'carol', ntHash: new Uint8Array(15) }), (e: unknown) => e instanceof AccountStoreError && e.reason === 'INVALID');
      await assert.rejects(s.add({ user: '', ntHash: H1 }), (e: unknown) => e instanceof AccountStoreError && e.reason === 'INVALID');
      await assert.rejects(s.add({ user: 'a\\b', ntHash: H1 }), (e: unknown) => e instanceof AccountStoreError && e.reason === 'INVALID');
      assert.deepEqual((await s.get('', 'bob'))!.ntHash, H1);
      await s.close();
    });

    it('lists without hashes, sorted', async () => {
      const s = await make();
      await s.add({ user: 'zed', domain: 'B', ntHash: H1 });
      await s.add({ user: 'amy', domain: 'B', ntHash: H1, disabled: true });
      await s.add({ user: 'max', domain: 'A', ntHash: H2, passwordExpires: new Date('2030-01-01T00:00:00Z') });
      const l = await s.list();
      assert.deepEqual(l.map((a) => `${a.domain}\\${a.user}`), ['A\\max', 'B\\amy', 'B\\zed']);
      assert.ok(l.every((a) => !('ntHash' in a)));
      assert.equal(l[1]!.disabled, true);
      assert.equal(l[0]!.passwordExpires?.toISOString(), '2030-01-01T00:00:00.000Z');
      await s.close();
    });

    it('sets the hash, disables, unlocks, deletes', async () => {
      const s = await make();
      await s.add({ user: 'dan', ntHash: H1 });
      await s.setNtHash('', 'DAN', H2, new Date(1000));
      let a = (await s.get('', 'dan'))!;
      assert.deepEqual(a.ntHash, H2);
      assert.equal(a.passwordExpires?.getTime(), 1000);
      await s.setNtHash('', 'dan', H1);
      assert.equal((await s.get('', 'dan'))!.passwordExpires?.getTime(), 1000, 'expiry kept when not given');
      await s.setDisabled('', 'dan', true);
      assert.equal((await s.get('', 'dan'))!.disabled, true);
      await s.setDisabled('', 'dan', false);
      for (let i = 0; i < 3; i++) await s.recordLogon('', 'dan', false, new Date(10_000 + i));
      a = (await s.get('', 'dan'))!;
      assert.ok(isLockedOut(a, new Date(10_010)));
      await s.unlock('', 'dan');
      a = (await s.get('', 'dan'))!;
      assert.equal(a.badPasswordCount, 0);
      assert.equal(a.lockedOutUntil, null);
      await assert.rejects(s.setDisabled('', 'nobody', true), (e: unknown) => e instanceof AccountStoreError && e.reason === 'NOT_FOUND');
      assert.equal(await s.delete('', 'DAN'), true);
      assert.equal(await s.delete('', 'dan'), false);
      assert.equal(await s.get('', 'dan'), null);
      await s.close();
      await assert.rejects(s.get('', 'dan'), (e: unknown) => e instanceof AccountStoreError && e.reason === 'CLOSED');
    });

    it('applies the lockout policy: threshold, window, duration, reset on success', async () => {
      const s = await make();
      await s.add({ user: 'eve', ntHash: H1 });
      const t0 = 1_000_000;
      // Two bad passwords, then one outside the observation window starts again at 1.
      await s.recordLogon('', 'eve', false, new Date(t0));
      await s.recordLogon('', 'eve', false, new Date(t0 + 1000));
      let r = await s.recordLogon('', 'eve', false, new Date(t0 + 1000 + 30_000));
      assert.equal(r!.badPasswordCount, 1);
      // A success resets the count.
      await s.recordLogon('', 'eve', false, new Date(t0 + 40_000));
      r = await s.recordLogon('', 'eve', true, new Date(t0 + 41_000));
      assert.equal(r!.badPasswordCount, 0);
      // Three inside the window lock for durationMs.
      for (let i = 0; i < 3; i++) r = await s.recordLogon('', 'eve', false, new Date(t0 + 50_000 + i));
      assert.equal(r!.badPasswordCount, 3);
      assert.equal(r!.lockedOutUntil!.getTime(), t0 + 50_002 + 60_000);
      // While locked, attempts change nothing.
      r = await s.recordLogon('', 'eve', false, new Date(t0 + 60_000));
      assert.equal(r!.badPasswordCount, 3);
      r = await s.recordLogon('', 'eve', true, new Date(t0 + 60_000));
      assert.equal(r!.badPasswordCount, 3);
      // After the lockout runs out, the next bad password starts a fresh count.
      r = await s.recordLogon('', 'eve', false, new Date(t0 + 200_000));
      assert.equal(r!.badPasswordCount, 1);
      assert.equal(r!.lockedOutUntil, null);
      assert.equal(await s.recordLogon('', 'nobody', false), null);
      await s.close();
    });
  });
}

describe('lockout arithmetic', () => {
  it('threshold 0 never locks; duration 0 locks until unlocked', () => {
    let st = { badPasswordCount: 0, lockedOutUntil: null as Date | null, lastBadPasswordAt: null as Date | null };
    for (let i = 0; i < 50; i++) st = nextLogonState(st, false, { threshold: 0, durationMs: 1, observationWindowMs: 1e9 }, new Date(i)) ?? st;
    assert.equal(st.badPasswordCount, 50);
    assert.equal(st.lockedOutUntil, null);
    const locked = nextLogonState({ badPasswordCount: 0, lockedOutUntil: null, lastBadPasswordAt: null }, false, { threshold: 1, durationMs: 0, observationWindowMs: 0 }, new Date(5))!;
    assert.equal(locked.lockedOutUntil!.getTime(), LOCKED_UNTIL_UNLOCKED);
  });
  it('rejects a bad policy', () => {
    assert.throws(() => new MemoryAccountStore({ lockout: { threshold: -1 } }), AccountStoreError);
  });
});

describe('SqliteAccountStore on disk', () => {
  it('runs on node:sqlite where this Node has it without a flag (22.13+), else on better-sqlite3 (Node 20)', () => {
    let builtin = false;
    try {
      builtin = !!process.getBuiltinModule?.('node:sqlite');
    } catch {
      builtin = false;
    }
    assert.equal(sqliteEngine(), builtin ? 'node:sqlite' : 'better-sqlite3', process.version);
  });

  it('persists across reopen, is WAL with a version table, and the file is 0600', async () => {
    const p = join(tempDir(), 'a.db');
    const s = await SqliteAccountStore.open(p);
    await s.add({ user: 'u', domain: 'D', ntHash: H1 });
    await s.close();
    assert.equal(statSync(p).mode & 0o777, 0o600);
    // Through the engine the store uses: two SQLite copies in one process do not see each other's locks.
    const db = openSqlite(p, { timeoutMs: 0 });
    assert.deepEqual({ ...(db.prepare('PRAGMA journal_mode').get() as object) }, { journal_mode: 'wal' });
    assert.deepEqual(db.prepare('SELECT version FROM schema_version').all().map((r) => ({ ...(r as object) })), [{ version: 1 }]);
    db.close();
    const s2 = await SqliteAccountStore.open(p);
    assert.deepEqual((await s2.get('d', 'U'))!.ntHash, H1);
    await s2.close();
  });

  it('a missing directory is a clear error naming the path, and nothing is created', async () => {
    const p = join(tempDir(), 'no', 'such', 'dir', 'a.db');
    await assert.rejects(SqliteAccountStore.open(p), (e: unknown) => e instanceof AccountStoreError && e.reason === 'NO_DIRECTORY' && e.message.includes(p));
    const s = await SqliteAccountStore.open(p, { createDirectory: true });
    await s.close();
    assert.equal(statSync(join(p, '..')).mode & 0o777, 0o700);
  });

  it('create: false refuses an absent file', async () => {
    const p = join(tempDir(), 'absent.db');
    await assert.rejects(SqliteAccountStore.open(p, { create: false }), (e: unknown) => e instanceof AccountStoreError && e.reason === 'NOT_FOUND');
  });

  it('a garbage file is refused with a clear error and left untouched', async () => {
    const p = join(tempDir(), 'garbage.db');
    const garbage = Buffer.from('this is not a database, but somebody cares about it\n'.repeat(100));
    writeFileSync(p, garbage);
    await assert.rejects(SqliteAccountStore.open(p), (e: unknown) => e instanceof AccountStoreError && e.reason === 'NOT_A_STORE' && e.message.includes(p));
    assert.deepEqual(readFileSync(p), garbage);
  });

  it('a damaged store fails its integrity check, is left untouched, and no hash is in the message', async () => {
    const p = join(tempDir(), 'damaged.db');
    const s = await SqliteAccountStore.open(p);
    for (let i = 0; i < 200; i++) await s.add({ user: `user${i}`, domain: 'D', ntHash: H1 });
    await s.close();
    const bytes = readFileSync(p);
    const pageSize = bytes.readUInt16BE(16);
    assert.ok(bytes.length > 3 * pageSize);
    // Scribble over the second page (a b-tree page) but keep the header valid.
    for (let i = pageSize; i < pageSize + 200; i++) bytes[i] = 0xa5;
    writeFileSync(p, bytes);
    await assert.rejects(SqliteAccountStore.open(p), (e: unknown) => {
      assert.ok(e instanceof AccountStoreError, String(e));
      assert.ok(e.reason === 'CORRUPT', e.reason);
      assert.ok(e.message.startsWith('STATUS_DISK_CORRUPT_ERROR (0xC0000032): '), e.message);
      assert.ok(e.message.includes(p));
      assert.ok(!e.message.toLowerCase().includes(Buffer.from(H1).toString('hex')));
      return true;
    });
    assert.deepEqual(readFileSync(p), bytes);
  });

  it('another SQLite database is not taken over', async () => {
    const p = join(tempDir(), 'other.db');
    writeFileSync(p, '');
    const db = openSqlite(p, { timeoutMs: 0 });
    db.exec('CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES (\'keep me\')');
    db.close();
    const before = readFileSync(p);
    await assert.rejects(SqliteAccountStore.open(p), (e: unknown) => e instanceof AccountStoreError && e.reason === 'NOT_A_STORE');
    assert.deepEqual(readFileSync(p), before);
  });

  it('a locked file gives a LOCKED error naming the path; accounts survive', async () => {
    const p = join(tempDir(), 'locked.db');
    const s = await SqliteAccountStore.open(p, { busyTimeoutMs: 50 });
    await s.add({ user: 'keep', ntHash: H1 });
    const other = openSqlite(p, { timeoutMs: 0 });
    other.exec('BEGIN IMMEDIATE');
    await assert.rejects(s.add({ user: 'new', ntHash: H2 }), (e: unknown) => e instanceof AccountStoreError && e.reason === 'LOCKED' && e.message.startsWith('STATUS_SHARING_VIOLATION (0xC0000043): ') && e.message.includes(p));
    await assert.rejects(s.recordLogon('', 'keep', false), (e: unknown) => e instanceof AccountStoreError && e.reason === 'LOCKED');
    other.exec('ROLLBACK');
    other.close();
    await s.add({ user: 'new', ntHash: H2 });
    assert.equal((await s.list()).length, 2);
    await s.close();
  });

  it('every write is a transaction: a failing write leaves nothing behind', async () => {
    const p = join(tempDir(), 'tx.db');
    const s = await SqliteAccountStore.open(p);
    await s.add({ user: 'x', ntHash: H1 });
    // A duplicate fails inside the transaction; the original row is intact.
    await assert.rejects(s.add({ user: 'X', ntHash: H2 }));
    assert.deepEqual((await s.get('', 'x'))!.ntHash, H1);
    // Concurrent counters from two connections do not lose increments.
    const s2 = await SqliteAccountStore.open(p, { lockout: { threshold: 0 } });
    const s1 = await SqliteAccountStore.open(p, { lockout: { threshold: 0 } });
    const now = new Date();
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? s1 : s2).recordLogon('', 'x', false, now)));
    assert.equal((await s.get('', 'x'))!.badPasswordCount, 20);
    await Promise.all([s.close(), s1.close(), s2.close()]);
  });

  it('openAccountStore(":memory:") is a MemoryAccountStore', async () => {
    const s = await openAccountStore(':memory:');
    assert.ok(s instanceof MemoryAccountStore);
    await s.close();
  });
});

describe('defaultStorePath', () => {
  it('TSLSA_STORE, then XDG_DATA_HOME, then ~/.local/share', () => {
    assert.equal(defaultStorePath({ TSLSA_STORE: '/x/y.db', XDG_DATA_HOME: '/d' }), '/x/y.db');
    assert.equal(defaultStorePath({ XDG_DATA_HOME: '/data' }), '/data/tslsa/accounts.db');
    assert.equal(defaultStorePath({ XDG_DATA_HOME: 'relative', HOME: '/home/u' }), '/home/u/.local/share/tslsa/accounts.db');
    assert.equal(defaultStorePath({ HOME: '/home/u' }), '/home/u/.local/share/tslsa/accounts.db');
  });
});
