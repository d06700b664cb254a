// Our NTLM package against peers nobody here wrote: Samba's ntlm_auth (the strictest acceptor
// here: it checks the MIC) and gss-ntlmssp (C, through GSS-API), in both directions.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { SspiError } from '../../src/sspi/error.js';
import { SECPKG_ATTR } from '../../src/sspi/flags.js';
import { GssNtlmPeer } from './lib/gssntlmssp.js';
import { NtlmAuthClient, NtlmAuthServer } from './lib/ntlm-auth.js';
import { DOMAIN, expectAcceptorVerdict, ntlmHost, PASSWORD, USER } from './lib/ntlm-host.js';

async function ourClient(password = PASSWORD) {
  const host = await ntlmHost();
  const cred = await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: USER, Domain: DOMAIN, Password: password } });
  return { host, ctx: SecurityContext.client(cred, { target: 'HTTP/localhost', flags: ['CONFIDENTIALITY', 'INTEGRITY', 'SEQUENCE_DETECT', 'REPLAY_DETECT'] }) };
}

async function ourServer() {
  const host = await ntlmHost();
  const cred = await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'inbound' });
  return { host, ctx: SecurityContext.server(cred, { flags: ['CONFIDENTIALITY', 'INTEGRITY'] }) };
}

const closers: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

describe('NTLM interop: Samba ntlm_auth', () => {
  it('our initiator is accepted by ntlm_auth (MIC verified), and a wrong password refused', async () => {
    for (const [password, ok] of [[PASSWORD, true], ['wrong', false]] as const) {
      const server = NtlmAuthServer.start({ username: USER, password: PASSWORD, domain: DOMAIN });
      closers.push(() => server.close());
      const { host, ctx } = await ourClient(password);
      const challenge = await server.challenge((await ctx.step())!);
      const verdict = await server.authenticate((await ctx.step(challenge))!);
      assert.equal(verdict.ok, ok, JSON.stringify(verdict));
      if (verdict.ok) assert.match(verdict.user, /alice/i);
      else assert.match(verdict.reason, /NT_STATUS_LOGON_FAILURE|NT_STATUS_WRONG_PASSWORD/);
      await host.shutdown();
    }
  });

  it('ntlm_auth rejects our AUTHENTICATE when its MIC is tampered', async () => {
    const server = NtlmAuthServer.start({ username: USER, password: PASSWORD, domain: DOMAIN });
    closers.push(() => server.close());
    const { host, ctx } = await ourClient();
    const challenge = await server.challenge((await ctx.step())!);
    const auth = (await ctx.step(challenge))!;
    auth[72]! ^= 0x55;
    const verdict = await server.authenticate(auth);
    assert.equal(verdict.ok, false);
    await host.shutdown();
  });

  it('our acceptor accepts the ntlm_auth client and refuses it with a wrong password', async () => {
    for (const [password, ok] of [[PASSWORD, true], ['wrong', false]] as const) {
      const client = NtlmAuthClient.start({ username: USER, password, domain: DOMAIN });
      closers.push(() => client.close());
      const { host, ctx } = await ourServer();
      const challenge = (await ctx.step(await client.negotiate()))!;
      const auth = await client.authenticate(challenge);
      await expectAcceptorVerdict(ctx, auth, ok);
      await host.shutdown();
    }
  });
});

describe('NTLM interop: gss-ntlmssp', () => {
  it('our initiator with the gss-ntlmssp acceptor, with wrap/unwrap and MIC both ways', async () => {
    const peer = await GssNtlmPeer.start({ role: 'acceptor', users: [{ domain: DOMAIN, user: USER, password: PASSWORD }] });
    closers.push(() => peer.close());
    const { host, ctx } = await ourClient();
    let token = await ctx.step();
    const r1 = await peer.step(token!);
    token = await ctx.step(r1.token!);
    const r2 = await peer.step(token!);
    assert.equal(r2.status, 'complete');
    assert.ok(ctx.complete);
    const info = await peer.info();
    const ours = await ctx.query<{ SessionKey: Uint8Array }>(SECPKG_ATTR.SESSION_KEY);
    assert.ok(info.session_key, 'gss-ntlmssp reports its session key');
    const peerKey = /^[0-9a-f]+$/i.test(info.session_key!) ? info.session_key!.toLowerCase() : Buffer.from(info.session_key!, 'base64').toString('hex');
    assert.equal(Buffer.from(ours.SessionKey).toString('hex'), peerKey, 'both sides hold the same exported session key');
    const msg = new TextEncoder().encode('hello from tslsa');
    const un = await peer.unwrap(ctx.wrap(msg));
    assert.deepEqual(un.message, msg);
    const back = await peer.wrap(new TextEncoder().encode('hello from gss-ntlmssp'));
    assert.equal(new TextDecoder().decode(ctx.unwrap(back.token).message), 'hello from gss-ntlmssp');
    await peer.verifyMic(msg, ctx.sign(msg));
    const mic = await peer.getMic(msg);
    ctx.verify(msg, mic);
    await host.shutdown();
  });

  it('the gss-ntlmssp initiator with our acceptor, with wrap/unwrap and MIC both ways', async () => {
    const peer = await GssNtlmPeer.start({ role: 'initiator', user: `${DOMAIN}\\${USER}`, password: PASSWORD });
    closers.push(() => peer.close());
    const { host, ctx } = await ourServer();
    const r1 = await peer.step();
    const c = await ctx.step(r1.token!);
    const r2 = await peer.step(c!);
    assert.equal(await ctx.step(r2.token!), null);
    assert.ok(ctx.complete);
    const msg = new TextEncoder().encode('sealed by gss-ntlmssp');
    const w = await peer.wrap(msg);
    assert.deepEqual(ctx.unwrap(w.token).message, msg);
    const un = await peer.unwrap(ctx.wrap(new TextEncoder().encode('sealed by tslsa')));
    assert.equal(new TextDecoder().decode(un.message), 'sealed by tslsa');
    ctx.verify(msg, await peer.getMic(msg));
    await peer.verifyMic(msg, ctx.sign(msg));
    await host.shutdown();
  });

  it('our acceptor refuses the gss-ntlmssp initiator with a wrong password', async () => {
    const peer = await GssNtlmPeer.start({ role: 'initiator', user: `${DOMAIN}\\${USER}`, password: 'wrong' });
    closers.push(() => peer.close());
    const { host, ctx } = await ourServer();
    const r1 = await peer.step();
    const c = await ctx.step(r1.token!);
    const r2 = await peer.step(c!);
    await assert.rejects(ctx.step(r2.token!), (e: SspiError) => e.code === 'SEC_E_LOGON_DENIED');
    await host.shutdown();
  });
});
