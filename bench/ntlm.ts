// NTLM: full NTLMv2 handshakes per second (initiator, acceptor and account authority in one
// process, through the LSA), and wrap+unwrap / get_mic+verify_mic at 16 B, 1 KiB, 64 KiB, 1 MiB.
// The record has the peer's label, ids and extra fields (ntlm_handshake_bench.c in bench-peers),
// so summarize.js puts both in the same rows, [initiator share]/[wrap] splits included: time
// inside each side's calls is summed in the same loop, as the C program does.
import * as assert from 'node:assert/strict';
import { Credentials } from '../src/credentials.js';
import { SecurityContext } from '../src/context.js';
import { createLsa } from '../src/lsa/host.js';
import { msv1_0Package } from '../src/packages/msv1_0/package.js';
import { NTOWFv1 } from '../src/packages/ntlm/crypto.js';
import { ntlmPackage } from '../src/packages/ntlm/package.js';
import { SspiError } from '../src/sspi/error.js';
import { MemoryAccountStore } from '../src/store/accounts.js';
import { emit, measure, type Result } from './measure.js';

const JIT_WARM_HANDSHAKES = 2000;

export async function benchNtlm(opts: { dur: number; warm: number; wdur: number; wwarm: number; sizes: number[] }): Promise<void> {
  const store = new MemoryAccountStore({ lockout: { threshold: 0 } });
  await store.add({ user: 'user', domain: 'EXAMPLE', ntHash: NTOWFv1('Passw0rd') });
  const host = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmPackage(), msv1_0Package({ store })] });
  const sspi = host.sspi();
  const icred = await Credentials.acquire(sspi, { package: 'NTLM', use: 'outbound', authData: { User: 'user', Domain: 'EXAMPLE', Password: 'Passw0rd' } });
  const acred = await Credentials.acquire(sspi, { package: 'NTLM', use: 'inbound' });
  const flags = ['MUTUAL_AUTH', 'SEQUENCE_DETECT', 'REPLAY_DETECT', 'CONFIDENTIALITY', 'INTEGRITY'];
  const tokenBytes: number[] = [];
  // Wall time inside the initiator's calls (steps + delete) and the acceptor's, per handshake.
  let initMs = 0;
  let acceptMs = 0;
  async function handshake(record = false): Promise<[SecurityContext, SecurityContext]> {
    let t = performance.now();
    const c = SecurityContext.client(icred, { target: 'HTTP/localhost', flags });
    const t1 = (await c.step())!;
    let u = performance.now();
    initMs += u - t;
    const s = SecurityContext.server(acred, { flags: ['CONFIDENTIALITY', 'INTEGRITY', 'REPLAY_DETECT', 'SEQUENCE_DETECT'] });
    const t2 = (await s.step(t1))!;
    t = performance.now();
    acceptMs += t - u;
    const t3 = (await c.step(t2))!;
    u = performance.now();
    initMs += u - t;
    await s.step(t3);
    acceptMs += performance.now() - u;
    if (record) tokenBytes.push(t1.length, t2.length, t3.length);
    return [c, s];
  }
  const [c0, s0] = await handshake(true);
  const checks = selfTest(c0, s0);
  const results: Result[] = [];
  // WARM is wall-clock: on a loaded box half a second may end before V8 has optimized the
  // handshake path, so also run a fixed number first (the C peer has no JIT to wait for).
  for (let i = 0; i < JIT_WARM_HANDSHAKES; i++) {
    const [c, s] = await handshake();
    await c.delete();
    await s.delete();
  }
  const hs = await measure(
    'handshake',
    async () => {
      const [c, s] = await handshake();
      let t = performance.now();
      await c.delete();
      const u = performance.now();
      initMs += u - t;
      await s.delete();
      t = performance.now();
      acceptMs += t - u;
    },
    { seconds: opts.dur, warm: opts.warm, onTimed: () => (initMs = acceptMs = 0) },
  );
  const iu = (1000 * initMs) / hs.n;
  const au = (1000 * acceptMs) / hs.n;
  results.push({ ...hs, legs: 3, token_bytes: tokenBytes, init_us_per_hs: iu, accept_us_per_hs: au, init_only_per_s: 1e6 / iu, accept_only_per_s: 1e6 / au });

  for (const size of opts.sizes) {
    const msg = new Uint8Array(size).map((_, i) => (i * 131 + (i >>> 8)) & 0xff);
    let aMs = 0;
    let bMs = 0;
    let tokenLen = 0;
    const reset = () => (aMs = bMs = 0);
    const split = (r: Result, a: string, b: string) => {
      const ua = (1000 * aMs) / r.n;
      const ub = (1000 * bMs) / r.n;
      return { ...r, [`${a}_us`]: ua, [`${b}_us`]: ub, [`${a}_MB_per_s`]: size / ua, [`${b}_MB_per_s`]: size / ub };
    };
    const w = await measure(
      'wrap+unwrap',
      () => {
        const t = performance.now();
        const tok = c0.wrap(msg);
        const u = performance.now();
        s0.unwrap(tok);
        bMs += performance.now() - u;
        aMs += u - t;
        tokenLen = tok.length;
      },
      { seconds: opts.wdur, warm: opts.wwarm, size, onTimed: reset },
    );
    results.push({ ...split(w, 'wrap', 'unwrap'), conf: 1, token_len: tokenLen });
    const m = await measure(
      'get_mic+verify_mic',
      () => {
        const t = performance.now();
        const sig = c0.sign(msg);
        const u = performance.now();
        s0.verify(msg, sig);
        bMs += performance.now() - u;
        aMs += u - t;
        tokenLen = sig.length;
      },
      { seconds: opts.wdur, warm: opts.wwarm, size, onTimed: reset },
    );
    results.push({ ...split(m, 'get_mic', 'verify_mic'), token_len: tokenLen });
  }
  emit(
    'ntlm_handshake_bench',
    'NTLM initiator cred=password',
    { mech: 'ntlm', initiator_cred: 'password', dur_s: opts.dur, warm_s: opts.warm, wrap_dur_s: opts.wdur, wrap_warm_s: opts.wwarm, ntlm: 'v2+ESS+KEY_EXCH+MIC', node: process.version },
    { ...checks, token_bytes: tokenBytes, authority: 'MICROSOFT_AUTHENTICATION_PACKAGE_V1_0 (memory store)' },
    results,
  );
  await c0.delete();
  await s0.delete();
  await host.shutdown();
}

// Before timing, as the C program does: a wrap round-trips with confidentiality, the plaintext
// is not visible in the token, and a flipped bit is refused (so the loop measures real checks).
function selfTest(c: SecurityContext, s: SecurityContext): Record<string, unknown> {
  const msg = new TextEncoder().encode('hello ntlm! hello ntlm!');
  const tok = c.wrap(msg);
  assert.ok(!Buffer.from(tok).includes(Buffer.from(msg)), 'plaintext visible in the wrap token');
  const r = s.unwrap(tok);
  assert.deepEqual(r.message, msg);
  assert.equal(r.encrypted, true);
  const bad = c.wrap(msg);
  bad[bad.length - 1]! ^= 1;
  assert.throws(() => s.unwrap(bad), SspiError);
  return { wrap_selftest: 'round-trip, conf, tamper rejected' };
}
