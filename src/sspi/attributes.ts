// Context and credential attribute structures (SecPkgContext_*), reference section 10, as JS objects.

import type { TimeStamp } from './timestamp.js';

/** SecPkgInfoW, reference section 6. */
export interface SecPkgInfo {
  fCapabilities: number;
  wVersion: number;
  wRPCID: number;
  cbMaxToken: number;
  Name: string;
  Comment: string;
}

export interface SecPkgContext_Sizes {
  cbMaxToken: number;
  cbMaxSignature: number;
  cbBlockSize: number;
  cbSecurityTrailer: number;
}
export interface SecPkgContext_StreamSizes {
  cbHeader: number;
  cbTrailer: number;
  cbMaximumMessage: number;
  cBuffers: number;
  cbBlockSize: number;
}
export interface SecPkgContext_Names {
  sUserName: string;
}
export interface SecPkgContext_NativeNames {
  sClientName: string;
  sServerName: string;
}
export interface SecPkgContext_Lifespan {
  tsStart: TimeStamp;
  tsExpiry: TimeStamp;
}
export interface SecPkgContext_SessionKey {
  SessionKeyLength: number;
  SessionKey: Uint8Array;
}
export interface SecPkgContext_PackageInfo {
  PackageInfo: SecPkgInfo;
}
export interface SecPkgContext_NegotiationInfo {
  PackageInfo: SecPkgInfo;
  NegotiationState: number;
  /** tslsa extension (Negotiate): the preferred packages that could not serve, and why. */
  Skipped?: { Package: string; Status: number }[];
}
export interface SecPkgContext_Flags {
  Flags: number;
}
export interface SecPkgContext_KeyInfo {
  sSignatureAlgorithmName: string;
  sEncryptAlgorithmName: string;
  KeySize: number;
  SignatureAlgorithm: number;
  EncryptAlgorithm: number;
}
export interface SecPkgContext_PasswordExpiry {
  tsPasswordExpires: TimeStamp;
}
export interface SecPkgContext_TargetInformation {
  MarshalledTargetInfoLength: number;
  MarshalledTargetInfo: Uint8Array;
}
export interface SecPkgCredentials_Names {
  sUserName: string;
}

/** What QueryContextAttributes returns for each level we define; other levels are package-specific. */
export interface ContextAttributeMap {
  0: SecPkgContext_Sizes;
  1: SecPkgContext_Names;
  2: SecPkgContext_Lifespan;
  4: SecPkgContext_StreamSizes;
  5: SecPkgContext_KeyInfo;
  8: SecPkgContext_PasswordExpiry;
  9: SecPkgContext_SessionKey;
  10: SecPkgContext_PackageInfo;
  12: SecPkgContext_NegotiationInfo;
  13: SecPkgContext_NativeNames;
  14: SecPkgContext_Flags;
  17: SecPkgContext_TargetInformation;
}

/** A value that can cross the LSA boundary (structured-clone shape: no functions, no classes). */
export type Plain = null | undefined | boolean | number | bigint | string | Uint8Array | Plain[] | { [k: string]: Plain };

/**
 * SEC_WINNT_AUTH_IDENTITY: the common AuthorizationData of AcquireCredentialsHandle.
 * `Flags` is SEC_WINNT_AUTH_IDENTITY_UNICODE (2) or _ANSI (1); strings are JS strings either way.
 */
export interface SEC_WINNT_AUTH_IDENTITY {
  User: string;
  Domain: string;
  Password: string;
  Flags?: number;
  /**
   * SEC_WINNT_AUTH_IDENTITY_EX's PackageList, read by Negotiate: the packages it may use
   * ("Kerberos") or not ("!NTLM"), comma-separated. Alone, it restricts the default credentials.
   */
  PackageList?: string;
  [k: string]: Plain;
}
export const SEC_WINNT_AUTH_IDENTITY_ANSI = 0x1;
export const SEC_WINNT_AUTH_IDENTITY_UNICODE = 0x2;

/**
 * A deep copy of a value crossing the LSA boundary, with structuredClone's result for `Plain`
 * data (typed arrays become fresh Uint8Arrays, Dates new Dates) but without its serializer, which
 * costs several microseconds per attribute. Anything else (Map, Set, cycles, deep nesting) goes
 * through structuredClone itself, so the result never shares memory with the source.
 */
export function clonePlain<T>(value: T): T {
  try {
    return copy(value, 0) as T;
  } catch (e) {
    if (e !== NOT_PLAIN) throw e;
    return structuredClone(value);
  }
}

const NOT_PLAIN = Symbol('not plain');
const MAX_DEPTH = 32;

function copy(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'function' || typeof v === 'symbol') throw NOT_PLAIN;
    return v;
  }
  if (depth > MAX_DEPTH) throw NOT_PLAIN;
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copy(v[i], depth + 1);
    return out;
  }
  if (v instanceof Date) return new Date(v.getTime());
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw NOT_PLAIN;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = copy((v as Record<string, unknown>)[k], depth + 1);
  return out;
}
