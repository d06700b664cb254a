// SPNEGO token codecs against tokens captured from MIT's SPNEGO (with gss-ntlmssp), hand-built
// MS-SPNG shapes, strictness cases and properties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { NTLMSSP_MECH_OID, KRB5_MECH_OID, MS_KRB5_MECH_OID } from '../../../../src/der/index.js';
import {
  NegState,
  encodeMechTypeList,
  encodeNegTokenInit,
  encodeNegTokenResp,
  parseNegotiationToken,
  type NegTokenInit,
  type NegTokenResp,
} from '../../../../src/packages/negotiate/spnego.js';

const fx = JSON.parse(readFileSync(new URL('../../../fixtures/spnego-mit-ntlm.json', import.meta.url), 'utf8')) as Record<string, string>;
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const NTLMSSP = Buffer.from('NTLMSSP\0', 'latin1');

function invalid(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof SspiError && e.status === SecurityStatus.SEC_E_INVALID_TOKEN);
}

test('MIT initiator NegTokenInit: mechTypes, NTLM NEGOTIATE as mechToken, re-encodes byte-exactly', () => {
  const bytes = hex(fx.initiatorInit!);
  const t = parseNegotiationToken(bytes) as NegTokenInit;
  assert.equal(t.kind, 'init');
  assert.deepEqual(t.mechTypes, [NTLMSSP_MECH_OID]);
  assert.deepEqual(Buffer.from(t.mechTypesDer), Buffer.from(encodeMechTypeList([NTLMSSP_MECH_OID])));
  assert.ok(t.mechToken && Buffer.from(t.mechToken.subarray(0, 8)).equals(NTLMSSP));
  assert.equal(t.mechToken![8], 1);
  assert.equal(t.mechListMIC, undefined);
  assert.deepEqual(Buffer.from(encodeNegTokenInit({ mechTypes: t.mechTypes, mechToken: t.mechToken! })), Buffer.from(bytes));
});

test('MIT acceptor and initiator NegTokenResp legs parse and re-encode byte-exactly', () => {
  const r1 = parseNegotiationToken(hex(fx.acceptorResp1!)) as NegTokenResp;
  assert.equal(r1.kind, 'resp');
  assert.equal(r1.negState, NegState.accept_incomplete);
  assert.equal(r1.supportedMech, NTLMSSP_MECH_OID);
  assert.equal(r1.responseToken![8], 2);
  const r2 = parseNegotiationToken(hex(fx.initiatorResp2!)) as NegTokenResp;
  assert.equal(r2.negState, NegState.accept_incomplete);
  assert.equal(r2.supportedMech, undefined);
  assert.equal(r2.responseToken![8], 3);
  assert.equal(r2.mechListMIC!.length, 16);
  const r3 = parseNegotiationToken(hex(fx.acceptorResp3!)) as NegTokenResp;
  assert.equal(r3.negState, NegState.accept_completed);
  assert.equal(r3.responseToken, undefined);
  assert.equal(r3.mechListMIC!.length, 16);
  for (const [k, r] of [['acceptorResp1', r1], ['initiatorResp2', r2], ['acceptorResp3', r3]] as const) {
    const { kind: _kind, ...fields } = r;
    assert.equal(Buffer.from(encodeNegTokenResp(fields)).toString('hex'), fx[k], k);
  }
});

test('NegTokenInit2 (MS-SPNG 2.2.1): hints at [3], mechListMIC at [4], mechTypes optional-free round trip', () => {
  const enc = encodeNegTokenInit({
    mechTypes: [MS_KRB5_MECH_OID, KRB5_MECH_OID, NTLMSSP_MECH_OID],
    negHints: { hintName: 'not_defined_in_RFC4178@please_ignore' },
  });
  const t = parseNegotiationToken(enc) as NegTokenInit;
  assert.deepEqual(t.mechTypes, [MS_KRB5_MECH_OID, KRB5_MECH_OID, NTLMSSP_MECH_OID]);
  assert.deepEqual(t.negHints, { hintName: 'not_defined_in_RFC4178@please_ignore' });
  assert.equal(t.mechListMIC, undefined);
  const mic = new Uint8Array(16).fill(7);
  const withMic = parseNegotiationToken(
    encodeNegTokenInit({ mechTypes: [KRB5_MECH_OID], negHints: { hintAddress: Uint8Array.of(1, 2) }, mechListMIC: mic }),
  ) as NegTokenInit;
  assert.deepEqual(withMic.negHints, { hintAddress: Uint8Array.of(1, 2) });
  assert.deepEqual(withMic.mechListMIC, mic);
});

