// `tslsa ntlm-auth` against Samba's ntlm_auth, helper to helper, as separate processes:
//   Samba's ntlmssp-client-1 (MIC flagged, so we verify it)  ->  our squid-2.5-ntlmssp
//   our ntlmssp-client-1                                      ->  Samba's squid-2.5-ntlmssp (verifies our MIC)
// A missing ntlm_auth fails these tests (NtlmAuthClient/Server call requireBinary), never skips them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NTOWFv1 } from '../../src/packages/ntlm/crypto.js';
import { SqliteAccountStore } from '../../src/store/sqlite.js';
import { NtlmAuthClient, NtlmAuthServer, summarizeNtlmMessage } from './lib/ntlm-auth.js';
import { LineChild, requireBinary } from './lib/proc.js';
import { cleanEnv } from './lib/realm.js';

const DOMAIN = 'EXAMPLE';
const USER = 'alice';
const PASSWORD = 'Passw0rd!';
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).href;

let dir = '';
let store = '';
const closers: Array<() => Promise<unknown>> = [];

before(async () => {
  requireBinary('ntlm_auth');
  dir = mkdtempSync(join(tmpdir(), 'tslsa-ntlm-auth-helper-'));
  store = join(dir, 'accounts.db');
  const s = await SqliteAccountStore.open(store, { create: true });
  await s.add({ user: USER, domain: DOMAIN, ntHash: NTOWFv1(PASSWORD) });
  await s.add({ user: 'bob', domain: DOMAIN, ntHash: NTOWFv1(PASSWORD) });
  await s.setDisabled(DOMAIN, 'bob', true);
  await s.close();
});

after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `tslsa ntlm-auth ...` as its own process (through tsx, like `npx tslsa` on a built tree). */
function tslsa(args: string[]): LineChild {
  const child = new LineChild(
    `tslsa ntlm-auth ${args[0]}`,
    process.execPath,
    ['--import', import.meta.resolve('tsx'), '-e', `import(${JSON.stringify(MAIN)}).then((m) => m.main(process.argv.slice(1))).then((c) => { process.exitCode = c; })`, '--', 'ntlm-auth', ...args],
    cleanEnv(),
  );
  closers.push(() => child.close());
  return child;
}

const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

describe('tslsa ntlm-auth with Samba ntlm_auth', () => {
  it('Samba ntlmssp-client-1 -> our squid-2.5-ntlmssp: right password AF, wrong/disabled/unknown NA', async () => {
    const ours = tslsa(['--helper-protocol=squid-2.5-ntlmssp', '--store', store, '--domain', DOMAIN]);
    const cases: Array<[string, string, string]> = [
      [USER, PASSWORD, `AF ${DOMAIN}\\${USER}`],
      [USER, 'wrong', 'NA NT_STATUS_LOGON_FAILURE'],
      ['bob', PASSWORD, 'NA NT_STATUS_LOGON_FAILURE'],
      ['mallory', PASSWORD, 'NA NT_STATUS_LOGON_FAILURE'],
    ];
    for (const [user, password, want] of cases) {
      const samba = NtlmAuthClient.start({ username: user, password, domain: DOMAIN });
      closers.push(() => samba.close());
      const neg = await samba.negotiate();
      const tt = await ours.request(`YR ${b64(neg)}`);
      assert.match(tt, /^TT [A-Za-z0-9+/=]+$/, ours.stderr);
      const auth = await samba.authenticate(unb64(tt.slice(3)));
      const s = summarizeNtlmMessage(auth);
      assert.equal(s.user, user);
      assert.ok((s.avFlags ?? 0) & 2, 'Samba flagged its MIC, so our acceptor verified it');
      assert.equal(await ours.request(`KK ${b64(auth)}`), want, `${user}/${password === PASSWORD ? 'right' : 'wrong'} password`);
      await samba.close();
    }
    // A tampered MIC from Samba's client is refused too.
    const samba = NtlmAuthClient.start({ username: USER, password: PASSWORD, domain: DOMAIN });
    closers.push(() => samba.close());
    const tt = await ours.request(`YR ${b64(await samba.negotiate())}`);
    const auth = await samba.authenticate(unb64(tt.slice(3)));
    auth[summarizeNtlmMessage(auth).micOffset!]! ^= 1;
    assert.equal(await ours.request(`KK ${b64(auth)}`), 'NA NT_STATUS_INVALID_PARAMETER');
    assert.equal(await ours.request('XX'), 'BH SPNEGO request invalid prefix');
    assert.deepEqual(await ours.close(), { code: 0, signal: null });
    assert.ok(!ours.stderr.includes(PASSWORD));
  });

  it('our ntlmssp-client-1 -> Samba squid-2.5-ntlmssp: right password AF, wrong password NA', async () => {
    for (const [password, ok] of [[PASSWORD, true], ['wrong', false]] as const) {
      const samba = NtlmAuthServer.start({ username: USER, password: PASSWORD, domain: DOMAIN });
      closers.push(() => samba.close());
      const ours = tslsa(['--helper-protocol=ntlmssp-client-1', '--username', USER, '--domain', DOMAIN, '--password', password]);
      const yr = await ours.request('YR');
      assert.match(yr, /^YR [A-Za-z0-9+/=]+$/, ours.stderr);
      const challenge = await samba.challenge(unb64(yr.slice(3)));
      const af = await ours.request(`TT ${b64(challenge)}`);
      assert.match(af, /^AF [A-Za-z0-9+/=]+$/, ours.stderr);
      assert.ok((summarizeNtlmMessage(unb64(af.slice(3))).avFlags ?? 0) & 2, 'our MIC is flagged: Samba verifies it');
      const verdict = await samba.authenticate(unb64(af.slice(3)));
      assert.equal(verdict.ok, ok, JSON.stringify(verdict));
      if (verdict.ok) assert.match(verdict.user, new RegExp(`${DOMAIN}.${USER}`, 'i'));
      else assert.match(verdict.reason, /^NA NT_STATUS_LOGON_FAILURE/);
      assert.deepEqual(await ours.close(), { code: 0, signal: null });
      await samba.close();
    }
  });

  it('our ntlmssp-client-1 without --password asks with PW, then Samba accepts', async () => {
    const samba = NtlmAuthServer.start({ username: USER, password: PASSWORD, domain: DOMAIN });
    closers.push(() => samba.close());
    const ours = tslsa(['--helper-protocol=ntlmssp-client-1', '--username', `${DOMAIN}\\${USER}`]);
    assert.equal(await ours.request('YR'), 'PW');
    assert.equal(await ours.request(`PW ${b64(Buffer.from(PASSWORD))}`), 'OK');
    const yr = await ours.readLine();
    const af = await ours.request(`TT ${b64(await samba.challenge(unb64(yr.slice(3))))}`);
    const verdict = await samba.authenticate(unb64(af.slice(3)));
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    assert.deepEqual(await ours.close(), { code: 0, signal: null });
  });
});
