// The client's CONNECT response reader (./src/http/client-tunnel.ts) against a proxy that answers
// anything: random bytes, or a 407/200 head with random fields and bodies, then a close. Every run
// ends in a rejected Error (never a hang, a crash or a tunnel opened over garbage).
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import * as fc from 'fast-check';
import { Credentials } from '../../../src/credentials.js';
import { SecurityContext } from '../../../src/context.js';
import { openTunnel } from '../../../src/http/client-tunnel.js';
import { parseChallenges } from '../../../src/http/client-challenge.js';
import type { LsaHost } from '../../../src/lsa/host.js';
import { assertSettled } from '../../fuzz/settle.js';
import { initiatorLsa } from './client-harness.js';

let lsa: LsaHost;
let answer: Buffer = Buffer.alloc(0);
let server: net.Server;
let port = 0;

before(async () => {
  lsa = await initiatorLsa();
  server = net.createServer((s) => {
    s.on('error', () => undefined);
    // Answer once the CONNECT has arrived, then close.
    s.once('data', () => s.end(answer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await lsa.shutdown();
});

const field = fc.string({ unit: fc.constantFrom(...'NTLMNegotiate ,=+/AZaz09:-close'.split('')), maxLength: 80, size: 'max' });
const head = fc
  .tuple(
    fc.constantFrom('HTTP/1.1 407 Proxy Authentication Required', 'HTTP/1.1 200 Connection Established', 'HTTP/1.0 407', 'HTTP/1.1 502 Bad Gateway', 'HTTP/2 200', 'HTTP/1.1 4070 x'),
    fc.array(fc.tuple(fc.constantFrom('Proxy-Authenticate', 'Content-Length', 'Connection', 'Proxy-Connection', 'X'), field), { maxLength: 6, size: 'max' }),
    fc.uint8Array({ maxLength: 300, size: 'max' }),
  )
  .map(([status, fields, body]) => Buffer.concat([Buffer.from(`${status}\r\n${fields.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`, 'latin1'), body]));
const bytes = fc.uint8Array({ maxLength: 600, size: 'max' }).map((b) => Buffer.from(b));

it('any answer to CONNECT: a rejected Error, never a hang or an opened tunnel', async () => {
  const cred = await Credentials.acquire(lsa.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: 'alice', Domain: 'EXAMPLE', Password: 'x' } });
  try {
    await assertSettled(
      fc.asyncProperty(fc.oneof(head, bytes), async (a) => {
        answer = a;
        const dial = () => new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        });
        const offers = (v: string | string[] | undefined) => parseChallenges(v).filter((c) => c.scheme.toLowerCase() === 'ntlm').map(() => ({ scheme: 'NTLM' }));
        const auth = { offers, context: async () => SecurityContext.client(cred, { target: 'HTTP/proxy' }), known: null, maxLegs: 3 };
        await assert.rejects(openTunnel(dial, new URL('https://origin.invalid/'), { rejectUnauthorized: false }, auth, 2000), (e: unknown) => e instanceof Error);
      }),
      { numRuns: 150 },
    );
  } finally {
    await cred.free();
  }
});
