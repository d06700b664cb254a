import { SspiError } from '../sspi/error.js';
import { SecurityStatus } from '../sspi/status.js';

/** Every malformed or unexpected DER input ends here: a token the peer sent that we cannot accept. */
export function derFail(detail: string): never {
  throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `DER: ${detail}`);
}

/** A value our own caller asked us to encode that DER (or the schema) cannot represent: a caller bug. */
export function derEncodeFail(detail: string): never {
  throw new SspiError(SecurityStatus.SEC_E_INVALID_PARAMETER, `DER encode: ${detail}`);
}

/**
 * Run a decoder and make sure only SspiError escapes: any other exception (a RangeError from a
 * typed array, a TypeError from a bug) on peer input still means "invalid token".
 */
export function guardDecode<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SspiError) throw e;
    throw new SspiError(SecurityStatus.SEC_E_INVALID_TOKEN, `DER: ${e instanceof Error ? e.name : 'error'} while decoding`, {
      cause: e,
    });
  }
}
