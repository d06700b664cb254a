// Property tests for the NTLM wire formats: any input gives a typed object or
// SspiError(SEC_E_INVALID_TOKEN), anything accepted re-serializes to something that parses the same,
// and typed objects survive write -> parse.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import {
  type AvPair,
  type AvPairList,
  type AvStringId,
  AvIdNames,
  MsvAvChannelBindings,
  MsvAvFlags,
  MsvAvSingleHost,
  MsvAvTimestamp,
  parseAvPairs,
  writeAvPairs,
} from '../../../../src/packages/ntlm/avpairs.js';
import {
  type AUTHENTICATE_MESSAGE,
  type CHALLENGE_MESSAGE,
  type NEGOTIATE_MESSAGE,
  type NTLMv2_CLIENT_CHALLENGE,
  type VERSION,
  parseAuthenticateMessage,
  parseChallengeMessage,
  parseNegotiateMessage,
  parseNtlmv2Response,
  writeAuthenticateMessage,
  writeChallengeMessage,
  writeNegotiateMessage,
  writeNtlmv2Response,
} from '../../../../src/packages/ntlm/messages.js';
import { decodeNtlmMessage, formatNtlmTree } from '../../../../src/packages/ntlm/decode.js';

const RUNS = 400;

const vectors = JSON.parse(readFileSync(new URL('../../../fixtures/vectors/ntlm.json', import.meta.url), 'utf8')) as {
  cases: Array<{ id?: string; expected?: Record<string, string> }>;
};
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const SEEDS: Uint8Array[] = [
  new Uint8Array(Buffer.from('TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=', 'base64')),
  new Uint8Array(Buffer.from('TlRMTVNTUAABAAAAl4II4gAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==', 'base64')),
];
for (const id of ['v1_messages', 'ess_messages', 'v2_messages']) {
  const e = vectors.cases.find((c) => c.id === id)!.expected!;
  SEEDS.push(hex(e.CHALLENGE_MESSAGE!), hex(e.AUTHENTICATE_MESSAGE!));
}

/** Run a parser: its value, or undefined for SEC_E_INVALID_TOKEN; anything else fails the property. */
function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN)) return undefined;
    throw e;
  }
}

function typed<T extends object>(m: T): Omit<T, 'layout' | 'raw'> {
  const { layout: _l, raw: _r, ...rest } = m as T & { layout?: unknown; raw?: unknown };
  return rest;
}

/** Every parser on `bytes`; each accepted message must rewrite to bytes that parse to the same object. */
function exerciseAll(bytes: Uint8Array): void {
  const n = attempt(() => parseNegotiateMessage(bytes));
  if (n) assert.deepEqual(typed(parseNegotiateMessage(writeNegotiateMessage(n))), typed(n));
  const c = attempt(() => parseChallengeMessage(bytes));
  if (c) assert.deepEqual(typed(parseChallengeMessage(writeChallengeMessage(c))), typed(c));
  const a = attempt(() => parseAuthenticateMessage(bytes));
  if (a) assert.deepEqual(typed(parseAuthenticateMessage(writeAuthenticateMessage(a))), typed(a));
  const l = attempt(() => parseAvPairs(bytes));
  if (l) assert.deepEqual(writeAvPairs(l), bytes);
  attempt(() => parseNtlmv2Response(bytes));
  const t = attempt(() => decodeNtlmMessage(bytes));
  if (t) {
    assert.deepEqual(JSON.parse(JSON.stringify(t)), t);
    formatNtlmTree(t);
  }
}

test('random bytes: a typed object or SEC_E_INVALID_TOKEN, nothing else', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300, size: 'max' }), (b) => exerciseAll(b)), { numRuns: RUNS });
});

test('random bodies behind a valid signature and MessageType', () => {
  const prefixed = fc
    .tuple(fc.constantFrom(1, 2, 3), fc.uint8Array({ minLength: 0, maxLength: 200, size: 'max' }))
    .map(([type, body]) => {
      const b = new Uint8Array(12 + body.length);
      b.set(Buffer.from('NTLMSSP\0', 'latin1'), 0);
      b[8] = type;
      b.set(body, 12);
      return b;
    });
  fc.assert(fc.property(prefixed, (b) => exerciseAll(b)), { numRuns: RUNS });
});

