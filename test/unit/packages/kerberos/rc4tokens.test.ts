// RFC 4757 7 per-message tokens (rc4-hmac sessions) and the enctype dispatch. An independent
// reference (node:crypto HMAC-MD5/MD5 and a textbook RC4 written below) opens our tokens field by
// field; MIT interop is in test/interop/kerberos-rc4.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import * as fc from 'fast-check';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { SspiError } from '../../../../src/sspi/error.js';
import type { KerberosKey } from '../../../../src/packages/kerberos/crypto/types.js';
import { createTokenState, type GssTokenState } from '../../../../src/packages/kerberos/gss/tokens.js';
import {
  gssGetMic, gssUnwrap, gssVerifyMic, gssWrap, gssWrapOverhead, rc4GetMic, rc4Unwrap, rc4VerifyMic, rc4Wrap,
} from '../../../../src/packages/kerberos/gss/rc4tokens.js';
import { randomToKey } from '../../../../src/packages/kerberos/crypto/index.js';

const WEAK = { allowWeak: true };
const code = (status: number) => (e: unknown) => SspiError.is(e, status);
const OID_FRAME = '06092a864886f712010202';

function pair(enctype = 23, fill = 7, seq = { i: 100, a: 5000 }, policy: { allowWeak?: boolean } | null = WEAK): [GssTokenState, GssTokenState, KerberosKey] {
  const k: KerberosKey = { enctype, keyvalue: new Uint8Array(16).map((_, i) => (i * 17 + fill) & 0xff) };
  const p = policy ? { policy } : {};
  const i = createTokenState({ initiator: true, key: k, localSeq: seq.i, remoteSeq: seq.a, replayDetect: true, sequenceDetect: true, ...p });
  const a = createTokenState({ initiator: false, key: k, localSeq: seq.a, remoteSeq: seq.i, replayDetect: true, sequenceDetect: true, ...p });
  return [i, a, k];
}

// ---- reference (test-only) ----
function rc4ref(key: Uint8Array, data: Uint8Array): Uint8Array {
  const s = Array.from({ length: 256 }, (_, i) => i);
  for (let i = 0, j = 0; i < 256; i++) { j = (j + s[i]! + key[i % key.length]!) & 255; [s[i], s[j]] = [s[j]!, s[i]!]; }
  const out = new Uint8Array(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 255; j = (j + s[i]!) & 255; [s[i], s[j]] = [s[j]!, s[i]!];
    out[n] = data[n]! ^ s[(s[i]! + s[j]!) & 255]!;
  }
  return out;
}
const hm = (k: Uint8Array, ...d: Uint8Array[]) => { const h = createHmac('md5', k); for (const x of d) h.update(x); return new Uint8Array(h.digest()); };
const le32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return new Uint8Array(b); };
function refOpen(key: Uint8Array, token: Uint8Array, data?: Uint8Array) {
  const hex = Buffer.from(token).toString('hex');
  assert.equal(token[0], 0x60);
  const oidAt = hex.indexOf(OID_FRAME);
  assert.ok(oidAt === 4 || oidAt === 6 || oidAt === 8, 'krb5 OID right after the 0x60 framing');
  const inner = token.subarray(oidAt / 2 + OID_FRAME.length / 2);
  const cks = inner.subarray(16, 24);
  const kseq = hm(hm(key, le32(0)), cks);
  const seq = rc4ref(kseq, inner.subarray(8, 16));
  const wrapTok = inner[0] === 2;
  let body = inner.subarray(24);
  if (wrapTok && inner[4] === 0x10) {
    const klocal = key.map((b) => b ^ 0xf0);
    body = rc4ref(hm(hm(klocal, le32(0)), seq.subarray(0, 4)), body);
  }
  const ksign = hm(key, Buffer.from('signaturekey\0', 'latin1'));
  const md = createHash('md5').update(le32(wrapTok ? 13 : 15)).update(inner.subarray(0, 8)).update(wrapTok ? body : data!).digest();
  const expect = hm(ksign, md).subarray(0, 8);
  return { inner, seq, body, cksOk: Buffer.compare(Buffer.from(expect), Buffer.from(cks)) === 0 };
}

