// Cluster mode with a package that cannot export a handshake in progress: the leg's state stays on
// its node, bound to the connection (as NTLM over HTTP is anyway), instead of failing the client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLsa } from '../../../src/lsa/host.js';
import type { SecurityPackageModule } from '../../../src/lsa/types.js';
import { ntlmPackage } from '../../../src/packages/ntlm/package.js';
import type { HandshakeStore, ParkedHandshake } from '../../../src/http/handshakeStore.js';
import { realAuthority } from '../../fixtures/authority.js';
import { Client, PASSWORD, clientContext, signOn, startServer } from './helpers.js';

/** NTLM without ExportLsaModeContext (a package that keeps its half-built state to itself). */
function ntlmWithoutExport(): SecurityPackageModule {
  const inner = ntlmPackage();
  return {
    ...inner,
    async SpLsaModeInitialize(v) {
      const r = await inner.SpLsaModeInitialize(v);
      return { ...r, ppTables: r.ppTables.map((t) => ({ ...t, ExportLsaModeContext: undefined })) };
    },
  };
}

/** A shared store in memory that counts what it was given. */
class CountingSharedStore implements HandshakeStore {
  readonly shared = true;
  readonly entries = new Map<string, ParkedHandshake>();
  parks = 0;
  async park(key: string, h: ParkedHandshake): Promise<void> {
    assert.ok(h.context instanceof Uint8Array, 'a shared store is only handed bytes');
    this.parks++;
    // Like a real shared store, keep a copy: the server zeroes its bytes once parked.
    this.entries.set(key, { ...h, context: h.context.slice() });
  }
  async take(key: string): Promise<ParkedHandshake | null> {
    const h = this.entries.get(key) ?? null;
    this.entries.delete(key);
    return h;
  }
  async discard(key: string): Promise<void> {
    this.entries.delete(key);
  }
  async size(): Promise<number> {
    return this.entries.size;
  }
  async close(): Promise<void> {}
}

test('cluster mode: an unexportable NTLM state waits on its connection, and the sign-on succeeds', async () => {
  const host = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmWithoutExport(), await realAuthority({ alice: PASSWORD }, 'EXAMPLE')] });
  const store = new CountingSharedStore();
  const srv = await startServer(host, { store, packages: ['NTLM'] });
  const client = new Client(srv.url);
  try {
    const { reply, legs } = await signOn(client, await clientContext(host, 'NTLM'), 'NTLM');
    assert.equal(reply.status, 200, reply.body);
    assert.equal(legs, 2);
    assert.equal(JSON.parse(reply.body).user, 'alice');
    assert.equal(store.parks, 0);
    // Nothing is promised to other nodes: no handshake cookie was set.
    assert.equal(srv.failures.length, 0);
  } finally {
    client.close();
    await srv.close();
  }
});

test('cluster mode: the exportable NTLM state goes to the shared store as bytes', async () => {
  const host = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmPackage(), await realAuthority({ alice: PASSWORD }, 'EXAMPLE')] });
  const store = new CountingSharedStore();
  const srv = await startServer(host, { store, packages: ['NTLM'] });
  const client = new Client(srv.url);
  try {
    const { reply } = await signOn(client, await clientContext(host, 'NTLM'), 'NTLM');
    assert.equal(reply.status, 200, JSON.stringify(srv.failures));
    assert.equal(store.parks, 1, JSON.stringify(srv.failures));
  } finally {
    client.close();
    await srv.close();
  }
});

test('cluster mode keeps no identity on a connection unless persistConnection says so', async () => {
  const host = await createLsa({ domainName: 'EXAMPLE', packages: [ntlmPackage(), await realAuthority({ alice: PASSWORD }, 'EXAMPLE')] });
  for (const [persistConnection, next] of [[undefined, 401], [true, 200], [false, 401]] as const) {
    const srv = await startServer(host, { store: new CountingSharedStore(), packages: ['NTLM'], ...(persistConnection !== undefined ? { persistConnection } : {}) });
    const client = new Client(srv.url);
    const ctx = await clientContext(host, 'NTLM');
    try {
      const { reply } = await signOn(client, ctx, 'NTLM');
      assert.equal(reply.status, 200);
      // The next request on the same connection, without Authorization: another client's, maybe.
      assert.equal((await client.get('/')).status, next, `persistConnection ${String(persistConnection)}`);
    } finally {
      await ctx.delete();
      client.close();
      await srv.close();
    }
  }
  await host.shutdown();
});
