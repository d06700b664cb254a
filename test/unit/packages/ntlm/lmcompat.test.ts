// LmCompatibilityLevel on both sides, and the 128-bit key policy (NtlmConfig).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as F from '../../../../src/packages/ntlm/flags.js';
import { DESL, LMOWFv1 } from '../../../../src/packages/ntlm/crypto.js';
import { parseAuthenticateMessage, parseChallengeMessage } from '../../../../src/packages/ntlm/messages.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SECPKG_ATTR } from '../../../../src/sspi/flags.js';
import { PASSWORD, handshake, pair, rewriteAuthenticate, rewriteChallenge, rewriteNegotiate, roundTrip } from './ntlm-harness.js';

const code = (c: string) => (e: SspiError) => e instanceof SspiError && e.code === c;
const hasEss = (b: Uint8Array) => (parseAuthenticateMessage(b).NegotiateFlags & F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) !== 0;

describe('NTLM LmCompatibilityLevel', () => {
  it('defaults: the initiator sends NTLMv2 only and the acceptor refuses NTLMv1', async () => {
    const p = await pair();
    const { authenticate } = await handshake(p);
    const a = parseAuthenticateMessage(authenticate);
    assert.ok(a.NtChallengeResponse.length > 24);
    assert.deepEqual(a.LmChallengeResponse, new Uint8Array(24)); // Z(24): the CHALLENGE had MsvAvTimestamp (MS-NLMP 3.1.5.1.2)
    await p.host.shutdown();
    const v1 = await pair({ lmCompatibilityLevel: 2, acceptorLmCompatibilityLevel: 5 });
    await assert.rejects(handshake(v1), code('SEC_E_LOGON_DENIED'));
    await v1.host.shutdown();
  });

  it('level 0 sends LM + NTLMv1 without ESS; level 3 acceptors take it and the keys agree', async () => {
    const p = await pair({ lmCompatibilityLevel: 0 });
    const { negotiate, authenticate } = await handshake(p);
    assert.equal(new DataView(negotiate.buffer, negotiate.byteOffset).getUint32(12, true) & F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, 0);
    const a = parseAuthenticateMessage(authenticate);
    assert.equal(a.NtChallengeResponse.length, 24);
    assert.equal(hasEss(authenticate), false);
    assert.notDeepEqual(a.LmChallengeResponse, a.NtChallengeResponse);
    assert.equal(a.LmChallengeResponse.length, 24);
    roundTrip(p.client, p.server);
    assert.equal((await p.server.query<{ sUserName: string }>(SECPKG_ATTR.NAMES)).sUserName, 'EXAMPLE\\alice');
    await p.host.shutdown();
  });

  it('the level 0 LM response is DESL(LMOWFv1(password), ServerChallenge)', async () => {
    const p = await pair({ lmCompatibilityLevel: 0 });
    let serverChallenge: Uint8Array = new Uint8Array(0);
    const { authenticate } = await handshake(p, { challenge: (c) => ((serverChallenge = parseChallengeMessage(c).ServerChallenge), c) });
    assert.deepEqual(parseAuthenticateMessage(authenticate).LmChallengeResponse, DESL(LMOWFv1(PASSWORD), serverChallenge));
    await p.host.shutdown();
  });

  it('level 1 uses NTLMv1 with extended session security when the server agrees', async () => {
    const p = await pair({ lmCompatibilityLevel: 1 });
    const { authenticate } = await handshake(p);
    const a = parseAuthenticateMessage(authenticate);
    assert.ok(hasEss(authenticate));
    assert.equal(a.NtChallengeResponse.length, 24);
    assert.deepEqual(a.LmChallengeResponse.subarray(8), new Uint8Array(16)); // ClientChallenge || Z(16)
    roundTrip(p.client, p.server);
    await p.host.shutdown();
  });

  it('level 2 repeats the NT response as the LM response when ESS is not negotiated', async () => {
    const p = await pair({ lmCompatibilityLevel: 2 });
    // A server without ESS (the flag stripped from its CHALLENGE; NTLMv1 has no MIC to notice).
    const strip = (c: Uint8Array) => rewriteChallenge(c, (m) => ({ NegotiateFlags: m.NegotiateFlags & ~F.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY }));
    const { authenticate } = await handshake(p, { challenge: strip });
    const a = parseAuthenticateMessage(authenticate);
    assert.equal(hasEss(authenticate), false);
    assert.deepEqual(a.LmChallengeResponse, a.NtChallengeResponse);
    roundTrip(p.client, p.server);
    await p.host.shutdown();
  });

  it('acceptor level 4 takes NTLMv1 (LM beside it ignored), level 5 refuses it', async () => {
    for (const [acceptor, ok] of [[4, true], [5, false], [3, true]] as const) {
      const p = await pair({ lmCompatibilityLevel: 0, acceptorLmCompatibilityLevel: acceptor });
      if (ok) {
        await handshake(p);
        roundTrip(p.client, p.server);
      } else {
        await assert.rejects(handshake(p), code('SEC_E_LOGON_DENIED'));
      }
      await p.host.shutdown();
    }
  });

  it('an LM-only response is an explicit SEC_E_UNSUPPORTED_FUNCTION where LM is allowed, else LOGON_DENIED', async () => {
    const lmOnly = (b: Uint8Array) => rewriteAuthenticate(b, () => ({ NtChallengeResponse: new Uint8Array(0) }));
    const allowed = await pair({ lmCompatibilityLevel: 0, acceptorLmCompatibilityLevel: 2 });
    await assert.rejects(handshake(allowed, { authenticate: lmOnly }), code('SEC_E_UNSUPPORTED_FUNCTION'));
    assert.equal((await allowed.store.get('EXAMPLE', 'alice'))!.badPasswordCount, 0);
    await allowed.host.shutdown();
    const refused = await pair({ lmCompatibilityLevel: 0, acceptorLmCompatibilityLevel: 4 });
    await assert.rejects(handshake(refused, { authenticate: lmOnly }), code('SEC_E_LOGON_DENIED'));
    await refused.host.shutdown();
  });

  it('NTLMv1 with a wrong password is refused', async () => {
    const p = await pair({ lmCompatibilityLevel: 1, acceptorLmCompatibilityLevel: 4 }, { authData: { User: 'alice', Domain: 'EXAMPLE', Password: 'wrong' } });
    await assert.rejects(handshake(p), code('SEC_E_LOGON_DENIED'));
    await p.host.shutdown();
  });

  it('rejects a level outside 0..5 at load', async () => {
    const { ntlmHost } = await import('./ntlm-harness.js');
    await assert.rejects(ntlmHost({ lmCompatibilityLevel: 6 }));
  });
});

