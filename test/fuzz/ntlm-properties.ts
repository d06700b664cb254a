// fast-check generators and properties for the NTLM package driven through SSPI with a real
// account authority, shared by test/unit/packages/ntlm/package.fuzz.test.ts (a few seconds) and
// test/fuzz/ntlm-campaign.ts (long runs).
//
// What the properties hold:
//   - every AcceptSecurityContext / InitializeSecurityContext / DecryptMessage / VerifySignature
//     returns a SECURITY_STATUS defined in src/sspi/status.ts, never SEC_E_INTERNAL_ERROR (what a
//     package fault becomes), and nothing throws past the API;
//   - a handshake in which any byte of NEGOTIATE, CHALLENGE or AUTHENTICATE changed in transit never
//     ends in SEC_E_OK. This holds for every byte because our initiator always sends a MIC and flags
//     it in MsvAvFlags (inside the NTLMv2 blob, covered by NTProofStr), and the MIC covers all three
//     messages byte for byte (MS-NLMP 3.1.5.1.2, 3.2.5.1.2). Without a MIC some bytes are genuinely
//     unauthenticated (user-name case, Workstation, VERSION), which is why only MIC handshakes are
//     asserted this strictly;
//   - a changed seal/signature token is never accepted (MS-NLMP 3.4.4: checksum over the plaintext).
import * as assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { Credentials } from '../../src/credentials.js';
import { SecurityContext } from '../../src/context.js';
import { createLsa, type LsaHost } from '../../src/lsa/host.js';
import type { SecHandle } from '../../src/lsa/protocol.js';
import { SspiSession, withSession } from './session.js';
import { msv1_0Package } from '../../src/packages/msv1_0/package.js';
import { type AvPair, avFlags } from '../../src/packages/ntlm/avpairs.js';
import { NTOWFv1 } from '../../src/packages/ntlm/crypto.js';
import {
  parseAuthenticateMessage,
  parseChallengeMessage,
  parseNtlmv2Response,
  writeAuthenticateMessage,
  writeChallengeMessage,
  writeNtlmv2Response,
} from '../../src/packages/ntlm/messages.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import type { SecurityFunctionTable } from '../../src/sspi/api.js';
import { bufferBytes, secBuffer, secBufferDesc } from '../../src/sspi/buffers.js';
import { ASC_REQ, ISC_REQ, SECBUFFER, SECURITY_NATIVE_DREP } from '../../src/sspi/flags.js';
import { SecurityStatus, type Status, statusHex, statusName } from '../../src/sspi/status.js';
import { MemoryAccountStore } from '../../src/store/accounts.js';

export const DOMAIN = 'EXAMPLE';
export const USER = 'alice';
export const PASSWORD = 'Passw0rd!';

const SEC_STATUSES: ReadonlySet<number> = new Set(Object.values(SecurityStatus).map((v) => v >>> 0));
const { SEC_E_OK, SEC_I_CONTINUE_NEEDED, SEC_E_INTERNAL_ERROR } = SecurityStatus;

// ---- the world: one LSA with NTLM and a real authority ------------------------------------------

export interface World {
  host: LsaHost;
  sspi: SecurityFunctionTable;
  server: Credentials;
  client: Credentials;
  /** Faults the LSA saw inside packages (exceptions that were not SspiError). */
  faults: string[];
}

let world: Promise<World> | null = null;

/** The shared world (created once per process). */
export function getWorld(): Promise<World> {
  world ??= (async () => {
    const faults: string[] = [];
    // No lockout: the properties send thousands of wrong responses for the same account.
    const store = new MemoryAccountStore({ lockout: { threshold: 0 } });
    await store.add({ user: USER, domain: DOMAIN, ntHash: NTOWFv1(PASSWORD) });
    const host = await createLsa({
      domainName: DOMAIN,
      packages: [ntlmPackage(), msv1_0Package({ store })],
      onPackageFault: (pkg, entry, error) => faults.push(`${pkg}.${entry}: ${(error as Error)?.stack ?? String(error)}`),
    });
    const sspi = host.sspi();
    const server = await Credentials.acquire(sspi, { package: 'NTLM', use: 'inbound' });
    const client = await Credentials.acquire(sspi, { package: 'NTLM', use: 'outbound', authData: { User: USER, Domain: DOMAIN, Password: PASSWORD } });
    return { host, sspi, server, client, faults };
  })();
  return world;
}

