// Fuzzing Negotiate (SPNEGO over NTLM and Kerberos) through SSPI, parked partial contexts, and the
// HTTP sign-on layer: random and changed tokens on every leg, changed parked records, hostile
// Authorization and WWW-Authenticate headers. The properties live in
// test/fuzz/negotiate-http-properties.ts (shared with the long campaign,
// test/fuzz/negotiate-http-campaign.ts); here each runs for a bounded time so the file stays
// within a few seconds. The bugs the campaign found keep their minimal reproductions below.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { parseChallenges } from '../../../../src/http/client-challenge.js';
import { encodeNegTokenInit, parseNegotiationToken } from '../../../../src/packages/negotiate/spnego.js';
import { NTLMSSP_MECH_OID } from '../../../../src/der/index.js';
import { statusName } from '../../../../src/sspi/status.js';
import {
  assertHandshake,
  closeWorld,
  coveredChange,
  editField,
  getWorld,
  handshake,
  inSession,
  mutatePartial,
  mutateTree,
  negotiateHttpProperties,
  park,
  rejections,
  sendAuthorization,
  signOnOverHttp,
  signOnThenBare,
} from '../../../fuzz/negotiate-http-properties.js';
import { assertSettled, guardFuzzFile } from '../../../fuzz/suite.js';

guardFuzzFile(closeWorld, rejections);

const rec = (v: unknown) => (v === null ? 0 : (v as number));

describe('Negotiate and HTTP sign-on fuzzing', () => {
  for (const [name, prop] of negotiateHttpProperties()) {
    it(name, async () => {
      // About 0.6 s per property; `timeout` turns a hang into a failure with its counterexample.
      await assertSettled(prop, { numRuns: 10_000, interruptAfterTimeLimit: 600, markInterruptAsFailure: false, timeout: 5_000 });
      assert.deepEqual((await getWorld()).faults, []);
    });
  }

  it('what catches which change, with the exact status (the properties can fail)', async () => {
    await inSession(async (s) => {
      const flipMic = { kind: 'field' as const, m: { f: 'mechListMIC' as const, op: 'bytes' as const, bytes: new Uint8Array(0), m: { kind: 'flip' as const, at: 3, bit: 0 } } };
      // NTLM legs: NegTokenInit, CHALLENGE, AUTHENTICATE + mechListMIC, accept-completed + mechListMIC.
      const c1 = await handshake(s, 'ntlm', { tamper: { leg: 2, mutation: flipMic } });
      assert.equal(statusName(rec(c1.serverStatus)), 'SEC_E_MESSAGE_ALTERED', "the initiator's mechListMIC");
      const s1 = await handshake(s, 'ntlm', { tamper: { leg: 3, mutation: flipMic } });
      assert.equal(statusName(rec(s1.serverStatus)), 'SEC_E_OK');
      assert.equal(statusName(rec(s1.clientStatus)), 'SEC_E_MESSAGE_ALTERED', "the acceptor's mechListMIC");
      // NTProofStr (MS-NLMP 3.3.2) covers the response: a flipped byte of it is a wrong password.
      const proof = await handshake(s, 'ntlm', { tamper: { leg: 2, mutation: { kind: 'ntlm', m: { kind: 'field', slot: 1, part: 'Len', value: 24 } } } });
      assert.equal(statusName(rec(proof.serverStatus)), 'SEC_E_LOGON_DENIED', 'a shortened NtChallengeResponse');
      // A downgrade: the Kerberos initiator's first choice renamed, so the acceptor picks NTLM; the
      // initiator follows, and the mechListMIC over mechTypes as sent tells them apart (RFC 4178 5).
      const down = await handshake(s, 'kerberos', { tamper: { leg: 0, mutation: { kind: 'field', m: { f: 'mechTypes', op: 'replace', index: 0, oid: '1.2.3.4' } } } });
      assert.equal(statusName(rec(down.serverStatus)), 'SEC_E_MESSAGE_ALTERED', 'downgrade to NTLM');
      // An AP-REP from another handshake: its ctime/cusec are not this authenticator's.
      const donor = (await handshake(s, 'kerberos')).legs;
      const apRep = await handshake(s, 'kerberos', { tamper: { leg: 1, mutation: { kind: 'splice' } }, donor });
      assert.equal(statusName(rec(apRep.clientStatus)), 'SEC_E_MUTUAL_AUTH_FAILED', 'a spliced AP-REP');
      // The same AP-REQ twice: the replay cache (RFC 4120 3.2.3).
      const replay = await handshake(s, 'kerberos', { tamper: { leg: 0, mutation: { kind: 'splice' } }, donor });
      assert.notEqual(statusName(rec(replay.serverStatus)), 'SEC_E_OK', 'a replayed AP-REQ');
    });
  });

  it('assertHandshake refuses a completion after a protected change, or as someone else', async () => {
    await inSession(async (s) => {
      const ok = await handshake(s, 'ntlm');
      await assertHandshake(s, ok, 'honest');
      const mutation = { kind: 'random' as const, bytes: Uint8Array.of(1) };
      await assert.rejects(assertHandshake(s, { ...ok, changed: { leg: 2, from: 'client', covered: true, micTrailing: false, serverDoneBefore: false, mutation } }, 'x'), /acceptor completed|initiator completed/);
      await assert.rejects(assertHandshake(s, { ...ok, who: 'kerberos' }, 'x'), /identity/);
    });
  });

  it('HTTP: a changed AUTHENTICATE is 401 with the status that caught it; garbage is 400', async () => {
    await inSession(async (s) => {
      const { reply, failures } = await signOnOverHttp(s, {
        who: 'ntlm',
        scheme: 'Negotiate',
        tamper: { leg: 2, mutation: { kind: 'field', m: { f: 'mechListMIC', op: 'bytes', bytes: new Uint8Array(0), m: { kind: 'flip', at: 0, bit: 7 } } } },
        store: null,
        cookie: 'keep',
      });
      assert.equal(reply.status, 401);
      assert.deepEqual(failures.map((f) => f.code), ['SEC_E_MESSAGE_ALTERED', undefined], 'the changed leg, then the request without Authorization');
      assert.equal((await sendAuthorization('Negotiate ***')).status, 400);
      assert.equal((await sendAuthorization('Basic YWxpY2U6eA==')).status, 401);
    });
  });

  it('HTTP: a connection keeps an identity only if one of our 401 challenges went out on it (a preemptive Kerberos leg keeps none)', async () => {
    await inSession(async (s) => {
      // Kerberos in one preemptive leg: signed on, but the next bare request is challenged.
      const pre = await signOnThenBare(s, 'kerberos', false);
      assert.equal(pre.signedOn.status, 200);
      assert.equal(pre.signedOn.identity?.package, 'Kerberos');
      assert.equal(pre.bare.status, 401);
      assert.equal(pre.bare.identity, null);
      // The same after a bare 401 on that connection: the identity stays.
      const after401 = await signOnThenBare(s, 'kerberos', true);
      assert.equal(after401.first?.status, 401);
      assert.equal(after401.signedOn.status, 200);
      assert.deepEqual(after401.bare.identity, after401.signedOn.identity);
      // NTLM's own continuing 401 is such a challenge.
      const ntlm = await signOnThenBare(s, 'ntlm', false);
      assert.equal(ntlm.signedOn.status, 200);
      assert.equal(ntlm.signedOn.identity?.package, 'NTLM');
      assert.deepEqual(ntlm.bare.identity, ntlm.signedOn.identity);
    });
  });

  it('the mutators change what they say they change', () => {
    const init = encodeNegTokenInit({ mechTypes: [NTLMSSP_MECH_OID, '1.2.3.4'], mechToken: Uint8Array.of(1, 2, 3) });
    // Dropping a DER element keeps every enclosing length right: the token still parses.
    const fewer = mutateTree(init, { kind: 'drop', node: 7 });
    const t = parseNegotiationToken(fewer);
    assert.equal(t.kind, 'init');
    assert.deepEqual(t.kind === 'init' && t.mechTypes, [NTLMSSP_MECH_OID]);
    const flags = parseNegotiationToken(editField(init, { f: 'reqFlags', value: 0x22 }));
    assert.equal(flags.kind === 'init' && flags.reqFlags, 0x22);
    assert.equal(coveredChange(init, editField(init, { f: 'reqFlags', value: 1 })), 'none', 'reqFlags are not protected');
    assert.equal(coveredChange(init, fewer), 'protected', 'mechTypes are');
  });
});