/** Byte writes, descriptor rewrites with boundary values, truncation and extension of a valid message. */
const mutated = fc
  .tuple(
    fc.constantFrom(...SEEDS),
    fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }),
    fc.array(
      fc.tuple(fc.constantFrom(12, 16, 20, 24, 28, 36, 40, 44, 52), fc.constantFrom(0, 1, 2, 8, 15, 16, 24, 32, 40, 48, 56, 63, 64, 71, 72, 87, 88, 0xff, 0xffff)),
      { maxLength: 3 },
    ),
    fc.integer({ min: -20, max: 20 }),
  )
  .map(([seed, writes, fields, resize]) => {
    let b = seed.slice();
    for (const [at, v] of writes) if (b.length) b[at % b.length] = v;
    for (const [at, v] of fields) if (at + 2 <= b.length) new DataView(b.buffer).setUint16(at, v, true);
    if (resize < 0) b = b.slice(0, Math.max(0, b.length + resize));
    else if (resize > 0) {
      const grown = new Uint8Array(b.length + resize);
      grown.set(b);
      b = grown;
    }
    return b;
  });

test('mutated valid messages: a typed object or SEC_E_INVALID_TOKEN, and accepted ones round-trip', () => {
  fc.assert(fc.property(mutated, (b) => exerciseAll(b)), { numRuns: RUNS * 2 });
});

test('every seed rewrites byte-exactly', () => {
  for (const s of SEEDS) {
    const type = s[8];
    const out = type === 1 ? writeNegotiateMessage(parseNegotiateMessage(s)) : type === 2 ? writeChallengeMessage(parseChallengeMessage(s)) : writeAuthenticateMessage(parseAuthenticateMessage(s));
    assert.deepEqual(out, s);
  }
});

// ---- Generated typed objects: write -> parse gives them back.

const latin1 = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 24 });
const unicode = fc.string({ unit: 'binary', maxLength: 24, size: 'max' });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
const version: fc.Arbitrary<VERSION> = fc
  .tuple(fc.nat(255), fc.nat(255), fc.nat(0xffff), fc.nat(255), fc.option(bytes(3).filter((r) => r.some((x) => x !== 0)), { nil: undefined }))
  .map(([ProductMajorVersion, ProductMinorVersion, ProductBuild, NTLMRevisionCurrent, Reserved]) => {
    const v: VERSION = { ProductMajorVersion, ProductMinorVersion, ProductBuild, NTLMRevisionCurrent };
    if (Reserved) v.Reserved = Reserved;
    return v;
  });
const optVersion = fc.option(version, { nil: undefined });

const avPair: fc.Arbitrary<AvPair> = fc.oneof(
  fc.tuple(fc.constantFrom<AvStringId>(1, 2, 3, 4, 5, 9), unicode).map(([AvId, Value]): AvPair => ({ kind: 'string', AvId, Value })),
  u32.map((Value): AvPair => ({ kind: 'flags', AvId: MsvAvFlags, Value })),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((Value): AvPair => ({ kind: 'timestamp', AvId: MsvAvTimestamp, Value })),
  bytes(16).map((Value): AvPair => ({ kind: 'channelBindings', AvId: MsvAvChannelBindings, Value })),
  fc.tuple(u32, u32, bytes(8), bytes(32), fc.option(fc.uint8Array({ minLength: 1, maxLength: 8 }), { nil: undefined })).map(([Size, Z4, CustomData, MachineID, Trailing]): AvPair => {
    const Value = Trailing ? { Size, Z4, CustomData, MachineID, Trailing } : { Size, Z4, CustomData, MachineID };
    return { kind: 'singleHost', AvId: MsvAvSingleHost, Value };
  }),
  fc.tuple(fc.integer({ min: 11, max: 0xffff }), fc.uint8Array({ maxLength: 12, size: 'max' })).map(([AvId, Value]): AvPair => ({ kind: 'unknown', AvId, Value })),
);
const avList: fc.Arbitrary<AvPairList> = fc.array(avPair, { maxLength: 8 }).map((pairs) => {
  const seen = new Set<number>();
  // Defined AvIds may appear once; unknown ones may repeat.
  return { pairs: pairs.filter((p) => !(p.AvId in AvIdNames) || (!seen.has(p.AvId) && (seen.add(p.AvId), true))) };
});

test('AV_PAIR lists: write -> parse -> write is identity', () => {
  fc.assert(
    fc.property(avList, (list) => {
      const b = writeAvPairs(list);
      const back = parseAvPairs(b);
      assert.deepEqual(back, list);
      assert.deepEqual(writeAvPairs(back), b);
    }),
    { numRuns: RUNS },
  );
});

test('NEGOTIATE_MESSAGE: write -> parse', () => {
  const neg = fc.record({ NegotiateFlags: u32, DomainName: latin1, Workstation: latin1, Version: optVersion }).map((m) => {
    const out: NEGOTIATE_MESSAGE = { NegotiateFlags: m.NegotiateFlags, DomainName: m.DomainName, Workstation: m.Workstation };
    if (m.Version) out.Version = m.Version;
    return out;
  });
  fc.assert(
    fc.property(neg, (m) => {
      const b = writeNegotiateMessage(m);
      const p = parseNegotiateMessage(b);
      assert.deepEqual(typed(p), m);
      assert.equal(p.layout!.PayloadStart, m.Version ? 40 : 32);
      assert.deepEqual(writeNegotiateMessage(p), b);
    }),
    { numRuns: RUNS },
  );
});

