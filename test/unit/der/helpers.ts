import * as assert from 'node:assert/strict';
import { SspiError } from '../../../src/sspi/error.js';
import { SecurityStatus } from '../../../src/sspi/status.js';

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The call must fail with SspiError(SEC_E_INVALID_TOKEN) and nothing else. */
export function assertInvalid(fn: () => unknown, detail?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SspiError, `expected SspiError, got ${String(e)}`);
    assert.equal(e.status, SecurityStatus.SEC_E_INVALID_TOKEN, e.message);
    if (detail) assert.match(e.message, detail);
    return true;
  });
}

/** The call must fail with SspiError(SEC_E_INVALID_PARAMETER): a bad value handed to an encoder. */
export function assertBadParameter(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof SspiError && e.status === SecurityStatus.SEC_E_INVALID_PARAMETER);
}

/** For fuzzing: run, and accept only a value or SspiError(SEC_E_INVALID_TOKEN). */
export function decodesOrInvalid(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof SspiError && e.status === SecurityStatus.SEC_E_INVALID_TOKEN) return false;
    throw e;
  }
}
