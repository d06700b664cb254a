// RFC 4120 section 5 types as TypeScript. Field names are the RFC's in camelCase (enc-part -> encPart).
// Constant fields (pvno, tkt-vno, authenticator-vno, fixed msg-type) are checked on decode and written
// on encode, so they do not appear here. KerberosFlags are uint32 masks (see constants.ts),
// KerberosTime is a Date (whole seconds), OCTET STRINGs are Uint8Array views into the decoded input.

/** Kerberos Int32 (RFC 4120 5.2.4). */
export type Int32 = number;
/** Kerberos UInt32 (RFC 4120 5.2.4). */
export type UInt32 = number;
/** Microseconds ::= INTEGER (0..999999) (RFC 4120 5.2.4). */
export type Microseconds = number;
/** KerberosTime (RFC 4120 5.2.3). */
export type KerberosTime = Date;
/** KerberosFlags (RFC 4120 5.2.8) as a uint32, flag 0 the most significant bit. */
export type KerberosFlags = number;
/** KerberosString / Realm (RFC 4120 5.2.1, 5.2.2). */
export type KerberosString = string;
export type Realm = string;

/** RFC 4120 5.2.2 */
export interface PrincipalName {
  nameType: Int32;
  nameString: KerberosString[];
}

/** RFC 4120 5.2.5 */
export interface HostAddress {
  addrType: Int32;
  address: Uint8Array;
}
export type HostAddresses = HostAddress[];

/** One element of AuthorizationData (RFC 4120 5.2.6). */
export interface AuthorizationDataEntry {
  adType: Int32;
  adData: Uint8Array;
}
/** RFC 4120 5.2.6; AD-IF-RELEVANT (5.2.6.1) has the same shape. */
export type AuthorizationData = AuthorizationDataEntry[];

/** PA-DATA (RFC 4120 5.2.7). */
export interface PaData {
  padataType: Int32;
  padataValue: Uint8Array;
}
/** METHOD-DATA ::= SEQUENCE OF PA-DATA (RFC 4120 5.9.1). */
export type MethodData = PaData[];

/** RFC 4120 5.2.9 */
export interface EncryptedData {
  etype: Int32;
  kvno?: UInt32;
  cipher: Uint8Array;
}

/** RFC 4120 5.2.9 */
export interface EncryptionKey {
  keytype: Int32;
  keyvalue: Uint8Array;
}

/** RFC 4120 5.2.9 */
export interface Checksum {
  cksumtype: Int32;
  checksum: Uint8Array;
}

/** Ticket ::= [APPLICATION 1] (RFC 4120 5.3). */
export interface Ticket {
  realm: Realm;
  sname: PrincipalName;
  encPart: EncryptedData;
}

/** RFC 4120 5.3 */
export interface TransitedEncoding {
  trType: Int32;
  contents: Uint8Array;
}

/** EncTicketPart ::= [APPLICATION 3] (RFC 4120 5.3). */
export interface EncTicketPart {
  flags: KerberosFlags;
  key: EncryptionKey;
  crealm: Realm;
  cname: PrincipalName;
  transited: TransitedEncoding;
  authtime: KerberosTime;
  starttime?: KerberosTime;
  endtime: KerberosTime;
  renewTill?: KerberosTime;
  caddr?: HostAddresses;
  authorizationData?: AuthorizationData;
}

/** KDC-REQ-BODY (RFC 4120 5.4.1). */
export interface KdcReqBody {
  kdcOptions: KerberosFlags;
  cname?: PrincipalName;
  realm: Realm;
  sname?: PrincipalName;
  from?: KerberosTime;
  till: KerberosTime;
  rtime?: KerberosTime;
  nonce: UInt32;
  etype: Int32[];
  addresses?: HostAddresses;
  encAuthorizationData?: EncryptedData;
  additionalTickets?: Ticket[];
}

/** AS-REQ ::= [APPLICATION 10] KDC-REQ, TGS-REQ ::= [APPLICATION 12] KDC-REQ (RFC 4120 5.4.1). */
export interface KdcReq {
  msgType: 10 | 12;
  padata?: PaData[];
  reqBody: KdcReqBody;
  /**
   * Set by the decoder only: the req-body element exactly as received, which the PA-TGS-REQ
   * checksum and FAST cover (RFC 4120 5.5.1). The encoder ignores it.
   */
  reqBodyBytes?: Uint8Array;
}

/** AS-REP ::= [APPLICATION 11] KDC-REP, TGS-REP ::= [APPLICATION 13] KDC-REP (RFC 4120 5.4.2). */
export interface KdcRep {
  msgType: 11 | 13;
  padata?: PaData[];
  crealm: Realm;
  cname: PrincipalName;
  ticket: Ticket;
  encPart: EncryptedData;
}

