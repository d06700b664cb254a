// Shared types of the RFC 3961 framework: keys, enctype and checksum-type profiles, policy.

/** A Kerberos EncryptionKey (RFC 4120 5.2.9): the enctype number and the raw key bytes. */
export interface KerberosKey {
  enctype: number;
  keyvalue: Uint8Array;
}

/** Caller policy for weak algorithms (rc4-hmac and its MD5 checksums, RFC 8429 deprecates them). */
export interface CryptoPolicy {
  allowWeak?: boolean;
}

/** Enctype numbers (IANA Kerberos parameters). */
export const EncType = {
  AES128_CTS_HMAC_SHA1_96: 17,
  AES256_CTS_HMAC_SHA1_96: 18,
  AES128_CTS_HMAC_SHA256_128: 19,
  AES256_CTS_HMAC_SHA384_192: 20,
  RC4_HMAC: 23,
} as const;

/** Checksum type numbers (IANA Kerberos parameters; negative ones are Microsoft's). */
export const CksumType = {
  HMAC_SHA1_96_AES128: 15,
  HMAC_SHA1_96_AES256: 16,
  HMAC_SHA256_128_AES128: 19,
  HMAC_SHA384_192_AES256: 20,
  /** MIT's CKSUMTYPE_MD5_HMAC_ARCFOUR: HMAC-MD5 with the raw key over MD5(T || msg). */
  MD5_HMAC_RC4: -137,
  /** RFC 4757 section 4: KERB_CHECKSUM_HMAC_MD5. */
  HMAC_MD5: -138,
} as const;

/** One encryption type (RFC 3961 section 3 profile). */
export interface Enctype {
  readonly enctype: number;
  readonly name: string;
  /** Needs `allowWeak` to be looked up. */
  readonly weak: boolean;
  /** Protocol key length in bytes. */
  readonly keyBytes: number;
  /** random-to-key input length in bytes ("key-generation seed length"). */
  readonly seedBytes: number;
  readonly confounderBytes: number;
  /** Length of the integrity tag appended (or prepended, rc4-hmac) to the ciphertext. */
  readonly macBytes: number;
  /** The mandatory checksum type of this enctype (RFC 3961 "required checksum mechanism"). */
  readonly checksumType: number;
  /** PRF output length in bytes. */
  readonly prfBytes: number;
  /** Default string-to-key parameters (s2kparams), or an empty array when there are none. */
  readonly defaultS2kParams: Uint8Array;

  stringToKey(password: string | Uint8Array, salt: string | Uint8Array, params?: Uint8Array): KerberosKey;
  randomToKey(seed: Uint8Array): KerberosKey;
  /** The ciphertext length for a plaintext of `plaintextLength` bytes. */
  ciphertextLength(plaintextLength: number): number;
  encrypt(key: KerberosKey, usage: number, plaintext: Uint8Array, confounder?: Uint8Array): Uint8Array;
  decrypt(key: KerberosKey, usage: number, ciphertext: Uint8Array): Uint8Array;
  prf(key: KerberosKey, input: Uint8Array): Uint8Array;
}

/** One checksum type (RFC 3961 section 4 profile). All the ones here are keyed. */
export interface ChecksumType {
  readonly cksumtype: number;
  readonly name: string;
  readonly weak: boolean;
  readonly size: number;
  /** The key enctypes this checksum accepts; empty means any. */
  readonly enctypes: readonly number[];
  make(key: KerberosKey, usage: number, data: Uint8Array): Uint8Array;
  verify(key: KerberosKey, usage: number, data: Uint8Array, checksum: Uint8Array): boolean;
}
