// NTLM sign-on over accounts the application keeps, through the public entry only: a
// MemoryAccountStore (or any AccountStore) handed to builtinPackages({ accounts }), an HTTP server
// on createAuthenticator and a client on createFetch.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  AccountStoreError,
  builtinPackages,
  createAuthenticator,
  createFetch,
  createLsa,
  MemoryAccountStore,
  NTOWFv1,
  type AccountStore,
  type LsaHost,
} from '../../src/index.js';

/** One GET signed on with NTLM as user/password: status and body; the client is closed after. */
async function get(url: string, user: string, password: string): Promise<{ status: number; body: string }> {
  const fetch = createFetch({ credentials: { user, domain: 'EXAMPLE', password }, packages: ['NTLM'] });
  try {
    const r = await fetch(url);
    return { status: r.status, body: await r.text() };
  } finally {
    await fetch.close();
  }
}

describe('NTLM over an application-supplied AccountStore (public API)', () => {
  const accounts = new MemoryAccountStore({ lockout: { threshold: 3 } });
  let lsa: LsaHost;
  let server: http.Server;
  let url: string;

  before(async () => {
    await accounts.add({ user: 'alice', domain: 'EXAMPLE', ntHash: NTOWFv1('Passw0rd') });
    lsa = await createLsa({ domainName: 'EXAMPLE', packages: await builtinPackages({ accounts }) });
    const auth = createAuthenticator({ host: lsa, packages: ['NTLM'] });
    server = http.createServer(async (req, res) => {
      const who = await auth.authenticate(req, res);
      if (!who) return;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ user: who.user, domain: who.domain, package: who.package }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await lsa.shutdown();
  });

  it('signs alice on from the store given, and counts a bad password against it', async () => {
    const ok = await get(url, 'alice', 'Passw0rd');
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { user: 'alice', domain: 'EXAMPLE', package: 'NTLM' });

    // The server refused the AUTHENTICATE: its 401 is handed back as it is (no retry loop).
    assert.equal((await get(url, 'alice', 'wrong')).status, 401);
    assert.equal((await accounts.get('EXAMPLE', 'alice'))!.badPasswordCount, 1, 'the logon was recorded in the store given');

    // An account added later is seen at the next sign-on.
    await accounts.add({ user: 'bob', domain: 'EXAMPLE', ntHash: NTOWFv1('b0b pass') });
    assert.equal((JSON.parse((await get(url, 'bob', 'b0b pass')).body) as { user: string }).user, 'bob');
  });

  it('an AccountStore of the application’s own (here a read-only view) is all the authority needs', async () => {
    const calls: string[] = [];
    const own: AccountStore = {
      lockoutPolicy: accounts.lockoutPolicy,
      async get(domain, user) {
        calls.push(`get ${domain}\\${user}`);
        return accounts.get(domain, user);
      },
      list: () => accounts.list(),
      add: () => Promise.reject(new AccountStoreError('INVALID', 'read-only')),
      setNtHash: () => Promise.reject(new AccountStoreError('INVALID', 'read-only')),
      setDisabled: () => Promise.reject(new AccountStoreError('INVALID', 'read-only')),
      unlock: () => Promise.reject(new AccountStoreError('INVALID', 'read-only')),
      delete: () => Promise.reject(new AccountStoreError('INVALID', 'read-only')),
      recordLogon: async (domain, user, ok) => {
        calls.push(`record ${domain}\\${user} ${ok}`);
        return null;
      },
      close: async () => undefined,
    };
    const host = await createLsa({ domainName: 'EXAMPLE', packages: await builtinPackages({ accounts: own }) });
    const auth = createAuthenticator({ host, packages: ['NTLM'] });
    const s = http.createServer(async (req, res) => {
      const who = await auth.authenticate(req, res);
      if (who) res.end(`${who.domain}\\${who.user}`);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const r = await get(`http://127.0.0.1:${(s.address() as AddressInfo).port}/`, 'bob', 'b0b pass');
      assert.equal(r.body, 'EXAMPLE\\bob');
      assert.deepEqual(calls, ['get EXAMPLE\\bob', 'record EXAMPLE\\bob true']);
    } finally {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
      await host.shutdown();
    }
  });
});
