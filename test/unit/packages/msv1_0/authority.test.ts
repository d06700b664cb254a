import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fromHex, toHex } from '../../../../src/crypto/bytes.js';
import { createLsa, type LsaHost } from '../../../../src/lsa/host.js';
import { ComputeResponseNTLMv1, ComputeResponseNTLMv2, NTOWFv1, NTOWFv2 } from '../../../../src/packages/ntlm/crypto.js';
import { ANONYMOUS_USER_NAME, msv1_0Package, SpLsaModeInitialize, validateNetworkLogon } from '../../../../src/packages/msv1_0/package.js';
import {
  decodePassthroughResponse,
  encodePassthroughRequest,
  MSV1_0_ALLOW_LM,
  MSV1_0_ALLOW_NTLMV1,
  MSV1_0_PACKAGE_NAME,
  type NetworkLogonInfo,
} from '../../../../src/packages/msv1_0/protocol.js';
import { NtStatus } from '../../../../src/sspi/status.js';
import { MemoryAccountStore } from '../../../../src/store/accounts.js';
import { recorderPackage } from '../../lsa/fixtures/recorder.js';

interface Vec {
  id: string;
  values?: Record<string, string>;
  expected?: Record<string, string>;
}
const vectors = (JSON.parse(readFileSync(new URL('../../../fixtures/vectors/ntlm.json', import.meta.url), 'utf8')) as { cases: Vec[] }).cases;
const vec = (id: string): Vec => vectors.find((c) => c.id === id)!;
const common = vec('common_values').values!;
const SERVER_CHALLENGE = fromHex(common.ServerChallenge!);
const NT_RESPONSE_V2 = fromHex(vec('v2_NTLMv2Response').expected!.NtChallengeResponse!);
const LM_RESPONSE_V2 = fromHex(vec('v2_LMv2Response').expected!.LmChallengeResponse!);
const SPEC_SESSION_BASE_KEY = vec('v2_session_base_key').expected!.SessionBaseKey!;
assert.equal(SPEC_SESSION_BASE_KEY, '8de40ccadbc14a82f15cb0ad0de95ca3');

const T0 = new Date('2025-01-01T00:00:00Z');

function specInfo(over: Partial<NetworkLogonInfo> = {}): NetworkLogonInfo {
  return {
    LogonDomainName: 'Domain',
    ParameterControl: 0,
    UserName: 'User',
    Workstation: 'COMPUTER',
    LmChallenge: SERVER_CHALLENGE,
    NtChallengeResponse: NT_RESPONSE_V2,
    LmChallengeResponse: LM_RESPONSE_V2,
    ...over,
  };
}

async function storeWithSpecUser(lockout = { threshold: 3, durationMs: 600_000, observationWindowMs: 600_000 }): Promise<MemoryAccountStore> {
  const s = new MemoryAccountStore({ lockout });
  await s.add({ user: 'User', domain: 'Domain', ntHash: NTOWFv1('Password') });
  return s;
}

/** An LSA with the authority and a forwarding package, as the NTLM package will call it. */
async function lsaWith(store: MemoryAccountStore, extra: { allowAnonymous?: boolean; allowLMv2?: boolean; now?: () => Date } = {}) {
  const forwarder = recorderPackage({
    name: 'NTLM',
    answer: (_entry, buf, lsa, base) => lsa.CallPackagePassthrough(MSV1_0_PACKAGE_NAME, base, buf, buf.length),
  });
  const host = await createLsa({ packages: [msv1_0Package({ store, now: extra.now ?? (() => T0), ...extra }), forwarder.module] });
  const conn = host.connect({ trusted: true });
  const ntlmId = (await conn.LookupAuthenticationPackage('NTLM')).AuthenticationPackage;
  const msvId = (await conn.LookupAuthenticationPackage(MSV1_0_PACKAGE_NAME)).AuthenticationPackage;
  /** Through the NTLM package's CallPackagePassthrough (the path the NTLM acceptor uses). */
  const passthrough = async (info: NetworkLogonInfo, base = 0x7ff600001000n) => {
    const r = await conn.CallAuthenticationPackage(ntlmId, encodePassthroughRequest(info, base), base);
    return { ...r, validation: r.status === NtStatus.STATUS_SUCCESS && r.ProtocolReturnBuffer ? decodePassthroughResponse(r.ProtocolReturnBuffer) : null };
  };
  /** LsaCallAuthenticationPackage straight to MSV1_0 over a trusted connection. */
  const direct = async (submit: Uint8Array, base = 0n) => conn.CallAuthenticationPackage(msvId, submit, base);
  return { host, conn, passthrough, direct, msvId };
}

