// fast-check properties for the RFC 4120 codecs, shared by asn1.fuzz.test.ts (few runs) and
// test/fuzz/der-campaign.ts (many runs).
import * as assert from 'node:assert/strict';
import * as fc from 'fast-check';
import * as k from '../../../../src/packages/kerberos/asn1/index.js';
import { decodesOrInvalid } from '../../der/helpers.js';

/** fc.record with plain prototypes (deepEqual checks them) and only `requiredKeys` always present. */
function rec<T>(model: { [K in keyof T]-?: fc.Arbitrary<T[K]> }, requiredKeys: Array<keyof T>): fc.Arbitrary<T> {
  return fc.record(model as Record<string, fc.Arbitrary<unknown>>, {
    requiredKeys: requiredKeys as string[],
    noNullPrototype: true,
  }) as unknown as fc.Arbitrary<T>;
}

const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const uint32 = fc.integer({ min: 0, max: 0xffffffff });
const usec = fc.integer({ min: 0, max: 999999 });
const flags = uint32;
const str = fc.string({ unit: 'grapheme', maxLength: 16, size: 'max' });
const octets = fc.uint8Array({ maxLength: 48, size: 'max' });
const time = fc.integer({ min: -62167219200, max: 253402300799 }).map((s) => new Date(s * 1000));

const principal: fc.Arbitrary<k.PrincipalName> = rec({ nameType: int32, nameString: fc.array(str, { maxLength: 3 }) }, [
  'nameType',
  'nameString',
]);
const hostAddress: fc.Arbitrary<k.HostAddress> = rec({ addrType: int32, address: octets }, ['addrType', 'address']);
const hostAddresses = fc.array(hostAddress, { maxLength: 2 });
const encData: fc.Arbitrary<k.EncryptedData> = rec({ etype: int32, kvno: uint32, cipher: octets }, ['etype', 'cipher']);
const key: fc.Arbitrary<k.EncryptionKey> = rec({ keytype: int32, keyvalue: octets }, ['keytype', 'keyvalue']);
const checksum: fc.Arbitrary<k.Checksum> = rec({ cksumtype: int32, checksum: octets }, ['cksumtype', 'checksum']);
const authData: fc.Arbitrary<k.AuthorizationData> = fc.array(rec({ adType: int32, adData: octets }, ['adType', 'adData']), {
  maxLength: 2,
});
const paData: fc.Arbitrary<k.PaData> = rec({ padataType: int32, padataValue: octets }, ['padataType', 'padataValue']);
const paList = fc.array(paData, { maxLength: 2 });
const ticket: fc.Arbitrary<k.Ticket> = rec({ realm: str, sname: principal, encPart: encData }, ['realm', 'sname', 'encPart']);

const encTicketPart: fc.Arbitrary<k.EncTicketPart> = rec(
  {
    flags,
    key,
    crealm: str,
    cname: principal,
    transited: rec({ trType: int32, contents: octets }, ['trType', 'contents']),
    authtime: time,
    starttime: time,
    endtime: time,
    renewTill: time,
    caddr: hostAddresses,
    authorizationData: authData,
  },
  ['flags', 'key', 'crealm', 'cname', 'transited', 'authtime', 'endtime'],
);

const kdcReqBody: fc.Arbitrary<k.KdcReqBody> = rec(
  {
    kdcOptions: flags,
    cname: principal,
    realm: str,
    sname: principal,
    from: time,
    till: time,
    rtime: time,
    nonce: uint32,
    etype: fc.array(int32, { maxLength: 6 }),
    addresses: hostAddresses,
    encAuthorizationData: encData,
    additionalTickets: fc.array(ticket, { maxLength: 2 }),
  },
  ['kdcOptions', 'realm', 'till', 'nonce', 'etype'],
);

const kdcReq: fc.Arbitrary<k.KdcReq> = rec(
  { msgType: fc.constantFrom(10 as const, 12 as const), padata: paList, reqBody: kdcReqBody },
  ['msgType', 'reqBody'],
);

const kdcRep: fc.Arbitrary<k.KdcRep> = rec(
  { msgType: fc.constantFrom(11 as const, 13 as const), padata: paList, crealm: str, cname: principal, ticket, encPart: encData },
  ['msgType', 'crealm', 'cname', 'ticket', 'encPart'],
);

const encKdcRepPart: fc.Arbitrary<k.EncKdcRepPart> = rec(
  {
    key,
    lastReq: fc.array(rec({ lrType: int32, lrValue: time }, ['lrType', 'lrValue']), { maxLength: 2 }),
    nonce: uint32,
    keyExpiration: time,
    flags,
    authtime: time,
    starttime: time,
    endtime: time,
    renewTill: time,
    srealm: str,
    sname: principal,
    caddr: hostAddresses,
    encryptedPaData: paList,
  },
  ['key', 'lastReq', 'nonce', 'flags', 'authtime', 'endtime', 'srealm', 'sname'],
);

