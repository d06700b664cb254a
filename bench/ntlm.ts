// NTLM: full NTLMv2 handshakes per second (initiator, acceptor and account authority in one
// process, through the LSA), and wrap+unwrap / get_mic+verify_mic at 16 B, 1 KiB, 64 KiB, 1 MiB.
import { Credentials } from '../src/credentials.js';
import { SecurityContext } from '../src/context.js';
import { createLsa } from '../src/lsa/host.js';
import { msv1_0Package } from '../src/packages/msv1_0/package.js';
import { NTOWFv1 } from '../src/packages/ntlm/crypto.js';
import { ntlmPackage } from '../src/packages/ntlm/package.js';
import { MemoryAccountStore } from '../src/store/accounts.js';
import { emit, measure, type Result } from './measure.js';

export async function benchNtlm(opts: { dur: number; warm: number; wdur: number; wwarm: number; sizes: number[] }): Promise<void> {
  const store = new MemoryAccountStore({ lockout: { threshold: 0 } });
  await store.add({ user: 'user', domain: 'EXAMPLE', ntHash: NTOWFv1('Passw0rd') });
  const host = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmPackage(), msv1_0Package({ store })] });
  const sspi = host.sspi();
  const icred = await Credentials.acquire(sspi, { package: 'NTLM', use: 'outbound', authData: { User: 'user', Domain: 'EXAMPLE', Password: 'Passw0rd' } });
  const acred = await Credentials.acquire(sspi, { package: 'NTLM', use: 'inbound' });
  const flags = ['MUTUAL_AUTH', 'SEQUENCE_DETECT', 'REPLAY_DETECT', 'CONFIDENTIALITY', 'INTEGRITY'];
  const tokenBytes: number[] = [];
  async function handshake(record = false): Promise<[SecurityContext, SecurityContext]> {
    const c = SecurityContext.client(icred, { target: 'HTTP/localhost', flags });
    const s = SecurityContext.server(acred, { flags: ['CONFIDENTIALITY', 'INTEGRITY', 'REPLAY_DETECT', 'SEQUENCE_DETECT'] });
    const t1 = (await c.step())!;
    const t2 = (await s.step(t1))!;
    const t3 = (await c.step(t2))!;
    await s.step(t3);
    if (record) tokenBytes.push(t1.length, t2.length, t3.length);
    return [c, s];
  }
  const [c0, s0] = await handshake(true);
  const results: Result[] = [];
  results.push(
    await measure('handshake', async () => {
      const [c, s] = await handshake();
      await c.delete();
      await s.delete();
    }, { seconds: opts.dur, warm: opts.warm }),
  );
  for (const size of opts.sizes) {
    const msg = new Uint8Array(size).map((_, i) => (i * 131) & 0xff);
    results.push(await measure('wrap+unwrap', () => s0.unwrap(c0.wrap(msg)), { seconds: opts.wdur, warm: opts.wwarm, size }));
    results.push(await measure('get_mic+verify_mic', () => s0.verify(msg, c0.sign(msg)), { seconds: opts.wdur, warm: opts.wwarm, size }));
  }
  emit('ntlm_handshake_bench', 'NTLM initiator cred=password', { mech: 'ntlm', initiator_cred: 'password', dur_s: opts.dur, warm_s: opts.warm, wrap_dur_s: opts.wdur, ntlm: 'v2+ESS+KEY_EXCH+MIC' }, { token_bytes: tokenBytes, authority: 'MICROSOFT_AUTHENTICATION_PACKAGE_V1_0 (memory store)' }, results);
  await host.shutdown();
}
