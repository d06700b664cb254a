// RFC 4121 per-message tokens, the 0x8003 checksum and the sequence window.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { buildChannelBindings, parseChannelBindings } from '../../../../src/sspi/buffers.js';
import { randomToKey } from '../../../../src/packages/kerberos/crypto/index.js';
import type { KerberosKey } from '../../../../src/packages/kerberos/crypto/types.js';
import {
  GssFlags, channelBindingsBnd, checkChannelBindings, decodeGssChecksum, encodeGssChecksum,
} from '../../../../src/packages/kerberos/gss/checksum.js';
import { SequenceWindow } from '../../../../src/packages/kerberos/gss/sequence.js';
import { createTokenState, getMic, unwrap, verifyMic, wrap, type GssTokenState } from '../../../../src/packages/kerberos/gss/tokens.js';

const key = (enctype: number, fill: number): KerberosKey => randomToKey(enctype, new Uint8Array(enctype === 17 || enctype === 19 ? 16 : 32).fill(fill));
const code = (status: number) => (e: unknown) => SspiError.is(e, status);

function pair(enctype: number, acceptorSubkey = true, flags = { replay: true, sequence: true }): [GssTokenState, GssTokenState] {
  const k = key(enctype, 1);
  const ak = acceptorSubkey ? key(enctype, 2) : undefined;
  const i = createTokenState({ initiator: true, key: k, ...(ak ? { acceptorSubkey: ak } : {}), localSeq: 100, remoteSeq: 5000, replayDetect: flags.replay, sequenceDetect: flags.sequence });
  const a = createTokenState({ initiator: false, key: k, ...(ak ? { acceptorSubkey: ak } : {}), localSeq: 5000, remoteSeq: 100, replayDetect: flags.replay, sequenceDetect: flags.sequence });
  return [i, a];
}

describe('0x8003 authenticator checksum (RFC 4121 4.1.1)', () => {
  it('encodes the fixed layout: Lgth, Bnd, Flags little-endian', () => {
    const b = encodeGssChecksum({ bnd: new Uint8Array(16).fill(0xab), flags: GssFlags.GSS_C_MUTUAL_FLAG | GssFlags.GSS_C_DCE_STYLE });
    assert.equal(Buffer.from(b).toString('hex'), '10000000' + 'ab'.repeat(16) + '02100000');
    assert.deepEqual(decodeGssChecksum(b), { bnd: new Uint8Array(16).fill(0xab), flags: 0x1002 });
  });
  it('round-trips delegation and extensions (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 0x7ffe }), fc.option(fc.uint8Array({ maxLength: 300, size: 'max' }), { nil: undefined }),
      fc.array(fc.record({ type: fc.nat(), data: fc.uint8Array({ maxLength: 20, size: 'max' }) }), { maxLength: 3 }), (bnd, f, deleg, exts) => {
        const flags = (f << 1) | (deleg ? 1 : 0);
        const v = { bnd, flags, ...(deleg ? { deleg } : {}), ...(exts.length ? { exts: exts.map((e) => ({ type: e.type, data: e.data })) } : {}) };
        const enc = encodeGssChecksum(v);
        const got = decodeGssChecksum(enc);
        assert.deepEqual(Uint8Array.from(got.bnd), bnd);
        assert.equal(got.flags, flags);
        assert.deepEqual(got.deleg && Uint8Array.from(got.deleg), deleg);
        assert.equal(got.exts?.length ?? 0, exts.length);
        assert.deepEqual(encodeGssChecksum(got), enc);
      }));
  });
  it('strict parse: wrong Lgth, short, bad DlgOpt, Dlgth past end, truncated extension', () => {
    const ok = encodeGssChecksum({ bnd: new Uint8Array(16), flags: 1, deleg: new Uint8Array(4) });
    const bad = (mut: (b: Uint8Array) => Uint8Array) => assert.throws(() => decodeGssChecksum(mut(Uint8Array.from(ok))), code(SecurityStatus.SEC_E_INVALID_TOKEN));
    bad((b) => { b[0] = 15; return b; });
    bad((b) => b.subarray(0, 23));
    bad((b) => b.subarray(0, 26));
    bad((b) => { b[24] = 2; return b; });
    bad((b) => { b[26] = 5; return b; });
    bad((b) => Uint8Array.from([...b, 0, 0, 0, 1, 0, 0]));
    bad((b) => Uint8Array.from([...b, 0, 0, 0, 1, 0, 0, 0, 9, 1]));
  });
  it('fuzz: never anything but SEC_E_INVALID_TOKEN', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80, size: 'max' }), (b) => {
      try { decodeGssChecksum(b); } catch (e) { assert.ok(SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN), String(e)); }
    }));
  });
  it('channel bindings: match, mismatch, zero Bnd allowed unless required', () => {
    const cb = parseChannelBindings(buildChannelBindings(new TextEncoder().encode('tls-server-end-point:xyz')))!;
    const other = parseChannelBindings(buildChannelBindings(new TextEncoder().encode('tls-server-end-point:abc')))!;
    const bnd = channelBindingsBnd(cb);
    assert.equal(bnd.length, 16);
    assert.notDeepEqual(bnd, new Uint8Array(16));
    assert.equal(checkChannelBindings(bnd, cb), true, 'bound');
    assert.throws(() => checkChannelBindings(bnd, other), code(SecurityStatus.SEC_E_BAD_BINDINGS));
    assert.equal(checkChannelBindings(new Uint8Array(16), cb), false, 'a zero Bnd let through is not bound');
    assert.throws(() => checkChannelBindings(new Uint8Array(16), cb, true), code(SecurityStatus.SEC_E_BAD_BINDINGS));
    assert.equal(checkChannelBindings(bnd, null), false, 'nothing to compare with');
    assert.deepEqual(channelBindingsBnd(null), new Uint8Array(16));
  });
});

