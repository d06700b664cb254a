// Pieces every built-in security package needs in the same form: the SpLsaModeInitialize /
// SpUserModeInitialize pair, the LSA-mode context calls turning SspiError into a status, and the
// user-mode calls that rebuild a context from its packed form.

import type { SecBufferDesc } from '../sspi/buffers.js';
import { SspiError } from '../sspi/error.js';
import { SECPKG_INTERFACE_VERSION_2 } from '../sspi/flags.js';
import { NtStatus, SecurityStatus, type Status } from '../sspi/status.js';
import type { LSA_SEC_HANDLE, LsaModeContextResult, SECPKG_FUNCTION_TABLE, SECPKG_USER_FUNCTION_TABLE, SecurityPackageModule } from './types.js';

/** A package module offering one LSA-mode table and a fresh user-mode table per SpUserModeInitialize. */
export function packageModule(table: SECPKG_FUNCTION_TABLE, userModeTable: () => SECPKG_USER_FUNCTION_TABLE): Required<SecurityPackageModule> {
  return {
    async SpLsaModeInitialize() {
      return { status: NtStatus.STATUS_SUCCESS, PackageVersion: SECPKG_INTERFACE_VERSION_2, ppTables: [table] };
    },
    async SpUserModeInitialize() {
      return { status: NtStatus.STATUS_SUCCESS, PackageVersion: SECPKG_INTERFACE_VERSION_2, ppTables: [userModeTable()] };
    },
  };
}

type InitBody = (cred: LSA_SEC_HANDLE, ctx: LSA_SEC_HANDLE, target: string | null, req: number, input: SecBufferDesc | null, output: SecBufferDesc | null) => Promise<LsaModeContextResult>;
type AcceptBody = (cred: LSA_SEC_HANDLE, ctx: LSA_SEC_HANDLE, input: SecBufferDesc | null, req: number, output: SecBufferDesc | null) => Promise<LsaModeContextResult>;

/**
 * InitLsaModeContext / AcceptLsaModeContext over a package's leg functions (TargetDataRep is not
 * used: tokens are byte strings). An SspiError thrown by a leg becomes its status; anything else is
 * a bug and propagates.
 */
export function lsaModeContextCalls(init: InitBody, accept: AcceptBody): Pick<SECPKG_FUNCTION_TABLE, 'InitLsaModeContext' | 'AcceptLsaModeContext'> {
  return {
    InitLsaModeContext(credH, ctxH, target, req, _rep, input, output) {
      return guard(() => init(credH, ctxH, target, req, input, output));
    },
    AcceptLsaModeContext(credH, ctxH, input, req, _rep, output) {
      return guard(() => accept(credH, ctxH, input, req, output));
    },
  };
}

async function guard(fn: () => Promise<LsaModeContextResult>): Promise<LsaModeContextResult> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof SspiError) return e.detail ? { status: e.status, ExtendedError: e.detail } : { status: e.status };
    throw e;
  }
}

/**
 * InitUserModeContext and ImportContext for a user-mode table: both rebuild a context from its
 * packed form into `contexts`; a failed build reports statusOf(error). Imported handles start at
 * 2^48 so they never meet the handles the LSA assigns.
 */
export function userModeContextCalls<U>(
  contexts: Map<LSA_SEC_HANDLE, U>,
  build: (packed: Uint8Array) => U,
  statusOf: (e: unknown) => Status,
): Pick<Required<SECPKG_USER_FUNCTION_TABLE>, 'InitUserModeContext' | 'ImportContext'> {
  let nextImported = 1n << 48n;
  return {
    InitUserModeContext(h, packed) {
      try {
        contexts.set(h, build(packed));
        return SecurityStatus.SEC_E_OK;
      } catch (e) {
        return statusOf(e);
      }
    },
    ImportContext(packed) {
      try {
        const u = build(packed);
        const h = nextImported++;
        contexts.set(h, u);
        return { status: SecurityStatus.SEC_E_OK, ContextHandle: h };
      } catch (e) {
        return { status: statusOf(e) };
      }
    },
  };
}
