// DIR ccache collections without a KDC (tickets from the fake KDC): how a collection is opened,
// listed, matched, extended and switched; klist -l/-A, kdestroy [-A] and kswitch over it; and the
// refusals (a bad `primary`, a cache name outside the "tkt" pattern, a directory that is a file).
// The same behaviour against MIT's own tools: test/interop/kerberos-dir-ccache.test.ts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kerberosCli } from './cli-helper.js';
import { UsageError } from '../../../../src/cli/args.js';
import { getInitialTicket } from '../../../../src/packages/kerberos/client/as.js';
import { openCredentialCache, openCredentialCollection } from '../../../../src/packages/kerberos/client/open.js';
import { DirCollection, openDirCache } from '../../../../src/packages/kerberos/client/dircache.js';
import { acquireKerberosCredentials } from '../../../../src/packages/kerberos/client/credentials.js';
import { formatPrincipal, parsePrincipal } from '../../../../src/packages/kerberos/keytab.js';
import type { KerberosTicketCredential } from '../../../../src/packages/kerberos/client/types.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { config, HOUR, PASSWORD, REALM, refreshKdc, testClock } from './refresh-fake-kdc.js';

const root = mkdtempSync(join(tmpdir(), 'tslsa-dircc-'));
after(() => rmSync(root, { recursive: true, force: true }));
const conf = join(root, 'krb5.conf');
writeFileSync(conf, `[libdefaults]\n default_realm = ${REALM}\n dns_lookup_kdc = false\n`);
const clock = testClock();

const cli = (dir: string, cmd: string, args: string[]) => kerberosCli(cmd, args, { env: { KRB5_CONFIG: conf, KRB5CCNAME: `DIR:${dir}` }, now: clock.now });

let tgt: KerberosTicketCredential | undefined;
async function aTgt(): Promise<KerberosTicketCredential> {
  const kdc = refreshKdc({ now: clock.now });
  tgt ??= (await getInitialTicket({ principal: 'alice', password: PASSWORD, config, now: clock.now, send: kdc.send })).credential;
  return tgt;
}

/** A collection with caches for these default principals, the first one primary (created in this order). */
async function collection(name: string, principals: string[]): Promise<{ dir: string; coll: DirCollection }> {
  const dir = join(root, name);
  const coll = new DirCollection(dir);
  for (const [i, p] of principals.entries()) {
    const cache = i === 0 ? await coll.primary() : await coll.newUnique();
    await cache.initialize(parsePrincipal(`${p}@${REALM}`));
    await cache.store(await aTgt());
  }
  return { dir, coll };
}

