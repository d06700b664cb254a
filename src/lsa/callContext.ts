// Per-call state (who is calling, how deep the package-to-package chain is), carried across
// awaits with AsyncLocalStorage so GetClientInfo/GetCallInfo answer for the call in progress.

import { AsyncLocalStorage } from 'node:async_hooks';
import type { LSA_CLIENT_REQUEST, SECPKG_CLIENT_INFO } from './types.js';

export interface CallFrame {
  client: SECPKG_CLIENT_INFO;
  request: LSA_CLIENT_REQUEST;
  attributes: number;
  callCount: number;
  depth: number;
  /** Id of the package whose code is running. */
  packageId: number;
}

export const callStorage = new AsyncLocalStorage<CallFrame>();

export function currentFrame(): CallFrame | undefined {
  return callStorage.getStore();
}