const apReq: fc.Arbitrary<k.ApReq> = rec({ apOptions: flags, ticket, authenticator: encData }, ['apOptions', 'ticket', 'authenticator']);
const authenticator: fc.Arbitrary<k.Authenticator> = rec(
  { crealm: str, cname: principal, cksum: checksum, cusec: usec, ctime: time, subkey: key, seqNumber: uint32, authorizationData: authData },
  ['crealm', 'cname', 'cusec', 'ctime'],
);
const apRep: fc.Arbitrary<k.ApRep> = rec({ encPart: encData }, ['encPart']);
const encApRepPart: fc.Arbitrary<k.EncApRepPart> = rec({ ctime: time, cusec: usec, subkey: key, seqNumber: uint32 }, ['ctime', 'cusec']);
const krbError: fc.Arbitrary<k.KrbError> = rec(
  {
    ctime: time,
    cusec: usec,
    stime: time,
    susec: usec,
    errorCode: int32,
    crealm: str,
    cname: principal,
    realm: str,
    sname: principal,
    eText: str,
    eData: octets,
  },
  ['stime', 'susec', 'errorCode', 'realm', 'sname'],
);
const krbCredInfo: fc.Arbitrary<k.KrbCredInfo> = rec(
  {
    key,
    prealm: str,
    pname: principal,
    flags,
    authtime: time,
    starttime: time,
    endtime: time,
    renewTill: time,
    srealm: str,
    sname: principal,
    caddr: hostAddresses,
  },
  ['key'],
);
const krbCred: fc.Arbitrary<k.KrbCred> = rec({ tickets: fc.array(ticket, { maxLength: 2 }), encPart: encData }, ['tickets', 'encPart']);
const encKrbCredPart: fc.Arbitrary<k.EncKrbCredPart> = rec(
  {
    ticketInfo: fc.array(krbCredInfo, { maxLength: 2 }),
    nonce: uint32,
    timestamp: time,
    usec,
    sAddress: hostAddress,
    rAddress: hostAddress,
  },
  ['ticketInfo'],
);
const paEncTsEnc: fc.Arbitrary<k.PaEncTsEnc> = rec({ patimestamp: time, pausec: usec }, ['patimestamp']);
const etypeInfo2 = fc.array(rec({ etype: int32, salt: str, s2kparams: octets }, ['etype']), { minLength: 1, maxLength: 3 });
const etypeInfo = fc.array(rec({ etype: int32, salt: octets }, ['etype']), { maxLength: 3 });
const pacRequest: fc.Arbitrary<k.KerbPaPacRequest> = rec({ includePac: fc.boolean() }, ['includePac']);
const typedData = fc.array(rec({ dataType: int32, dataValue: octets }, ['dataType']), { minLength: 1, maxLength: 3 });
const kerbErrorData: fc.Arbitrary<k.KerbErrorData> = rec({ dataType: int32, dataValue: octets }, ['dataType']);

/** Each codec: a generator, its encoder and its decoder. */
type Codec = { name: string; arb: fc.Arbitrary<any>; encode: (v: any) => Uint8Array; decode: (b: Uint8Array) => unknown };
const stripRaw = (v: k.KdcReq): k.KdcReq => {
  const { reqBodyBytes: _r, ...rest } = v;
  return rest;
};