/** One element of LastReq (RFC 4120 5.4.2). */
export interface LastReqEntry {
  lrType: Int32;
  lrValue: KerberosTime;
}
export type LastReq = LastReqEntry[];

/** EncKDCRepPart, the content of EncASRepPart [25] and EncTGSRepPart [26] (RFC 4120 5.4.2, RFC 6806 11). */
export interface EncKdcRepPart {
  key: EncryptionKey;
  lastReq: LastReq;
  nonce: UInt32;
  keyExpiration?: KerberosTime;
  flags: KerberosFlags;
  authtime: KerberosTime;
  starttime?: KerberosTime;
  endtime: KerberosTime;
  renewTill?: KerberosTime;
  srealm: Realm;
  sname: PrincipalName;
  caddr?: HostAddresses;
  /** encrypted-pa-data [12] (RFC 6806 11), sent by MIT KDCs. */
  encryptedPaData?: PaData[];
}

/** AP-REQ ::= [APPLICATION 14] (RFC 4120 5.5.1). */
export interface ApReq {
  apOptions: KerberosFlags;
  ticket: Ticket;
  authenticator: EncryptedData;
}

/** Authenticator ::= [APPLICATION 2] (RFC 4120 5.5.1). */
export interface Authenticator {
  crealm: Realm;
  cname: PrincipalName;
  cksum?: Checksum;
  cusec: Microseconds;
  ctime: KerberosTime;
  subkey?: EncryptionKey;
  seqNumber?: UInt32;
  authorizationData?: AuthorizationData;
}

/** AP-REP ::= [APPLICATION 15] (RFC 4120 5.5.2). */
export interface ApRep {
  encPart: EncryptedData;
}

/** EncAPRepPart ::= [APPLICATION 27] (RFC 4120 5.5.2). */
export interface EncApRepPart {
  ctime: KerberosTime;
  cusec: Microseconds;
  subkey?: EncryptionKey;
  seqNumber?: UInt32;
}

/** KRB-ERROR ::= [APPLICATION 30] (RFC 4120 5.9.1). */
export interface KrbError {
  ctime?: KerberosTime;
  cusec?: Microseconds;
  stime: KerberosTime;
  susec: Microseconds;
  errorCode: Int32;
  crealm?: Realm;
  cname?: PrincipalName;
  realm: Realm;
  sname: PrincipalName;
  eText?: KerberosString;
  eData?: Uint8Array;
}

/** One element of TYPED-DATA (RFC 4120 5.9.1). */
export interface TypedDataEntry {
  dataType: Int32;
  dataValue?: Uint8Array;
}

/** KERB-ERROR-DATA, the e-data Windows KDCs send (MS-KILE 2.2.2). */
export interface KerbErrorData {
  dataType: Int32;
  dataValue?: Uint8Array;
}

/** KRB-CRED ::= [APPLICATION 22] (RFC 4120 5.8.1). */
export interface KrbCred {
  tickets: Ticket[];
  encPart: EncryptedData;
}

/** RFC 4120 5.8.1 */
export interface KrbCredInfo {
  key: EncryptionKey;
  prealm?: Realm;
  pname?: PrincipalName;
  flags?: KerberosFlags;
  authtime?: KerberosTime;
  starttime?: KerberosTime;
  endtime?: KerberosTime;
  renewTill?: KerberosTime;
  srealm?: Realm;
  sname?: PrincipalName;
  caddr?: HostAddresses;
}

/** EncKrbCredPart ::= [APPLICATION 29] (RFC 4120 5.8.1). */
export interface EncKrbCredPart {
  ticketInfo: KrbCredInfo[];
  nonce?: UInt32;
  timestamp?: KerberosTime;
  usec?: Microseconds;
  sAddress?: HostAddress;
  rAddress?: HostAddress;
}

/** PA-ENC-TS-ENC, the plaintext of PA-ENC-TIMESTAMP (RFC 4120 5.2.7.2). */
export interface PaEncTsEnc {
  patimestamp: KerberosTime;
  pausec?: Microseconds;
}

/** ETYPE-INFO-ENTRY (RFC 4120 5.2.7.4). */
export interface EtypeInfoEntry {
  etype: Int32;
  salt?: Uint8Array;
}

/** ETYPE-INFO2-ENTRY (RFC 4120 5.2.7.5). */
export interface EtypeInfo2Entry {
  etype: Int32;
  salt?: KerberosString;
  s2kparams?: Uint8Array;
}

/** KERB-PA-PAC-REQUEST (MS-KILE 2.2.3). */
export interface KerbPaPacRequest {
  includePac: boolean;
}