describe('RFC 4757 7 tokens: layout against an independent reference', () => {
  it('MIC: 01 01 11 00 FF FF FF FF, encrypted BE sequence number with direction 00 (initiator)', () => {
    const [i, , k] = pair();
    const data = new TextEncoder().encode('hello rc4');
    const t = rc4GetMic(i, data);
    const o = refOpen(k.keyvalue, t, data);
    assert.equal(Buffer.from(o.inner.subarray(0, 8)).toString('hex'), '01011100ffffffff');
    assert.equal(o.inner.length, 24);
    assert.ok(o.cksOk, 'Sgn_Cksum matches the reference');
    assert.equal(Buffer.from(o.seq).toString('hex'), '00000064' + '00000000');
  });
  it('Wrap (sealed): 02 01 11 00 10 00 FF FF, confounder, data, pad 01; acceptor direction FF', () => {
    const [, a, k] = pair();
    const data = new TextEncoder().encode('sealed data');
    const t = rc4Wrap(a, data);
    const o = refOpen(k.keyvalue, t);
    assert.equal(Buffer.from(o.inner.subarray(0, 8)).toString('hex'), '020111001000ffff');
    assert.ok(o.cksOk);
    assert.equal(Buffer.from(o.seq).toString('hex'), '00001388' + 'ffffffff');
    assert.deepEqual(o.body.subarray(8, 8 + data.length), data);
    assert.equal(o.body[o.body.length - 1], 1);
    assert.equal(o.body.length, 8 + data.length + 1);
    assert.ok(!Buffer.from(t).includes(Buffer.from(data)), 'plaintext not visible');
  });
  it('Wrap (integrity only): SEAL_ALG FF FF, data in the clear', () => {
    const [i, a, k] = pair();
    const data = new TextEncoder().encode('clear data');
    const t = rc4Wrap(i, data, { conf: false });
    const o = refOpen(k.keyvalue, t);
    assert.equal(Buffer.from(o.inner.subarray(0, 8)).toString('hex'), '02011100ffffffff');
    assert.ok(o.cksOk);
    assert.ok(Buffer.from(t).includes(Buffer.from(data)));
    const u = rc4Unwrap(a, t);
    assert.equal(u.conf, false);
    assert.deepEqual(u.data, data);
  });
  it('overhead matches the token length', () => {
    const [i, , k] = pair();
    for (const n of [0, 1, 50, 100, 200, 70000]) assert.equal(rc4Wrap(i, new Uint8Array(n)).length, n + gssWrapOverhead(k, n, WEAK));
  });
});

