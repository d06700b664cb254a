// Connectionless NTLM (MS-NLMP 3.1.5.2 / 3.2.5.2) end to end through the SSPI API.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as F from '../../../../src/packages/ntlm/flags.js';
import { parseAuthenticateMessage, parseChallengeMessage } from '../../../../src/packages/ntlm/messages.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { ASC_RET, ISC_RET } from '../../../../src/sspi/flags.js';
import { pair } from './ntlm-harness.js';

const DG = { client: { target: 'HTTP/web.example.test', flags: ['DATAGRAM', 'CONFIDENTIALITY', 'INTEGRITY'] }, server: { flags: ['DATAGRAM', 'CONFIDENTIALITY', 'INTEGRITY'] } };

async function datagramPair() {
  const p = await pair({}, DG);
  // No NEGOTIATE: the first ISC call continues with nothing to send.
  assert.equal(await p.client.step(), null);
  assert.equal(p.client.complete, false);
  const challenge = (await p.server.step(null))!;
  const authenticate = (await p.client.step(challenge))!;
  assert.equal(await p.server.step(authenticate), null);
  return { ...p, challenge, authenticate };
}

describe('NTLM datagram (connectionless) mode', () => {
  it('the server speaks first; DATAGRAM and KEY_EXCH are negotiated; the MIC covers no NEGOTIATE', async () => {
    const p = await datagramPair();
    const ch = parseChallengeMessage(p.challenge);
    assert.ok(ch.NegotiateFlags & F.NTLMSSP_NEGOTIATE_DATAGRAM);
    assert.ok(ch.NegotiateFlags & F.NTLMSSP_NEGOTIATE_KEY_EXCH);
    const a = parseAuthenticateMessage(p.authenticate);
    assert.ok(a.NegotiateFlags & F.NTLMSSP_NEGOTIATE_DATAGRAM);
    assert.equal(a.EncryptedRandomSessionKey.length, 16);
    assert.ok(p.client.complete && p.server.complete);
    assert.ok(p.client.has(ISC_RET.DATAGRAM));
    assert.ok(p.server.has(ASC_RET.DATAGRAM));
    await p.host.shutdown();
  });

  it('seals with caller-supplied sequence numbers, in any order', async () => {
    const p = await datagramPair();
    const msgs = [5, 1, 9].map((n) => ({ n, m: new Uint8Array(40).fill(n) }));
    const sealed = msgs.map(({ n, m }) => ({ n, m, t: p.client.wrap(m, { seqNo: n }) }));
    for (const { n, m, t } of sealed.reverse()) assert.deepEqual(p.server.unwrap(t, n).message, m);
    const back = p.server.wrap(new Uint8Array([1, 2, 3]), { seqNo: 77 });
    assert.deepEqual(p.client.unwrap(back, 77).message, new Uint8Array([1, 2, 3]));
    const sig = p.client.sign(new Uint8Array([4]), 3);
    p.server.verify(new Uint8Array([4]), sig, 3);
    assert.throws(() => p.server.verify(new Uint8Array([4]), sig, 4), (e: SspiError) => e.code === 'SEC_E_OUT_OF_SEQUENCE' || e.code === 'SEC_E_MESSAGE_ALTERED');
    assert.throws(() => p.server.unwrap(p.client.wrap(new Uint8Array([9]), { seqNo: 2 }), 3), SspiError);
    await p.host.shutdown();
  });

  it('a datagram initiator refuses a connection-oriented CHALLENGE', async () => {
    const p = await pair({}, DG);
    await p.client.step();
    const other = await pair();
    const co = (await other.server.step((await other.client.step())!))!;
    assert.equal(parseChallengeMessage(co).NegotiateFlags & F.NTLMSSP_NEGOTIATE_DATAGRAM, 0);
    await assert.rejects(p.client.step(co), (e: SspiError) => e.code === 'SEC_E_UNSUPPORTED_FUNCTION');
    await p.host.shutdown();
    await other.host.shutdown();
  });

  it('a datagram acceptor refuses a connection-oriented AUTHENTICATE', async () => {
    const p = await pair({}, DG);
    const ch = (await p.server.step(null))!;
    const other = await pair();
    await other.client.step();
    // The connection-oriented client answers the datagram CHALLENGE without DATAGRAM.
    const auth = (await other.client.step(ch))!;
    assert.equal(parseAuthenticateMessage(auth).NegotiateFlags & F.NTLMSSP_NEGOTIATE_DATAGRAM, 0);
    await assert.rejects(p.server.step(auth), (e: SspiError) => e.code === 'SEC_E_INVALID_TOKEN');
    await p.host.shutdown();
    await other.host.shutdown();
  });

  it('a connection-oriented acceptor still needs the NEGOTIATE', async () => {
    const p = await pair();
    await assert.rejects(p.server.step(null), (e: SspiError) => e.code === 'SEC_E_INVALID_TOKEN');
    await p.host.shutdown();
  });
});
