// KRB-ERROR codes as SSPI statuses, the way the Windows Kerberos package maps them: first to an
// NTSTATUS (KerbMapKerbError: PREAUTH_FAILED → STATUS_WRONG_PASSWORD, C_PRINCIPAL_UNKNOWN →
// STATUS_NO_SUCH_USER, KRB_AP_ERR_SKEW → STATUS_TIME_DIFFERENCE_AT_DC, ...), then to the
// SECURITY_STATUS an SSPI caller sees (toSecurityStatus). The KRB error code and the NTSTATUS are
// kept on the error so callers can tell a wrong password from an unknown user.

import { SspiError } from '../../../sspi/error.js';
import { NtStatus, SecurityStatus, toSecurityStatus } from '../../../sspi/status.js';
import { KrbErrorCode, krbErrorName } from '../asn1/constants.js';
import type { KrbError } from '../asn1/types.js';

const E = KrbErrorCode;

/** The NTSTATUS Windows reports for a KDC error code. */
export function krbErrorToNtStatus(code: number): number {
  switch (code) {
    case E.KDC_ERR_C_PRINCIPAL_UNKNOWN:
      return NtStatus.STATUS_NO_SUCH_USER;
    case E.KDC_ERR_PREAUTH_FAILED:
    case E.KRB_AP_ERR_MODIFIED:
    case E.KRB_AP_ERR_BAD_INTEGRITY:
      return NtStatus.STATUS_WRONG_PASSWORD;
    case E.KRB_AP_ERR_SKEW:
    case E.KRB_AP_ERR_TKT_EXPIRED:
      return NtStatus.STATUS_TIME_DIFFERENCE_AT_DC;
    case E.KDC_ERR_CLIENT_REVOKED:
      return NtStatus.STATUS_ACCOUNT_DISABLED;
    case E.KDC_ERR_KEY_EXPIRED:
      return NtStatus.STATUS_PASSWORD_EXPIRED;
    case E.KDC_ERR_NAME_EXP:
      return NtStatus.STATUS_ACCOUNT_EXPIRED;
    case E.KDC_ERR_POLICY:
    case E.KDC_ERR_CLIENT_NOTYET:
      return NtStatus.STATUS_ACCOUNT_RESTRICTION;
    case E.KDC_ERR_SVC_UNAVAILABLE:
      return NtStatus.STATUS_NO_LOGON_SERVERS;
    case E.KDC_ERR_PADATA_TYPE_NOSUPP:
      return NtStatus.STATUS_NOT_SUPPORTED;
    default:
      return NtStatus.STATUS_LOGON_FAILURE;
  }
}

/** The SECURITY_STATUS an SSPI caller gets for a KDC error code. */
export function krbErrorToStatus(code: number): number {
  switch (code) {
    // Service-side failures have their own SSPI codes (Windows: STATUS_NO_TRUST_SAM_ACCOUNT and
    // KRB_AP_ERR_NOT_US surface from InitializeSecurityContext as these).
    case E.KDC_ERR_S_PRINCIPAL_UNKNOWN:
      return SecurityStatus.SEC_E_TARGET_UNKNOWN;
    case E.KRB_AP_ERR_NOT_US:
      return SecurityStatus.SEC_E_WRONG_PRINCIPAL;
    case E.KDC_ERR_ETYPE_NOSUPP:
      return SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE;
    case E.KDC_ERR_PADATA_TYPE_NOSUPP:
      return SecurityStatus.SEC_E_UNSUPPORTED_PREAUTH;
    case E.KDC_ERR_BADOPTION:
    case E.KDC_ERR_BAD_PVNO:
    case E.KRB_ERR_GENERIC:
      return SecurityStatus.SEC_E_KDC_INVALID_REQUEST;
    case E.KDC_ERR_WRONG_REALM:
      return SecurityStatus.SEC_E_KDC_UNABLE_TO_REFER;
    case E.KRB_AP_ERR_TKT_EXPIRED:
      return SecurityStatus.SEC_E_CONTEXT_EXPIRED;
    default:
      return toSecurityStatus(krbErrorToNtStatus(code));
  }
}

/**
 * An SspiError caused by a KRB-ERROR from the KDC. Still one error type for callers
 * (`instanceof SspiError`, `code`); the Kerberos detail rides along.
 */
export class KdcError extends SspiError {
  /** The RFC 4120 error-code. */
  readonly krbErrorCode: number;
  /** Its RFC name, e.g. KDC_ERR_PREAUTH_FAILED. */
  readonly krbErrorName: string;
  /** The NTSTATUS Windows would report (LsaLogonUser's view). */
  readonly ntStatus: number;

  constructor(code: number, detail: string) {
    super(krbErrorToStatus(code), `${krbErrorName(code)} (${code}): ${detail}`);
    this.name = 'SspiError';
    this.krbErrorCode = code;
    this.krbErrorName = krbErrorName(code);
    this.ntStatus = krbErrorToNtStatus(code);
  }
}

/** A KdcError for a received KRB-ERROR; the KDC's e-text is kept (it comes from the KDC, not us). */
export function kdcErrorFrom(err: KrbError, what: string): KdcError {
  const text = err.eText !== undefined && err.eText !== '' ? ` (KDC says: ${err.eText.slice(0, 200)})` : '';
  return new KdcError(err.errorCode, `${what}${text}`);
}

export { krbErrorName };
