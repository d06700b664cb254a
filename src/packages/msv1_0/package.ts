// The account authority: the role of Windows' MSV1_0 behind the NTLM package. It answers the
// generic pass-through of protocol.ts (MsV1_0GenericPassthrough, PackageName "NTLM", a
// NETLOGON_NETWORK_INFO as LogonData) by validating the challenge response against the account
// store (MS-NLMP 3.3, 3.2.5.1.2) and returning the validation with the logon's NTSTATUS as the
// ProtocolStatus.
//
// Order of checks (what Windows' SAM validation does, as observed from its statuses):
//   1. malformed buffer                     -> call status STATUS_INVALID_PARAMETER
//   2. anonymous (no user, empty NT, LM empty or Z(1)) -> ANONYMOUS LOGON if allowed, else LOGON_FAILURE
//   3. a response kind the caller did not allow (NTLMv1 without MSV1_0_ALLOW_NTLMV1, LMv2-only
//      unless the package allows it) -> STATUS_LOGON_FAILURE; an LM-only response the caller
//      allows with MSV1_0_ALLOW_LM -> STATUS_NOT_SUPPORTED (no LM hashes are kept, see below)
//   4. unknown user                          -> STATUS_LOGON_FAILURE (the same answer as a wrong password)
//   5. locked out                            -> STATUS_ACCOUNT_LOCKED_OUT, whatever the password
//      (Windows answers 0xC0000234 for every attempt on a locked account; the attempt that
//      reaches the threshold itself still answers LOGON_FAILURE)
//   6. wrong response                        -> STATUS_LOGON_FAILURE, the bad-password count grows
//   7. disabled                              -> STATUS_ACCOUNT_DISABLED (only once the password is right)
//   8. password expired                      -> STATUS_PASSWORD_EXPIRED (likewise)
//   9. success: the bad-password count is reset; the validation carries the canonical names
//      and the SessionBaseKey (UserSessionKey).
//
// The store holds NT hashes only, so plain LM responses cannot be verified: an LM-only logon fails
// with STATUS_NOT_SUPPORTED (SEC_E_UNSUPPORTED_FUNCTION at the acceptor) even when MSV1_0_ALLOW_LM
// permits it. LM sent beside an NTLMv1 response (LmCompatibilityLevel 0/1 clients) is ignored and
// the NT response decides. The LanmanSessionKey is zero. The NTLMv2 timestamp is the NTLM package's business, not this one's.

import { constantTimeEqual, zero } from '../../crypto/bytes.js';
import { md4 } from '../../crypto/md4.js';
import { declareFrameUse } from '../../lsa/callContext.js';
import type { CallPackageResult, LSA_CLIENT_REQUEST, SECPKG_FUNCTION_TABLE, SECPKG_PARAMETERS, SecurityPackageModule } from '../../lsa/types.js';
import type { Plain } from '../../sspi/attributes.js';
import { SECPKG_FLAG, SECPKG_INTERFACE_VERSION } from '../../sspi/flags.js';
import { SspiError } from '../../sspi/error.js';
import { NtStatus, type Status } from '../../sspi/status.js';
import { type AccountStore, type LockoutPolicy, isLockedOut, isPasswordExpired, validateLockoutPolicy } from '../../store/accounts.js';
import { defaultStorePath, openAccountStore } from '../../store/sqlite.js';
import { expectedNTLMv1Response, NTOWFv2, verifyLMv2Response, verifyNTLMv2Response } from '../ntlm/crypto.js';
import {
  decodeNetworkLogonInfo,
  decodePassthroughRequest,
  encodePassthroughResponse,
  MSV1_0_ALLOW_LM,
  MSV1_0_ALLOW_NTLMV1,
  MSV1_0_PACKAGE_NAME,
  MsV1_0GenericPassthrough,
  type NetworkLogonInfo,
  type NetworkLogonValidation,
  NTLM_PACKAGE_NAME,
} from './protocol.js';

/** The names Windows gives the anonymous logon. */
export const ANONYMOUS_USER_NAME = 'ANONYMOUS LOGON';
export const ANONYMOUS_DOMAIN_NAME = 'NT AUTHORITY';