describe('RFC 4757 7 tokens: round trips and refusals', () => {
  it('round-trips Wrap and MIC both ways (property), sequence numbers advance', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.boolean(), fc.uint8Array({ maxLength: 300, size: 'max' })), { minLength: 1, maxLength: 8 }), (msgs) => {
      const [i, a] = pair();
      for (const [fromInit, conf, m] of msgs) {
        const [s, r] = fromInit ? [i, a] : [a, i];
        const u = rc4Unwrap(r, rc4Wrap(s, m, { conf }));
        assert.deepEqual(Uint8Array.from(u.data), m);
        assert.equal(u.conf, conf);
        assert.equal(u.seqStatus, 'GSS_S_COMPLETE');
        assert.equal(rc4VerifyMic(r, m, rc4GetMic(s, m)), 'GSS_S_COMPLETE');
      }
    }), { numRuns: 50 });
  });
  it('any flipped bit is refused with a typed error (property)', () => {
    fc.assert(fc.property(fc.boolean(), fc.nat(), fc.nat(7), (mic, pos, bit) => {
      const [i, a] = pair();
      const data = new TextEncoder().encode('integrity matters');
      const t = Uint8Array.from(mic ? rc4GetMic(i, data) : rc4Wrap(i, data));
      t[pos % t.length]! ^= 1 << bit;
      // SND_SEQ is encrypted but outside Sgn_Cksum (RFC 1964): a flip there surfaces as a wrong
      // direction (MESSAGE_ALTERED) or a wrong number (OUT_OF_SEQUENCE under sequence detection).
      assert.throws(() => (mic ? rc4VerifyMic(a, data, t) : rc4Unwrap(a, t)), (e: unknown) =>
        SspiError.is(e, SecurityStatus.SEC_E_MESSAGE_ALTERED) || SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN) ||
        SspiError.is(e, SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    }), { numRuns: 200 });
  });
  it('a reflected token (our own direction) fails', () => {
    const [i] = pair();
    const [i2] = pair();
    assert.throws(() => rc4Unwrap(i2, rc4Wrap(i, new Uint8Array(4))), code(SecurityStatus.SEC_E_MESSAGE_ALTERED));
    assert.throws(() => rc4VerifyMic(i2, new Uint8Array(4), rc4GetMic(i, new Uint8Array(4))), code(SecurityStatus.SEC_E_MESSAGE_ALTERED));
  });
  it('replays and gaps are SEC_E_OUT_OF_SEQUENCE; a wrong key is MESSAGE_ALTERED', () => {
    const [i, a] = pair();
    const t = rc4Wrap(i, new Uint8Array(3));
    rc4Unwrap(a, t);
    assert.throws(() => rc4Unwrap(a, t), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    rc4Wrap(i, new Uint8Array(1));
    assert.throws(() => rc4Unwrap(a, rc4Wrap(i, new Uint8Array(1))), code(SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    const [, other] = pair(23, 9);
    assert.throws(() => rc4Unwrap(other, rc4Wrap(i, new Uint8Array(1))), code(SecurityStatus.SEC_E_MESSAGE_ALTERED));
  });
  it('needs weak crypto allowed by policy', () => {
    const [i] = pair(23, 7, { i: 1, a: 2 }, null);
    assert.throws(() => rc4Wrap(i, new Uint8Array(1)), code(SecurityStatus.SEC_E_ALGORITHM_MISMATCH));
    assert.throws(() => gssGetMic(i, new Uint8Array(1)), code(SecurityStatus.SEC_E_ALGORITHM_MISMATCH));
  });
  it('export variant (24) keys differ from 23 and round-trip', () => {
    const [i, a] = pair(24);
    const [, a23] = pair(23);
    const t = rc4Wrap(i, new Uint8Array([1, 2, 3]));
    assert.deepEqual(Uint8Array.from(rc4Unwrap(a, t).data), new Uint8Array([1, 2, 3]));
    assert.throws(() => rc4Unwrap(a23, t));
  });
  it('garbage input is a typed error, never a crash (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120, size: 'max' }), (b) => {
      const [, a] = pair();
      for (const f of [() => rc4Unwrap(a, b), () => rc4VerifyMic(a, new Uint8Array(0), b)]) {
        try { f(); } catch (e) { assert.ok(e instanceof SspiError, String(e)); }
      }
    }), { numRuns: 300 });
  });
});

describe('enctype dispatch', () => {
  it('picks RFC 4121 for AES keys and RFC 4757 for rc4', () => {
    const k: KerberosKey = randomToKey(18, new Uint8Array(32).fill(3));
    const i = createTokenState({ initiator: true, key: k, localSeq: 1, remoteSeq: 2, replayDetect: true, sequenceDetect: false });
    const a = createTokenState({ initiator: false, key: k, localSeq: 2, remoteSeq: 1, replayDetect: true, sequenceDetect: false });
    const w = gssWrap(i, new Uint8Array([9]));
    assert.equal(w[0], 0x05); // RFC 4121 TOK_ID 05 04
    assert.deepEqual(Uint8Array.from(gssUnwrap(a, w).data), new Uint8Array([9]));
    assert.equal(gssVerifyMic(a, new Uint8Array(2), gssGetMic(i, new Uint8Array(2))), 'GSS_S_COMPLETE');
    const [ri, ra] = pair();
    const rw = gssWrap(ri, new Uint8Array([8]));
    assert.equal(rw[0], 0x60); // framed RFC 1964 token
    assert.deepEqual(Uint8Array.from(gssUnwrap(ra, rw).data), new Uint8Array([8]));
    assert.equal(gssVerifyMic(ra, new Uint8Array(2), gssGetMic(ri, new Uint8Array(2))), 'GSS_S_COMPLETE');
  });
});
