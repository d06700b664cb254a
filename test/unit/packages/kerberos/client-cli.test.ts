// tslsa kinit/klist/kvno/kdestroy/ktutil without a KDC: routing, usage errors, keytab add/list,
// missing caches, and replies fuzzed into the AS exchange (never anything but an SspiError).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { main } from '../../../../src/cli/main.js';
import { kerberosCommand } from '../../../../src/cli/kerberos.js';
import { readKeytabFile, formatPrincipal } from '../../../../src/packages/kerberos/keytab.js';
import { stringToKey } from '../../../../src/packages/kerberos/crypto/index.js';
import { getInitialTicket } from '../../../../src/packages/kerberos/client/as.js';
import { parseKrb5Conf } from '../../../../src/packages/kerberos/krb5conf.js';
import { SspiError } from '../../../../src/sspi/error.js';

function sink(): Writable & { text: string } {
  const w = new Writable({ write(c, _e, cb) { w.text += c.toString(); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

const dir = mkdtempSync(join(tmpdir(), 'tslsa-kcli-'));
const conf = join(dir, 'krb5.conf');
writeFileSync(conf, '[libdefaults]\n default_realm = EXAMPLE.TEST\n dns_lookup_kdc = false\n');
const env = { KRB5_CONFIG: conf, KRB5CCNAME: `FILE:${join(dir, 'cc')}`, KRB5_KTNAME: `FILE:${join(dir, 'default.keytab')}` };

async function k(cmd: string, args: string[], input = '') {
  const out = sink();
  const err = sink();
  const code = await kerberosCommand(cmd, args, { stdin: Readable.from([input]), stdout: out, stderr: err, env });
  return { code, out: out.text, err: err.text };
}

describe('Kerberos CLI (no KDC)', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('help lists the commands; main routes them', async () => {
    const out = sink();
    assert.equal(await main(['--help'], out, sink()), 0);
    for (const c of ['kinit', 'klist', 'kvno', 'kdestroy', 'kswitch', 'ktutil']) assert.match(out.text, new RegExp(`tslsa ${c}`));
  });

  test('klist and kvno with no cache: MIT message, exit 1; kdestroy of nothing succeeds', async () => {
    const r = await k('klist', []);
    assert.equal(r.code, 1);
    assert.equal(r.err, `klist: No credentials cache found (filename: ${join(dir, 'cc')})\n`);
    assert.equal((await k('kvno', ['HTTP/x'])).code, 1);
    assert.equal((await k('kdestroy', [])).code, 0);
  });

  test('kinit with no KDC for the realm: SEC_E_NO_AUTHENTICATING_AUTHORITY, exit 1, password not echoed', async () => {
    const r = await k('kinit', ['alice'], 'pw-not-shown\n');
    assert.equal(r.code, 1);
    assert.match(r.err, /^kinit: SEC_E_NO_AUTHENTICATING_AUTHORITY/);
    assert.doesNotMatch(r.err + r.out, /pw-not-shown/);
  });

  test('ktutil add derives the key with the realm salt (or -s), list shows it MIT-style', async () => {
    const kt = join(dir, 'a.keytab');
    assert.equal((await k('ktutil', ['add', '-k', kt, '-p', 'alice', '-e', 'aes256-cts-hmac-sha1-96', '-V', '7'], 'pw\n')).code, 0);
    assert.equal((await k('ktutil', ['add', '-k', kt, '-p', 'alice', '-e', 'aes128-cts-hmac-sha1-96', '-V', '7', '-s', 'SALTY'], 'pw\n')).code, 0);
    const entries = readKeytabFile(kt).entries;
    assert.equal(entries.length, 2);
    assert.equal(formatPrincipal(entries[0]!.principal), 'alice@EXAMPLE.TEST');
    assert.equal(entries[0]!.kvno, 7);
    assert.deepEqual(Uint8Array.from(entries[0]!.key.keyvalue), Uint8Array.from(stringToKey(18, 'pw', 'EXAMPLE.TESTalice').keyvalue));
    assert.deepEqual(Uint8Array.from(entries[1]!.key.keyvalue), Uint8Array.from(stringToKey(17, 'pw', 'SALTY').keyvalue));
    const l = await k('ktutil', ['list', '-k', kt, '-e']);
    assert.equal(l.out, `Keytab name: FILE:${kt}\nKVNO Principal\n---- ${'-'.repeat(74)}\n   7 alice@EXAMPLE.TEST (aes256-cts-hmac-sha1-96) \n   7 alice@EXAMPLE.TEST (aes128-cts-hmac-sha1-96) \n`);
  });

  test('ktutil add refuses rc4 unless configured, and bad arguments are usage errors', async () => {
    const r = await k('ktutil', ['add', '-k', join(dir, 'b.keytab'), '-p', 'alice', '-e', 'arcfour-hmac'], 'pw\n');
    assert.equal(r.code, 1);
    assert.match(r.err, /SEC_E_ALGORITHM_MISMATCH/);
    await assert.rejects(k('ktutil', ['add', '-k', join(dir, 'b.keytab')]), /needs -k KEYTAB -p PRINCIPAL -e ENCTYPE/);
    await assert.rejects(k('ktutil', ['add', '-k', join(dir, 'b.keytab'), '-p', 'a', '-e', 'nonsense']), /unknown enctype/);
  });

  test('any reply bytes in the AS exchange give an SspiError, never another error or a hang', async () => {
    const config = parseKrb5Conf('[libdefaults]\n default_realm = EXAMPLE.TEST\n');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300, size: 'max' }), fc.constantFrom(0x6b, 0x7e, 0x30), async (bytes, first) => {
        const reply = Uint8Array.from([first, ...bytes]);
        try {
          await getInitialTicket({ principal: 'alice', password: 'pw', config, send: async () => reply });
          assert.fail('garbage accepted');
        } catch (e) {
          assert.ok(e instanceof SspiError, String(e));
        }
      }),
      { numRuns: 300 },
    );
  });
});
