// Kerberos V5 ASN.1 (RFC 4120 section 5) over the strict DER layer in src/der.
export * from './constants.js';
export type * from './types.js';
export * from './common.js';
export * from './messages.js';
export * from './padata.js';
