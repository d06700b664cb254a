// Fuzzing the Kerberos package through SSPI with an acceptor keytab and an in-process KDC: changed
// AP-REQs, AP-REPs and DCE third legs, changed Wrap/MIC tokens, hostile authenticators and PACs,
// changed exported contexts, and the non-DER parsers. The properties live in
// test/fuzz/kerberos-properties.ts (shared with the long campaign, test/fuzz/kerberos-campaign.ts);
// here each runs for a bounded time so the whole file stays within a few seconds.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { decodeApReq } from '../../../../src/packages/kerberos/asn1/index.js';
import { buildApReq, unframeApReq } from '../../../../src/packages/kerberos/gss/apreq.js';
import { statusName } from '../../../../src/sspi/status.js';
import {
  REALM, REQ, apReqOf, apReqRegions, buildPac, checkAcceptedApReq, closeWorld, establish, getWorld, inSession, kerberosPackageProperties,
  makeTicket, pacAuthorizationData, receive, rerotate, rewriteApReq, send,
} from '../../../fuzz/kerberos-properties.js';
import { mutateBytes } from '../../../fuzz/bytes.js';
import { assertSettled, guardFuzzFile } from '../../../fuzz/suite.js';

guardFuzzFile(closeWorld);

const budget = { numRuns: 1_000_000, interruptAfterTimeLimit: 600, markInterruptAsFailure: false, timeout: 5_000 };

describe('Kerberos package fuzzing through SSPI', () => {
  const props = kerberosPackageProperties();
  for (const [name, prop] of props) {
    it(name, async () => {
      // About 0.6 s per property; `timeout` turns a hang into a failure with its counterexample.
      await assertSettled(prop, budget);
      assert.deepEqual((await getWorld()).faults, []);
    });
  }
});

