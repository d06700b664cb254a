// Our Negotiate package against MIT's SPNEGO (libgssapi_krb5's spnego mech, through python3-gssapi)
// with gss-ntlmssp as the negotiated mechanism, in both directions: the mechListMIC exchange and
// the NTLM crypto reset after it must match for wrap/MIC to work afterwards.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createLsa } from '../../src/lsa/host.js';
import { negotiatePackage } from '../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import { SspiError } from '../../src/sspi/error.js';
import { SECPKG_ATTR } from '../../src/sspi/flags.js';
import { realAuthority } from '../fixtures/authority.js';
import { GssNtlmPeer } from './lib/gssntlmssp.js';

const USER = 'alice';
const DOMAIN = 'EXAMPLE';
const PASSWORD = 'Passw0rd!';

async function ourHost() {
  return createLsa({ domainName: DOMAIN, packages: [negotiatePackage(), ntlmPackage(), await realAuthority({ [USER]: PASSWORD }, DOMAIN)] });
}

const closers: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

describe('Negotiate interop: MIT SPNEGO with gss-ntlmssp', () => {
  it('our initiator with the MIT SPNEGO acceptor, then wrap/unwrap and MIC both ways', async () => {
    const peer = await GssNtlmPeer.start({ role: 'acceptor', mech: 'spnego', users: [{ domain: DOMAIN, user: USER, password: PASSWORD }] });
    closers.push(() => peer.close());
    const host = await ourHost();
    const cred = await Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: USER, Domain: DOMAIN, Password: PASSWORD } });
    const ctx = SecurityContext.client(cred, { target: 'HTTP/localhost', flags: ['CONFIDENTIALITY', 'INTEGRITY', 'MUTUAL_AUTH', 'SEQUENCE_DETECT', 'REPLAY_DETECT'] });
    let token = await ctx.step();
    let legs = 0;
    for (;;) {
      const r = await peer.step(token!);
      token = r.token ? await ctx.step(r.token) : null;
      if (++legs > 5) assert.fail('too many legs');
      if (r.status === 'complete') break;
    }
    assert.ok(ctx.complete, 'our initiator completed on the acceptor\'s final token');
    assert.equal(token, null);
    const nego = await ctx.query<{ PackageInfo: { Name: string } }>(SECPKG_ATTR.NEGOTIATION_INFO);
    assert.equal(nego.PackageInfo.Name, 'NTLM');
    const msg = new TextEncoder().encode('hello through SPNEGO');
    assert.deepEqual((await peer.unwrap(ctx.wrap(msg))).message, msg);
    const back = await peer.wrap(new TextEncoder().encode('and back'));
    assert.equal(new TextDecoder().decode(ctx.unwrap(back.token).message), 'and back');
    await peer.verifyMic(msg, ctx.sign(msg));
    ctx.verify(msg, await peer.getMic(msg));
    await host.shutdown();
  });

  it('the MIT SPNEGO initiator with our acceptor, then wrap/unwrap and MIC both ways', async () => {
    const peer = await GssNtlmPeer.start({ role: 'initiator', mech: 'spnego', user: `${DOMAIN}\\${USER}`, password: PASSWORD });
    closers.push(() => peer.close());
    const host = await ourHost();
    const cred = await Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'inbound' });
    const ctx = SecurityContext.server(cred, { flags: ['CONFIDENTIALITY', 'INTEGRITY'] });
    let r = await peer.step();
    for (let legs = 0; ; legs++) {
      if (legs > 5) assert.fail('too many legs');
      const out = await ctx.step(r.token!);
      if (ctx.complete) {
        assert.ok(out, 'the acceptor sends accept-completed with its mechListMIC');
        r = await peer.step(out!);
        break;
      }
      r = await peer.step(out!);
    }
    assert.equal(r.status, 'complete');
    assert.equal((await ctx.query<{ sUserName: string }>(SECPKG_ATTR.NAMES)).sUserName, `${DOMAIN}\\${USER}`);
    const msg = new TextEncoder().encode('sealed by MIT SPNEGO/NTLM');
    assert.deepEqual(ctx.unwrap((await peer.wrap(msg)).token).message, msg);
    const un = await peer.unwrap(ctx.wrap(new TextEncoder().encode('sealed by tslsa Negotiate')));
    assert.equal(new TextDecoder().decode(un.message), 'sealed by tslsa Negotiate');
    ctx.verify(msg, await peer.getMic(msg));
    await peer.verifyMic(msg, ctx.sign(msg));
    await host.shutdown();
  });

  it('our acceptor refuses the MIT SPNEGO initiator with a wrong password', async () => {
    const peer = await GssNtlmPeer.start({ role: 'initiator', mech: 'spnego', user: `${DOMAIN}\\${USER}`, password: 'wrong' });
    closers.push(() => peer.close());
    const host = await ourHost();
    const cred = await Credentials.acquire(host.sspi(), { package: 'Negotiate', use: 'inbound' });
    const ctx = SecurityContext.server(cred, {});
    const r1 = await peer.step();
    const r2 = await peer.step((await ctx.step(r1.token!))!);
    await assert.rejects(ctx.step(r2.token!), (e: SspiError) => e.code === 'SEC_E_LOGON_DENIED');
    await host.shutdown();
  });
});