describe('NTLM weak key policy', () => {
  const no128 = (b: Uint8Array) => rewriteNegotiate(b, (m) => ({ NegotiateFlags: (m.NegotiateFlags & ~F.NTLMSSP_NEGOTIATE_128) | F.NTLMSSP_NEGOTIATE_56 }));

  it('the initiator offers no 56-bit keys by default and refuses a CHALLENGE without 128-bit', async () => {
    const p = await pair();
    const neg = (await p.client.step())!;
    const flags = new DataView(neg.buffer, neg.byteOffset).getUint32(12, true);
    assert.equal(flags & F.NTLMSSP_NEGOTIATE_56, 0);
    assert.ok(flags & F.NTLMSSP_NEGOTIATE_128);
    const ch = rewriteChallenge((await p.server.step(neg))!, (m) => ({ NegotiateFlags: m.NegotiateFlags & ~F.NTLMSSP_NEGOTIATE_128 }));
    await assert.rejects(p.client.step(ch), code('SEC_E_UNSUPPORTED_FUNCTION'));
    await p.host.shutdown();
  });

  it('the acceptor refuses a NEGOTIATE without 128-bit for signing/sealing (ServerRequire128bitEncryption)', async () => {
    const p = await pair();
    await assert.rejects(p.server.step(no128((await p.client.step())!)), code('SEC_E_UNSUPPORTED_FUNCTION'));
    await p.host.shutdown();
  });

  it('with allowWeakKeys both sides settle on 56-bit keys and still protect messages', async () => {
    // NTLMv1 (level 2) carries no MIC flag, so the rewritten NEGOTIATE goes unnoticed as with a real peer.
    const p = await pair({ allowWeakKeys: true, lmCompatibilityLevel: 2, acceptorLmCompatibilityLevel: 4 });
    const { authenticate } = await handshake(p, { negotiate: no128 });
    const f = parseAuthenticateMessage(authenticate).NegotiateFlags;
    assert.equal(f & F.NTLMSSP_NEGOTIATE_128, 0);
    assert.ok(f & F.NTLMSSP_NEGOTIATE_56);
    roundTrip(p.client, p.server);
    await p.host.shutdown();
  });
});
