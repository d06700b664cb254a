// Shared set-up for the NTLM package feature tests: an LSA with the NTLM package and the real
// account authority, and helpers to rewrite wire messages the way a peer or an attacker would.
import { Credentials } from '../../../../src/credentials.js';
import { SecurityContext, type ClientContextOptions, type ContextOptions } from '../../../../src/context.js';
import { createLsa, type LsaHost } from '../../../../src/lsa/host.js';
import { msv1_0Package } from '../../../../src/packages/msv1_0/package.js';
import { NTOWFv1 } from '../../../../src/packages/ntlm/crypto.js';
import {
  type AUTHENTICATE_MESSAGE,
  type CHALLENGE_MESSAGE,
  type NEGOTIATE_MESSAGE,
  parseAuthenticateMessage,
  parseChallengeMessage,
  parseNegotiateMessage,
  writeAuthenticateMessage,
  writeChallengeMessage,
  writeNegotiateMessage,
} from '../../../../src/packages/ntlm/messages.js';
import { ntlmPackage, type NtlmConfig } from '../../../../src/packages/ntlm/package.js';
import { MemoryAccountStore } from '../../../../src/store/accounts.js';

export const PASSWORD = 'Passw0rd';

export interface Pair {
  host: LsaHost;
  store: MemoryAccountStore;
  client: SecurityContext;
  server: SecurityContext;
}

export async function ntlmHost(config: NtlmConfig = {}, authority: { allowAnonymous?: boolean } = {}): Promise<{ host: LsaHost; store: MemoryAccountStore }> {
  const store = new MemoryAccountStore();
  await store.add({ user: 'alice', domain: 'EXAMPLE', ntHash: NTOWFv1(PASSWORD) });
  const host = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmPackage(config), msv1_0Package({ store, ...authority })] });
  return { host, store };
}

export async function pair(
  config: NtlmConfig = {},
  opts: { authData?: Record<string, unknown> | null; client?: ClientContextOptions; server?: ContextOptions; allowAnonymous?: boolean } = {},
): Promise<Pair> {
  const { host, store } = await ntlmHost(config, opts.allowAnonymous ? { allowAnonymous: true } : {});
  const authData = opts.authData === undefined ? { User: 'alice', Domain: 'EXAMPLE', Password: PASSWORD } : opts.authData;
  const cc = await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'outbound', ...(authData ? { authData } : {}) } as Parameters<typeof Credentials.acquire>[1]);
  const sc = await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'inbound' });
  const client = SecurityContext.client(cc, opts.client ?? { target: 'HTTP/web.example.test', flags: ['CONFIDENTIALITY', 'INTEGRITY'] });
  const server = SecurityContext.server(sc, opts.server ?? { flags: ['CONFIDENTIALITY', 'INTEGRITY'] });
  return { host, store, client, server };
}

/** NEGOTIATE -> CHALLENGE -> AUTHENTICATE, with optional rewriting of each message in flight. */
export async function handshake(
  p: Pair,
  edit: { negotiate?: (b: Uint8Array) => Uint8Array; challenge?: (b: Uint8Array) => Uint8Array; authenticate?: (b: Uint8Array) => Uint8Array } = {},
): Promise<{ negotiate: Uint8Array; challenge: Uint8Array; authenticate: Uint8Array }> {
  let negotiate = (await p.client.step())!;
  if (edit.negotiate) negotiate = edit.negotiate(negotiate);
  let challenge = (await p.server.step(negotiate))!;
  if (edit.challenge) challenge = edit.challenge(challenge);
  let authenticate = (await p.client.step(challenge))!;
  if (edit.authenticate) authenticate = edit.authenticate(authenticate);
  const last = await p.server.step(authenticate);
  if (last !== null) throw new Error('acceptor sent a token after AUTHENTICATE');
  return { negotiate, challenge, authenticate };
}

export function rewriteNegotiate(b: Uint8Array, patch: (m: NEGOTIATE_MESSAGE) => Partial<NEGOTIATE_MESSAGE>): Uint8Array {
  const { layout: _l, raw: _r, ...m } = parseNegotiateMessage(b) as NEGOTIATE_MESSAGE & { layout?: unknown; raw?: unknown };
  return writeNegotiateMessage({ ...m, ...patch(m) });
}

export function rewriteChallenge(b: Uint8Array, patch: (m: CHALLENGE_MESSAGE) => Partial<CHALLENGE_MESSAGE>): Uint8Array {
  const { layout: _l, raw: _r, ...m } = parseChallengeMessage(b) as CHALLENGE_MESSAGE & { layout?: unknown; raw?: unknown };
  return writeChallengeMessage({ ...m, ...patch(m) });
}

export function rewriteAuthenticate(b: Uint8Array, patch: (m: AUTHENTICATE_MESSAGE) => Partial<AUTHENTICATE_MESSAGE>): Uint8Array {
  const { layout: _l, raw: _r, MicOffset: _o, ...m } = parseAuthenticateMessage(b);
  return writeAuthenticateMessage({ ...m, ...patch(m) });
}

/** Both directions protect messages: the contexts agree on keys and streams. */
export function roundTrip(a: SecurityContext, b: SecurityContext, seqNo?: number): void {
  const m = new Uint8Array(100).map((_, i) => i * 3);
  const opt = seqNo === undefined ? {} : { seqNo };
  const fromA = b.unwrap(a.wrap(m, opt), seqNo).message;
  const fromB = a.unwrap(b.wrap(m, opt), seqNo).message;
  if (!fromA.every((x, i) => x === m[i]) || !fromB.every((x, i) => x === m[i]) || fromA.length !== m.length || fromB.length !== m.length) throw new Error('round trip altered the message');
  b.verify(m, a.sign(m, seqNo), seqNo);
}
