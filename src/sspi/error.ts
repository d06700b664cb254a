import { type Status, statusHex, statusName } from './status.js';

/**
 * The one error type of tslsa: an exact SECURITY_STATUS or NTSTATUS, with its symbolic name in
 * `code` so that `switch (err.code)` narrows. The message describes the input, never a secret.
 */
export class SspiError extends Error {
  /** The numeric status, unsigned (for example 0x8009030C). */
  readonly status: Status;
  /** The status name (for example 'SEC_E_LOGON_DENIED'), or its hex form when unnamed. */
  readonly code: string;
  /** The description alone (the message without the status), when one was given. */
  readonly detail: string | undefined;

  constructor(status: Status, detail?: string, options?: { cause?: unknown }) {
    const code = statusName(status);
    super(detail ? `${code} (${statusHex(status)}): ${detail}` : `${code} (${statusHex(status)})`, options);
    this.name = 'SspiError';
    this.status = status >>> 0;
    this.code = code;
    this.detail = detail || undefined;
  }

  static is(e: unknown, status?: Status): e is SspiError {
    return e instanceof SspiError && (status === undefined || e.status === status >>> 0);
  }
}

/** The error of a failed SSPI call, with the package's description of the cause when it gave one. */
export function callFailed(status: Status, call: string, extendedError?: string): SspiError {
  return new SspiError(status, extendedError ? `${call} failed: ${extendedError}` : `${call} failed`);
}

/** Throw an SspiError; for expressions. */
export function fail(status: Status, detail?: string): never {
  throw new SspiError(status, detail);
}
