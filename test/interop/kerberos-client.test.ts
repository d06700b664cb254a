// Our Kerberos client against a private MIT realm: AS (with and without pre-authentication) and
// TGS with every enctype, error codes, caches both ways with MIT's kinit/klist/kvno, keytab kinit,
// the CLI, and a KDC stopped mid-test. A missing MIT binary fails these tests (createRealm).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { createRealm, SINGLE_ENCTYPE_USERS, type Realm } from './lib/realm.js';
import { run, describeFailure } from './lib/proc.js';
import { freeUdpTcpPort } from './lib/ports.js';
import { loadKrb5Config } from '../../src/packages/kerberos/krb5conf.js';
import { ENCTYPE_NAMES } from '../../src/packages/kerberos/krb5conf.js';
import { getInitialTicket } from '../../src/packages/kerberos/client/as.js';
import { getServiceTicket } from '../../src/packages/kerberos/client/tgs.js';
import { FileCredentialCache } from '../../src/packages/kerberos/client/cache.js';
import { acquireKerberosCredentials } from '../../src/packages/kerberos/client/credentials.js';
import { KdcError } from '../../src/packages/kerberos/client/errors.js';
import { kerberosCommand } from '../../src/cli/kerberos.js';
import { SspiError } from '../../src/sspi/error.js';
import { readKeytabFile, formatPrincipal } from '../../src/packages/kerberos/keytab.js';
import { decrypt } from '../../src/packages/kerberos/crypto/index.js';
import { decodeEncTicketPart } from '../../src/packages/kerberos/asn1/index.js';

const T = { timeout: 60_000 };