test('CHALLENGE_MESSAGE: write -> parse', () => {
  const chal = fc
    .record({
      unicode: fc.boolean(),
      flags: u32,
      name: unicode,
      oemName: latin1,
      ServerChallenge: bytes(8),
      Reserved: fc.option(bytes(8).filter((r) => r.some((x) => x !== 0)), { nil: undefined }),
      info: fc.option(avList, { nil: undefined }),
      Version: optVersion,
    })
    .map((r) => {
      const NegotiateFlags = r.unicode ? (r.flags | 1) >>> 0 : (r.flags & ~1) >>> 0;
      const m: CHALLENGE_MESSAGE = {
        NegotiateFlags,
        TargetName: r.unicode ? r.name : r.oemName,
        ServerChallenge: r.ServerChallenge,
        TargetInfo: r.info ? writeAvPairs(r.info) : new Uint8Array(0),
      };
      if (r.Reserved) m.Reserved = r.Reserved;
      if (r.info) m.TargetInfoPairs = r.info;
      if (r.Version) m.Version = r.Version;
      return m;
    });
  fc.assert(
    fc.property(chal, (m) => {
      const b = writeChallengeMessage(m);
      const p = parseChallengeMessage(b);
      assert.deepEqual(typed(p), m);
      assert.deepEqual(writeChallengeMessage(p), b);
    }),
    { numRuns: RUNS },
  );
});

const clientChallenge: fc.Arbitrary<NTLMv2_CLIENT_CHALLENGE> = fc
  .tuple(fc.nat(255), fc.nat(255), fc.nat(0xffff), u32, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), bytes(8), u32, avList, fc.option(fc.uint8Array({ minLength: 1, maxLength: 8 }), { nil: undefined }))
  .map(([RespType, HiRespType, Reserved1, Reserved2, TimeStamp, ChallengeFromClient, Reserved3, list, Trailing]) => ({
    RespType,
    HiRespType,
    Reserved1,
    Reserved2,
    TimeStamp,
    ChallengeFromClient,
    Reserved3,
    AvPairs: Trailing ? { pairs: list.pairs, Trailing } : list,
  }));

test('NTLMv2_RESPONSE: write -> parse', () => {
  fc.assert(
    fc.property(bytes(16), clientChallenge, (proof, cc) => {
      const b = writeNtlmv2Response(proof, cc);
      const r = parseNtlmv2Response(b);
      assert.deepEqual(r.NTProofStr, proof);
      assert.deepEqual(r.ClientChallenge, cc);
      assert.deepEqual(r.temp, b.subarray(16));
    }),
    { numRuns: RUNS },
  );
});

test('AUTHENTICATE_MESSAGE: write -> parse in all three header shapes', () => {
  const auth = fc
    .record({
      unicode: fc.boolean(),
      flags: u32,
      lm: fc.uint8Array({ maxLength: 30, size: 'max' }),
      nt: fc.oneof(fc.uint8Array({ maxLength: 30, size: 'max' }), fc.tuple(bytes(16), clientChallenge).map(([p, cc]) => writeNtlmv2Response(p, cc))),
      names: fc.tuple(unicode, unicode, unicode),
      oemNames: fc.tuple(latin1, latin1, latin1),
      key: fc.constantFrom(0, 16).chain((n) => bytes(n)),
      shape: fc.constantFrom(64, 72, 88),
      Version: version,
      MIC: bytes(16),
    })
    .map((r) => {
      const [DomainName, UserName, Workstation] = r.unicode ? r.names : r.oemNames;
      const m: AUTHENTICATE_MESSAGE = {
        NegotiateFlags: r.unicode ? (r.flags | 1) >>> 0 : (r.flags & ~1) >>> 0,
        LmChallengeResponse: r.lm,
        NtChallengeResponse: r.nt,
        DomainName,
        UserName,
        Workstation,
        EncryptedRandomSessionKey: r.key,
      };
      if (r.shape >= 72) m.Version = r.Version;
      if (r.shape >= 88) m.MIC = r.MIC;
      return { m, shape: r.shape };
    });
  fc.assert(
    fc.property(auth, ({ m, shape }) => {
      const b = writeAuthenticateMessage(m);
      const p = parseAuthenticateMessage(b);
      const { MicOffset, ...fields } = typed(p);
      assert.deepEqual(fields, m);
      assert.equal(MicOffset, shape === 88 ? 72 : undefined);
      assert.equal(p.layout!.PayloadStart, shape);
      assert.deepEqual(writeAuthenticateMessage(p), b);
      const t = decodeNtlmMessage(b);
      assert.equal(t.UserName, m.UserName);
    }),
    { numRuns: RUNS },
  );
});
