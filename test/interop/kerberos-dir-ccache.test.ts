// DIR ccache collections (KRB5CCNAME=DIR:/dir) against MIT's own tools: caches MIT kinit makes and
// switches are listed by our klist -l/-A exactly as MIT's klist lists them; caches, primaries and
// switches we make are read by MIT klist, kswitch and kvno; our credentials pick the collection's
// cache for a named principal. A missing MIT binary fails these tests (createRealm).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRealm, type Realm } from './lib/realm.js';
import { run, describeFailure, type RunResult } from './lib/proc.js';
import { kerberosCli } from '../unit/packages/kerberos/cli-helper.js';
import { acquireKerberosCredentials } from '../../src/packages/kerberos/client/credentials.js';
import { formatPrincipal } from '../../src/packages/kerberos/keytab.js';

const T = { timeout: 90_000 };
const ALICE_PW = 'Alice-Dir-Passw0rd';
// A principal longer than klist -l's 30-column field, to pin how the column is cut.
const LONG = 'a-principal-name-longer-than-thirty';
const LONG_PW = 'Long-Dir-Passw0rd';

describe('DIR ccache collections with MIT krb5', () => {
  let setup: Promise<Realm> | undefined;
  const r = async (): Promise<Realm> => {
    setup ??= (async () => {
      const realm = await createRealm();
      await realm.addPrincipal('alice', { password: ALICE_PW });
      await realm.addPrincipal(LONG, { password: LONG_PW });
      return realm;
    })();
    return setup;
  };
  after(async () => {
    if (setup) await (await setup.catch(() => undefined))?.stop();
  });

  const envFor = (realm: Realm, dir: string) => realm.childEnv({ KRB5CCNAME: `DIR:${dir}` });
  const mit = async (realm: Realm, dir: string, cmd: string, args: string[], input?: string): Promise<RunResult> =>
    run(cmd, args, { env: envFor(realm, dir), ...(input !== undefined ? { input } : {}) });
  const ours = (realm: Realm, dir: string, cmd: string, args: string[], input = '') => kerberosCli(cmd, args, { env: envFor(realm, dir), input });
  const primaryOf = (dir: string): string => readFileSync(join(dir, 'primary'), 'utf8');

  test('MIT kinit builds a collection: our klist, klist -l and klist -A print what MIT klist prints', T, async () => {
    const realm = await r();
    const dir = join(realm.dir, 'mit-collection');
    for (const [p, pw] of [['user', realm.passwords.user!], [LONG, LONG_PW], ['alice', ALICE_PW]] as const) {
      const k = await mit(realm, dir, 'kinit', [p], `${pw}\n`);
      assert.equal(k.code, 0, describeFailure(k));
    }
    // MIT made alice's cache primary (kinit switches to the cache it wrote).
    assert.match(primaryOf(dir), /^tkt\w{6}\n$/);
    for (const args of [[], ['-e'], ['-l'], ['-A'], ['-A', '-e']]) {
      const theirs = await mit(realm, dir, 'klist', args);
      const mine = await ours(realm, dir, 'klist', args);
      assert.equal(theirs.code, 0, describeFailure(theirs));
      assert.equal(mine.code, 0, mine.stderr);
      assert.equal(mine.stdout, theirs.stdout, `klist ${args.join(' ')}`);
    }
    const listed = (await ours(realm, dir, 'klist', ['-l'])).stdout;
    assert.match(listed, new RegExp(`^${LONG.slice(0, 30)} DIR::${dir}/tkt`, 'm'));
    assert.match(listed, new RegExp(`^alice@EXAMPLE\\.TEST +DIR::${dir}/tkt\\w{6}\\n`, 'm'));
  });

  test('our kinit builds a collection that MIT klist, kswitch and kvno use', T, async () => {
    const realm = await r();
    const dir = join(realm.dir, 'our-collection');
    const k1 = await ours(realm, dir, 'kinit', ['user'], `${realm.passwords.user}\n`);
    assert.equal(k1.code, 0, k1.stderr);
    // First cache: the default "tkt", named primary when the collection was opened, as MIT does.
    assert.equal(primaryOf(dir), 'tkt\n');
    const k2 = await ours(realm, dir, 'kinit', ['alice'], `${ALICE_PW}\n`);
    assert.equal(k2.code, 0, k2.stderr);
    const alicePrimary = primaryOf(dir);
    assert.match(alicePrimary, /^tkt[A-Za-z0-9]{6}\n$/);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('tkt')).sort(), ['tkt', alicePrimary.trim()].sort());

    let theirs = await mit(realm, dir, 'klist', ['-l']);
    assert.equal(theirs.code, 0, describeFailure(theirs));
    assert.deepEqual(theirs.stdout.split('\n').slice(2, 4).map((l) => l.split(/\s+/)[0]), ['alice@EXAMPLE.TEST', 'user@EXAMPLE.TEST']);
    assert.equal((await ours(realm, dir, 'klist', ['-l'])).stdout, theirs.stdout);

    // kinit again for user reuses user's cache (no third file) and makes it primary.
    assert.equal((await ours(realm, dir, 'kinit', ['user'], `${realm.passwords.user}\n`)).code, 0);
    assert.equal(primaryOf(dir), 'tkt\n');
    assert.equal(readdirSync(dir).filter((n) => n.startsWith('tkt')).length, 2);

    // Our kswitch moves the primary; MIT's klist follows it. MIT's kswitch moves it back; ours follows.
    assert.equal((await ours(realm, dir, 'kswitch', ['-p', 'alice'])).code, 0);
    theirs = await mit(realm, dir, 'klist', []);
    assert.match(theirs.stdout, /Default principal: alice@EXAMPLE\.TEST/);
    const sw = await mit(realm, dir, 'kswitch', ['-p', 'user']);
    assert.equal(sw.code, 0, describeFailure(sw));
    assert.match((await ours(realm, dir, 'klist', [])).stdout, new RegExp(`^Ticket cache: DIR::${dir}/tkt\\nDefault principal: user@EXAMPLE\\.TEST`));
    assert.equal((await ours(realm, dir, 'kswitch', ['-c', `DIR::${join(dir, alicePrimary.trim())}`])).code, 0);
    assert.equal(primaryOf(dir), alicePrimary);
    const missing = await ours(realm, dir, 'kswitch', ['-p', 'nobody']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Can't find client principal nobody@EXAMPLE\.TEST in cache collection/);

    // Our kvno stores into the primary (alice's); MIT klist of that cache shows the service ticket.
    const kv = await ours(realm, dir, 'kvno', ['HTTP/localhost']);
    assert.equal(kv.code, 0, kv.stderr);
    theirs = await mit(realm, dir, 'klist', ['-c', `DIR::${join(dir, alicePrimary.trim())}`]);
    assert.match(theirs.stdout, /HTTP\/localhost@EXAMPLE\.TEST/);
    // MIT kvno uses our primary cache too.
    const mkv = await mit(realm, dir, 'kvno', ['host/localhost']);
    assert.equal(mkv.code, 0, describeFailure(mkv));
  });

  test('credentials for a named principal come from its cache in the collection', T, async () => {
    const realm = await r();
    const dir = join(realm.dir, 'acquire-collection');
    assert.equal((await mit(realm, dir, 'kinit', ['user'], `${realm.passwords.user}\n`)).code, 0);
    assert.equal((await mit(realm, dir, 'kinit', ['alice'], `${ALICE_PW}\n`)).code, 0);
    assert.equal((await mit(realm, dir, 'kswitch', ['-p', 'user'])).code, 0);
    const env = envFor(realm, dir);
    const primary = await acquireKerberosCredentials({ ccache: true, env });
    assert.equal(formatPrincipal(primary.principal), 'user@EXAMPLE.TEST');
    const alice = await acquireKerberosCredentials({ ccache: true, principal: 'alice', env });
    assert.equal(formatPrincipal(alice.principal), 'alice@EXAMPLE.TEST');
    await assert.rejects(acquireKerberosCredentials({ ccache: true, principal: 'nobody', env }), /SEC_E_NO_CREDENTIALS|holds user@EXAMPLE\.TEST, not nobody/);
  });

  test('kdestroy: the primary only (saying others remain), -A all of them; MIT klist agrees', T, async () => {
    const realm = await r();
    const dir = join(realm.dir, 'destroy-collection');
    assert.equal((await mit(realm, dir, 'kinit', ['user'], `${realm.passwords.user}\n`)).code, 0);
    assert.equal((await mit(realm, dir, 'kinit', ['alice'], `${ALICE_PW}\n`)).code, 0);
    const d = await ours(realm, dir, 'kdestroy', []);
    assert.equal(d.code, 0);
    assert.equal(d.stderr, 'Other credential caches present, use -A to destroy all\n');
    let theirs = await mit(realm, dir, 'klist', ['-l']);
    assert.equal(theirs.code, 0, describeFailure(theirs));
    assert.deepEqual(theirs.stdout.trim().split('\n').slice(2).map((l) => l.split(/\s+/)[0]), ['user@EXAMPLE.TEST']);
    const mine = await ours(realm, dir, 'klist', []);
    assert.equal(mine.code, 1);
    assert.match(mine.stderr, /^klist: No credentials cache found \(filename: .*\/tkt\w{6}\)\n$/);
    assert.equal((await ours(realm, dir, 'kdestroy', ['-A'])).code, 0);
    theirs = await mit(realm, dir, 'klist', ['-l']);
    assert.equal(theirs.code, 1);
    assert.equal((await ours(realm, dir, 'klist', ['-l'])).code, 1);
    assert.equal(existsSync(join(dir, 'primary')), true);
  });
});