export const codecs: Codec[] = [
  { name: 'PrincipalName', arb: principal, encode: k.encodePrincipalName, decode: k.decodePrincipalName },
  { name: 'HostAddresses', arb: hostAddresses, encode: k.encodeHostAddresses, decode: k.decodeHostAddresses },
  { name: 'EncryptedData', arb: encData, encode: k.encodeEncryptedData, decode: k.decodeEncryptedData },
  { name: 'EncryptionKey', arb: key, encode: k.encodeEncryptionKey, decode: k.decodeEncryptionKey },
  { name: 'Checksum', arb: checksum, encode: k.encodeChecksum, decode: k.decodeChecksum },
  { name: 'AuthorizationData', arb: authData, encode: k.encodeAuthorizationData, decode: k.decodeAuthorizationData },
  { name: 'PA-DATA', arb: paData, encode: k.encodePaData, decode: k.decodePaData },
  { name: 'METHOD-DATA', arb: paList, encode: k.encodeMethodData, decode: k.decodeMethodData },
  { name: 'Ticket', arb: ticket, encode: k.encodeTicket, decode: k.decodeTicket },
  { name: 'EncTicketPart', arb: encTicketPart, encode: k.encodeEncTicketPart, decode: k.decodeEncTicketPart },
  { name: 'KDC-REQ-BODY', arb: kdcReqBody, encode: k.encodeKdcReqBody, decode: k.decodeKdcReqBody },
  { name: 'KDC-REQ', arb: kdcReq, encode: k.encodeKdcReq, decode: (b) => stripRaw(k.decodeKdcReq(b)) },
  {
    name: 'KDC-REP',
    arb: kdcRep,
    encode: k.encodeKdcRep,
    decode: (b) => (b[0] === 0x6b ? k.decodeAsRep(b) : k.decodeTgsRep(b)),
  },
  { name: 'EncASRepPart', arb: encKdcRepPart, encode: k.encodeEncASRepPart, decode: k.decodeEncASRepPart },
  { name: 'EncTGSRepPart', arb: encKdcRepPart, encode: k.encodeEncTGSRepPart, decode: k.decodeEncTGSRepPart },
  { name: 'AP-REQ', arb: apReq, encode: k.encodeApReq, decode: k.decodeApReq },
  { name: 'Authenticator', arb: authenticator, encode: k.encodeAuthenticator, decode: k.decodeAuthenticator },
  { name: 'AP-REP', arb: apRep, encode: k.encodeApRep, decode: k.decodeApRep },
  { name: 'EncAPRepPart', arb: encApRepPart, encode: k.encodeEncApRepPart, decode: k.decodeEncApRepPart },
  { name: 'KRB-ERROR', arb: krbError, encode: k.encodeKrbError, decode: k.decodeKrbError },
  { name: 'KRB-CRED', arb: krbCred, encode: k.encodeKrbCred, decode: k.decodeKrbCred },
  { name: 'EncKrbCredPart', arb: encKrbCredPart, encode: k.encodeEncKrbCredPart, decode: k.decodeEncKrbCredPart },
  { name: 'PA-ENC-TS-ENC', arb: paEncTsEnc, encode: k.encodePaEncTsEnc, decode: k.decodePaEncTsEnc },
  { name: 'ETYPE-INFO2', arb: etypeInfo2, encode: k.encodeEtypeInfo2, decode: k.decodeEtypeInfo2 },
  { name: 'ETYPE-INFO', arb: etypeInfo, encode: k.encodeEtypeInfo, decode: k.decodeEtypeInfo },
  { name: 'KERB-PA-PAC-REQUEST', arb: pacRequest, encode: k.encodeKerbPaPacRequest, decode: k.decodeKerbPaPacRequest },
  { name: 'TYPED-DATA', arb: typedData, encode: k.encodeTypedData, decode: k.decodeTypedData },
  { name: 'KERB-ERROR-DATA', arb: kerbErrorData, encode: k.encodeKerbErrorData, decode: k.decodeKerbErrorData },
];

/** Every decoder the module exports, for feeding foreign bytes. */
const allDecoders: Array<(b: Uint8Array) => unknown> = [
  ...codecs.map((c) => c.decode),
  k.decodeAsReq,
  k.decodeTgsReq,
  k.decodeAsRep,
  k.decodeTgsRep,
  k.decodeAdIfRelevant,
];

const mutate = (b: Uint8Array, edits: Array<[number, number, number]>): Uint8Array => {
  let out = Uint8Array.from(b);
  for (const [kind, pos, val] of edits) {
    const i = out.length ? pos % out.length : 0;
    if (kind === 0 && out.length) out[i] = val; // overwrite
    else if (kind === 1) out = Uint8Array.from([...out.subarray(0, i), val, ...out.subarray(i)]); // insert
    else if (kind === 2 && out.length) out = Uint8Array.from([...out.subarray(0, i), ...out.subarray(i + 1)]); // delete
    else out = out.subarray(0, i); // truncate
  }
  return out;
};
const edits = fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.nat(), fc.integer({ min: 0, max: 255 })), {
  minLength: 1,
  maxLength: 3,
});

export function kerberosProperties(): Array<[string, fc.IProperty<any>]> {
  const props: Array<[string, fc.IProperty<any>]> = [];
  for (const c of codecs) {
    props.push([
      `${c.name}: encode -> decode round-trips`,
      fc.property(c.arb, (v) => {
        assert.deepEqual(c.decode(c.encode(v)), v);
      }),
    ]);
    props.push([
      `${c.name}: mutated encodings give a value or INVALID_TOKEN in every decoder`,
      fc.property(c.arb, edits, (v, e) => {
        const b = mutate(c.encode(v), e);
        for (const d of allDecoders) decodesOrInvalid(() => d(b));
        // A mutation that still decodes must re-encode to the same bytes (one DER encoding per value),
        // except where decoding normalises (negative UInt32, short KerberosFlags, tag 26 for 25).
      }),
    ]);
  }
  props.push([
    'random bytes into every decoder: a value or INVALID_TOKEN',
    fc.property(fc.uint8Array({ maxLength: 96, size: 'max' }), (b) => {
      for (const d of allDecoders) decodesOrInvalid(() => d(b));
    }),
  ]);
  return props;
}