describe('DIR ccache collections', () => {
  test('opening DIR:/dir makes the directory (0700) and a primary naming tkt; the primary cache is DIR::/dir/tkt', async () => {
    const dir = join(root, 'fresh');
    const cache = openCredentialCache(`DIR:${dir}`);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(readFileSync(join(dir, 'primary'), 'utf8'), 'tkt\n');
    assert.equal(cache.name, `DIR::${join(dir, 'tkt')}`);
    assert.equal(await cache.principal(), undefined);
    assert.equal(openCredentialCollection(`DIR::${join(dir, 'tkt')}`), undefined, 'a DIR:: name is one cache, not a collection');
    assert.equal(openCredentialCollection(`FILE:${join(dir, 'x')}`), undefined);
    assert.equal(openCredentialCollection(`DIR:${dir}`)?.name, `DIR:${dir}`);
  });

  test('caches: primary first; match by principal; newUnique is an empty 0600 tkt file that counts as uninitialized', async () => {
    const { dir, coll } = await collection('three', ['alice', 'bob', 'carol']);
    const caches = (await coll.caches());
    assert.equal(caches.length, 3);
    assert.equal(caches[0]!.name, `DIR::${join(dir, 'tkt')}`);
    for (const c of caches.slice(1)) assert.match(c.name, new RegExp(`^DIR::${dir}/tkt[A-Za-z0-9]{6}$`));
    const bob = await coll.match(parsePrincipal(`bob@${REALM}`));
    assert.equal(formatPrincipal((await bob!.principal())!), `bob@${REALM}`);
    assert.equal(await coll.match(parsePrincipal(`nobody@${REALM}`)), undefined);
    const fresh = await coll.newUnique();
    assert.equal(statSync(fresh.path).size, 0);
    assert.equal(statSync(fresh.path).mode & 0o777, 0o600);
    assert.equal(await fresh.principal(), undefined);
    await coll.switchTo(bob!);
    assert.equal(readFileSync(join(dir, 'primary'), 'utf8'), `${bob!.path.slice(dir.length + 1)}\n`);
    assert.equal((await coll.caches())[0]!.name, bob!.name);
    assert.equal(openCredentialCache(`DIR:${dir}`).name, bob!.name);
  });

  test('klist -l: MIT layout, 30-column principal field, (Expired) once the TGT is past; exit 1 with none', async () => {
    const long = 'a-principal-name-longer-than-thirty';
    const { dir } = await collection('listed', ['alice', long]);
    const l = await cli(dir, 'klist', ['-l']);
    assert.equal(l.code, 0, l.stderr);
    const lines = l.stdout.split('\n');
    assert.equal(lines[0], 'Principal name                 Cache name');
    assert.equal(lines[1], '--------------                 ----------');
    assert.equal(lines[2], `${`alice@${REALM}`.padEnd(30)} DIR::${join(dir, 'tkt')}`);
    assert.match(lines[3]!, new RegExp(`^${long.slice(0, 30)} DIR::${dir}/tkt\\w{6}$`));
    clock.advance(11 * HOUR);
    try {
      const expired = await cli(dir, 'klist', ['-l']);
      assert.match(expired.stdout.split('\n')[2]!, / \(Expired\)$/);
    } finally {
      clock.advance(-11 * HOUR);
    }
    const empty = await cli(join(root, 'nothing'), 'klist', ['-l']);
    assert.equal(empty.code, 1);
    assert.equal(empty.stdout, 'Principal name                 Cache name\n--------------                 ----------\n');
  });

  test('klist -A shows every initialized cache with a blank line between; an empty cache is reported, not fatal', async () => {
    const { dir, coll } = await collection('all', ['alice', 'bob']);
    await coll.newUnique();
    const a = await cli(dir, 'klist', ['-A']);
    assert.equal(a.code, 0);
    // Directory order decides where the empty cache falls; each cache is preceded by a blank line but the first.
    assert.match(a.stdout, /^Ticket cache: DIR::.*\/tkt\nDefault principal: alice@EXAMPLE\.TEST\n\nValid starting /);
    assert.equal(a.stdout.match(/^Ticket cache: /gm)?.length, 2);
    assert.match(a.stdout, /\n\n\n?Ticket cache: DIR::.*\/tkt\w{6}\nDefault principal: bob@EXAMPLE\.TEST\n/);
    // One blank line inside each listing, one before each of the two later caches, and the final newline's empty tail.
    assert.equal(a.stdout.split('\n').filter((l) => l === '').length, 2 + 2 + 1);
    assert.match(a.stderr, /^klist: No credentials cache found \(filename: .*\/tkt\w{6}\)\n$/);
  });

  test('kdestroy: the primary only, saying others remain; -A: all; the primary file stays', async () => {
    const { dir, coll } = await collection('destroy', ['alice', 'bob']);
    const d = await cli(dir, 'kdestroy', []);
    assert.equal(d.code, 0);
    assert.equal(d.stderr, 'Other credential caches present, use -A to destroy all\n');
    assert.equal(existsSync(join(dir, 'tkt')), false);
    assert.equal((await coll.caches()).length, 1);
    const again = await cli(dir, 'kdestroy', ['-c', `DIR::${(await coll.caches())[0]!.path}`]);
    assert.equal(again.stderr, '', 'nothing left to mention');
    const { dir: dir2, coll: coll2 } = await collection('destroy-all', ['alice', 'bob', 'carol']);
    assert.equal((await cli(dir2, 'kdestroy', ['-A'])).code, 0);
    assert.equal((await coll2.caches()).length, 0);
    assert.equal(readFileSync(join(dir2, 'primary'), 'utf8'), 'tkt\n');
  });

  test('kswitch -p / -c move the primary; bad uses are refused', async () => {
    const { dir, coll } = await collection('switch', ['alice', 'bob']);
    assert.equal((await cli(dir, 'kswitch', ['-p', 'bob'])).code, 0);
    assert.match((await cli(dir, 'klist', [])).stdout, /Default principal: bob@EXAMPLE\.TEST/);
    assert.equal((await cli(dir, 'kswitch', ['-c', `DIR::${join(dir, 'tkt')}`])).code, 0);
    assert.equal(readFileSync(join(dir, 'primary'), 'utf8'), 'tkt\n');
    const nobody = await cli(dir, 'kswitch', ['-p', 'nobody']);
    assert.equal(nobody.code, 1);
    assert.equal(nobody.stderr, `kswitch: Can't find client principal nobody@${REALM} in cache collection\n`);
    const file = await cli(dir, 'kswitch', ['-c', `FILE:${join(root, 'plain')}`]);
    assert.equal(file.code, 1);
    assert.match(file.stderr, /cannot be made primary \(caches of DIR and KCM collections can\)/);
    await assert.rejects(cli(dir, 'kswitch', []), UsageError);
    await assert.rejects(cli(dir, 'kswitch', ['-p', 'bob', '-c', `DIR:${dir}`]), UsageError);
    assert.equal((await coll.caches()).length, 2);
  });

  test('credentials for a named principal come from its cache in the collection', async () => {
    // The fake KDC's TGT is alice's: the primary (bob's) holds no TGT of bob's, alice's cache does.
    const { dir } = await collection('acquire', ['bob', 'alice']);
    const env = { KRB5_CONFIG: conf, KRB5CCNAME: `DIR:${dir}` };
    const alice = await acquireKerberosCredentials({ ccache: true, principal: 'alice', env, config, now: clock.now });
    assert.equal(formatPrincipal(alice.principal), `alice@${REALM}`);
    await assert.rejects(acquireKerberosCredentials({ ccache: true, env, config, now: clock.now }), /DIR::.*\/tkt has no current TGT for bob@/);
  });

  test('refused with SEC_E_NO_CREDENTIALS: a primary that names no tkt file, a directory that is a file, a DIR:: name outside the pattern', async () => {
    const dir = join(root, 'bad-primary');
    new DirCollection(dir);
    for (const bad of ['../../etc/passwd\n', 'krb5cc\n', '\n']) {
      writeFileSync(join(dir, 'primary'), bad);
      assert.throws(() => openCredentialCache(`DIR:${dir}`), (e: unknown) => SspiError.is(e, 0x8009030e) && /does not name a credential cache/.test((e as Error).message));
    }
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    assert.throws(() => openCredentialCache(`DIR:${file}`), /exists but is not a directory/);
    assert.throws(() => openDirCache(`:${join(root, 'x', 'notatkt')}`), /must be a file named tkt/);
    assert.throws(() => openCredentialCache('DIR:'), /needs a directory/);
  });
});
