// The dummy NTLMSSP_MESSAGE_SIGNATURE against gss-ntlmssp: its initiator, asked for no integrity
// or confidentiality, negotiates NTLMSSP_NEGOTIATE_ALWAYS_SIGN without SIGN or SEAL, and then
// both sides' get_mic/MakeSignature must give (and accept) Version 1 followed by 12 zero bytes.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { parseAuthenticateMessage } from '../../src/packages/ntlm/messages.js';
import * as F from '../../src/packages/ntlm/flags.js';
import { SspiError } from '../../src/sspi/error.js';
import { GssNtlmPeer, PeerError } from './lib/gssntlmssp.js';
import { DOMAIN, ntlmHost, PASSWORD, USER } from './lib/ntlm-host.js';

const GSS_C_MUTUAL_FLAG = 2;
const DUMMY = '01000000000000000000000000000000';
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const closers: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

describe('NTLM interop: the dummy signature with gss-ntlmssp', () => {
  it('gss-ntlmssp without integrity signs with the dummy; our acceptor verifies it and answers in kind', async () => {
    const peer = await GssNtlmPeer.start({ role: 'initiator', user: `${DOMAIN}\\${USER}`, password: PASSWORD, flags: GSS_C_MUTUAL_FLAG });
    closers.push(() => peer.close());
    const host = await ntlmHost();
    closers.push(() => host.shutdown());
    const cred = await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'inbound' });
    const ctx = SecurityContext.server(cred, { flags: [] });
    const r1 = await peer.step();
    const challenge = await ctx.step(r1.token!);
    const r2 = await peer.step(challenge!);
    assert.equal(await ctx.step(r2.token!), null);

    // The premise: ALWAYS_SIGN agreed, neither SIGN nor SEAL, not anonymous.
    const auth = parseAuthenticateMessage(r2.token!);
    assert.ok(auth.NegotiateFlags & F.NTLMSSP_NEGOTIATE_ALWAYS_SIGN, 'ALWAYS_SIGN negotiated');
    assert.equal(auth.NegotiateFlags & (F.NTLMSSP_NEGOTIATE_SIGN | F.NTLMSSP_NEGOTIATE_SEAL), 0, 'no SIGN/SEAL');
    assert.equal(auth.NegotiateFlags & F.NTLMSSP_NEGOTIATE_ANONYMOUS, 0);

    const msg = new TextEncoder().encode('signed without a key');
    const theirs = await peer.getMic(msg);
    assert.equal(hex(theirs), DUMMY, "gss-ntlmssp's dummy signature");
    ctx.verify(msg, theirs);
    // The same constant again: no sequence number in it.
    ctx.verify(msg, await peer.getMic(msg));

    const ours = ctx.sign(msg);
    assert.equal(hex(ours), DUMMY);
    await peer.verifyMic(msg, ours);
    await peer.verifyMic(new TextEncoder().encode('any message'), ctx.sign(msg));

    // Each side refuses anything but the dummy.
    const bad = ours.slice();
    bad[15] = 1;
    await assert.rejects(peer.verifyMic(msg, bad), PeerError);
    assert.throws(() => ctx.verify(msg, bad), (e: SspiError) => e.code === 'SEC_E_MESSAGE_ALTERED');
    // No key to seal with.
    assert.throws(() => ctx.wrap(msg), (e: SspiError) => e.code === 'SEC_E_UNSUPPORTED_FUNCTION');
  });
});
