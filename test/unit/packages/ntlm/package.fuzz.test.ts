// Fuzzing the NTLM package through SSPI with a real account authority: random and tampered
// NEGOTIATE/CHALLENGE/AUTHENTICATE messages, and random/tampered seal and signature tokens. The
// properties live in test/fuzz/ntlm-properties.ts (shared with the long campaign, npm run fuzz);
// here each runs for a bounded time so the whole file stays within a few seconds.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { parseAuthenticateMessage } from '../../../../src/packages/ntlm/messages.js';
import { statusName } from '../../../../src/sspi/status.js';
import { closeWorld, getWorld, inSession, mutate, ntlmPackageProperties } from '../../../fuzz/ntlm-properties.js';
import { assertSettled, guardFuzzFile } from '../../../fuzz/suite.js';

guardFuzzFile(closeWorld);

describe('NTLM package fuzzing through SSPI', () => {
  for (const [name, prop] of ntlmPackageProperties()) {
    it(name, async () => {
      // About 0.7 s per property; `timeout` turns a hang into a failure with its counterexample.
      await assertSettled(prop, { numRuns: 150, interruptAfterTimeLimit: 700, markInterruptAsFailure: false, timeout: 5_000 });
      assert.deepEqual((await getWorld()).faults, []);
    });
  }

  it('what catches which change in AUTHENTICATE: NTProofStr, then the MIC (the properties can fail)', async () => {
    const outcome = async (at: (auth: Uint8Array) => number, bit = 1) =>
      inSession(async (s) => {
        const n = await s.init(null, null);
        const c = await s.accept(null, n.token);
        const a = await s.init(n.ctx, c.token);
        const bad = mutate(a.token, 3, { kind: 'flip', at: at(a.token), bit });
        return statusName((await s.accept(c.ctx, bad)).status);
      });
    const field = (name: 'NtChallengeResponse' | 'UserName' | 'Workstation') => (t: Uint8Array) => parseAuthenticateMessage(t).layout!.Fields[name]!.BufferOffset;
    assert.equal(await outcome(field('NtChallengeResponse')), 'SEC_E_LOGON_DENIED', 'NTProofStr');
    assert.equal(await outcome(() => 72), 'SEC_E_MESSAGE_ALTERED', 'the MIC itself');
    // NTOWFv2 upper-cases the user name, so only the MIC notices 'alice' -> 'Alice'.
    assert.equal(await outcome(field('UserName'), 5), 'SEC_E_MESSAGE_ALTERED', 'user-name case');
    assert.equal(await outcome(() => 64), 'SEC_E_MESSAGE_ALTERED', 'VERSION');
  });

  it('the mutator changes what it says it changes', () => {
    const b = new Uint8Array(64).fill(7);
    b.set(Buffer.from('NTLMSSP\0', 'latin1'));
    b[8] = 3;
    assert.equal(mutate(b, 3, { kind: 'flip', at: 64 + 20, bit: 1 })[20], 7 ^ 2);
    assert.equal(mutate(b, 3, { kind: 'truncate', to: 10 }).length, 10);
    const f = mutate(b, 3, { kind: 'field', slot: 1, part: 'BufferOffset', value: 0xffffffff });
    assert.equal(new DataView(f.buffer).getUint32(24, true), 0xffffffff);
    assert.equal(new DataView(mutate(b, 3, { kind: 'flags', xor: 1 }).buffer).getUint32(60, true), 0x07070707 ^ 1);
  });
});
