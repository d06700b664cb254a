// MIT file formats against MIT's own tools: kinit's ccache read by us and rewritten for klist;
// kadmin.local's keytab read by us; our keytab (keys from our string-to-key) listed by
// `klist -k -e` and used by `kinit -k -t`; the realm's krb5.conf read by our parser.
// A missing MIT binary fails these tests (createRealm → requireBinaries).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createRealm, ENCTYPES, type Realm } from './lib/realm.js';
import { run, describeFailure } from './lib/proc.js';
import { parsePrincipal, readKeytabFile, writeKeytabFile, findKeys, formatPrincipal, type KeytabEntry } from '../../src/packages/kerberos/keytab.js';
import { readCcacheFile, ticketCredentials, writeCcacheFile, isConfigEntry } from '../../src/packages/kerberos/ccache.js';
import { loadKrb5Config } from '../../src/packages/kerberos/krb5conf.js';
import { stringToKey } from '../../src/packages/kerberos/crypto/index.js';
import { decodeTicket } from '../../src/packages/kerberos/asn1/index.js';

const T = { timeout: 60_000 };

describe('MIT file formats interop', () => {
  let setup: Promise<Realm> | undefined;
  const r = (): Promise<Realm> => (setup ??= createRealm());
  after(async () => {
    if (setup) await (await setup.catch(() => undefined))?.stop();
  });

  test('kinit ccache → we read it → we write it → klist reads ours', T, async () => {
    const realm = await r();
    const cc = join(realm.dir, 'kinit.cc');
    await realm.kinit('user', undefined, cc);
    const cache = readCcacheFile(cc);
    assert.equal(cache.version, 0x0504);
    assert.equal(formatPrincipal(cache.defaultPrincipal), `user@${realm.realm}`);
    const tickets = ticketCredentials(cache);
    assert.equal(tickets.length, 1);
    const tgt = tickets[0]!;
    assert.equal(formatPrincipal(tgt.client), `user@${realm.realm}`);
    assert.equal(formatPrincipal(tgt.server), `krbtgt/${realm.realm}@${realm.realm}`);
    assert.equal(tgt.key.enctype, 18);
    assert.equal(tgt.key.keyvalue.length, 32);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(Math.abs(tgt.authtime - now) < 120, `authtime ${tgt.authtime} vs now ${now}`);
    assert.ok(tgt.endtime > now && tgt.endtime <= now + 86400 + 120);
    assert.ok(tgt.starttime === 0 || tgt.starttime >= tgt.authtime);
    const tkt = decodeTicket(tgt.ticket);
    assert.deepEqual(tkt.sname.nameString, ['krbtgt', realm.realm]);
    // MIT 1.20 records pa_type (and possibly fast_avail) config entries: they must survive.
    const configs = cache.credentials.filter(isConfigEntry).length;

    const ours = join(realm.dir, 'ours.cc');
    writeCcacheFile(ours, cache);
    assert.equal(readCcacheFile(ours).credentials.filter(isConfigEntry).length, configs);
    const theirs = await realm.klist(cc);
    const mine = await realm.klist(ours);
    const strip = (s: string): string => s.replace(/^Ticket cache: .*$/m, '');
    assert.equal(strip(mine), strip(theirs));
    assert.match(mine, new RegExp(`Default principal: user@${realm.realm.replace('.', '\\.')}`));
    assert.match(mine, /krbtgt\/EXAMPLE\.TEST@EXAMPLE\.TEST/);
    assert.match(mine, /Etype \(skey, tkt\): aes256-cts-hmac-sha1-96/);
    // MIT can use our file for a TGS exchange too.
    const kv = await realm.kvno('HTTP/localhost', { ccache: ours });
    assert.match(kv, /HTTP\/localhost@EXAMPLE\.TEST: kvno = \d+/);
  });

  test('kadmin.local ktadd keytab → we read the keys', T, async () => {
    const realm = await r();
    const kt = readKeytabFile(realm.httpKeytab);
    assert.equal(kt.version, 0x0502);
    const http = findKeys(kt, `HTTP/localhost@${realm.realm}`);
    assert.deepEqual(http.map((e) => e.key.enctype).sort((a, b) => a - b), [17, 18, 19, 20, 23]);
    for (const e of http) assert.equal(e.principal.nameType, 1);
    assert.equal(findKeys(kt, `host/localhost@${realm.realm}`).length, 5);
    // Compare with klist -k -e (kvno, principal, enctype).
    const res = await run('klist', ['-k', '-e', realm.httpKeytab], { env: realm.childEnv() });
    assert.equal(res.code, 0, describeFailure(res));
    const listed = res.stdout.split('\n').filter((l) => /^\s*\d+ /.test(l)).map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '));
    assert.deepEqual(listed, kt.entries.map((e) => `${e.kvno} ${formatPrincipal(e.principal)}`));
    // The user keytab holds user's password keys: our string-to-key gives the same bytes.
    const ukt = readKeytabFile(realm.userKeytab);
    const salt = `${realm.realm}user`;
    for (const e of findKeys(ukt, `user@${realm.realm}`, undefined, 18)) {
      assert.deepEqual(e.key.keyvalue, stringToKey(18, realm.passwords.user!, salt).keyvalue);
    }
  });

  test('our keytab (string-to-key from the password) → klist -k -e lists it, kinit -k -t works', T, async () => {
    const realm = await r();
    const principal = parsePrincipal(`user@${realm.realm}`);
    const kvno = Number(/vno (\d+)/.exec(await realm.kadmin('getprinc user'))?.[1] ?? NaN);
    assert.ok(Number.isInteger(kvno), 'kvno of user');
    const salt = `${realm.realm}user`;
    const pw = realm.passwords.user!;
    const entries: KeytabEntry[] = [18, 17, 20, 19, 23].map((enctype) => ({
      principal,
      timestamp: Math.floor(Date.now() / 1000),
      kvno,
      kvno8: kvno & 0xff,
      key: { enctype, keyvalue: stringToKey(enctype, pw, salt, undefined, { allowWeak: true }).keyvalue },
    }));
    const path = join(realm.dir, 'ours.keytab');
    writeKeytabFile(path, entries);
    const res = await run('klist', ['-k', '-e', '-K', path], { env: realm.childEnv() });
    assert.equal(res.code, 0, describeFailure(res));
    const lines = res.stdout.split('\n').filter((l) => /^\s*\d+ /.test(l));
    assert.equal(lines.length, 5);
    for (const [i, e] of entries.entries()) {
      const l = lines[i]!;
      assert.match(l, new RegExp(`^\\s*${kvno} .*user@EXAMPLE\\.TEST \\((?:DEPRECATED:)?${ENCTYPES[[18, 17, 20, 19, 23].indexOf(e.key.enctype)]!}\\)`));
      assert.ok(l.includes(`0x${Buffer.from(e.key.keyvalue).toString('hex')}`), `key bytes in ${l}`);
    }
    for (const enctypes of [['aes256-cts-hmac-sha1-96'], ['aes128-cts-hmac-sha256-128'], ['aes256-cts-hmac-sha384-192']]) {
      const cc = join(realm.dir, `kt-${enctypes[0]}.cc`);
      const k = await realm.kinit('user', '', cc, { args: ['-k', '-t', path], enctypes, allowFailure: true });
      assert.equal(k.code, 0, describeFailure(k));
      const t = ticketCredentials(readCcacheFile(cc))[0]!;
      assert.equal(formatPrincipal(t.client), `user@${realm.realm}`);
    }
    // A wrong key fails: proves kinit really used our keys.
    const bad = join(realm.dir, 'bad.keytab');
    writeKeytabFile(bad, entries.map((e) => ({ ...e, key: { ...e.key, keyvalue: e.key.keyvalue.map((b) => b ^ 1) } })));
    const k = await realm.kinit('user', '', join(realm.dir, 'bad.cc'), { args: ['-k', '-t', bad], allowFailure: true });
    assert.notEqual(k.code, 0);
  });

  test("our krb5.conf parser reads the realm's krb5.conf", T, async () => {
    const realm = await r();
    const conf = loadKrb5Config(undefined, { env: { KRB5_CONFIG: realm.env.KRB5_CONFIG } });
    assert.equal(conf.defaultRealm, realm.realm);
    assert.deepEqual(conf.realms[realm.realm]!.kdc, [`127.0.0.1:${realm.kdcPort}`]);
    assert.deepEqual(conf.permittedEnctypes, [18, 17, 20, 19, 23]);
    assert.deepEqual(conf.defaultTktEnctypes, [18, 17, 20, 19, 23]);
    assert.deepEqual(conf.defaultTgsEnctypes, [18, 17, 20, 19, 23]);
    assert.equal(conf.dnsLookupKdc, false);
    assert.equal(conf.rdns, false);
    assert.equal(conf.dnsCanonicalizeHostname, false);
    assert.equal(conf.allowWeakCrypto, true);
    assert.equal(conf.clockskew, 300);
    assert.equal(conf.domainRealm('localhost'), realm.realm);
    assert.equal(conf.domainRealm('a.localhost'), realm.realm);
    assert.equal(conf.domainRealm('example.org'), undefined);
    assert.equal(conf.defaultCcacheName, `FILE:${realm.dir}/ccache`);
  });
});