export interface AuthorityOptions {
  /** Answer anonymous logons with an ANONYMOUS LOGON validation (default false). */
  allowAnonymous?: boolean;
  /** Accept an LMv2 response when the NT response is empty (default false). Its session key is zero. */
  allowLMv2?: boolean;
  /** The LSA's domain: a logon that names no domain is looked up there too, as Windows does. */
  domainName?: string;
  /** The clock (tests). */
  now?: () => Date;
}

export interface Msv1_0PackageOptions extends AuthorityOptions {
  store: AccountStore;
  /** Close the store at SpShutdown (default false: the caller owns it). */
  closeStoreOnShutdown?: boolean;
}

/** What the package accepts in SECPKG_PARAMETERS.PackageConfig. */
export interface Msv1_0PackageConfig {
  /** A path to the SQLite store or ':memory:'; default defaultStorePath() (not created if absent). */
  store?: string;
  lockout?: Partial<LockoutPolicy>;
  allowAnonymous?: boolean;
  allowLMv2?: boolean;
}

export interface LogonOutcome {
  /** The logon's NTSTATUS (the ProtocolStatus). */
  status: Status;
  validation: NetworkLogonValidation | null;
}

const failure = (status: Status): LogonOutcome => ({ status: status >>> 0, validation: null });

function isAnonymous(info: NetworkLogonInfo): boolean {
  const lm = info.LmChallengeResponse;
  return info.UserName === '' && info.NtChallengeResponse.length === 0 && (lm.length === 0 || (lm.length === 1 && lm[0] === 0));
}

type Kind = 'ntlmv2' | 'ntlmv1' | 'lmv2' | 'lm' | 'none';

function classify(info: NetworkLogonInfo): Kind {
  const nt = info.NtChallengeResponse.length;
  if (nt > 24) return 'ntlmv2';
  if (nt === 24) return 'ntlmv1';
  if (nt === 0 && info.LmChallengeResponse.length === 24) return 'lmv2';
  if (info.LmChallengeResponse.length > 0) return 'lm';
  return 'none';
}

// NTLMv2 (MS-NLMP 3.3.2): the SessionBaseKey, or null for a wrong proof. The length check keeps
// the crypto module's SEC_E_INVALID_TOKEN for a short response from escaping the authority.
function checkNTLMv2(ntHash: Uint8Array, info: NetworkLogonInfo): Uint8Array | null {
  // NTProofStr(16) + the 28-byte head of NTLMv2_CLIENT_CHALLENGE (MS-NLMP 2.2.2.7).
  if (info.NtChallengeResponse.length < 44) return null;
  const key = NTOWFv2(ntHash, info.UserName, info.LogonDomainName);
  try {
    return verifyNTLMv2Response(key, info.LmChallenge, info.NtChallengeResponse);
  } finally {
    key.fill(0);
  }
}

// LMv2 (MS-NLMP 3.3.2), with LMOWFv2 = NTOWFv2.
function checkLMv2(ntHash: Uint8Array, info: NetworkLogonInfo): boolean {
  if (info.LmChallengeResponse.length !== 24) return false;
  const key = NTOWFv2(ntHash, info.UserName, info.LogonDomainName);
  try {
    return verifyLMv2Response(key, info.LmChallenge, info.LmChallengeResponse);
  } finally {
    key.fill(0);
  }
}

// NTLMv1 (MS-NLMP 3.3.1): extended session security when the LM response is CC || Z(16).
function checkNTLMv1(ntHash: Uint8Array, info: NetworkLogonInfo): Uint8Array | null {
  const lm = info.LmChallengeResponse;
  const ess = lm.length === 24 && lm.subarray(8).every((b) => b === 0);
  const expected = expectedNTLMv1Response(ntHash, info.LmChallenge, lm, ess);
  const ok = constantTimeEqual(expected, info.NtChallengeResponse);
  expected.fill(0);
  // SessionBaseKey for v1 is MD4(NTOWFv1); the NTLM package applies KXKEY (ESS included) itself.
  return ok ? md4(ntHash) : null;
}

