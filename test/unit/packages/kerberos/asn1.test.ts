import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AdType,
  ApOptions,
  decodeAdIfRelevant,
  decodeApRep,
  decodeApReq,
  decodeAsReq,
  decodeAuthenticator,
  decodeEncASRepPart,
  decodeEncTGSRepPart,
  decodeEtypeInfo2,
  decodeKdcReq,
  decodeKerbPaPacRequest,
  decodeKrbError,
  decodeMethodData,
  decodePaEncTsEnc,
  decodePrincipalName,
  decodeTgsReq,
  encodeAdIfRelevant,
  encodeApReq,
  encodeAsReq,
  encodeAuthenticator,
  encodeEncASRepPart,
  encodeEncTGSRepPart,
  encodeEtypeInfo2,
  encodeKdcReqBody,
  encodeKerbPaPacRequest,
  encodeKrbError,
  encodeMethodData,
  encodePaEncTsEnc,
  encodePrincipalName,
  encodeTgsReq,
  type EncKdcRepPart,
  kerberosFlag,
  KdcOptions,
  KeyUsage,
  KrbErrorCode,
  krbErrorName,
  MessageType,
  NameType,
  PaDataType,
  TicketFlags,
  type ApReq,
  type KdcReqBody,
} from '../../../../src/packages/kerberos/asn1/index.js';
import { parseKrb5Token, wrapKrb5Token, Krb5TokId } from '../../../../src/der/index.js';
import { assertBadParameter, assertInvalid, hex, toHex } from '../../der/helpers.js';

const ascii = (s: string): string => Buffer.from(s).toString('hex');
const time = (s: string): string => '180f' + ascii(s);

// Hand-assembled from the RFC 4120 ASN.1, lengths counted per element (see comments).
const PRINCIPAL_USER = '300f a003020101 a1083006 1b04' + ascii('user');
const TICKET =
  '614b 3049' + // [APPLICATION 1] SEQUENCE, 73 content octets
  'a003020105' + // tkt-vno 5
  'a10e 1b0c' + ascii('EXAMPLE.TEST') + // realm
  'a21c 301a a003020102 a1133011 1b04' + ascii('HTTP') + '1b09' + ascii('localhost') + // sname NT-SRV-INST
  'a314 3012 a003020112 a103020102 a206 0404deadbeef'; // enc-part aes256, kvno 2
const AP_REQ =
  '6e74 3072' +
  'a003020105' + // pvno
  'a10302010e' + // msg-type 14
  'a207 03050020000000' + // ap-options mutual-required, 32 bits
  'a34d' + TICKET +
  'a40e 300c a003020112 a205 0403010203'; // authenticator: etype 18, no kvno

const apReq: ApReq = {
  apOptions: ApOptions.MUTUAL_REQUIRED,
  ticket: {
    realm: 'EXAMPLE.TEST',
    sname: { nameType: NameType.NT_SRV_INST, nameString: ['HTTP', 'localhost'] },
    encPart: { etype: 18, kvno: 2, cipher: hex('deadbeef') },
  },
  authenticator: { etype: 18, cipher: hex('010203') },
};