describe('bugs the campaign found, fixed: their minimal reproductions', () => {
  it('NTLM ImportLsaModeContext: a parked expiry past the Date range is SEC_E_INVALID_TOKEN, not a package fault', async () => {
    await inSession(async (s) => {
      // Without a context lifetime the parked expiry is +Infinity: one changed exponent bit makes it
      // finite and far beyond what a Date holds (8.64e15 ms).
      const p = await park(s, 'ntlm', 'ntlm');
      const r = await s.w.sspi.ImportPartialSecurityContext(p.server.handle, mutatePartial(p.packed, { at: 'ntlmExpiry', value: 1e300 }));
      assert.deepEqual(s.w.faults, []);
      assert.equal(statusName(r.status), 'SEC_E_INVALID_TOKEN');
    });
  });

  it('Negotiate ImportLsaModeContext: the RAW bit without a mechanism is refused, never SEC_E_INTERNAL_ERROR on the next leg', async () => {
    await inSession(async (s) => {
      // LSA record for 'Negotiate' around Negotiate's state: version 1, bits RAW|FIRST_REPLY, empty
      // mechanism name, OID, mechTypes and NTLM state.
      const packed = Buffer.from('0102000000094e65676f746961746500000012010900000000000000000000000000000000', 'hex');
      const r = await s.w.sspi.ImportPartialSecurityContext(s.w.negotiateServer.handle, new Uint8Array(packed));
      if ((r.status | 0) < 0) return;
      s.track(r.phContext);
      const c = await s.init(s.w.clients.ntlm, null, null);
      // Session.accept asserts a defined status other than SEC_E_INTERNAL_ERROR.
      await s.accept(s.w.negotiateServer, r.phContext, c.token);
    });
  });

  it('Negotiate: a mechListMIC with a byte after the NTLM signature is refused', async () => {
    await inSession(async (s) => {
      const r = await handshake(s, 'ntlm', { tamper: { leg: 2, mutation: { kind: 'field', m: { f: 'mechListMIC', op: 'bytes', bytes: new Uint8Array(0), m: { kind: 'append', bytes: Uint8Array.of(0) } } } } });
      assert.notEqual(statusName(rec(r.serverStatus)), 'SEC_E_OK');
    });
  });

  it('parseChallenges: "name = value" after a comma is a parameter, not a challenge', () => {
    assert.deepEqual(parseChallenges('Digest realm="x", NTLM = "y"').map((c) => c.scheme), ['Digest']);
  });
});