/**
 * Validate one network logon against the store (the steps in the file comment). Never throws for
 * bad input; store failures propagate as AccountStoreError.
 */
export async function validateNetworkLogon(store: AccountStore, info: NetworkLogonInfo, options: AuthorityOptions = {}): Promise<LogonOutcome> {
  const now = options.now?.() ?? new Date();
  if (info.LmChallenge.length !== 8) return failure(NtStatus.STATUS_INVALID_PARAMETER);
  if (isAnonymous(info)) {
    if (!options.allowAnonymous) return failure(NtStatus.STATUS_LOGON_FAILURE);
    return {
      status: NtStatus.STATUS_SUCCESS,
      validation: { EffectiveName: ANONYMOUS_USER_NAME, LogonDomainName: ANONYMOUS_DOMAIN_NAME, UserSessionKey: new Uint8Array(16), LanmanSessionKey: new Uint8Array(8), UserFlags: 0 },
    };
  }
  const kind = classify(info);
  const pc = info.ParameterControl >>> 0;
  if (kind === 'none' || info.UserName === '') return failure(NtStatus.STATUS_LOGON_FAILURE);
  if (kind === 'ntlmv1' && !(pc & MSV1_0_ALLOW_NTLMV1)) return failure(NtStatus.STATUS_LOGON_FAILURE);
  // An LM-only answer (empty NT response) is an LMv2 response or a plain LM one; the two look alike.
  if ((kind === 'lmv2' && !options.allowLMv2) || kind === 'lm') {
    // Plain LM needs the LM hash, which the store never keeps: when the caller allows LM, say so
    // plainly (before any account lookup, so it tells nothing about the user) rather than
    // answering as if the password were wrong.
    return failure(pc & MSV1_0_ALLOW_LM ? NtStatus.STATUS_NOT_SUPPORTED : NtStatus.STATUS_LOGON_FAILURE);
  }

  let account = await store.get(info.LogonDomainName, info.UserName);
  if (!account && info.LogonDomainName === '' && options.domainName) account = await store.get(options.domainName, info.UserName);
  if (!account) {
    // Spend the same work as a real check so timing does not tell unknown users apart.
    const dummy = new Uint8Array(16);
    if (kind === 'ntlmv2') zero(checkNTLMv2(dummy, info));
    else if (kind === 'ntlmv1') zero(checkNTLMv1(dummy, info));
    else checkLMv2(dummy, info);
    return failure(NtStatus.STATUS_LOGON_FAILURE);
  }
  try {
    if (isLockedOut(account, now)) return failure(NtStatus.STATUS_ACCOUNT_LOCKED_OUT);
    let sessionKey: Uint8Array | null = null;
    if (kind === 'ntlmv2') sessionKey = checkNTLMv2(account.ntHash, info);
    else if (kind === 'ntlmv1') sessionKey = checkNTLMv1(account.ntHash, info);
    else if (checkLMv2(account.ntHash, info)) sessionKey = new Uint8Array(16);
    if (!sessionKey) {
      await store.recordLogon(account.domain, account.user, false, now);
      return failure(NtStatus.STATUS_LOGON_FAILURE);
    }
    if (account.disabled) {
      sessionKey.fill(0);
      return failure(NtStatus.STATUS_ACCOUNT_DISABLED);
    }
    if (isPasswordExpired(account, now)) {
      sessionKey.fill(0);
      return failure(NtStatus.STATUS_PASSWORD_EXPIRED);
    }
    try {
      await store.recordLogon(account.domain, account.user, true, now);
    } catch (e) {
      sessionKey.fill(0);
      throw e;
    }
    return {
      status: NtStatus.STATUS_SUCCESS,
      validation: { EffectiveName: account.user, LogonDomainName: account.domain, UserSessionKey: sessionKey, LanmanSessionKey: new Uint8Array(8), UserFlags: 0 },
    };
  } finally {
    account.ntHash.fill(0);
  }
}

function callResult(status: Status, ret: Uint8Array | null, protocolStatus: Status): CallPackageResult {
  return { status: status >>> 0, ProtocolReturnBuffer: ret, ReturnBufferLength: ret ? ret.length : 0, ProtocolStatus: protocolStatus >>> 0 };
}