export async function closeWorld(): Promise<void> {
  if (!world) return;
  const w = await world;
  world = null;
  await w.client.free();
  await w.server.free();
  await w.host.shutdown();
}

/** A status that the API may return: defined, and not the mark of a fault inside the package. */
export function assertDefined(w: World, status: Status, where: string): void {
  const s = status >>> 0;
  assert.ok(SEC_STATUSES.has(s), `${where}: ${statusHex(s)} is not a SECURITY_STATUS defined in status.ts`);
  assert.notEqual(s, SEC_E_INTERNAL_ERROR, `${where}: SEC_E_INTERNAL_ERROR (a fault inside the package)`);
  assert.deepEqual(w.faults, [], `${where}: package fault`);
}

// ---- raw SSPI legs -----------------------------------------------------------------------------

interface Leg {
  status: number;
  ctx: SecHandle | null;
  token: Uint8Array;
}

/** Contexts made during one property run, deleted afterwards. */
export class Session extends SspiSession<World> {
  async accept(ctx: SecHandle | null, token: Uint8Array | null): Promise<Leg> {
    const out = secBufferDesc(secBuffer(SECBUFFER.TOKEN, null));
    const input = token ? secBufferDesc(secBuffer(SECBUFFER.TOKEN, token.slice())) : null;
    const req = ASC_REQ.ALLOCATE_MEMORY | ASC_REQ.CONFIDENTIALITY | ASC_REQ.INTEGRITY;
    const r = await this.w.sspi.AcceptSecurityContext(this.w.server.handle, ctx, input, req, SECURITY_NATIVE_DREP, null, out);
    const status = r.status >>> 0;
    assertDefined(this.w, status, 'AcceptSecurityContext');
    return { status, ctx: this.track(r.phNewContext) ?? ctx, token: bufferBytes(out.pBuffers[0]!).slice() };
  }

  async init(ctx: SecHandle | null, token: Uint8Array | null): Promise<Leg> {
    const out = secBufferDesc(secBuffer(SECBUFFER.TOKEN, null));
    const input = token ? secBufferDesc(secBuffer(SECBUFFER.TOKEN, token.slice())) : null;
    const req = ISC_REQ.ALLOCATE_MEMORY | ISC_REQ.CONFIDENTIALITY | ISC_REQ.INTEGRITY;
    const r = await this.w.sspi.InitializeSecurityContext(this.w.client.handle, ctx, 'HTTP/server.example.test', req, 0, SECURITY_NATIVE_DREP, input, 0, null, out);
    const status = r.status >>> 0;
    assertDefined(this.w, status, 'InitializeSecurityContext');
    return { status, ctx: this.track(r.phNewContext) ?? ctx, token: bufferBytes(out.pBuffers[0]!).slice() };
  }

  /** Contexts made through the idiomatic layer, deleted with the session's own. */
  adopt(...hs: Array<SecHandle | null>): void {
    for (const h of hs) this.track(h);
  }
}

/** Run `fn` in a session whose contexts are deleted afterwards. */
export async function inSession<T>(fn: (s: Session) => Promise<T>): Promise<T> {
  return withSession(new Session(await getWorld()), fn);
}

// ---- generators --------------------------------------------------------------------------------

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');

/** Random bytes, and random bytes behind a valid signature and MessageType (to reach the parsers). */
export const ntlmishBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 300, size: 'max' }),
  fc
    .tuple(fc.constantFrom(1, 2, 3, 4, 0, 0xffffffff), fc.uint8Array({ maxLength: 400, size: 'max' }))
    .map(([type, rest]) => {
      const b = new Uint8Array(12 + rest.length);
      b.set(SIGNATURE, 0);
      new DataView(b.buffer).setUint32(8, type, true);
      b.set(rest, 12);
      return b;
    }),
);

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; to: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  /** A Len/MaxLen/BufferOffset of one payload descriptor (MS-NLMP 2.2.1 "...Fields"). */
  | { kind: 'field'; slot: number; part: 'Len' | 'MaxLen' | 'BufferOffset'; value: number }
  /** The NegotiateFlags word. */
  | { kind: 'flags'; xor: number }
  /** The "NTLMSSP\0" signature or the MessageType. */
  | { kind: 'header'; at: number; value: number }
  /** A structurally valid rewrite with one AV pair duplicated (TargetInfo / NTLMv2 blob). */
  | { kind: 'dupAvPair'; index: number }
  /** Several byte changes at once. */
  | { kind: 'many'; edits: Array<{ at: number; value: number }> };