function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk, _e, cb) {
      w.text += chunk.toString();
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

describe('Kerberos client against MIT krb5', () => {
  let realm: Realm;
  const config = () => loadKrb5Config(undefined, { env: realm.childEnv() });
  const cli = async (cmd: string, args: string[], input = '', extraEnv: Record<string, string> = {}) => {
    const out = sink();
    const err = sink();
    const code = await kerberosCommand(cmd, args, { stdin: Readable.from([input]), stdout: out, stderr: err, env: realm.childEnv(extraEnv) });
    return { code, out: out.text, err: err.text };
  };

  before(async () => {
    realm = await createRealm();
  });
  after(async () => {
    await realm?.stop();
  });

  test('TGT and service ticket for every single-enctype user, pre-authenticated', T, async () => {
    for (const [user, enctype] of Object.entries(SINGLE_ENCTYPE_USERS)) {
      const etype = ENCTYPE_NAMES[enctype]!;
      const r = await getInitialTicket({ principal: user, password: realm.passwords[user]!, config: config() });
      assert.equal(r.preauthenticated, true, user);
      assert.equal(r.replyEnctype, etype, `${user}: reply key enctype`);
      assert.equal(formatPrincipal(r.credential.server), `krbtgt/${realm.realm}@${realm.realm}`);
      // Our TGS with each enctype as the service session key.
      const st = await getServiceTicket(r.credential, 'HTTP/localhost', { config: config(), enctypes: [etype] });
      assert.equal(st.sessionKey.enctype, etype, `${user}: service session key`);
      assert.equal(formatPrincipal(st.server), `HTTP/localhost@${realm.realm}`);
      // The ticket really is for HTTP/localhost: its keytab decrypts it and it names our client.
      const kt = readKeytabFile(realm.httpKeytab);
      const key = kt.entries.find((e) => formatPrincipal(e.principal) === `HTTP/localhost@${realm.realm}` && e.key.enctype === st.ticket.encPart.etype)!;
      const part = decodeEncTicketPart(decrypt({ enctype: key.key.enctype, keyvalue: key.key.keyvalue }, 2, st.ticket.encPart.cipher, { allowWeak: true }));
      assert.deepEqual(part.cname.nameString, [user]);
      assert.deepEqual(Uint8Array.from(part.key.keyvalue), Uint8Array.from(st.sessionKey.keyvalue));
    }
  });

  test('a principal without pre-authentication, and a wrong password for it', T, async () => {
    const r = await getInitialTicket({ principal: 'nopreauth', password: realm.passwords.nopreauth!, config: config() });
    assert.equal(r.preauthenticated, false);
    await assert.rejects(getInitialTicket({ principal: 'nopreauth', password: 'wrong', config: config() }), (e: unknown) => {
      assert.ok(e instanceof SspiError && e.code === 'SEC_E_LOGON_DENIED', String(e));
      assert.equal((e as KdcError).krbErrorCode, 31);
      assert.doesNotMatch(e.message, /wrong/);
      return true;
    });
  });

  test('wrong password: KDC_ERR_PREAUTH_FAILED → SEC_E_LOGON_DENIED; unknown principal kept apart', T, async () => {
    await assert.rejects(getInitialTicket({ principal: 'user', password: 'not-the-password', config: config() }), (e: unknown) => {
      assert.ok(e instanceof KdcError, String(e));
      assert.equal(e.code, 'SEC_E_LOGON_DENIED');
      assert.equal(e.krbErrorCode, 24);
      assert.equal(e.ntStatus, 0xc000006a); // STATUS_WRONG_PASSWORD
      assert.doesNotMatch(e.message, /not-the-password/);
      return true;
    });
    await assert.rejects(getInitialTicket({ principal: 'nosuchuser', password: 'x', config: config() }), (e: unknown) => {
      assert.ok(e instanceof KdcError, String(e));
      assert.equal(e.code, 'SEC_E_LOGON_DENIED');
      assert.equal(e.krbErrorCode, 6);
      assert.equal(e.ntStatus, 0xc0000064); // STATUS_NO_SUCH_USER
      return true;
    });
  });

  test('unknown service: KDC_ERR_S_PRINCIPAL_UNKNOWN → SEC_E_TARGET_UNKNOWN', T, async () => {
    const r = await getInitialTicket({ principal: 'user', password: realm.passwords.user!, config: config() });
    await assert.rejects(getServiceTicket(r.credential, 'HTTP/nowhere.invalid', { config: config() }), (e: unknown) => {
      assert.ok(e instanceof KdcError && e.code === 'SEC_E_TARGET_UNKNOWN' && e.krbErrorCode === 7, String(e));
      return true;
    });
  });

  test('our kinit cache is read by MIT klist (same output) and used by MIT kvno', T, async () => {
    const cc = join(realm.dir, 'ours-kinit.cc');
    const k = await cli('kinit', ['-c', cc, 'user'], `${realm.passwords.user}\n`);
    assert.equal(k.code, 0, k.err);
    const v = await cli('kvno', ['-c', cc, 'HTTP/localhost']);
    assert.equal(v.code, 0, v.err);
    assert.match(v.out, /^HTTP\/localhost@EXAMPLE\.TEST: kvno = \d+\n$/);
    const mitKlist = await realm.klist(cc);
    const ours = await cli('klist', ['-e', '-c', cc]);
    assert.equal(ours.code, 0, ours.err);
    assert.equal(ours.out, mitKlist);
    const plain = await cli('klist', ['-c', cc]);
    assert.equal(plain.out, await realm.klist(cc, []));
    const mitKvno = await realm.kvno('host/localhost', { ccache: cc });
    assert.match(mitKvno, /host\/localhost@EXAMPLE\.TEST: kvno = \d+/);
    // MIT added a ticket to our file: we still read it, and match MIT's listing.
    assert.equal((await cli('klist', ['-e', '-c', cc])).out, await realm.klist(cc));
    const d = await cli('kdestroy', ['-c', cc]);
    assert.equal(d.code, 0);
    assert.equal(existsSync(cc), false);
    const gone = await cli('klist', ['-c', cc]);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /No credentials cache found/);
  });

  test('MIT kinit cache: we list it like MIT and get a service ticket with its TGT', T, async () => {
    const cc = join(realm.dir, 'mit-kinit.cc');
    await realm.kinit('user', undefined, cc);
    const ours = await cli('klist', ['-e'], '', { KRB5CCNAME: `FILE:${cc}` });
    assert.equal(ours.out, await realm.klist(cc));
    const creds = await acquireKerberosCredentials({ ccache: `FILE:${cc}`, env: realm.childEnv() });
    assert.equal(formatPrincipal(creds.principal), `user@${realm.realm}`);
    const st = await creds.getServiceTicket('HTTP/localhost');
    assert.equal(formatPrincipal(st.server), `HTTP/localhost@${realm.realm}`);
    const listed = await realm.klist(cc);
    assert.match(listed, /HTTP\/localhost@EXAMPLE\.TEST/);
  });

  test('keytab kinit -k -t, and the client keytab through KRB5_CLIENT_KTNAME', T, async () => {
    const cc = join(realm.dir, 'kt.cc');
    const k = await cli('kinit', ['-k', '-t', realm.userKeytab, '-c', cc, 'user']);
    assert.equal(k.code, 0, k.err);
    assert.match(await realm.klist(cc), /Default principal: user@EXAMPLE\.TEST/);
    const creds = await acquireKerberosCredentials({ keytab: true, env: realm.childEnv({ KRB5_CLIENT_KTNAME: `FILE:${realm.userKeytab}` }) });
    assert.equal(formatPrincipal(creds.tgt.client), `user@${realm.realm}`);
    await creds.cache.destroy();
  });

  test('ktutil add writes a keytab MIT klist lists and MIT kinit -k uses', T, async () => {
    const kt = join(realm.dir, 'ktutil.keytab');
    for (const e of ['aes256-cts-hmac-sha1-96', 'aes128-cts-hmac-sha256-128']) {
      const r = await cli('ktutil', ['add', '-k', kt, '-p', 'user', '-e', e, '-V', '1'], `${realm.passwords.user}\n`);
      assert.equal(r.code, 0, r.err);
    }
    const mit = await run('klist', ['-k', '-e', kt], { env: realm.childEnv() });
    assert.equal(mit.code, 0, describeFailure(mit));
    const ours = await cli('ktutil', ['list', '-k', kt, '-e']);
    assert.equal(ours.out, mit.stdout);
    const cc = join(realm.dir, 'ktutil.cc');
    const r = await run('kinit', ['-k', '-t', kt, '-c', `FILE:${cc}`, 'user'], { env: realm.childEnv() });
    assert.equal(r.code, 0, describeFailure(r));
  });

  test('an unreachable realm fails with SEC_E_NO_AUTHENTICATING_AUTHORITY within the timeout', T, async () => {
    const port = await freeUdpTcpPort();
    const started = Date.now();
    await assert.rejects(
      getInitialTicket({
        principal: 'user',
        password: 'x',
        config: config(),
        transport: { kdcs: [{ host: '127.0.0.1', port, transport: 'any' }], timeoutMs: 1500 },
      }),
      (e: unknown) => e instanceof SspiError && e.code === 'SEC_E_NO_AUTHENTICATING_AUTHORITY',
    );
    assert.ok(Date.now() - started < 2500);
  });

  test('KDC stopped mid-test: a clear error within the timeout, then works again', T, async () => {
    const tgt = (await getInitialTicket({ principal: 'user', password: realm.passwords.user!, config: config() })).credential;
    await realm.stopKdc();
    try {
      const started = Date.now();
      await assert.rejects(
        getServiceTicket(tgt, 'HTTP/localhost', { config: config(), transport: { timeoutMs: 2000 } }),
        (e: unknown) => {
          assert.ok(e instanceof SspiError && e.code === 'SEC_E_NO_AUTHENTICATING_AUTHORITY', String(e));
          assert.match(e.message, /127\.0\.0\.1/);
          return true;
        },
      );
      assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
      const c = await cli('kinit', ['-c', join(realm.dir, 'down.cc'), 'user'], 'x\n');
      assert.equal(c.code, 1);
    } catch (e) {
      await realm.startKdc();
      throw e;
    }
    await realm.startKdc();
    const st = await getServiceTicket(tgt, 'HTTP/localhost', { config: config() });
    assert.equal(formatPrincipal(st.server), `HTTP/localhost@${realm.realm}`);
  });

  test('the cache API: FILE store/find/tgt', T, async () => {
    const cc = join(realm.dir, 'api.cc');
    const cache = new FileCredentialCache(cc);
    const r = await getInitialTicket({ principal: 'user', password: realm.passwords.user!, config: config() });
    await cache.initialize(r.credential.client);
    await cache.store(r.credential);
    const tgt = await cache.tgt();
    assert.ok(tgt);
    assert.deepEqual(Uint8Array.from(tgt.ticketBytes), Uint8Array.from(r.credential.ticketBytes));
    assert.equal(await cache.find('HTTP/localhost'), undefined);
    const st = await getServiceTicket(tgt, 'HTTP/localhost', { config: config() });
    await cache.store(st);
    assert.ok(await cache.find('HTTP/localhost'));
    assert.match(await realm.klist(cc), /HTTP\/localhost@EXAMPLE\.TEST/);
  });
});
