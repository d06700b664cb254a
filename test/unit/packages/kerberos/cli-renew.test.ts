// tslsa kinit -R without a KDC: what it refuses before asking one (no cache, no TGT, a TGT that is
// not renewable or past its renew-till, options that ask for a new TGT), with MIT's exit code 1 and
// "while renewing credentials". The renewal itself is proven against MIT's KDC in
// test/interop/kerberos-renew.test.ts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kerberosCommand } from '../../../../src/cli/kerberos.js';
import { UsageError } from '../../../../src/cli/args.js';
import { getInitialTicket } from '../../../../src/packages/kerberos/client/as.js';
import { FileCredentialCache } from '../../../../src/packages/kerberos/client/cache.js';
import { config, HOUR, PASSWORD, REALM, refreshKdc, testClock } from './refresh-fake-kdc.js';

const dir = mkdtempSync(join(tmpdir(), 'tslsa-kinit-r-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const conf = join(dir, 'krb5.conf');
writeFileSync(conf, `[libdefaults]\n default_realm = ${REALM}\n dns_lookup_kdc = false\n`);

function sink(): Writable & { text: string } {
  const w = new Writable({ write(c, _e, cb) { w.text += c.toString(); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

const clock = testClock();
async function kinitR(cc: string, extra: string[] = []) {
  const out = sink();
  const err = sink();
  const code = await kerberosCommand('kinit', ['-R', '-c', cc, ...extra], {
    stdin: Readable.from(['']), stdout: out, stderr: err, env: { KRB5_CONFIG: conf }, now: clock.now,
  });
  return { code, out: out.text, err: err.text };
}

async function cacheWith(name: string, renewLifetime?: number): Promise<string> {
  const kdc = refreshKdc({ now: clock.now });
  const r = await getInitialTicket({ principal: 'alice', password: PASSWORD, config, now: clock.now, send: kdc.send, ...(renewLifetime ? { renewLifetime } : {}) });
  const path = join(dir, name);
  const cc = new FileCredentialCache(path);
  await cc.initialize(r.credential.client);
  await cc.store(r.credential);
  return path;
}

describe('tslsa kinit -R (no KDC needed to refuse)', () => {
  test('no cache, and a cache without a TGT: exit 1, MIT wording', async () => {
    const r = await kinitR(join(dir, 'none'));
    assert.equal(r.code, 1);
    assert.match(r.err, /^kinit: No credentials cache found \(filename: .*none\) while renewing credentials\n$/);
    const empty = join(dir, 'empty');
    await new FileCredentialCache(empty).initialize({ realm: REALM, components: ['alice'], nameType: 1 });
    const e = await kinitR(empty);
    assert.equal(e.code, 1);
    assert.match(e.err, /^kinit: Matching credential not found .* while renewing credentials\n$/);
  });

  test('a TGT that is not renewable: exit 1, SEC_E_KDC_INVALID_REQUEST, the cache unchanged', async () => {
    const cc = await cacheWith('plain');
    const before = (await new FileCredentialCache(cc).list())[0]!.endtime.getTime();
    const r = await kinitR(cc);
    assert.equal(r.code, 1);
    assert.match(r.err, /^kinit: SEC_E_KDC_INVALID_REQUEST .*not renewable.* while renewing credentials\n$/);
    assert.equal((await new FileCredentialCache(cc).list())[0]!.endtime.getTime(), before);
  });

  test('a renewable TGT past its end: exit 1, SEC_E_CONTEXT_EXPIRED, says to run kinit', async () => {
    const cc = await cacheWith('renewable', 24 * 3600);
    clock.advance(11 * HOUR);
    const r = await kinitR(cc);
    assert.equal(r.code, 1);
    assert.match(r.err, /^kinit: SEC_E_CONTEXT_EXPIRED .*no longer be renewed.*run kinit while renewing credentials\n$/);
  });

  test('another principal named, or options for a new TGT: refused', async () => {
    const cc = await cacheWith('other', 24 * 3600);
    const r = await kinitR(cc, ['bob']);
    assert.equal(r.code, 1);
    assert.match(r.err, /holds alice@EXAMPLE\.TEST, not bob/);
    for (const o of [['-k'], ['-l', '1h'], ['-r', '2d'], ['-f']]) {
      await assert.rejects(kinitR(cc, o), (e: unknown) => e instanceof UsageError && /does not apply/.test(e.message));
    }
  });
});