const fieldValue = fc.oneof(
  fc.constantFrom(0, 1, 2, 7, 8, 16, 24, 0x40, 0x48, 0x58, 0xfff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff),
  fc.integer({ min: 0, max: 0xffffffff }),
);

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), to: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40, size: 'max' }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16, size: 'max' }) }),
  fc.record({ kind: fc.constant('field' as const), slot: fc.nat(), part: fc.constantFrom('Len' as const, 'MaxLen' as const, 'BufferOffset' as const), value: fieldValue }),
  fc.record({ kind: fc.constant('flags' as const), xor: fc.integer({ min: 1, max: 0xffffffff }) }),
  fc.record({ kind: fc.constant('header' as const), at: fc.integer({ min: 0, max: 11 }), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('dupAvPair' as const), index: fc.nat() }),
  fc.record({ kind: fc.constant('many' as const), edits: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 2, maxLength: 8 }) }),
);

/** Where each message type keeps its descriptors and its NegotiateFlags (MS-NLMP 2.2.1.1-3). */
const LAYOUT: Record<number, { fields: number[]; flagsAt: number }> = {
  1: { fields: [16, 24], flagsAt: 12 },
  2: { fields: [12, 40], flagsAt: 20 },
  3: { fields: [12, 20, 28, 36, 44, 52], flagsAt: 60 },
};

function duplicateAt(pairs: AvPair[], index: number): AvPair[] {
  const list = pairs.length ? pairs.slice() : [avFlags(0)];
  const i = index % list.length;
  list.splice(i, 0, list[i]!);
  return list;
}

