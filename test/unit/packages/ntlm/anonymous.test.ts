// Anonymous NTLM (MS-NLMP 3.2.5.1.2 / 3.3.1): empty identity, empty NT response, LM response Z(1).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Credentials } from '../../../../src/credentials.js';
import * as F from '../../../../src/packages/ntlm/flags.js';
import { parseAuthenticateMessage } from '../../../../src/packages/ntlm/messages.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { ASC_RET, ISC_RET, SECPKG_ATTR } from '../../../../src/sspi/flags.js';
import { handshake, pair } from './ntlm-harness.js';

const ANON = { User: '', Domain: '', Password: '' };

describe('NTLM anonymous authentication', () => {
  it('authenticates as NT AUTHORITY\\ANONYMOUS LOGON when the authority allows it', async () => {
    const p = await pair({}, { authData: ANON, allowAnonymous: true });
    const { authenticate } = await handshake(p);
    const a = parseAuthenticateMessage(authenticate);
    assert.ok(a.NegotiateFlags & F.NTLMSSP_NEGOTIATE_ANONYMOUS);
    assert.equal(a.UserName, '');
    assert.equal(a.NtChallengeResponse.length, 0);
    assert.deepEqual(a.LmChallengeResponse, new Uint8Array(1));
    assert.equal((await p.server.query<{ sUserName: string }>(SECPKG_ATTR.NAMES)).sUserName, 'NT AUTHORITY\\ANONYMOUS LOGON');
    assert.equal((await p.client.query<{ sUserName: string }>(SECPKG_ATTR.NAMES)).sUserName, 'NT AUTHORITY\\ANONYMOUS LOGON');
    assert.equal((await p.client.credentials!.userName()), 'NT AUTHORITY\\ANONYMOUS LOGON');
    // No session security for anonymous (MS-NLMP 3.4): a null session on both sides, neither
    // integrity nor confidentiality granted, whatever was asked; see dummy-signature.test.ts.
    for (const [ctx, names] of [[p.client, ISC_RET], [p.server, ASC_RET]] as const) {
      assert.ok(ctx.flags & names.NULL_SESSION, 'NULL_SESSION granted');
      assert.equal(ctx.flags & (names.INTEGRITY | names.CONFIDENTIALITY), 0);
    }
    assert.throws(() => p.client.wrap(new Uint8Array([1])), (e: SspiError) => e.code === 'SEC_E_UNSUPPORTED_FUNCTION');
    await p.host.shutdown();
  });

  it('is refused with SEC_E_LOGON_DENIED unless allowed', async () => {
    const p = await pair({}, { authData: ANON });
    await assert.rejects(handshake(p), (e: SspiError) => e.code === 'SEC_E_LOGON_DENIED');
    await p.host.shutdown();
  });

  it('an empty user with a password is not anonymous', async () => {
    const p = await pair({}, { authData: { User: '', Domain: '', Password: 'x' }, allowAnonymous: true });
    const neg = (await p.client.step())!;
    const a = parseAuthenticateMessage((await p.client.step((await p.server.step(neg))!))!);
    assert.equal(a.NegotiateFlags & F.NTLMSSP_NEGOTIATE_ANONYMOUS, 0);
    assert.ok(a.NtChallengeResponse.length > 24);
    await p.host.shutdown();
  });

  it('acquiring anonymous credentials needs no logon session credential', async () => {
    const p = await pair({}, { authData: ANON, allowAnonymous: true });
    const c = await Credentials.acquire(p.host.sspi(), { package: 'NTLM', use: 'outbound', authData: ANON });
    assert.equal(await c.userName(), 'NT AUTHORITY\\ANONYMOUS LOGON');
    await p.host.shutdown();
  });
});
