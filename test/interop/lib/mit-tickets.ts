// MIT-issued tickets for token-level tests: kinit + kvno into a ccache, read back with our ccache
// reader, so a test can build its own AP-REQ from a ticket the real KDC issued.
import assert from 'node:assert/strict';
import { readCcacheFile, ticketCredentials, type Credential } from '../../../src/packages/kerberos/ccache.js';
import type { Realm } from './realm.js';

/** user's HTTP/localhost service ticket from MIT (kinit, then kvno with `enctype` when given), from ccache `cc`. */
export async function mitServiceTicket(realm: Realm, cc: string, enctype?: string): Promise<Credential> {
  await realm.kinit('user', undefined, cc);
  await realm.kvno('HTTP/localhost', { ccache: cc, ...(enctype ? { enctype } : {}) });
  const cred = ticketCredentials(readCcacheFile(cc)).find((c) => c.server.components.join('/') === 'HTTP/localhost');
  assert.ok(cred, 'kvno put an HTTP/localhost ticket in the ccache');
  return cred;
}
