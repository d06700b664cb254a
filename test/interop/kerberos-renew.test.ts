// Kerberos credentials that outlive their first TGT, against MIT krb5 in a private realm, on the
// real clock with short ticket lifetimes (the KDC's max_life on a principal, kinit -l):
//  - keytab credentials sign on to MIT gss-server again after their first TGT expired, and the
//    KDC log shows the second AS exchange;
//  - ccache credentials: once the TGT expired, SEC_E_CONTEXT_EXPIRED naming kinit; after MIT kinit
//    refreshed the cache, the same handle signs on with the new TGT;
//  - tslsa kinit -R renews a renewable TGT (MIT klist shows the new times, MIT kvno uses it) and
//    refuses a non-renewable or no longer renewable one, as MIT kinit -R does.
// The tests run concurrently so that their waits overlap. A missing MIT binary fails them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { createRealm, type Realm } from './lib/realm.js';
import { runGssServer } from './lib/gss-sample.js';
import { run } from './lib/proc.js';
import { runClientSession } from './lib/sspi-gss.js';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import { kerberosCommand } from '../../src/cli/kerberos.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { acquireKerberosCredentials } from '../../src/packages/kerberos/client/credentials.js';
import { loadKrb5Config } from '../../src/packages/kerberos/krb5conf.js';
import { SspiError } from '../../src/sspi/error.js';
import { SecurityStatus } from '../../src/sspi/status.js';

const T = { timeout: 120_000 };
/** max_life of the `longrun` principal, in seconds. */
const SHORT_LIFE = 16;
const LONGRUN_PW = 'Longrun-Passw0rd!';

let realm: Realm;
let host: LsaHost;
let longrunKeytab: string;

before(async () => {
  realm = await createRealm();
  longrunKeytab = join(realm.dir, 'longrun.keytab');
  await realm.kadmin(`addprinc -maxlife "${SHORT_LIFE} seconds" -pw ${LONGRUN_PW} longrun`);
  await realm.ktadd(longrunKeytab, ['longrun'], { norandkey: true });
  // MIT kinit asks for a renewable TGT by default here; this principal never gets one.
  await realm.addPrincipal('norenew', { password: LONGRUN_PW });
  await realm.kadmin('modprinc -allow_renewable norenew');
  host = await createLsa({ packages: [kerberosPackage({ krb5Conf: realm.krb5ConfPath, env: realm.childEnv(), kdcTimeoutMs: 5000 })] });
});

after(async () => {
  await realm?.stop();
});

/** KDC log lines that issued something to `client` for `server` (AS_REQ or TGS_REQ). */
function issued(kind: 'AS_REQ' | 'TGS_REQ', client: string, server: string): string[] {
  return realm.kdcLog().split('\n').filter((l) => l.includes(kind) && l.includes('ISSUE') && l.includes(`${client} for ${server}`));
}

async function signOn(out: Credentials): Promise<void> {
  const server = await runGssServer(realm);
  try {
    const ctx = SecurityContext.client(out, { target: 'HTTP@localhost', flags: ['MUTUAL_AUTH', 'CONFIDENTIALITY'] });
    const session = await runClientSession(server, ctx, { message: 'still here' });
    assert.ok(session.completed, `gss-server completed the session:\n${session.log}`);
    assert.equal(session.message, 'still here');
  } finally {
    await server.stop();
  }
}

