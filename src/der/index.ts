// Strict DER (X.690) for Kerberos, SPNEGO and GSS-API framing.
export { derFail, derEncodeFail, guardDecode } from './error.js';
export { Tag, TagClass, CONSTRUCTED, ctx, app, tagName } from './tags.js';
export { DerReader, derDecode, MAX_DEPTH, type BitString } from './reader.js';
export { DerWriter, derEncode, oidContent } from './writer.js';
export { oidFromContent, oidToContent } from './oid.js';
export {
  parseInitialContextToken,
  wrapInitialContextToken,
  parseKrb5Token,
  wrapKrb5Token,
  Krb5TokId,
  KRB5_MECH_OID,
  MS_KRB5_MECH_OID,
  SPNEGO_MECH_OID,
  NTLMSSP_MECH_OID,
  type InitialContextToken,
  type Krb5ContextToken,
} from './gss.js';