describe('MSV1_0 account authority: NTLMv2 (MS-NLMP 4.2.4)', () => {
  it('validates the spec response and returns the spec SessionBaseKey and canonical names', async () => {
    const store = await storeWithSpecUser();
    const { host, passthrough } = await lsaWith(store);
    const r = await passthrough(specInfo({ UserName: 'user' }));
    // The spec response was computed for "User"; NTOWFv2 upper-cases the user, so "user" works too.
    assert.equal(r.status, NtStatus.STATUS_SUCCESS);
    assert.equal(r.ProtocolStatus, NtStatus.STATUS_SUCCESS);
    assert.ok(r.validation);
    assert.equal(toHex(r.validation.UserSessionKey), SPEC_SESSION_BASE_KEY);
    assert.equal(r.validation.EffectiveName, 'User');
    assert.equal(r.validation.LogonDomainName, 'Domain');
    assert.deepEqual(r.validation.LanmanSessionKey, new Uint8Array(8));
    await host.shutdown();
  });

  it('also answers a direct trusted LsaCallAuthenticationPackage, rebasing with ClientBufferBase', async () => {
    const store = await storeWithSpecUser();
    const { host, direct } = await lsaWith(store);
    const base = 0x000001d2c3b40000n;
    const r = await direct(encodePassthroughRequest(specInfo(), base), base);
    assert.equal(r.status, NtStatus.STATUS_SUCCESS);
    assert.equal(r.ProtocolStatus, NtStatus.STATUS_SUCCESS);
    assert.equal(toHex(decodePassthroughResponse(r.ProtocolReturnBuffer!)!.UserSessionKey), SPEC_SESSION_BASE_KEY);
    // The wrong base makes every pointer fall outside the buffer: a malformed request.
    const bad = await direct(encodePassthroughRequest(specInfo(), base), base + 0x1000n);
    assert.equal(bad.status, NtStatus.STATUS_INVALID_PARAMETER);
    await host.shutdown();
  });

  it('untrusted callers are refused', async () => {
    const store = await storeWithSpecUser();
    const { host, msvId } = await lsaWith(store);
    const r = await host.connect({ trusted: false }).CallAuthenticationPackage(msvId, encodePassthroughRequest(specInfo()), 0n);
    assert.equal(r.status, NtStatus.STATUS_ACCESS_DENIED);
    await host.shutdown();
  });

  it('a fresh NTLMv2 exchange computed with the crypto module validates', async () => {
    const store = new MemoryAccountStore();
    await store.add({ user: 'alice', domain: 'EXAMPLE', ntHash: NTOWFv1('correct horse') });
    const { host, passthrough } = await lsaWith(store);
    const key = NTOWFv2('correct horse', 'Alice', 'example');
    const sc = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const resp = ComputeResponseNTLMv2({ ResponseKeyNT: key, ResponseKeyLM: key, ServerChallenge: sc, ClientChallenge: new Uint8Array(8).fill(9), Time: 133_000_000_000_000_000n, ServerName: new Uint8Array(4) });
    const r = await passthrough({ LogonDomainName: 'example', ParameterControl: 0, UserName: 'Alice', Workstation: 'WS', LmChallenge: sc, NtChallengeResponse: resp.NtChallengeResponse, LmChallengeResponse: resp.LmChallengeResponse });
    assert.equal(r.ProtocolStatus, NtStatus.STATUS_SUCCESS);
    assert.deepEqual(r.validation!.UserSessionKey, resp.SessionBaseKey);
    assert.equal(r.validation!.EffectiveName, 'alice');
    assert.equal(r.validation!.LogonDomainName, 'EXAMPLE');
    await host.shutdown();
  });
});

