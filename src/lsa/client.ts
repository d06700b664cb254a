// The LSA client API of ntsecapi.h: LsaConnectUntrusted / LsaRegisterLogonProcess,
// LsaLookupAuthenticationPackage, LsaCallAuthenticationPackage, LsaFreeReturnBuffer,
// LsaDeregisterLogonProcess. Trusted connections reach a package's CallPackage, untrusted ones
// its CallPackageUntrusted (reference section 7).

import { NtStatus, type Status } from '../sspi/status.js';
import type { LsaConnection } from './protocol.js';

/** An LSA handle: a connection whose calls are routed by its trust level. */
export type LsaHandle = LsaConnection;

export async function LsaLookupAuthenticationPackage(LsaHandle: LsaHandle, PackageName: string): Promise<{ status: Status; AuthenticationPackage: number }> {
  if (typeof PackageName !== 'string') return { status: NtStatus.STATUS_NO_SUCH_PACKAGE, AuthenticationPackage: 0 };
  return LsaHandle.LookupAuthenticationPackage(PackageName);
}

export interface LsaCallAuthenticationPackageResult {
  /** Could the LSA deliver the call. */
  status: Status;
  ProtocolReturnBuffer: Uint8Array | null;
  ReturnBufferLength: number;
  /** The package's own result. */
  ProtocolStatus: Status;
}

/**
 * LsaCallAuthenticationPackage. `ClientBufferBase` is the address the caller's self-relative
 * pointers are relative to (in C, the submit buffer's own address); 0 by default.
 */
export async function LsaCallAuthenticationPackage(
  LsaHandle: LsaHandle,
  AuthenticationPackage: number,
  ProtocolSubmitBuffer: Uint8Array,
  SubmitBufferLength: number = ProtocolSubmitBuffer?.length ?? 0,
  options: { ClientBufferBase?: bigint } = {},
): Promise<LsaCallAuthenticationPackageResult> {
  if (!(ProtocolSubmitBuffer instanceof Uint8Array) || !Number.isInteger(SubmitBufferLength) || SubmitBufferLength < 0 || SubmitBufferLength > ProtocolSubmitBuffer.length) {
    return { status: NtStatus.STATUS_INVALID_PARAMETER, ProtocolReturnBuffer: null, ReturnBufferLength: 0, ProtocolStatus: NtStatus.STATUS_INVALID_PARAMETER };
  }
  return LsaHandle.CallAuthenticationPackage(AuthenticationPackage, ProtocolSubmitBuffer.subarray(0, SubmitBufferLength), options.ClientBufferBase ?? 0n);
}

export function LsaFreeReturnBuffer(Buffer: Uint8Array | null): Status {
  if (Buffer instanceof Uint8Array) Buffer.fill(0);
  return NtStatus.STATUS_SUCCESS;
}

export async function LsaDeregisterLogonProcess(LsaHandle: LsaHandle): Promise<Status> {
  await LsaHandle.close();
  return NtStatus.STATUS_SUCCESS;
}
