// Kerberos client credentials in a long-running process, on an injected clock against a fake KDC:
// keytab and password credentials replace their TGT past half its life (renewal when renew-till
// allows, else an AS exchange), a failed refresh keeps a current TGT, a ccache is read at every
// use (an external kinit is picked up; an expired TGT gives SEC_E_CONTEXT_EXPIRED naming kinit),
// expired service tickets are not used, and freeing the credentials zeroes what they hold.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireKerberosCredentials, refreshTime, REFRESH_RETRY_MS } from '../../../../src/packages/kerberos/client/credentials.js';
import { getInitialTicket } from '../../../../src/packages/kerberos/client/as.js';
import { renewTicket } from '../../../../src/packages/kerberos/client/tgs.js';
import { FileCredentialCache, MemoryCredentialCache, type CredentialCache } from '../../../../src/packages/kerberos/client/cache.js';
import type { KerberosTicketCredential } from '../../../../src/packages/kerberos/client/types.js';
import { writeKeytabFile } from '../../../../src/packages/kerberos/keytab.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { config, HOUR, PASSWORD, REALM, refreshKdc, testClock } from './refresh-fake-kdc.js';

const dir = mkdtempSync(join(tmpdir(), 'tslsa-refresh-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const fresh = (name: string): string => join(dir, `${name}-${++seq}`);

const code = (status: number, text?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof SspiError, `an SspiError, got ${String(e)}`);
  assert.equal(e.code, new SspiError(status).code, e.message);
  if (text) assert.match(e.message, text);
  return true;
};

function setup(o: Partial<Parameters<typeof refreshKdc>[0]> = {}) {
  const clock = testClock();
  const kdc = refreshKdc({ now: clock.now, ...o });
  const keytab = fresh('alice.keytab');
  writeKeytabFile(keytab, kdc.aliceKeytab());
  return { clock, kdc, keytab, common: { config, env: {}, now: clock.now, send: kdc.send } };
}

describe('refreshTime: MIT halfway rule', () => {
  const t = (start: number, end: number): KerberosTicketCredential =>
    ({ authtime: new Date(start), endtime: new Date(end) }) as KerberosTicketCredential;

  test('halfway from starttime (authtime when there is none)', () => {
    assert.equal(refreshTime(t(0, 10 * HOUR), new Date(0)).getTime(), 5 * HOUR);
    const s = { ...t(0, 10 * HOUR), starttime: new Date(2 * HOUR) } as KerberosTicketCredential;
    assert.equal(refreshTime(s, new Date(0)).getTime(), 6 * HOUR);
  });

  test('a local clock ahead of the KDC counts the half from when we got the ticket', () => {
    assert.equal(refreshTime(t(0, 10 * HOUR), new Date(4 * HOUR)).getTime(), 7 * HOUR);
    // Never before receipt, even for a ticket that is already past its end by our clock.
    assert.equal(refreshTime(t(0, HOUR), new Date(2 * HOUR)).getTime(), 2 * HOUR);
  });
});

describe('keytab credentials', () => {
  test('a new AS exchange past half the TGT life, on use only; sign-on goes on after the first TGT expired', async () => {
    const { clock, kdc, keytab, common } = setup();
    const cred = await acquireKerberosCredentials({ ...common, keytab });
    assert.equal(cred.source, 'keytab');
    const first = cred.tgt;
    await cred.getServiceTicket('HTTP/a.example.test');
    assert.deepEqual({ as: kdc.counts.as, tgs: kdc.counts.tgs }, { as: 1, tgs: 1 });

    clock.advance(4 * HOUR);
    await cred.getServiceTicket('HTTP/a.example.test');
    assert.equal(kdc.counts.as, 1, 'before half-life: no refresh, the service ticket comes from the cache');
    assert.equal(kdc.counts.tgs, 1);

    clock.advance(HOUR + 1000);
    assert.equal(kdc.counts.as, 1, 'no timer: nothing happens until the credential is used');
    await cred.getServiceTicket('HTTP/a.example.test');
    assert.equal(kdc.counts.as, 2, 'past half-life the next use gets a new TGT');
    assert.equal(kdc.counts.tgs, 1, 'the current service ticket is still used');
    assert.ok(cred.tgt.endtime.getTime() > first.endtime.getTime());
    assert.equal(first.sessionKey.keyvalue.some((b) => b !== 0), true, 'the replaced TGT is not zeroed under a request that may use it');

    clock.advance(6 * HOUR); // the first TGT expired an hour ago
    const t = await cred.getServiceTicket('HTTP/b.example.test');
    assert.equal(kdc.counts.as, 3);
    assert.equal(kdc.tgsTgtEndtimes.at(-1), cred.tgt.endtime.getTime(), 'the TGS-REQ carried the newest TGT');
    assert.ok(t.endtime.getTime() > clock.ms);
    assert.equal(first.sessionKey.keyvalue.every((b) => b === 0), true, 'a TGT replaced two refreshes ago is zeroed');
    await cred.destroy();
  });

  test('the keytab is read again at refresh: a rotated key is used', async () => {
    const { clock, kdc, keytab, common } = setup();
    const cred = await acquireKerberosCredentials({ ...common, keytab });
    kdc.rotateAliceKey();
    writeKeytabFile(keytab, kdc.aliceKeytab());
    clock.advance(11 * HOUR);
    await cred.getServiceTicket('HTTP/a.example.test');
    assert.equal(kdc.counts.as, 2);
    await cred.destroy();
  });

  test('concurrent uses at refresh time share one AS exchange', async () => {
    const { clock, kdc, keytab, common } = setup();
    const cred = await acquireKerberosCredentials({ ...common, keytab });
    clock.advance(6 * HOUR);
    const hosts = ['a', 'b', 'c', 'd', 'e'].map((h) => `HTTP/${h}.example.test`);
    const tickets = await Promise.all(hosts.map((h) => cred.getServiceTicket(h)));
    assert.equal(tickets.length, 5);
    assert.equal(kdc.counts.as, 2);
    await cred.destroy();
  });

  test('a refresh that fails keeps the current TGT, is retried after 30 s, and its error is reported once the TGT expired', async () => {
    const { clock, kdc, keytab, common } = setup();
    const cred = await acquireKerberosCredentials({ ...common, keytab });
    clock.advance(6 * HOUR);
    kdc.state.asError = 18; // KDC_ERR_CLIENT_REVOKED
    await cred.getServiceTicket('HTTP/a.example.test');
    assert.equal(kdc.counts.asRefused, 1, 'the refresh was tried');
    assert.equal(kdc.counts.tgs, 1, 'and the old TGT still got the service ticket');
    await cred.getServiceTicket('HTTP/b.example.test');
    assert.equal(kdc.counts.asRefused, 1, `not retried within ${REFRESH_RETRY_MS} ms`);
    clock.advance(REFRESH_RETRY_MS);
    await cred.getServiceTicket('HTTP/c.example.test');
    assert.equal(kdc.counts.asRefused, 2, 'retried after the pause');
    assert.equal(kdc.counts.tgs, 3);
    clock.advance(5 * HOUR);
    await assert.rejects(cred.getServiceTicket('HTTP/d.example.test'), code(SecurityStatus.SEC_E_LOGON_DENIED, /KDC_ERR_CLIENT_REVOKED/));
    await assert.rejects(cred.currentTgt(), code(SecurityStatus.SEC_E_LOGON_DENIED));
    assert.equal(kdc.counts.asRefused, 4, 'an expired TGT is refreshed at every use, without the pause');
    kdc.state.asError = undefined;
    await cred.getServiceTicket('HTTP/d.example.test');
    assert.equal(kdc.counts.as, 2, 'and recovers as soon as the KDC issues again');
    await cred.destroy();
  });

  test('an unreachable KDC past the TGT end: the transport error, never a crash', async () => {
    const { clock, kdc, keytab, common } = setup();
    const cred = await acquireKerberosCredentials({ ...common, keytab });
    clock.advance(11 * HOUR);
    kdc.state.down = true;
    await assert.rejects(cred.getServiceTicket('HTTP/a.example.test'), code(SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY));
    await cred.destroy();
  });
});

describe('renewable TGTs', () => {
  test('a renewable TGT is renewed (TGS RENEW), not fetched again, while renew-till allows; then an AS exchange', async () => {
    const { clock, kdc, keytab, common } = setup({ maxRenewMs: 24 * HOUR });
    const cred = await acquireKerberosCredentials({ ...common, keytab, renewLifetime: 7 * 24 * 3600 });
    const renewTill = cred.tgt.renewTill!.getTime();
    assert.equal(renewTill, clock.ms + 24 * HOUR, 'the KDC capped renew-till at its maximum');
    clock.advance(5 * HOUR + 1000);
    await cred.getServiceTicket('HTTP/a.example.test');
    assert.deepEqual({ as: kdc.counts.as, renew: kdc.counts.renew }, { as: 1, renew: 1 });
    assert.equal(cred.tgt.endtime.getTime(), Math.floor(clock.ms / 1000) * 1000 + 10 * HOUR);
    // Renewals until renew-till: the last one ends at renew-till, and then only an AS exchange helps.
    for (let i = 0; i < 6 && kdc.counts.as === 1; i++) {
      clock.advance(cred.tgt.endtime.getTime() - clock.ms - HOUR);
      await cred.getServiceTicket(`HTTP/r${i}.example.test`);
    }
    assert.equal(kdc.counts.as, 2, 'a TGT that renewal cannot extend is replaced by an AS exchange');
    assert.ok(kdc.counts.renew >= 2);
    assert.ok(cred.tgt.renewTill!.getTime() > renewTill, 'the new TGT has its own renew-till');
    await cred.destroy();
  });

  test('a renewal the KDC refuses falls back to an AS exchange', async () => {
    const { clock, kdc, keytab, common } = setup();
    const cred = await acquireKerberosCredentials({ ...common, keytab, renewLifetime: 3 * 24 * 3600 });
    kdc.state.renewError = 12; // KDC_ERR_POLICY
    clock.advance(6 * HOUR);
    await cred.getServiceTicket('HTTP/a.example.test');
    assert.deepEqual({ as: kdc.counts.as, renew: kdc.counts.renew }, { as: 2, renew: 0 });
    await cred.destroy();
  });

  test('renewTicket: not renewable and past renew-till are refused without asking the KDC', async () => {
    const { clock, kdc, common } = setup();
    const plain = (await getInitialTicket({ ...common, principal: 'alice', password: PASSWORD })).credential;
    const sent = kdc.tgsTgtEndtimes.length;
    await assert.rejects(renewTicket(plain, common), code(SecurityStatus.SEC_E_KDC_INVALID_REQUEST, /not renewable/));
    const renewable = (await getInitialTicket({ ...common, principal: 'alice', password: PASSWORD, renewLifetime: 3600 * 12 })).credential;
    clock.advance(11 * HOUR);
    await assert.rejects(renewTicket(renewable, common), code(SecurityStatus.SEC_E_CONTEXT_EXPIRED, /no longer be renewed.*kinit/));
    assert.equal(kdc.tgsTgtEndtimes.length, sent, 'no TGS-REQ was sent');
  });

  test('renewTicket: a new endtime and session key, same renew-till', async () => {
    const { clock, common } = setup();
    const t = (await getInitialTicket({ ...common, principal: 'alice', password: PASSWORD, renewLifetime: 3600 * 48 })).credential;
    clock.advance(3 * HOUR);
    const r = await renewTicket(t, common);
    assert.equal(r.endtime.getTime(), t.endtime.getTime() + 3 * HOUR);
    assert.equal(r.renewTill!.getTime(), t.renewTill!.getTime());
    assert.deepEqual(r.server, t.server);
    assert.notDeepEqual(r.sessionKey.keyvalue, t.sessionKey.keyvalue);
  });
});

describe('password credentials', () => {
  test('refresh with the key derived once (not the password); free zeroes the TGT and refuses further use', async () => {
    const { clock, kdc, common } = setup();
    const cred = await acquireKerberosCredentials({ ...common, principal: 'alice', password: PASSWORD });
    assert.equal(cred.source, 'password');
    clock.advance(6 * HOUR);
    await cred.getServiceTicket('HTTP/a.example.test');
    assert.equal(kdc.counts.as, 2);
    assert.deepEqual(kdc.asEtypes.at(-1), [18], 'the refresh offers only the enctype of the kept key');
    const key = cred.tgt.sessionKey.keyvalue;
    await cred.destroy();
    assert.ok(key.every((b) => b === 0), 'the TGT session key is zeroed');
    await assert.rejects(cred.getServiceTicket('HTTP/a.example.test'), code(SecurityStatus.SEC_E_INVALID_HANDLE));
    await assert.rejects(cred.currentTgt(), code(SecurityStatus.SEC_E_INVALID_HANDLE));
    await cred.destroy(); // twice is harmless
  });

  test('a key the KDC no longer accepts (password changed): the refresh error once the TGT expired', async () => {
    const { clock, kdc, common } = setup();
    const cred = await acquireKerberosCredentials({ ...common, principal: 'alice', password: PASSWORD });
    kdc.rotateAliceKey();
    clock.advance(11 * HOUR);
    await assert.rejects(cred.getServiceTicket('HTTP/a.example.test'), code(SecurityStatus.SEC_E_LOGON_DENIED, /PREAUTH_FAILED/));
    await cred.destroy();
  });
});

describe("a cache of the caller's (storeIn): it keeps its own copy of the TGT", () => {
  for (const [kind, make] of [
    ['MEMORY', () => new MemoryCredentialCache(`storein-${++seq}`)],
    ['FILE', () => new FileCredentialCache(fresh('storein'))],
  ] as Array<[string, () => CredentialCache]>) {
    test(`${kind}: freeing the credential zeroes its TGT; the cache's TGT stays good and still gets tickets`, async () => {
      const { kdc, common } = setup();
      const cache = make();
      const cred = await acquireKerberosCredentials({ ...common, principal: 'alice', password: PASSWORD, storeIn: cache });
      const ours = cred.tgt.sessionKey.keyvalue;
      const want = Uint8Array.from(ours);
      assert.ok(want.some((b) => b !== 0));
      await cred.destroy();
      assert.ok(ours.every((b) => b === 0), "the credential's TGT session key is zeroed");
      const kept = await cache.tgt(undefined, common.now());
      assert.deepEqual(kept && [...kept.sessionKey.keyvalue], [...want], "the cache's TGT is intact");
      // Another credential over that cache signs on with it (a zeroed key would fail the TGS exchange).
      if (kind === 'FILE') {
        const again = await acquireKerberosCredentials({ ...common, ccache: cache.name });
        const t = await again.getServiceTicket('HTTP/a.example.test');
        assert.ok(t.sessionKey.keyvalue.some((b) => b !== 0));
        assert.equal(kdc.counts.as, 1, 'no new AS exchange: the TGT came from the cache');
        await again.destroy();
      }
      await cache.destroy();
    });
  }

  test('MEMORY: a ticket stored, then zeroed by its holder, is still whole in the cache; so is one handed out and zeroed', async () => {
    const { common } = setup();
    const r = await getInitialTicket({ ...common, principal: 'alice', password: PASSWORD });
    const cache = new MemoryCredentialCache(`copies-${++seq}`);
    await cache.initialize(r.credential.client);
    await cache.store(r.credential);
    const want = [...r.credential.sessionKey.keyvalue];
    r.credential.sessionKey.keyvalue.fill(0);
    const a = await cache.tgt(undefined, common.now());
    assert.deepEqual(a && [...a.sessionKey.keyvalue], want);
    a!.sessionKey.keyvalue.fill(0);
    const b = await cache.tgt(undefined, common.now());
    assert.deepEqual(b && [...b.sessionKey.keyvalue], want);
    await cache.destroy();
    assert.ok(b!.sessionKey.keyvalue.some((x) => x !== 0), "a copy handed out is its holder's: the cache's destroy leaves it");
  });
});

describe('ccache credentials', () => {
  async function kinit(path: string, common: ReturnType<typeof setup>['common'], lifetime?: number): Promise<KerberosTicketCredential> {
    const r = await getInitialTicket({ ...common, principal: 'alice', password: PASSWORD, ...(lifetime ? { lifetime } : {}) });
    const cc = new FileCredentialCache(path);
    await cc.initialize(r.credential.client);
    await cc.store(r.credential);
    return r.credential;
  }

  test('the TGT is read at each use: an expired one gives SEC_E_CONTEXT_EXPIRED naming kinit; an external kinit is picked up', async () => {
    const { clock, kdc, common } = setup();
    const path = fresh('ccache');
    await kinit(path, common);
    const cred = await acquireKerberosCredentials({ ...common, ccache: `FILE:${path}` });
    assert.equal(cred.source, 'ccache');
    await cred.getServiceTicket('HTTP/a.example.test');
    clock.advance(11 * HOUR);
    await assert.rejects(cred.getServiceTicket('HTTP/b.example.test'), code(SecurityStatus.SEC_E_CONTEXT_EXPIRED, /expired at .*run kinit/));
    await assert.rejects(cred.getServiceTicket('HTTP/a.example.test'), code(SecurityStatus.SEC_E_CONTEXT_EXPIRED), 'the expired service ticket is not used');
    assert.equal(kdc.counts.as, 1, 'a ccache credential never runs an AS exchange itself');
    const renewed = await kinit(path, common); // another process: kinit / k5start
    const t = await cred.getServiceTicket('HTTP/b.example.test');
    assert.equal(kdc.tgsTgtEndtimes.at(-1), renewed.endtime.getTime(), 'the TGS-REQ carried the TGT the external kinit wrote');
    assert.equal(cred.tgt.endtime.getTime(), renewed.endtime.getTime());
    assert.ok(t.endtime.getTime() > clock.ms);
    const last = cred.tgt.sessionKey.keyvalue;
    await cred.destroy();
    assert.ok(last.every((b) => b === 0), 'the TGT last read is zeroed with the handle');
    assert.ok((await new FileCredentialCache(path).principal()) !== undefined, "freeing the handle leaves the user's cache");
    const inFile = await new FileCredentialCache(path).tgt(undefined, common.now());
    assert.deepEqual(inFile && [...inFile.sessionKey.keyvalue], [...renewed.sessionKey.keyvalue], "the cache's own TGT is intact");
  });

  test('expired service tickets in the cache are not used', async () => {
    const { clock, kdc, common } = setup({ serviceLifeMs: HOUR });
    const path = fresh('ccache');
    await kinit(path, common);
    const cred = await acquireKerberosCredentials({ ...common, ccache: path });
    const t1 = await cred.getServiceTicket('HTTP/a.example.test');
    assert.equal((await cred.getServiceTicket('HTTP/a.example.test')).endtime.getTime(), t1.endtime.getTime(), 'a current one is reused');
    assert.equal(kdc.counts.tgs, 1);
    clock.advance(HOUR + 1000);
    const t2 = await cred.getServiceTicket('HTTP/a.example.test');
    assert.equal(kdc.counts.tgs, 2);
    assert.ok(t2.endtime.getTime() > clock.ms);
  });

  test('acquire refuses an expired cache (SEC_E_CONTEXT_EXPIRED) and a cache without a TGT (SEC_E_NO_CREDENTIALS)', async () => {
    const { clock, common } = setup();
    const path = fresh('ccache');
    await kinit(path, common, 3600);
    clock.advance(2 * HOUR);
    await assert.rejects(acquireKerberosCredentials({ ...common, ccache: path }), code(SecurityStatus.SEC_E_CONTEXT_EXPIRED, /kinit/));
    const empty = fresh('ccache');
    await new FileCredentialCache(empty).initialize({ realm: REALM, components: ['alice'], nameType: 1 });
    await assert.rejects(acquireKerberosCredentials({ ...common, ccache: empty }), code(SecurityStatus.SEC_E_NO_CREDENTIALS, /no current TGT.*kinit/));
    await assert.rejects(acquireKerberosCredentials({ ...common, ccache: fresh('missing') }), code(SecurityStatus.SEC_E_NO_CREDENTIALS));
  });

  test('a cache re-initialized for another principal, or removed, is refused (SEC_E_NO_CREDENTIALS)', async () => {
    const { common } = setup();
    const path = fresh('ccache');
    await kinit(path, common);
    const cred = await acquireKerberosCredentials({ ...common, ccache: path });
    await new FileCredentialCache(path).initialize({ realm: REALM, components: ['bob'], nameType: 1 });
    await assert.rejects(cred.getServiceTicket('HTTP/a.example.test'), code(SecurityStatus.SEC_E_NO_CREDENTIALS, /holds bob@/));
    await new FileCredentialCache(path).destroy();
    await assert.rejects(cred.currentTgt(), code(SecurityStatus.SEC_E_NO_CREDENTIALS, /no longer exists/));
  });
});