describe('Kerberos ASN.1 known answers', () => {
  it('PrincipalName', () => {
    const v = { nameType: NameType.NT_PRINCIPAL, nameString: ['user'] };
    assert.equal(toHex(encodePrincipalName(v)), toHex(hex(PRINCIPAL_USER)));
    assert.deepEqual(decodePrincipalName(hex(PRINCIPAL_USER)), v);
  });
  it('AP-REQ (RFC 4120 5.5.1)', () => {
    assert.equal(toHex(encodeApReq(apReq)), toHex(hex(AP_REQ)));
    assert.deepEqual(decodeApReq(hex(AP_REQ)), apReq);
  });
  it('AP-REQ inside the RFC 4121 framing', () => {
    const tok = wrapKrb5Token(Krb5TokId.KRB_AP_REQ, encodeApReq(apReq));
    // 118-byte AP-REQ + 11-byte OID element + 2-byte TOK_ID = 131 = 0x83.
    assert.equal(toHex(tok.subarray(0, 16)), '608183' + '06092a864886f712010202' + '0100');
    assert.deepEqual(decodeApReq(parseKrb5Token(tok, Krb5TokId.KRB_AP_REQ).body), apReq);
  });
  it('KERB-PA-PAC-REQUEST (MS-KILE 2.2.3) as Windows sends it', () => {
    assert.equal(toHex(encodeKerbPaPacRequest({ includePac: true })), '3005a0030101ff');
    assert.deepEqual(decodeKerbPaPacRequest(hex('3005a0030101ff')), { includePac: true });
    assert.deepEqual(decodeKerbPaPacRequest(hex('3005a003010100')), { includePac: false });
  });
  it('PA-ENC-TS-ENC (RFC 4120 5.2.7.2)', () => {
    const b = '301a a011' + time('20240102030405Z') + 'a105 020301e240';
    const v = { patimestamp: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), pausec: 123456 };
    assert.equal(toHex(encodePaEncTsEnc(v)), toHex(hex(b)));
    assert.deepEqual(decodePaEncTsEnc(hex(b)), v);
  });
  it('ETYPE-INFO2 (RFC 4120 5.2.7.5)', () => {
    const b = '3016 3014 a003020112 a10d 1b0b' + ascii('EXAMPLEuser');
    const v = [{ etype: 18, salt: 'EXAMPLEuser' }];
    assert.equal(toHex(encodeEtypeInfo2(v)), toHex(hex(b)));
    assert.deepEqual(decodeEtypeInfo2(hex(b)), v);
  });
  it('METHOD-DATA in a KRB-ERROR e-data (PA-DATA tags start at [1])', () => {
    const b = '3017 3009 a103020102 a2020400 300a a103020113 a2030401aa';
    const v = [
      { padataType: PaDataType.PA_ENC_TIMESTAMP, padataValue: new Uint8Array(0) },
      { padataType: PaDataType.PA_ETYPE_INFO2, padataValue: hex('aa') },
    ];
    assert.equal(toHex(encodeMethodData(v)), toHex(hex(b)));
    assert.deepEqual(decodeMethodData(hex(b)), v);
  });
});