describe('sequence window (RFC 2743 1.2.3)', () => {
  it('in order, gap, unseq, duplicate, old', () => {
    const w = new SequenceWindow(10, true, false);
    assert.equal(w.check(10), 'GSS_S_COMPLETE');
    assert.equal(w.check(12), 'GSS_S_GAP_TOKEN');
    assert.equal(w.check(11), 'GSS_S_UNSEQ_TOKEN');
    assert.throws(() => w.check(11), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    assert.throws(() => w.check(12), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    assert.equal(w.check(200), 'GSS_S_GAP_TOKEN');
    assert.equal(w.peek(100), 'GSS_S_OLD_TOKEN');
    assert.throws(() => w.check(100), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    assert.equal(w.check(150), 'GSS_S_UNSEQ_TOKEN');
  });
  it('sequence detection refuses gaps and reordering; no flags accept anything', () => {
    const s = new SequenceWindow(0, true, true);
    s.check(0);
    assert.throws(() => s.check(2), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    assert.equal(s.check(1), 'GSS_S_COMPLETE');
    const n = new SequenceWindow(0, false, false);
    assert.equal(n.check(0), 'GSS_S_COMPLETE');
    assert.equal(n.check(0), 'GSS_S_DUPLICATE_TOKEN');
  });
  it('property: every number accepted at most once under replay detection', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 200, size: 'max' }), (seqs) => {
      const w = new SequenceWindow(0, true, false);
      const accepted = new Set<number>();
      for (const s of seqs) {
        try { w.check(s); assert.ok(!accepted.has(s)); accepted.add(s); } catch (e) { assert.ok(SspiError.is(e, SecurityStatus.SEC_E_OUT_OF_SEQUENCE)); }
      }
    }));
  });

  it('SND_SEQ past 2^53: a genuine token is out of sequence; a changed one is altered, whatever its SND_SEQ says', () => {
    const k = key(18, 1);
    const i = createTokenState({ initiator: true, key: k, localSeq: 2 ** 53, remoteSeq: 0, replayDetect: true, sequenceDetect: false });
    const a = createTokenState({ initiator: false, key: k, localSeq: 0, remoteSeq: 0, replayDetect: true, sequenceDetect: false });
    const msg = new TextEncoder().encode('hello');
    assert.throws(() => unwrap(a, wrap(i, msg)), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    assert.throws(() => verifyMic(a, msg, getMic(i, msg)), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    // An honest token (SND_SEQ 0) whose high SND_SEQ bytes changed in transit.
    const j = createTokenState({ initiator: true, key: k, localSeq: 0, remoteSeq: 0, replayDetect: true, sequenceDetect: false });
    const w = wrap(j, msg);
    w[8] = 0xff;
    assert.throws(() => unwrap(a, w), code(SecurityStatus.SEC_E_MESSAGE_ALTERED));
    const m = getMic(j, msg);
    m[8] = 0xff;
    assert.throws(() => verifyMic(a, msg, m), code(SecurityStatus.SEC_E_MESSAGE_ALTERED));
  });
});

for (const et of [17, 18, 19, 20]) {
  describe(`RFC 4121 tokens, enctype ${et}`, () => {
    it('MIC both directions; tamper, wrong direction, replay', () => {
      const [i, a] = pair(et);
      const msg = new TextEncoder().encode('hello');
      const mic = getMic(i, msg);
      assert.equal(mic[0], 4); assert.equal(mic[1], 4); assert.equal(mic[2], 0x04);
      assert.equal(verifyMic(a, msg, mic), 'GSS_S_COMPLETE');
      assert.throws(() => verifyMic(a, msg, mic), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
      const m2 = getMic(i, msg);
      assert.throws(() => verifyMic(a, new TextEncoder().encode('hellp'), m2), code(SecurityStatus.SEC_E_MESSAGE_ALTERED));
      const back = getMic(a, msg);
      assert.equal(back[2], 0x05);
      assert.throws(() => verifyMic(a, msg, back), code(SecurityStatus.SEC_E_INVALID_TOKEN)); // reflected
      assert.equal(verifyMic(i, msg, back), 'GSS_S_COMPLETE');
    });
    for (const conf of [true, false]) {
      for (const rrc of [0, 28, 1000]) {
        it(`Wrap conf=${conf} rrc=${rrc}: round trip at several sizes and every tampered byte fails`, () => {
          const [i, a] = pair(et);
          for (const n of [0, 1, 15, 16, 17, 100, 4096]) {
            const msg = new Uint8Array(n).map((_, k) => k * 7);
            const tok = wrap(i, msg, { conf, rrc });
            assert.equal((tok[6]! << 8) | tok[7]!, rrc);
            const r = unwrap(a, tok);
            assert.deepEqual(Uint8Array.from(r.data), msg);
            assert.equal(r.conf, conf);
          }
          const tok = wrap(i, new TextEncoder().encode('secret payload'), { conf, rrc });
          for (let k = 0; k < tok.length; k++) {
            if (k === 6 || k === 7) continue; // RRC changes only the layout
            const t = Uint8Array.from(tok);
            t[k]! ^= 0x01;
            assert.throws(() => unwrap(a, t), (e: unknown) => e instanceof SspiError && [SecurityStatus.SEC_E_MESSAGE_ALTERED, SecurityStatus.SEC_E_INVALID_TOKEN, SecurityStatus.SEC_E_OUT_OF_SEQUENCE].includes(e.status as never), `byte ${k}`);
          }
          assert.deepEqual(new TextDecoder().decode(unwrap(a, tok).data), 'secret payload');
        });
      }
    }
    it('an RRC changed in transit (re-rotated token) still unwraps', () => {
      const [i, a] = pair(et);
      const tok = wrap(i, new TextEncoder().encode('rotate me'), { rrc: 0 });
      const body = tok.subarray(16);
      const r = 28 % body.length;
      const rot = new Uint8Array(tok.length);
      rot.set(tok.subarray(0, 16));
      rot.set(body.subarray(body.length - r), 16);
      rot.set(body.subarray(0, body.length - r), 16 + r);
      rot[7] = 28;
      assert.equal(new TextDecoder().decode(unwrap(a, rot).data), 'rotate me');
    });
    it('out-of-order delivery: sequence detect fails it, replay-only accepts once', () => {
      const [i, a] = pair(et, true, { replay: true, sequence: true });
      const t1 = wrap(i, new Uint8Array([1]));
      const t2 = wrap(i, new Uint8Array([2]));
      assert.throws(() => unwrap(a, t2), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
      const [i2, a2] = pair(et, true, { replay: true, sequence: false });
      const u1 = wrap(i2, new Uint8Array([1]));
      const u2 = wrap(i2, new Uint8Array([2]));
      assert.equal(unwrap(a2, u2).seqStatus, 'GSS_S_GAP_TOKEN');
      assert.equal(unwrap(a2, u1).seqStatus, 'GSS_S_UNSEQ_TOKEN');
      assert.throws(() => unwrap(a2, u1), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
      void t1;
    });
    it('without an acceptor subkey, both sides use the initiator key and the flag stays clear', () => {
      const [i, a] = pair(et, false);
      const tok = wrap(a, new Uint8Array([9, 9]));
      assert.equal(tok[2], 0x01 | 0x02);
      assert.deepEqual(Uint8Array.from(unwrap(i, tok).data), new Uint8Array([9, 9]));
      const [, withSub] = pair(et, true);
      assert.throws(() => unwrap(withSub, wrap(i, new Uint8Array(1))), code(SecurityStatus.SEC_E_INVALID_TOKEN));
    });
  });
}

describe('token fuzz', () => {
  it('unwrap/verifyMic of random bytes only throw SspiError', () => {
    const [, a] = pair(18);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120, size: 'max' }), fc.boolean(), (b, hdr) => {
      const t = hdr && b.length >= 2 ? Uint8Array.from([0x05, 0x04, ...b.subarray(2)]) : b;
      try { unwrap(a, t); } catch (e) { assert.ok(e instanceof SspiError, String(e)); }
      try { verifyMic(a, new Uint8Array(3), t); } catch (e) { assert.ok(e instanceof SspiError, String(e)); }
    }));
  });
});