function sink(): Writable & { text: string } {
  const w = new Writable({ write(c, _e, cb) { w.text += c.toString(); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

async function tslsaKinit(args: string[]): Promise<{ code: number; err: string }> {
  const out = sink();
  const err = sink();
  const code = await kerberosCommand('kinit', args, { stdin: Readable.from(['']), stdout: out, stderr: err, env: realm.childEnv() });
  return { code, err: err.text };
}

/** The krbtgt line of MIT klist: its times (klist prints local time, second resolution). */
async function mitTgtTimes(cc: string): Promise<{ start: number; end: number; renewTill?: number }> {
  const text = await realm.klist(cc, []);
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(`krbtgt/${realm.realm}@${realm.realm}`));
  assert.ok(i >= 0, `MIT klist shows the TGT:\n${text}`);
  const time = (s: string): number => {
    const m = /^(\d\d)\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(s.trim());
    assert.ok(m, `a klist time: ${s}`);
    return new Date(2000 + Number(m[3]), Number(m[1]) - 1, Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6])).getTime();
  };
  const cols = lines[i]!.split(/\s{2,}/);
  const renew = /renew until (.+)$/.exec(lines[i + 1] ?? '');
  return { start: time(cols[0]!), end: time(cols[1]!), ...(renew ? { renewTill: time(renew[1]!) } : {}) };
}

describe('Kerberos credentials in a long-running process, against MIT krb5', { concurrency: true }, () => {
  test('keytab credentials sign on after their first TGT expired; the KDC saw a second AS-REQ', T, async () => {
    const client = `longrun@${realm.realm}`;
    const t0 = Date.now();
    const out = await Credentials.acquire(host.sspi(), { package: 'Kerberos', use: 'outbound', authData: { keytab: longrunKeytab, principal: 'longrun' } });
    try {
      await signOn(out);
      assert.equal(issued('AS_REQ', client, `krbtgt/${realm.realm}@${realm.realm}`).length, 1);
      assert.equal(issued('TGS_REQ', client, `HTTP/localhost@${realm.realm}`).length, 1);

      await sleep(t0 + (SHORT_LIFE + 2) * 1000 - Date.now());
      await signOn(out);
      assert.equal(issued('AS_REQ', client, `krbtgt/${realm.realm}@${realm.realm}`).length, 2, 'a new TGT from the keytab');
      assert.equal(issued('TGS_REQ', client, `HTTP/localhost@${realm.realm}`).length, 2, 'the expired service ticket was not reused');
    } finally {
      await out.free();
    }
  });

  test('ccache credentials: SEC_E_CONTEXT_EXPIRED once the TGT expired, then the TGT MIT kinit wrote is used', T, async () => {
    const cc = join(realm.dir, 'cc-refresh');
    const t0 = Date.now();
    await realm.kinit('user', undefined, cc, { args: ['-l', '8s'] });
    const out = await Credentials.acquire(host.sspi(), { package: 'Kerberos', use: 'outbound', authData: { ccache: `FILE:${cc}` } });
    try {
      await signOn(out);
      await sleep(t0 + 10_000 - Date.now());
      // Through SSPI only the status crosses the LSA contract; the client API also says what to do.
      await assert.rejects(SecurityContext.client(out, { target: 'HTTP@localhost', flags: ['MUTUAL_AUTH'] }).step(), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_CONTEXT_EXPIRED));
      const direct = await acquireKerberosCredentials({ config: loadKrb5Config([realm.krb5ConfPath]), ccache: `FILE:${cc}`, env: realm.childEnv() }).catch((e: unknown) => e);
      assert.ok(SspiError.is(direct, SecurityStatus.SEC_E_CONTEXT_EXPIRED), String(direct));
      assert.match(direct.message, /expired at .*run kinit/);
      await realm.kinit('user', undefined, cc); // another process refreshes the cache (as k5start would)
      const before = issued('TGS_REQ', `user@${realm.realm}`, `HTTP/localhost@${realm.realm}`).length;
      await signOn(out);
      assert.equal(issued('TGS_REQ', `user@${realm.realm}`, `HTTP/localhost@${realm.realm}`).length, before + 1);
      // MIT kinit started the cache afresh; the service ticket in it now is the one we got with the new TGT.
      assert.match(await realm.klist(cc, []), new RegExp(`HTTP/localhost@${realm.realm.replace('.', '\\.')}`));
    } finally {
      await out.free();
    }
  });

  test('tslsa kinit -R renews the TGT in the cache: MIT klist shows the new times, MIT kvno uses it', T, async () => {
    const cc = join(realm.dir, 'cc-renew');
    await realm.kinit('user', undefined, cc, { args: ['-l', '1h', '-r', '3h'] });
    const before = await mitTgtTimes(cc);
    assert.ok(before.renewTill !== undefined, 'a renewable TGT');
    await sleep(2100);
    const renewsBefore = issued('TGS_REQ', `user@${realm.realm}`, `krbtgt/${realm.realm}@${realm.realm}`).length;
    const r = await tslsaKinit(['-R', '-c', `FILE:${cc}`]);
    assert.deepEqual(r, { code: 0, err: '' });
    const now = await mitTgtTimes(cc);
    assert.ok(now.start >= before.start + 2000, `a new start time (${new Date(before.start).toISOString()} → ${new Date(now.start).toISOString()})`);
    assert.equal(now.end - now.start, before.end - before.start, 'the same lifetime from the renewal');
    assert.equal(now.renewTill, before.renewTill, 'renew-till unchanged');
    assert.equal(issued('TGS_REQ', `user@${realm.realm}`, `krbtgt/${realm.realm}@${realm.realm}`).length, renewsBefore + 1, 'the KDC issued the renewal');
    assert.match(await realm.kvno('HTTP/localhost', { ccache: cc }), /HTTP\/localhost@EXAMPLE\.TEST: kvno = \d+/);
  });

  test('tslsa kinit -R refuses a non-renewable TGT (as MIT kinit -R) and one past its renew-till', T, async () => {
    const plain = join(realm.dir, 'cc-plain');
    await realm.kinit('norenew', undefined, plain);
    const before = await mitTgtTimes(plain);
    const r = await tslsaKinit(['-R', '-c', plain]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^kinit: SEC_E_KDC_INVALID_REQUEST .*not renewable.* while renewing credentials\n$/);
    const mit = await run('kinit', ['-R', '-c', `FILE:${plain}`], { env: realm.childEnv() });
    assert.notEqual(mit.code, 0, 'MIT kinit -R refuses it too');
    assert.match(mit.stderr, /can't fulfill requested option/);
    assert.deepEqual(await mitTgtTimes(plain), before, 'the cache is left as it was');

    const short = join(realm.dir, 'cc-short');
    const t0 = Date.now();
    await realm.kinit('user', undefined, short, { args: ['-l', '3s', '-r', '5s'] });
    await sleep(t0 + 7000 - Date.now());
    const late = await tslsaKinit(['-R', '-c', short]);
    assert.equal(late.code, 1);
    assert.match(late.err, /^kinit: SEC_E_CONTEXT_EXPIRED .*no longer be renewed.*run kinit while renewing credentials\n$/);
  });
});
