import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { userCommand } from '../../src/cli/user.js';
import { NTOWFv1 } from '../../src/packages/ntlm/crypto.js';
import { SqliteAccountStore } from '../../src/store/sqlite.js';
import { sink } from './http/helpers.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tslsa-cli-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function run(argv: string[], stdin = '', env: NodeJS.ProcessEnv = {}) {
  const out = sink();
  const err = sink();
  const code = await userCommand(argv, { stdin: Readable.from([Buffer.from(stdin)]), stdout: out, stderr: err, env });
  return { code, out: out.text(), err: err.text() };
}

describe('tslsa user', () => {
  it('add / list / passwd / disable / enable / unlock / delete against --store', async () => {
    const store = join(tempDir(), 'accounts.db');
    let r = await run(['add', 'alice', '--domain', 'EXAMPLE', '--password-stdin', '--store', store], 's3cret pass\n');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /added EXAMPLE\\alice/);
    assert.ok(!r.out.includes('s3cret') && !r.err.includes('s3cret'), 'the password is never echoed');
    assert.equal(statSync(store).mode & 0o777, 0o600);

    let s = await SqliteAccountStore.open(store);
    assert.deepEqual((await s.get('example', 'ALICE'))!.ntHash, NTOWFv1('s3cret pass'));
    await s.close();

    r = await run(['add', 'EXAMPLE\\alice', '--password-stdin', '--store', store], 'x\n');
    assert.equal(r.code, 1);
    assert.match(r.err, /already exists/);

    r = await run(['passwd', 'EXAMPLE\\Alice', '--password-stdin', '--store', store, '--expires', '2001-01-01T00:00:00Z'], 'new one\r\nignored second line\n');
    assert.equal(r.code, 0, r.err);
    s = await SqliteAccountStore.open(store);
    const a = (await s.get('EXAMPLE', 'alice'))!;
    assert.deepEqual(a.ntHash, NTOWFv1('new one'));
    assert.equal(a.passwordExpires?.toISOString(), '2001-01-01T00:00:00.000Z');
    for (let i = 0; i < 10; i++) await s.recordLogon('EXAMPLE', 'alice', false);
    await s.close();

    r = await run(['disable', 'alice', '--domain', 'EXAMPLE', '--store', store]);
    assert.equal(r.code, 0, r.err);
    r = await run(['list', '--json', '--store', store]);
    assert.equal(r.code, 0, r.err);
    const rows = JSON.parse(r.out) as Array<Record<string, unknown>>;
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.user, 'alice');
    assert.equal(rows[0]!.disabled, true);
    assert.equal(rows[0]!.lockedOut, true);
    assert.equal(rows[0]!.passwordExpired, true);
    assert.ok(!r.out.includes('ntHash') && !r.out.toLowerCase().includes(Buffer.from(NTOWFv1('new one')).toString('hex')));
    r = await run(['list', '--store', store]);
    assert.match(r.out, /EXAMPLE\\alice\s+\(disabled, locked out until .*, password expired\)/);

    assert.equal((await run(['enable', 'EXAMPLE\\alice', '--store', store])).code, 0);
    assert.equal((await run(['unlock', 'EXAMPLE\\alice', '--store', store])).code, 0);
    r = await run(['list', '--json', '--store', store]);
    const row = (JSON.parse(r.out) as Array<Record<string, unknown>>)[0]!;
    assert.equal(row.disabled, false);
    assert.equal(row.lockedOut, false);
    assert.equal(row.badPasswordCount, 0);

    assert.equal((await run(['delete', 'EXAMPLE\\alice', '--store', store])).code, 0);
    r = await run(['delete', 'EXAMPLE\\alice', '--store', store]);
    assert.equal(r.code, 1);
    assert.match(r.err, /no account EXAMPLE\\alice/);
    assert.equal((await run(['list', '--store', store])).out, 'No accounts.\n');
  });

  it('TSLSA_STORE and the XDG default', async () => {
    const d = tempDir();
    const viaEnv = join(d, 'env.db');
    assert.equal((await run(['add', 'bob', '--password-stdin'], 'pw\n', { TSLSA_STORE: viaEnv })).code, 0);
    assert.ok(existsSync(viaEnv));
    const xdg = join(d, 'xdg');
    // The default location's directory is created (0700); an explicit path's is not.
    assert.equal((await run(['add', 'carol', '--password-stdin'], 'pw\n', { XDG_DATA_HOME: xdg })).code, 0);
    assert.ok(existsSync(join(xdg, 'tslsa', 'accounts.db')));
    const r = await run(['add', 'dave', '--password-stdin', '--store', join(d, 'missing', 'a.db')], 'pw\n');
    assert.equal(r.code, 1);
    assert.match(r.err, /directory of account store .*missing.* does not exist/);
    // list on a store that does not exist yet is empty, and creates nothing.
    const r2 = await run(['list'], '', { XDG_DATA_HOME: join(d, 'nothing-here') });
    assert.equal(r2.code, 0, r2.err);
    assert.equal(r2.out, 'No accounts.\n');
    assert.ok(!existsSync(join(d, 'nothing-here')));
  });

  it('usage errors: no --password-stdin, a password in argv, empty stdin, unknown command', async () => {
    const store = join(tempDir(), 'a.db');
    let r = await run(['add', 'eve', '--store', store], 'pw\n');
    assert.equal(r.code, 2);
    assert.match(r.err, /--password-stdin/);
    r = await run(['add', 'eve', 'hunter2', '--password-stdin', '--store', store], 'pw\n');
    assert.equal(r.code, 2);
    assert.ok(!r.err.includes('hunter2'), r.err);
    r = await run(['add', 'eve', '--password=hunter2', '--store', store]);
    assert.equal(r.code, 2);
    assert.match(r.err, /never taken from the command line/);
    r = await run(['add', 'eve', '--password-stdin', '--store', store], '');
    assert.equal(r.code, 2);
    assert.match(r.err, /no password on stdin/);
    assert.equal((await run(['frobnicate', 'x', '--store', store])).code, 2);
    assert.equal((await run(['disable', '--store', store])).code, 2);
    assert.equal((await run([])).code, 2);
    assert.match((await run(['--help'])).out, /tslsa user add NAME/);
    r = await run(['passwd', 'nobody', '--password-stdin', '--store', store], 'pw\n');
    assert.equal(r.code, 1);
    assert.match(r.err, /no account nobody/);
  });

  it('a damaged store is reported and left untouched', async () => {
    const p = join(tempDir(), 'junk.db');
    writeFileSync(p, 'definitely not sqlite');
    const r = await run(['add', 'x', '--password-stdin', '--store', p], 'pw\n');
    assert.equal(r.code, 1);
    assert.match(r.err, /not a tslsa account store/);
    assert.ok(r.err.includes(p));
    assert.equal(readFileSync(p, 'utf8'), 'definitely not sqlite');
    const l = await run(['list', '--store', p]);
    assert.equal(l.code, 1);
  });

  it('finds a bare NAME in whatever domain it was added to, and refuses an ambiguous one', async () => {
    const store = join(tempDir(), 'accounts.db');
    assert.equal((await run(['add', 'EXAMPLE\\bob', '--password-stdin', '--store', store], 'pw\n')).code, 0);
    const d = await run(['disable', 'bob', '--store', store]);
    assert.equal(d.code, 0, d.err);
    assert.match((await run(['list', '--store', store])).out, /EXAMPLE\\bob\s+\(disabled\)/);
    assert.equal((await run(['add', 'OTHER\\bob', '--password-stdin', '--store', store], 'pw\n')).code, 0);
    const amb = await run(['enable', 'bob', '--store', store]);
    assert.equal(amb.code, 2);
    assert.match(amb.err, /several accounts are named bob/);
    assert.equal((await run(['enable', 'EXAMPLE\\bob', '--store', store])).code, 0);
  });
});