/** Apply a mutation to a valid message of the given MessageType; the result may equal the input. */
export function mutate(msg: Uint8Array, type: 1 | 2 | 3, m: Mutation): Uint8Array {
  const b = msg.slice();
  const dv = new DataView(b.buffer);
  switch (m.kind) {
    case 'flip':
      b[m.at % b.length]! ^= 1 << m.bit;
      return b;
    case 'set':
      b[m.at % b.length] = m.value;
      return b;
    case 'truncate':
      return b.slice(0, m.to % b.length);
    case 'append': {
      const out = new Uint8Array(b.length + m.bytes.length);
      out.set(b, 0);
      out.set(m.bytes, b.length);
      return out;
    }
    case 'insert': {
      const at = m.at % (b.length + 1);
      const out = new Uint8Array(b.length + m.bytes.length);
      out.set(b.subarray(0, at), 0);
      out.set(m.bytes, at);
      out.set(b.subarray(at), at + m.bytes.length);
      return out;
    }
    case 'field': {
      const slots = LAYOUT[type]!.fields;
      const at = slots[m.slot % slots.length]!;
      if (m.part === 'Len') dv.setUint16(at, m.value & 0xffff, true);
      else if (m.part === 'MaxLen') dv.setUint16(at + 2, m.value & 0xffff, true);
      else dv.setUint32(at + 4, m.value >>> 0, true);
      return b;
    }
    case 'flags': {
      const at = LAYOUT[type]!.flagsAt;
      dv.setUint32(at, (dv.getUint32(at, true) ^ m.xor) >>> 0, true);
      return b;
    }
    case 'header':
      b[m.at] = m.value;
      return b;
    case 'many':
      for (const e of m.edits) b[e.at % b.length] = e.value;
      return b;
    case 'dupAvPair': {
      if (type === 2) {
        const c = parseChallengeMessage(b);
        const pairs = duplicateAt(c.TargetInfoPairs?.pairs ?? [], m.index);
        const { layout: _l, raw: _r, ...rest } = c;
        return writeChallengeMessage({ ...rest, TargetInfoPairs: { pairs } });
      }
      if (type === 3) {
        const a = parseAuthenticateMessage(b);
        const v2 = parseNtlmv2Response(a.NtChallengeResponse);
        const cc = { ...v2.ClientChallenge, AvPairs: { ...v2.ClientChallenge.AvPairs, pairs: duplicateAt(v2.ClientChallenge.AvPairs.pairs, m.index) } };
        const { layout: _l, raw: _r, MicOffset: _o, ...rest } = a;
        return writeAuthenticateMessage({ ...rest, NtChallengeResponse: writeNtlmv2Response(v2.NTProofStr, cc) });
      }
      // NEGOTIATE has no AV pairs: duplicate its Version bytes into the payload instead.
      const out = new Uint8Array(b.length + 8);
      out.set(b, 0);
      out.set(b.subarray(32, 40), b.length);
      return out;
    }
  }
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

// ---- properties --------------------------------------------------------------------------------

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NamedProperty = [name: string, prop: fc.IAsyncPropertyWithHooks<any>];

/** One honest handshake up to the message to tamper with. */
async function honestNegotiate(s: Session): Promise<Leg> {
  const n = await s.init(null, null);
  assert.equal(n.status, SEC_I_CONTINUE_NEEDED);
  return n;
}

/** Finish a handshake from a (possibly tampered) CHALLENGE: the acceptor's final status, or null if it stopped earlier. */
async function finish(s: Session, client: Leg, server: Leg, challenge: Uint8Array): Promise<number | null> {
  const a = await s.init(client.ctx, challenge);
  if (a.status !== SEC_E_OK) {
    assert.notEqual(a.status, SEC_I_CONTINUE_NEEDED, 'NTLM has no fourth leg');
    return null;
  }
  const v = await s.accept(server.ctx, a.token);
  return v.status;
}

/** The properties, by name; each run makes its own contexts in the shared world and deletes them. */
export function ntlmPackageProperties(): NamedProperty[] {
  const props: NamedProperty[] = [];
  const add = <T>(name: string, arb: fc.Arbitrary<T>, body: (s: Session, v: T) => Promise<void>) =>
    props.push([name, fc.asyncProperty(arb, (v) => inSession((s) => body(s, v)))]);

  add('an honest handshake succeeds (baseline)', fc.constant(null), async (s) => {
    const n = await honestNegotiate(s);
    const c = await s.accept(null, n.token);
    assert.equal(c.status, SEC_I_CONTINUE_NEEDED);
    assert.equal(await finish(s, n, c, c.token), SEC_E_OK);
  });

  add('AcceptSecurityContext: any first token gives CONTINUE_NEEDED or a defined error', ntlmishBytes, async (s, bytes) => {
    const r = await s.accept(null, bytes);
    assert.notEqual(r.status, SEC_E_OK, 'no one-leg logon');
    if (r.status === SEC_I_CONTINUE_NEEDED) parseChallengeMessage(r.token);
  });

  add('InitializeSecurityContext: any CHALLENGE gives a defined status', ntlmishBytes, async (s, bytes) => {
    const n = await honestNegotiate(s);
    const r = await s.init(n.ctx, bytes);
    assert.notEqual(r.status, SEC_I_CONTINUE_NEEDED);
  });

  add('a tampered NEGOTIATE never ends in SEC_E_OK (the MIC covers it)', mutationArb, async (s, m) => {
    const n = await honestNegotiate(s);
    const bad = mutate(n.token, 1, m);
    if (same(bad, n.token)) return;
    const c = await s.accept(null, bad);
    if (c.status !== SEC_I_CONTINUE_NEEDED) return;
    const st = await finish(s, n, c, c.token);
    assert.notEqual(st, SEC_E_OK, `accepted after ${JSON.stringify(m)}`);
  });

  add('a tampered CHALLENGE never ends in SEC_E_OK (the MIC covers it)', mutationArb, async (s, m) => {
    const n = await honestNegotiate(s);
    const c = await s.accept(null, n.token);
    const bad = mutate(c.token, 2, m);
    if (same(bad, c.token)) return;
    const st = await finish(s, n, c, bad);
    assert.notEqual(st, SEC_E_OK, `accepted after ${JSON.stringify(m)}`);
  });

  add('a tampered AUTHENTICATE is never accepted (NTProofStr and MIC cover it)', mutationArb, async (s, m) => {
    const n = await honestNegotiate(s);
    const c = await s.accept(null, n.token);
    const a = await s.init(n.ctx, c.token);
    assert.equal(a.status, SEC_E_OK);
    const bad = mutate(a.token, 3, m);
    if (same(bad, a.token)) return;
    const v = await s.accept(c.ctx, bad);
    assert.notEqual(v.status, SEC_E_OK, `accepted after ${JSON.stringify(m)}`);
    assert.notEqual(v.status, SEC_I_CONTINUE_NEEDED);
  });

  add('a TargetInfo with a duplicated AV pair is refused by the initiator', fc.nat(), async (s, index) => {
    const n = await honestNegotiate(s);
    const c = await s.accept(null, n.token);
    const r = await s.init(n.ctx, mutate(c.token, 2, { kind: 'dupAvPair', index }));
    assert.equal(statusName(r.status), 'SEC_E_INVALID_TOKEN');
  });

  add('message calls: random and tampered seal/signature tokens are refused', messageCase, async (s, mc) => {
    const { client, server } = await establish(s);
    const sspi = s.w.sspi;
    const plain = mc.message;
    if (mc.op === 'verify') {
      const good = client.sign(plain);
      let msg = plain;
      let sig = good;
      if (mc.random) sig = mc.random;
      else if (mc.target === 'message') msg = mutate(plain, 1, mc.mutation);
      else sig = mutate(good, 1, mc.mutation);
      if (!mc.random && same(msg, plain) && same(sig, good)) return;
      // A token buffer longer than NTLMSSP_MESSAGE_SIGNATURE (16 bytes, MS-NLMP 2.2.2.9) holding the
      // right signature first is the caller's framing, not a changed signature: not asserted.
      const onlyTrailing = same(msg, plain) && sig.length > good.length && same(sig.subarray(0, good.length), good);
      const r = sspi.VerifySignature(server.contextHandle!, secBufferDesc(secBuffer(SECBUFFER.DATA, msg), secBuffer(SECBUFFER.TOKEN, sig.slice())), 0);
      assertDefined(s.w, r.status, 'VerifySignature');
      if (!onlyTrailing) assert.notEqual(r.status >>> 0, SEC_E_OK, 'tampered signature accepted');
    } else {
      const sealed = mc.random ?? client.wrap(plain);
      const tok = mc.random ? sealed : mutate(sealed, 1, mc.mutation);
      if (!mc.random && same(tok, sealed)) return;
      const r = sspi.DecryptMessage(server.contextHandle!, secBufferDesc(secBuffer(SECBUFFER.STREAM, tok.slice()), secBuffer(SECBUFFER.DATA, null)), 0);
      assertDefined(s.w, r.status, 'DecryptMessage');
      assert.notEqual(r.status >>> 0, SEC_E_OK, 'tampered sealed message accepted');
    }
  });

  return props;
}

interface MessageCase {
  op: 'verify' | 'decrypt';
  message: Uint8Array;
  /** A random token instead of a tampered valid one. */
  random: Uint8Array | null;
  target: 'token' | 'message';
  mutation: Mutation;
}

const byteMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), to: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('many' as const), edits: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 2, maxLength: 4 }) }),
);

const messageCase: fc.Arbitrary<MessageCase> = fc.record({
  op: fc.constantFrom('verify' as const, 'decrypt' as const),
  message: fc.uint8Array({ minLength: 1, maxLength: 64, size: 'max' }),
  random: fc.option(fc.uint8Array({ maxLength: 64, size: 'max' }), { freq: 3 }),
  target: fc.constantFrom('token' as const, 'message' as const),
  mutation: byteMutation,
});

/** An established pair through the idiomatic layer (the message calls need their user-mode halves). */
async function establish(s: Session): Promise<{ client: SecurityContext; server: SecurityContext }> {
  const client = SecurityContext.client(s.w.client, { target: 'HTTP/server.example.test', flags: ['CONFIDENTIALITY', 'INTEGRITY'] });
  const server = SecurityContext.server(s.w.server, { flags: ['CONFIDENTIALITY', 'INTEGRITY'] });
  const n = await client.step();
  const c = await server.step(n);
  const a = await client.step(c);
  await server.step(a);
  assert.ok(client.complete && server.complete);
  s.adopt(client.contextHandle, server.contextHandle);
  return { client, server };
}