describe('Kerberos ASN.1 messages', () => {
  const body: KdcReqBody = {
    kdcOptions: KdcOptions.FORWARDABLE | KdcOptions.RENEWABLE | KdcOptions.CANONICALIZE | KdcOptions.RENEWABLE_OK,
    cname: { nameType: NameType.NT_PRINCIPAL, nameString: ['user'] },
    realm: 'EXAMPLE.TEST',
    sname: { nameType: NameType.NT_SRV_INST, nameString: ['krbtgt', 'EXAMPLE.TEST'] },
    till: new Date(Date.UTC(2037, 8, 13, 2, 48, 5)),
    nonce: 0x9abcdef0,
    etype: [18, 17, 20, 19, 23],
  };
  it('AS-REQ round-trips and exposes the req-body bytes', () => {
    const padata = [{ padataType: PaDataType.PA_PAC_REQUEST, padataValue: encodeKerbPaPacRequest({ includePac: true }) }];
    const b = encodeAsReq({ padata, reqBody: body });
    const d = decodeAsReq(b);
    assert.equal(d.msgType, MessageType.KRB_AS_REQ);
    assert.deepEqual(d.padata, padata);
    assert.deepEqual(d.reqBody, body);
    assert.deepEqual(d.reqBodyBytes, encodeKdcReqBody(body));
    assert.equal(decodeKdcReq(b).msgType, 10);
    assertInvalid(() => decodeTgsReq(b), /APPLICATION 12/);
  });
  it('TGS-REQ with additional tickets', () => {
    const b = encodeTgsReq({ reqBody: { ...body, additionalTickets: [apReq.ticket], from: new Date(0), rtime: new Date(0) } });
    const d = decodeKdcReq(b);
    assert.equal(d.msgType, 12);
    assert.deepEqual(d.reqBody.additionalTickets, [apReq.ticket]);
  });
  it('EncASRepPart decoding takes tag 25 or 26 (RFC 4120 5.4.2)', () => {
    const part: EncKdcRepPart = {
      key: { keytype: 18, keyvalue: new Uint8Array(32).fill(1) },
      lastReq: [{ lrType: 0, lrValue: new Date(Date.UTC(2024, 0, 1)) }],
      nonce: 42,
      flags: TicketFlags.INITIAL | TicketFlags.PRE_AUTHENT | TicketFlags.ENC_PA_REP,
      authtime: new Date(Date.UTC(2024, 0, 1)),
      endtime: new Date(Date.UTC(2024, 0, 2)),
      srealm: 'EXAMPLE.TEST',
      sname: { nameType: 2, nameString: ['krbtgt', 'EXAMPLE.TEST'] },
      encryptedPaData: [{ padataType: PaDataType.PA_SUPPORTED_ETYPES, padataValue: hex('1f000000') }],
    };
    const as = encodeEncASRepPart(part);
    const tgs = encodeEncTGSRepPart(part);
    assert.equal(as[0], 0x79);
    assert.equal(tgs[0], 0x7a);
    assert.deepEqual(decodeEncASRepPart(as), part);
    assert.deepEqual(decodeEncASRepPart(tgs), part);
    assert.deepEqual(decodeEncTGSRepPart(as), part);
    assertInvalid(() => decodeEncASRepPart(Uint8Array.from([0x7b, ...as.subarray(1)])), /APPLICATION 26/);
  });
  it('KRB-ERROR with e-data', () => {
    const eData = encodeMethodData([{ padataType: 2, padataValue: new Uint8Array(0) }]);
    const v = {
      stime: new Date(Date.UTC(2024, 5, 1, 12)),
      susec: 999999,
      errorCode: KrbErrorCode.KDC_ERR_PREAUTH_REQUIRED,
      realm: 'EXAMPLE.TEST',
      sname: { nameType: 2, nameString: ['krbtgt', 'EXAMPLE.TEST'] },
      eText: 'Additional pre-authentication required',
      eData,
    };
    const d = decodeKrbError(encodeKrbError(v));
    assert.deepEqual(d, v);
    assert.equal(krbErrorName(d.errorCode), 'KDC_ERR_PREAUTH_REQUIRED');
    assert.equal(krbErrorName(37), 'KRB_AP_ERR_SKEW');
    assert.equal(krbErrorName(9999), 'KRB_ERROR_9999');
  });
  it('AD-IF-RELEVANT wrapping AD-WIN2K-PAC', () => {
    const inner = [{ adType: AdType.AD_WIN2K_PAC, adData: hex('0400000000000000') }];
    const auth = decodeAuthenticator(
      encodeAuthenticator({
        crealm: 'R',
        cname: { nameType: 1, nameString: ['u'] },
        cusec: 0,
        ctime: new Date(0),
        seqNumber: 0xffffffff,
        authorizationData: [{ adType: AdType.AD_IF_RELEVANT, adData: encodeAdIfRelevant(inner) }],
      }),
    );
    assert.equal(auth.seqNumber, 0xffffffff);
    assert.deepEqual(decodeAdIfRelevant(auth.authorizationData![0]!.adData), inner);
  });
  it('flag masks follow the RFC bit numbers', () => {
    assert.equal(KdcOptions.FORWARDABLE, kerberosFlag(1));
    assert.equal(KdcOptions.CANONICALIZE, kerberosFlag(15));
    assert.equal(KdcOptions.RENEWABLE_OK, kerberosFlag(27));
    assert.equal(KdcOptions.VALIDATE, kerberosFlag(31));
    assert.equal(TicketFlags.PRE_AUTHENT, kerberosFlag(10));
    assert.equal(TicketFlags.OK_AS_DELEGATE, kerberosFlag(13));
    assert.equal(ApOptions.MUTUAL_REQUIRED, kerberosFlag(2));
    assert.equal(KeyUsage.AP_REQ_AUTH, 11);
    assert.equal(PaDataType.PA_PAC_REQUEST, 128);
    assert.equal(NameType.NT_ENTERPRISE, 10);
  });
});

