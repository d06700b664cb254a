// KCM caches (KRB5CCNAME=KCM:) against a real KCM daemon (Heimdal's kcm, Debian heimdal-kcm) and
// MIT's tools, which reach it over the same Unix socket: tickets MIT kinit put there are listed by
// our klist as MIT's klist lists them and used by our client; caches, stores and switches we make
// are seen by MIT's klist. Heimdal's kcm listens on MIT's default socket path whatever it is
// told, so the test starts its own daemon there and refuses to run beside someone else's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { createRealm, type Realm } from './lib/realm.js';
import { run, describeFailure, type RunResult } from './lib/proc.js';
import { eventually } from './lib/poll.js';
import { kerberosCli } from '../unit/packages/kerberos/cli-helper.js';
import { acquireKerberosCredentials } from '../../src/packages/kerberos/client/credentials.js';
import { DEFAULT_KCM_SOCKET } from '../../src/packages/kerberos/client/kcm.js';
import { formatPrincipal } from '../../src/packages/kerberos/keytab.js';

const T = { timeout: 90_000 };
const KCM_BIN = '/usr/sbin/kcm';
const ALICE_PW = 'Alice-Kcm-Passw0rd';

const listening = (path: string): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(path);
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

describe('KCM caches with Heimdal kcm and MIT krb5', () => {
  let realm: Realm;
  let kcm: ChildProcess | undefined;
  let kcmLog = '';

  before(async () => {
    assert.ok(existsSync(KCM_BIN), `${KCM_BIN} is missing: install Debian's heimdal-kcm (scripts/install-peers.sh)`);
    assert.equal(await listening(DEFAULT_KCM_SOCKET), false, `a KCM daemon already listens on ${DEFAULT_KCM_SOCKET}; stop it (this test runs its own)`);
    rmSync(DEFAULT_KCM_SOCKET, { force: true });
    kcm = spawn(KCM_BIN, [], { stdio: ['ignore', 'pipe', 'pipe'] });
    kcm.stdout!.on('data', (d) => (kcmLog += d));
    kcm.stderr!.on('data', (d) => (kcmLog += d));
    assert.ok(await eventually(() => listening(DEFAULT_KCM_SOCKET), 10_000), `kcm did not listen on ${DEFAULT_KCM_SOCKET}: ${kcmLog}`);
    realm = await createRealm();
    await realm.addPrincipal('alice', { password: ALICE_PW });
  });

  after(async () => {
    await realm?.stop();
    if (kcm && kcm.exitCode === null) {
      kcm.kill('SIGTERM');
      await new Promise((r) => kcm!.once('exit', r));
    }
    rmSync(DEFAULT_KCM_SOCKET, { force: true });
  });

  const env = () => realm.childEnv({ KRB5CCNAME: 'KCM:' });
  const mit = (cmd: string, args: string[], input?: string): Promise<RunResult> => run(cmd, args, { env: env(), ...(input !== undefined ? { input } : {}) });
  const ours = (cmd: string, args: string[], input = '') => kerberosCli(cmd, args, { env: env(), input });

  test('MIT kinit into KCM: our klist prints what MIT klist prints; our kvno stores there and MIT sees it', T, async () => {
    const k = await mit('kinit', ['user'], `${realm.passwords.user}\n`);
    assert.equal(k.code, 0, describeFailure(k) + kcmLog);
    for (const args of [[], ['-e'], ['-l']]) {
      const theirs = await mit('klist', args);
      const mine = await ours('klist', args);
      assert.equal(theirs.code, 0, describeFailure(theirs));
      assert.equal(mine.code, 0, mine.stderr);
      assert.equal(mine.stdout, theirs.stdout, `klist ${args.join(' ')}`);
    }
    assert.match((await ours('klist', [])).stdout, /^Ticket cache: KCM:0\S*\nDefault principal: user@EXAMPLE\.TEST\n/);
    const kv = await ours('kvno', ['HTTP/localhost']);
    assert.equal(kv.code, 0, kv.stderr);
    assert.match(kv.stdout, /^HTTP\/localhost@EXAMPLE\.TEST: kvno = \d+\n$/);
    const theirs = await mit('klist', []);
    assert.match(theirs.stdout, /krbtgt\/EXAMPLE\.TEST@EXAMPLE\.TEST\n[\s\S]*HTTP\/localhost@EXAMPLE\.TEST/);
    // And MIT's kvno uses the TGT our store left in place.
    const mkv = await mit('kvno', ['host/localhost']);
    assert.equal(mkv.code, 0, describeFailure(mkv));
  });

  test('our kinit adds a cache for another principal and makes it primary; kswitch and klist -l agree with MIT', T, async () => {
    const k = await ours('kinit', ['alice'], `${ALICE_PW}\n`);
    assert.equal(k.code, 0, k.stderr);
    let theirs = await mit('klist', []);
    assert.equal(theirs.code, 0, describeFailure(theirs));
    assert.match(theirs.stdout, /Default principal: alice@EXAMPLE\.TEST/);
    theirs = await mit('klist', ['-l']);
    assert.deepEqual(theirs.stdout.trim().split('\n').slice(2).map((l) => l.split(/\s+/)[0]), ['alice@EXAMPLE.TEST', 'user@EXAMPLE.TEST']);
    assert.equal((await ours('klist', ['-l'])).stdout, theirs.stdout);
    assert.equal((await ours('klist', ['-A'])).stdout, (await mit('klist', ['-A'])).stdout);

    assert.equal((await ours('kswitch', ['-p', 'user'])).code, 0);
    assert.match((await mit('klist', [])).stdout, /Default principal: user@EXAMPLE\.TEST/);
    const sw = await mit('kswitch', ['-p', 'alice']);
    assert.equal(sw.code, 0, describeFailure(sw));
    assert.match((await ours('klist', [])).stdout, /Default principal: alice@EXAMPLE\.TEST/);
  });

  test('credentials: the primary by default, a named principal from its own cache', T, async () => {
    const primary = await acquireKerberosCredentials({ ccache: true, env: env() });
    assert.equal(formatPrincipal(primary.principal), 'alice@EXAMPLE.TEST');
    const user = await acquireKerberosCredentials({ ccache: true, principal: 'user', env: env() });
    assert.equal(formatPrincipal(user.principal), 'user@EXAMPLE.TEST');
  });

  test('kdestroy: the primary, saying others remain; -A all; MIT klist -l then lists nothing', T, async () => {
    const d = await ours('kdestroy', []);
    assert.equal(d.code, 0);
    assert.equal(d.stderr, 'Other credential caches present, use -A to destroy all\n');
    const left = await mit('klist', ['-l']);
    assert.deepEqual(left.stdout.trim().split('\n').slice(2).map((l) => l.split(/\s+/)[0]), ['user@EXAMPLE.TEST']);
    assert.equal((await ours('kdestroy', ['-A'])).code, 0);
    assert.equal((await mit('klist', ['-l'])).code, 1);
    assert.equal((await ours('klist', ['-l'])).code, 1);
  });
});
