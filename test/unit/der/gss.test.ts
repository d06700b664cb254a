import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  KRB5_MECH_OID,
  Krb5TokId,
  MS_KRB5_MECH_OID,
  parseInitialContextToken,
  parseKrb5Token,
  SPNEGO_MECH_OID,
  wrapInitialContextToken,
  wrapKrb5Token,
} from '../../../src/der/index.js';
import { assertBadParameter, assertInvalid, hex, toHex } from './helpers.js';

describe('GSS-API InitialContextToken framing (RFC 2743 3.1)', () => {
  it('wraps and parses a SPNEGO token', () => {
    const t = wrapInitialContextToken(SPNEGO_MECH_OID, hex('a000'));
    assert.equal(toHex(t), '600a06062b0601050502a000');
    const p = parseInitialContextToken(t);
    assert.equal(p.mechOid, SPNEGO_MECH_OID);
    assert.equal(toHex(p.mechOidContent), '2b0601050502');
    assert.equal(toHex(p.innerToken), 'a000');
  });
  it('uses a long-form length for large inner tokens', () => {
    const inner = new Uint8Array(300).fill(0x41);
    const t = wrapInitialContextToken(KRB5_MECH_OID, inner);
    assert.equal(toHex(t.subarray(0, 4)), '60820137');
    assert.deepEqual(parseInitialContextToken(t).innerToken, inner);
  });
  it('rejects a wrong outer tag, a bad length, trailing bytes and a missing OID', () => {
    assertInvalid(() => parseInitialContextToken(hex('300a06062b0601050502a000')), /APPLICATION 0/);
    assertInvalid(() => parseInitialContextToken(hex('600b06062b0601050502a000')), /exceeds/);
    assertInvalid(() => parseInitialContextToken(hex('600906062b0601050502a000')), /trailing/);
    assertInvalid(() => parseInitialContextToken(hex('600a06062b0601050502a00000')), /trailing/);
    assertInvalid(() => parseInitialContextToken(hex('6002a000')), /OBJECT IDENTIFIER/);
    assertInvalid(() => parseInitialContextToken(hex('6080 06062b0601050502a000 0000')), /indefinite/);
    assertInvalid(() => parseInitialContextToken(hex('')), /end of data/);
  });
});

describe('Kerberos token framing (RFC 4121 4.1)', () => {
  it('puts the TOK_ID after the OID', () => {
    const t = wrapKrb5Token(Krb5TokId.KRB_AP_REQ, hex('6e00'));
    assert.equal(toHex(t), '600f06092a864886f71201020201006e00');
    const p = parseKrb5Token(t, Krb5TokId.KRB_AP_REQ);
    assert.deepEqual(p, { mechOid: KRB5_MECH_OID, tokId: 0x0100, body: hex('6e00') });
  });
  it('accepts the Microsoft Kerberos OID', () => {
    const t = wrapKrb5Token(Krb5TokId.KRB_AP_REP, hex('6f00'), MS_KRB5_MECH_OID);
    assert.equal(parseKrb5Token(t).mechOid, MS_KRB5_MECH_OID);
    assert.equal(parseKrb5Token(t).tokId, Krb5TokId.KRB_AP_REP);
  });
  it('rejects other mechanisms, a wrong TOK_ID and a missing TOK_ID', () => {
    assertInvalid(() => parseKrb5Token(wrapInitialContextToken(SPNEGO_MECH_OID, hex('01006e00'))), /not Kerberos/);
    assertInvalid(() => parseKrb5Token(wrapKrb5Token(Krb5TokId.KRB_ERROR, hex('7e00')), Krb5TokId.KRB_AP_REP), /TOK_ID/);
    assertInvalid(() => parseKrb5Token(wrapInitialContextToken(KRB5_MECH_OID, hex('01'))), /TOK_ID/);
  });
  it('refuses a TOK_ID wider than 16 bits', () => assertBadParameter(() => wrapKrb5Token(0x10000, hex('00'))));
});