/**
 * Serve one MSV1_0_PASSTHROUGH_REQUEST: the call's status says whether the request could be
 * served, the ProtocolStatus is the logon's. Never throws.
 */
export async function handlePassthrough(getStore: () => Promise<AccountStore>, submit: Uint8Array, clientBufferBase: bigint, length: number, options: AuthorityOptions = {}): Promise<CallPackageResult> {
  let info: NetworkLogonInfo;
  try {
    if (!(submit instanceof Uint8Array) || typeof clientBufferBase !== 'bigint') return callResult(NtStatus.STATUS_INVALID_PARAMETER, null, NtStatus.STATUS_INVALID_PARAMETER);
    const len = Number.isInteger(length) && length >= 0 && length <= submit.length ? length : submit.length;
    const req = decodePassthroughRequest(submit, clientBufferBase, len);
    if (req.MessageType !== MsV1_0GenericPassthrough) return callResult(NtStatus.STATUS_INVALID_PARAMETER, null, NtStatus.STATUS_INVALID_PARAMETER);
    if (req.PackageName.toUpperCase() !== NTLM_PACKAGE_NAME) return callResult(NtStatus.STATUS_SUCCESS, encodePassthroughResponse(null), NtStatus.STATUS_NO_SUCH_PACKAGE);
    info = decodeNetworkLogonInfo(req.LogonData);
  } catch (e) {
    return callResult(e instanceof SspiError ? e.status : NtStatus.STATUS_INVALID_PARAMETER, null, NtStatus.STATUS_INVALID_PARAMETER);
  }
  try {
    const store = await getStore();
    const outcome = await validateNetworkLogon(store, info, options);
    const buf = encodePassthroughResponse(outcome.validation);
    if (outcome.validation) {
      outcome.validation.UserSessionKey.fill(0);
      outcome.validation.LanmanSessionKey.fill(0);
    }
    return callResult(NtStatus.STATUS_SUCCESS, buf, outcome.status);
  } catch (e) {
    // The store failed (locked, damaged...): the request could not be served.
    const st = e instanceof SspiError ? e.status : NtStatus.STATUS_INTERNAL_ERROR;
    return callResult(st, null, st);
  }
}

const PACKAGE_INFO = {
  fCapabilities: SECPKG_FLAG.LOGON,
  wVersion: 1,
  wRPCID: 0xffff,
  cbMaxToken: 0,
  Name: MSV1_0_PACKAGE_NAME,
  Comment: 'tslsa account authority (MSV1_0 network logon validation)',
};

function asConfig(p: Plain | undefined): Msv1_0PackageConfig {
  if (p === null || p === undefined) return {};
  if (typeof p !== 'object' || p instanceof Uint8Array || Array.isArray(p)) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'MSV1_0 PackageConfig must be an object');
  const c = p as Record<string, Plain>;
  const out: Msv1_0PackageConfig = {};
  if (c.store !== undefined && c.store !== null) {
    if (typeof c.store !== 'string' || c.store === '') throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'MSV1_0 PackageConfig.store must be a path or ":memory:"');
    out.store = c.store;
  }
  if (c.lockout !== undefined && c.lockout !== null) out.lockout = validateLockoutPolicy(c.lockout as Partial<LockoutPolicy>);
  if (c.allowAnonymous !== undefined) out.allowAnonymous = c.allowAnonymous === true;
  if (c.allowLMv2 !== undefined) out.allowLMv2 = c.allowLMv2 === true;
  return out;
}

interface TableState {
  store: AccountStore | null;
  opening: Promise<AccountStore> | null;
  ownsStore: boolean;
  storePath: string | null;
  lockout: Partial<LockoutPolicy> | undefined;
  options: AuthorityOptions;
}