test('reqFlags use the named-bit BIT STRING form and round-trip', () => {
  const enc = encodeNegTokenInit({ mechTypes: [KRB5_MECH_OID], reqFlags: 0b0000110 });
  // [1] { BIT STRING, 5 unused bits, 0x60 } = mutualFlag + replayFlag
  assert.ok(Buffer.from(enc).includes(Buffer.from('a10403020560', 'hex')));
  assert.equal((parseNegotiationToken(enc) as NegTokenInit).reqFlags, 0b0000110);
});

test('extension fields after the known ones are skipped; out-of-order or unknown elements are refused', () => {
  // NegTokenResp { negState accept-completed, [5] NULL }: an extension, accepted.
  const good = hex('a10b3009a0030a0100a5020500');
  assert.equal((parseNegotiationToken(good) as NegTokenResp).negState, NegState.accept_completed);
  // The same with [5]'s length running past its content.
  invalid(() => parseNegotiationToken(hex('a10c300aa0030a0100a5030500')));
  // [2] before [0]: not in tag order.
  invalid(() => parseNegotiationToken(hex('a10d300ba2040402abcda0030a0101')));
  invalid(() => parseNegotiationToken(hex('a10b3009a0030a0104a5020500'))); // negState 4
  invalid(() => parseNegotiationToken(hex('a2023000'))); // neither [0] nor [1]
  invalid(() => parseNegotiationToken(hex('a1033000')));  // trailing / bad length
  invalid(() => parseNegotiationToken(hex('a180300000000000'))); // indefinite length
});

test('a framed token for another mechanism, or a NegTokenInit without mechTypes, is SEC_E_INVALID_TOKEN', () => {
  const krb = Buffer.concat([Buffer.from('600b06092a864886f712010202', 'hex')]);
  invalid(() => parseNegotiationToken(krb));
  // [0] { SEQUENCE { [2] OCTET STRING } } framed for SPNEGO: no mechTypes, no hints.
  invalid(() => parseNegotiationToken(hex('6010' + '06062b0601050502' + 'a0063004a2020400')));
});

const oid = fc.constantFrom(KRB5_MECH_OID, MS_KRB5_MECH_OID, NTLMSSP_MECH_OID, '1.3.6.1.4.1.311.2.2.30');
const bytes = fc.uint8Array({ maxLength: 300, size: 'max' });

test('property: encode -> parse gives the same fields', () => {
  fc.assert(
    fc.property(
      fc.record({ mechTypes: fc.array(oid, { minLength: 1, maxLength: 5 }), reqFlags: fc.option(fc.integer({ min: 0, max: 127 }), { nil: undefined }), mechToken: fc.option(bytes, { nil: undefined }), mechListMIC: fc.option(bytes, { nil: undefined }) }),
      (v) => {
        const t = parseNegotiationToken(encodeNegTokenInit(v)) as NegTokenInit;
        assert.deepEqual(t.mechTypes, v.mechTypes);
        assert.equal(t.reqFlags, v.reqFlags);
        assert.deepEqual(t.mechToken, v.mechToken);
        assert.deepEqual(t.mechListMIC, v.mechListMIC);
      },
    ),
  );
  fc.assert(
    fc.property(
      fc.record({ negState: fc.option(fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<NegState>, { nil: undefined }), supportedMech: fc.option(oid, { nil: undefined }), responseToken: fc.option(bytes, { nil: undefined }), mechListMIC: fc.option(bytes, { nil: undefined }) }),
      (v) => {
        const { kind, ...rest } = parseNegotiationToken(encodeNegTokenResp(v)) as NegTokenResp;
        assert.equal(kind, 'resp');
        for (const k of Object.keys(v) as (keyof typeof v)[]) assert.deepEqual(rest[k], v[k]);
      },
    ),
  );
});

test('property: random and mutated tokens give a NegotiationToken or SEC_E_INVALID_TOKEN, nothing else', () => {
  const seeds = Object.entries(fx).filter(([k]) => !k.startsWith('_')).map(([, v]) => hex(v));
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat()).map(([s, flips, cut]) => {
    const b = s.slice(0, s.length - (cut % 4 === 0 ? cut % s.length : 0));
    for (const [i, v] of flips) if (b.length) b[i % b.length] = v;
    return b;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200, size: 'max' }), mutated), (b) => {
      try {
        const t = parseNegotiationToken(b);
        assert.ok(t.kind === 'init' || t.kind === 'resp');
      } catch (e) {
        assert.ok(e instanceof SspiError && e.status === SecurityStatus.SEC_E_INVALID_TOKEN, String(e));
      }
    }),
    { numRuns: 3000 },
  );
});