describe('MSV1_0 account authority: failures', () => {
  it('wrong password and unknown user are both STATUS_LOGON_FAILURE; the wrong password counts', async () => {
    const store = await storeWithSpecUser();
    await store.setNtHash('Domain', 'User', NTOWFv1('NotPassword'));
    const { host, passthrough } = await lsaWith(store);
    const wrong = await passthrough(specInfo());
    assert.equal(wrong.status, NtStatus.STATUS_SUCCESS);
    assert.equal(wrong.ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    assert.equal(wrong.validation, null);
    assert.equal((await store.get('Domain', 'User'))!.badPasswordCount, 1);
    const unknown = await passthrough(specInfo({ UserName: 'Nobody' }));
    assert.equal(unknown.ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    const otherDomain = await passthrough(specInfo({ LogonDomainName: 'Elsewhere' }));
    assert.equal(otherDomain.ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    const tampered = NT_RESPONSE_V2.slice();
    tampered[20]! ^= 1;
    await store.setNtHash('Domain', 'User', NTOWFv1('Password'));
    assert.equal((await passthrough(specInfo({ NtChallengeResponse: tampered }))).ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    assert.equal((await passthrough(specInfo({ NtChallengeResponse: NT_RESPONSE_V2.subarray(0, 40) }))).ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    await host.shutdown();
  });

  it('disabled: STATUS_ACCOUNT_DISABLED with the right password, LOGON_FAILURE with a wrong one', async () => {
    const store = await storeWithSpecUser();
    await store.setDisabled('Domain', 'User', true);
    const { host, passthrough } = await lsaWith(store);
    assert.equal((await passthrough(specInfo())).ProtocolStatus, NtStatus.STATUS_ACCOUNT_DISABLED);
    const tampered = NT_RESPONSE_V2.slice();
    tampered[0]! ^= 1;
    assert.equal((await passthrough(specInfo({ NtChallengeResponse: tampered }))).ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    await store.setDisabled('Domain', 'User', false);
    assert.equal((await passthrough(specInfo())).ProtocolStatus, NtStatus.STATUS_SUCCESS);
    await host.shutdown();
  });

  it('locks out after N failures, answers LOCKED_OUT even to the right password, unlocks after the duration', async () => {
    const store = await storeWithSpecUser({ threshold: 3, durationMs: 60_000, observationWindowMs: 60_000 });
    let now = T0;
    const { host, passthrough } = await lsaWith(store, { now: () => now });
    const tampered = NT_RESPONSE_V2.slice();
    tampered[3]! ^= 0x40;
    for (let i = 0; i < 3; i++) assert.equal((await passthrough(specInfo({ NtChallengeResponse: tampered }))).ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    assert.equal((await passthrough(specInfo())).ProtocolStatus, NtStatus.STATUS_ACCOUNT_LOCKED_OUT);
    assert.equal((await passthrough(specInfo({ NtChallengeResponse: tampered }))).ProtocolStatus, NtStatus.STATUS_ACCOUNT_LOCKED_OUT);
    now = new Date(T0.getTime() + 61_000);
    assert.equal((await passthrough(specInfo())).ProtocolStatus, NtStatus.STATUS_SUCCESS);
    assert.equal((await store.get('domain', 'user'))!.badPasswordCount, 0);
    // An administrator unlock works too.
    for (let i = 0; i < 3; i++) await passthrough(specInfo({ NtChallengeResponse: tampered }));
    assert.equal((await passthrough(specInfo())).ProtocolStatus, NtStatus.STATUS_ACCOUNT_LOCKED_OUT);
    await store.unlock('Domain', 'User');
    assert.equal((await passthrough(specInfo())).ProtocolStatus, NtStatus.STATUS_SUCCESS);
    await host.shutdown();
  });

  it('expired password: STATUS_PASSWORD_EXPIRED', async () => {
    const store = await storeWithSpecUser();
    await store.setNtHash('Domain', 'User', NTOWFv1('Password'), new Date(T0.getTime() - 1));
    const { host, passthrough } = await lsaWith(store);
    assert.equal((await passthrough(specInfo())).ProtocolStatus, NtStatus.STATUS_PASSWORD_EXPIRED);
    await store.setNtHash('Domain', 'User', NTOWFv1('Password'), new Date(T0.getTime() + 1000));
    assert.equal((await passthrough(specInfo())).ProtocolStatus, NtStatus.STATUS_SUCCESS);
    await host.shutdown();
  });
});

describe('MSV1_0 account authority: NTLMv1, LM, LMv2, anonymous', () => {
  const ntHash = NTOWFv1('Password');

  it('NTLMv1 is refused unless MSV1_0_ALLOW_NTLMV1; with it, plain and ESS responses validate', async () => {
    const store = await storeWithSpecUser();
    const { host, passthrough } = await lsaWith(store);
    const v1 = ComputeResponseNTLMv1({ ResponseKeyNT: ntHash, ServerChallenge: SERVER_CHALLENGE, extendedSessionSecurity: false, noLMResponse: true });
    const info = specInfo({ NtChallengeResponse: v1.NtChallengeResponse, LmChallengeResponse: v1.LmChallengeResponse });
    assert.equal((await passthrough(info)).ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    assert.equal((await store.get('Domain', 'User'))!.badPasswordCount, 0, 'a refused protocol is not a bad password');
    const ok = await passthrough({ ...info, ParameterControl: MSV1_0_ALLOW_NTLMV1 });
    assert.equal(ok.ProtocolStatus, NtStatus.STATUS_SUCCESS);
    assert.deepEqual(ok.validation!.UserSessionKey, v1.SessionBaseKey);
    assert.equal(toHex(v1.SessionBaseKey), 'd87262b0cde4b1cb7499becccdf10784'); // MS-NLMP 4.2.2.1.3
    const ess = ComputeResponseNTLMv1({ ResponseKeyNT: ntHash, ServerChallenge: SERVER_CHALLENGE, ClientChallenge: fromHex(common.ClientChallenge!), extendedSessionSecurity: true });
    const okEss = await passthrough(specInfo({ ParameterControl: MSV1_0_ALLOW_NTLMV1, NtChallengeResponse: ess.NtChallengeResponse, LmChallengeResponse: ess.LmChallengeResponse }));
    assert.equal(okEss.ProtocolStatus, NtStatus.STATUS_SUCCESS);
    assert.deepEqual(okEss.validation!.UserSessionKey, ess.SessionBaseKey);
    const bad = await passthrough(specInfo({ ParameterControl: MSV1_0_ALLOW_NTLMV1, NtChallengeResponse: ess.NtChallengeResponse, LmChallengeResponse: v1.LmChallengeResponse }));
    assert.equal(bad.ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    await host.shutdown();
  });

  it('LM-only and LMv2-only responses fail unless LMv2 is allowed', async () => {
    const store = await storeWithSpecUser();
    const only = specInfo({ NtChallengeResponse: new Uint8Array(0) });
    assert.equal((await validateNetworkLogon(store, only)).status, NtStatus.STATUS_LOGON_FAILURE);
    const r = await validateNetworkLogon(store, only, { allowLMv2: true });
    assert.equal(r.status, NtStatus.STATUS_SUCCESS);
    assert.equal(r.validation!.EffectiveName, 'User');
    const lm = specInfo({ NtChallengeResponse: new Uint8Array(0), LmChallengeResponse: new Uint8Array(16).fill(1), ParameterControl: MSV1_0_ALLOW_LM });
    // No LM hashes are kept: an allowed LM-only logon is a plain "not supported", not a bad password.
    assert.equal((await validateNetworkLogon(store, lm)).status, NtStatus.STATUS_NOT_SUPPORTED);
    assert.equal((await validateNetworkLogon(store, { ...only, ParameterControl: MSV1_0_ALLOW_LM })).status, NtStatus.STATUS_NOT_SUPPORTED);
    assert.equal((await validateNetworkLogon(store, { ...lm, ParameterControl: 0 })).status, NtStatus.STATUS_LOGON_FAILURE);
    // Nothing was counted against the account.
    assert.equal((await store.get('Domain', 'User'))!.badPasswordCount, 0);
  });

  it('anonymous: ANONYMOUS LOGON only when allowed', async () => {
    const store = new MemoryAccountStore();
    const anon = { LogonDomainName: '', ParameterControl: 0, UserName: '', Workstation: 'WS', LmChallenge: SERVER_CHALLENGE, NtChallengeResponse: new Uint8Array(0), LmChallengeResponse: new Uint8Array(1) };
    const off = await lsaWith(store);
    assert.equal((await off.passthrough(anon)).ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    await off.host.shutdown();
    const on = await lsaWith(store, { allowAnonymous: true });
    for (const lm of [new Uint8Array(1), new Uint8Array(0)]) {
      const r = await on.passthrough({ ...anon, LmChallengeResponse: lm });
      assert.equal(r.ProtocolStatus, NtStatus.STATUS_SUCCESS);
      assert.equal(r.validation!.EffectiveName, ANONYMOUS_USER_NAME);
      assert.deepEqual(r.validation!.UserSessionKey, new Uint8Array(16));
    }
    // A user name with empty responses is not anonymous.
    assert.equal((await on.passthrough({ ...anon, UserName: 'User', LogonDomainName: 'Domain' })).ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    await on.host.shutdown();
  });
});

describe('MSV1_0 account authority: malformed requests', () => {
  it('wrong message type, wrong package name, truncated buffers', async () => {
    const store = await storeWithSpecUser();
    const { host, direct } = await lsaWith(store);
    const good = encodePassthroughRequest(specInfo());
    const wrongType = good.slice();
    wrongType[0] = 3;
    assert.equal((await direct(wrongType)).status, NtStatus.STATUS_INVALID_PARAMETER);
    for (const n of [0, 1, 8, 40, 63, 64, good.length - 1]) {
      assert.equal((await direct(good.subarray(0, n).slice())).status, NtStatus.STATUS_INVALID_PARAMETER, `truncated to ${n}`);
    }
    await host.shutdown();
  });

  it('random bytes give a defined NTSTATUS and never a throw (fast-check)', async () => {
    const store = await storeWithSpecUser();
    const { host, direct } = await lsaWith(store);
    const good = encodePassthroughRequest(specInfo());
    const allowed = new Set<number>([NtStatus.STATUS_SUCCESS, NtStatus.STATUS_INVALID_PARAMETER]);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 400, size: 'max' }),
          // Mutations of a valid request reach the inner decoders.
          fc.tuple(fc.nat(good.length - 1), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, bytes]) => {
            const b = good.slice();
            b.set(bytes.subarray(0, b.length - at), at);
            return b;
          }),
        ),
        fc.bigInt(0n, 0xffffn),
        async (buf, base) => {
          const r = await direct(buf, base);
          assert.ok(allowed.has(r.status), `status 0x${r.status.toString(16)}`);
          if (r.status === NtStatus.STATUS_SUCCESS) {
            assert.ok(r.ProtocolReturnBuffer);
            assert.ok(
              ([NtStatus.STATUS_SUCCESS, NtStatus.STATUS_LOGON_FAILURE, NtStatus.STATUS_NO_SUCH_PACKAGE, NtStatus.STATUS_INVALID_PARAMETER, NtStatus.STATUS_ACCOUNT_LOCKED_OUT] as number[]).includes(r.ProtocolStatus),
              `ProtocolStatus 0x${r.ProtocolStatus.toString(16)}`,
            );
          }
        },
      ),
      { numRuns: 300 },
    );
    await host.shutdown();
  });
});

describe('MSV1_0 module entry (PackageConfig)', () => {
  it('loads with a :memory: store, reports its info, and validates nothing (empty store)', async () => {
    const host: LsaHost = await createLsa({ packages: [{ module: { SpLsaModeInitialize }, config: { store: ':memory:', allowAnonymous: false } }] });
    const sspi = host.sspi();
    const info = await sspi.QuerySecurityPackageInfo(MSV1_0_PACKAGE_NAME);
    assert.match(info.ppPackageInfo!.Comment, /tslsa account authority/);
    const conn = host.connect({ trusted: true });
    const id = (await conn.LookupAuthenticationPackage(MSV1_0_PACKAGE_NAME)).AuthenticationPackage;
    const r = await conn.CallAuthenticationPackage(id, encodePassthroughRequest(specInfo()), 0n);
    assert.equal(r.status, NtStatus.STATUS_SUCCESS);
    assert.equal(r.ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    await host.shutdown();
  });

  it('a store path in a missing directory fails the load with the path named', async () => {
    await assert.rejects(createLsa({ packages: [{ module: { SpLsaModeInitialize }, config: { store: '/nonexistent-tslsa-dir/x/accounts.db' } }] }), /nonexistent-tslsa-dir|OBJECT_NAME_NOT_FOUND/);
  });
});