describe('Kerberos ASN.1 strictness', () => {
  const b = hex(AP_REQ);
  const patched = (i: number, v: number): Uint8Array => {
    const c = Uint8Array.from(b);
    c[i] = v;
    return c;
  };
  it('rejects a wrong pvno or msg-type', () => {
    assertInvalid(() => decodeApReq(patched(8, 4)), /protocol version 4/);
    assertInvalid(() => decodeApReq(patched(13, 15)), /msg-type 15/);
  });
  it('rejects the wrong application tag', () => assertInvalid(() => decodeApReq(patched(0, 0x6f)), /APPLICATION 14/));
  it('rejects trailing bytes and truncation', () => {
    assertInvalid(() => decodeApReq(Uint8Array.from([...b, 0])), /trailing/);
    assertInvalid(() => decodeApReq(b.subarray(0, b.length - 1)), /exceeds/);
  });
  it('rejects unknown or reordered fields', () => {
    // An extra [5] after the authenticator.
    const extra = hex('6e79 3077' + AP_REQ.replace(/\s/g, '').slice(8) + 'a503020100');
    assertInvalid(() => decodeApReq(extra), /trailing bytes inside/);
    // KRB-ERROR fields [4] and [5] swapped.
    const err = encodeKrbError({ stime: new Date(0), susec: 0, errorCode: 0, realm: 'R', sname: { nameType: 0, nameString: [] } });
    const h = toHex(err);
    const st = 'a411' + time('19700101000000Z').slice(0);
    const su = 'a503020100';
    assert.ok(h.includes(st + su));
    assertInvalid(() => decodeKrbError(hex(h.replace(st + su, su + st))));
  });
  it('checks Microseconds range', () => {
    const ok = encodePaEncTsEnc({ patimestamp: new Date(0), pausec: 999999 });
    assert.equal(toHex(ok), toHex(hex('301a a011' + time('19700101000000Z') + 'a105 02030f423f')));
    assert.equal(decodePaEncTsEnc(ok).pausec, 999999);
    assertInvalid(() => decodePaEncTsEnc(hex('301a a011' + time('19700101000000Z') + 'a105 02030f4240')), /Microseconds/);
    assertInvalid(() => decodePaEncTsEnc(hex('3018 a011' + time('19700101000000Z') + 'a103 0201ff')), /Microseconds/);
  });
  it('accepts negative nonces and sequence numbers as MIT does, normalised to UInt32', () => {
    const auth = toHex(
      encodeAuthenticator({ crealm: 'R', cname: { nameType: 1, nameString: ['u'] }, cusec: 0, ctime: new Date(0), seqNumber: 1 }),
    );
    // seq-number [7] INTEGER 1 -> INTEGER -1
    const neg = hex(auth.replace('a703020101', 'a7030201ff'));
    assert.equal(decodeAuthenticator(neg).seqNumber, 0xffffffff);
  });
  it('ETYPE-INFO2 and TYPED-DATA may not be empty', () => {
    assertInvalid(() => decodeEtypeInfo2(hex('3000')), /SIZE/);
    assertBadParameter(() => encodeEtypeInfo2([]));
  });
  it('refuses out-of-range values on encode', () => {
    assertBadParameter(() => encodeAuthenticator({ crealm: 'R', cname: { nameType: 1, nameString: [] }, cusec: 1e6, ctime: new Date(0) }));
    assertBadParameter(() => encodeAuthenticator({ crealm: 'R', cname: { nameType: 1, nameString: [] }, cusec: -1, ctime: new Date(0) }));
    assertBadParameter(() => encodeAsReq({ reqBody: { ...emptyBody(), nonce: -1 } }));
    assertBadParameter(() => encodeAsReq({ reqBody: { ...emptyBody(), etype: [2 ** 31] } }));
  });
});

function emptyBody(): KdcReqBody {
  return { kdcOptions: 0, realm: 'R', till: new Date(0), nonce: 0, etype: [] };
}
