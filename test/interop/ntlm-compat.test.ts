// LmCompatibilityLevel against Samba's ntlm_auth: NTLMv1 (with and without ESS) both ways, sent
// or accepted only where configured.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { NtlmAuthClient, NtlmAuthServer } from './lib/ntlm-auth.js';
import { DOMAIN, expectAcceptorVerdict, ntlmHost, PASSWORD, USER } from './lib/ntlm-host.js';

const closers: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

// NTLMv1 from Samba's client; "ntlm auth = yes" lets its server accept NTLMv1.
const V1_CLIENT = ['--option=client ntlmv2 auth = no'];
const V1_SERVER = ['--option=ntlm auth = yes'];

describe('NTLM LmCompatibilityLevel interop: Samba ntlm_auth', () => {
  it('our acceptor takes the ntlm_auth NTLMv1 client at level 4 and refuses it at the default level 5', async () => {
    for (const [cfg, ok] of [[{ acceptorLmCompatibilityLevel: 4 }, true], [{}, false]] as const) {
      const client = NtlmAuthClient.start({ username: USER, password: PASSWORD, domain: DOMAIN, extraArgs: V1_CLIENT });
      closers.push(() => client.close());
      const host = await ntlmHost(cfg);
      const ctx = SecurityContext.server(await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'inbound' }), { flags: ['CONFIDENTIALITY', 'INTEGRITY'] });
      const challenge = (await ctx.step(await client.negotiate()))!;
      const auth = await client.authenticate(challenge);
      // Make sure the peer really sent NTLMv1 (a 24-byte NT response at AUTHENTICATE offset 20).
      assert.equal(new DataView(auth.buffer, auth.byteOffset).getUint16(20, true), 24);
      await expectAcceptorVerdict(ctx, auth, ok);
      await host.shutdown();
    }
  });

  for (const level of [0, 1, 2]) {
    // ntlm_auth given --password checks responses itself and ignores its "ntlm auth" policy, so
    // only acceptance is tested here; refusal is the acceptor's side, tested above and in unit tests.
    it(`our level ${level} initiator (NTLMv1) is accepted by ntlm_auth, and refused with a wrong password`, async () => {
      for (const [password, ok] of [[PASSWORD, true], ['wrong', false]] as const) {
        const server = NtlmAuthServer.start({ username: USER, password: PASSWORD, domain: DOMAIN, extraArgs: V1_SERVER });
        closers.push(() => server.close());
        const host = await ntlmHost({ lmCompatibilityLevel: level });
        const ctx = SecurityContext.client(
          await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: USER, Domain: DOMAIN, Password: password } }),
          { target: 'HTTP/localhost', flags: ['CONFIDENTIALITY', 'INTEGRITY'] },
        );
        const challenge = await server.challenge((await ctx.step())!);
        const auth = (await ctx.step(challenge))!;
        assert.equal(new DataView(auth.buffer, auth.byteOffset).getUint16(20, true), 24);
        const verdict = await server.authenticate(auth);
        assert.equal(verdict.ok, ok, JSON.stringify(verdict));
        await host.shutdown();
      }
    });
  }
});