function makeTable(fixed: Msv1_0PackageOptions | null): SECPKG_FUNCTION_TABLE {
  const state: TableState = {
    store: fixed?.store ?? null,
    opening: null,
    ownsStore: fixed ? !!fixed.closeStoreOnShutdown : true,
    storePath: null,
    lockout: undefined,
    options: fixed ? { ...(fixed.allowAnonymous !== undefined ? { allowAnonymous: fixed.allowAnonymous } : {}), ...(fixed.allowLMv2 !== undefined ? { allowLMv2: fixed.allowLMv2 } : {}), ...(fixed.now ? { now: fixed.now } : {}) } : {},
  };
  const getStore = async (): Promise<AccountStore> => {
    if (state.store) return state.store;
    if (!state.opening) {
      const path = state.storePath ?? defaultStorePath();
      // The default path is never created by a logon: an absent store is an empty one.
      state.opening = openAccountStore(path, { ...(state.lockout ? { lockout: state.lockout } : {}), create: state.storePath !== null })
        .then((s) => (state.store = s))
        .catch((e: unknown) => {
          state.opening = null;
          // Not cached: once `tslsa user add` creates the store, the next logon opens it.
          const reason = (e as { reason?: string })?.reason;
          if (state.storePath === null && (reason === 'NOT_FOUND' || reason === 'NO_DIRECTORY')) return openAccountStore(':memory:', state.lockout ? { lockout: state.lockout } : {});
          throw e;
        });
    }
    return state.opening;
  };
  const serve = (_req: LSA_CLIENT_REQUEST, submit: Uint8Array, base: bigint, length: number) => handlePassthrough(getStore, submit, base, length, state.options);
  return {
    async Initialize(_id: number, params: SECPKG_PARAMETERS) {
      const domainName = typeof params?.DomainName === 'string' && params.DomainName ? { domainName: params.DomainName } : {};
      if (fixed) {
        state.options = { ...domainName, ...state.options };
        return NtStatus.STATUS_SUCCESS;
      }
      const cfg = asConfig(params?.PackageConfig);
      state.storePath = cfg.store ?? null;
      state.lockout = cfg.lockout;
      state.options = { ...domainName, ...(cfg.allowAnonymous !== undefined ? { allowAnonymous: cfg.allowAnonymous } : {}), ...(cfg.allowLMv2 !== undefined ? { allowLMv2: cfg.allowLMv2 } : {}) };
      // An explicit store is opened now, so a bad path fails the load with a clear error.
      if (state.storePath !== null) await getStore();
      return NtStatus.STATUS_SUCCESS;
    },
    async GetInfo() {
      return { status: NtStatus.STATUS_SUCCESS, PackageInfo: { ...PACKAGE_INFO } };
    },
    CallPackage: serve,
    CallPackagePassthrough: serve,
    async CallPackageUntrusted() {
      // Validating logons is for trusted callers (the NTLM package, logon processes).
      return callResult(NtStatus.STATUS_ACCESS_DENIED, null, NtStatus.STATUS_ACCESS_DENIED);
    },
    async Shutdown() {
      const s = state.store;
      state.store = null;
      state.opening = null;
      if (s && state.ownsStore) await s.close();
      return NtStatus.STATUS_SUCCESS;
    },
  };
}

/** The account authority over a given store (tests, `tslsa serve`). */
export function msv1_0Package(options: Msv1_0PackageOptions): SecurityPackageModule {
  if (!options || !options.store) throw new SspiError(NtStatus.STATUS_INVALID_PARAMETER, 'msv1_0Package needs a store');
  // No entry point asks who is calling (callContext.ts).
  return declareFrameUse(
    {
      async SpLsaModeInitialize() {
        return { status: NtStatus.STATUS_SUCCESS, PackageVersion: SECPKG_INTERFACE_VERSION, ppTables: [makeTable(options)] };
      },
    },
    [],
  );
}

/** The module entry: the store and options come from SECPKG_PARAMETERS.PackageConfig (Msv1_0PackageConfig). */
export async function SpLsaModeInitialize(_LsaVersion: number): Promise<{ status: Status; PackageVersion: number; ppTables: SECPKG_FUNCTION_TABLE[] }> {
  return { status: NtStatus.STATUS_SUCCESS, PackageVersion: SECPKG_INTERFACE_VERSION, ppTables: [makeTable(null)] };
}