describe('the properties can fail', () => {
  it('what catches which change in an AP-REQ: the ticket MAC, the authenticator MAC, the replay cache', async () => {
    await inSession(async (s) => {
      const outcome = async (region: number) => {
        const t = (await apReqOf(s, 'alice', 18)).token;
        const bad = mutateBytes(t, { kind: 'flip', region, at: 7, bit: 0 }, apReqRegions(t));
        return statusName((await s.accept(null, bad)).status);
      };
      assert.equal(await outcome(1), 'SEC_E_WRONG_PRINCIPAL', 'ticket ciphertext: KRB_AP_ERR_MODIFIED');
      assert.equal(await outcome(3), 'SEC_E_LOGON_DENIED', 'authenticator ciphertext: KRB_AP_ERR_BAD_INTEGRITY');
      // ap-options travel in the clear: mutual-required cleared is accepted, as alice, and uses the authenticator up.
      const t = (await apReqOf(s, 'alice', 18)).token;
      const clear = rewriteApReq(t, t, { kind: 'apOptions', value: 0 });
      const r = await s.accept(null, clear);
      assert.equal(statusName(r.status), 'SEC_E_OK');
      assert.equal(await s.clientName(r.ctx!), `alice@${REALM}`);
      assert.equal(statusName((await s.accept(null, t)).status), 'SEC_E_LOGON_DENIED', 'KRB_AP_ERR_REPEAT');
    });
  });

  it('checkAcceptedApReq refuses an acceptance RFC 4120 forbids (changed ciphertext, other client, a spliced pair)', async () => {
    await inSession(async (s) => {
      const a = (await apReqOf(s, 'alice', 18)).token;
      const b = (await apReqOf(s, 'bob', 18)).token;
      const g = [{ token: a, client: `alice@${REALM}` }];
      const flipped = mutateBytes(a, { kind: 'flip', region: 3, at: 0, bit: 3 }, apReqRegions(a));
      assert.throws(() => checkAcceptedApReq(g, flipped, 0, `alice@${REALM}`), /changed|no genuine/);
      assert.throws(() => checkAcceptedApReq(g, a, 0, `bob@${REALM}`), /another client/);
      const spliced = rewriteApReq(a, b, { kind: 'swapTicket' });
      assert.throws(() => checkAcceptedApReq([...g, { token: b, client: `bob@${REALM}` }], spliced, 0, `bob@${REALM}`), /no genuine/);
      // A refusal, or an acceptance of the genuine token, passes.
      assert.equal(checkAcceptedApReq(g, flipped, 0x8009030c, null), null);
      assert.equal(checkAcceptedApReq(g, a, 0, `alice@${REALM}`)?.token, a);
    });
  });

  it('Wrap tokens: a changed byte → SEC_E_MESSAGE_ALTERED and the window stays; a re-rotated token (RRC) still unwraps', async () => {
    await inSession(async (s) => {
      const p = await establish(s, 'alice', 19, REQ.mutual);
      const m = new TextEncoder().encode('attack at dawn');
      const t1 = send(s.w, p.client, 'seal', m);
      const bad = mutateBytes(t1.wire, { kind: 'flip', region: 0, at: 20, bit: 0 });
      assert.equal(statusName(receive(s.w, p.server, 'seal', bad, 'stream', t1.tokenLength).status), 'SEC_E_MESSAGE_ALTERED');
      const ok = receive(s.w, p.server, 'seal', rerotate(t1.wire, 5), 'stream', t1.tokenLength);
      assert.equal(statusName(ok.status), 'SEC_E_OK');
      assert.deepEqual(ok.data, m);
      assert.equal(statusName(receive(s.w, p.server, 'seal', t1.wire, 'stream', t1.tokenLength).status), 'SEC_E_OUT_OF_SEQUENCE', 'the same token again');
      const mic = send(s.w, p.server, 'sign', m);
      assert.equal(statusName(receive(s.w, p.client, 'sign', mic.wire, 'stream', mic.tokenLength, m.map((x) => x ^ 1)).status), 'SEC_E_MESSAGE_ALTERED');
      assert.equal(statusName(receive(s.w, p.client, 'sign', mic.wire, 'stream', mic.tokenLength, m).status), 'SEC_E_OK');
    });
  });

  it('PAC: a changed KERB_VALIDATION_INFO byte is refused (SEC_E_LOGON_DENIED); a changed KDC signature is not checked', async () => {
    await inSession(async (s) => {
      const key = s.w.serviceKeys.get(18)!;
      const built = buildPac(key);
      const accept = async (pac: Uint8Array) => {
        const t = makeTicket(s.w, 18, 'alice', pacAuthorizationData(pac));
        const tok = buildApReq({ ticket: t.ticket, sessionKey: t.sessionKey, crealm: REALM, cname: { nameType: 1, nameString: ['alice'] }, gssFlags: 0x30 }).token;
        return statusName((await s.accept(null, tok)).status);
      };
      assert.equal(await accept(built.pac), 'SEC_E_OK');
      assert.equal(await accept(mutateBytes(built.pac, { kind: 'flip', region: 0, at: 200, bit: 0 })), 'SEC_E_LOGON_DENIED');
      assert.equal(await accept(mutateBytes(built.pac, { kind: 'set', region: 0, at: 0, value: 0 }, [built.kdcSig])), 'SEC_E_OK');
      // A flip, not a set: the signature's first byte is 0 in one world of 256, and setting it to 0 would change nothing.
      assert.equal(await accept(mutateBytes(built.pac, { kind: 'flip', region: 0, at: 0, bit: 0 }, [built.serverSig])), 'SEC_E_LOGON_DENIED');
    });
  });

  it('the mutator changes what it says it changes', () => {
    const b = Uint8Array.from({ length: 40 }, (_, i) => i);
    assert.equal(mutateBytes(b, { kind: 'flip', region: 1, at: 3, bit: 1 }, [[0, 10], [20, 30]])[23], 23 ^ 2);
    assert.equal(mutateBytes(b, { kind: 'truncate', to: 45 }).length, 5);
    assert.deepEqual([...mutateBytes(b, { kind: 'insert', region: 0, at: 2, bytes: Uint8Array.of(9, 9) }, [[10, 20]]).subarray(11, 15)], [11, 9, 9, 12]);
    assert.equal(mutateBytes(b, { kind: 'delete', region: 0, at: 0, count: 4 }, [[36, 40]]).length, 36);
    const t = buildApReq({ ...makeTicket({ serviceKeys: new Map([[18, makeKey()]]) } as never, 18), crealm: REALM, cname: { nameType: 1, nameString: ['alice'] }, gssFlags: 0 }).token;
    const [, tc, , ac] = apReqRegions(t);
    const ap = decodeApReq(unframeApReq(t));
    assert.equal(tc![1] - tc![0], ap.ticket.encPart.cipher.length);
    assert.equal(ac![1] - ac![0], ap.authenticator.cipher.length);
  });
});

function makeKey() {
  return { enctype: 18, keyvalue: new Uint8Array(32).fill(3) };
}
