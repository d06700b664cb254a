// Context export/import mid-stream, and default credentials from the caller's logon session.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Credentials } from '../../../../src/credentials.js';
import { SecurityContext } from '../../../../src/context.js';
import { AllocateLocallyUniqueId } from '../../../../src/lsa/logonSessions.js';
import type { LSA_SECPKG_FUNCTION_TABLE, SecurityPackageModule } from '../../../../src/lsa/types.js';
import { MSV1_0_PRIMARY_KEY, decodePrimaryCredential, encodePrimaryCredential } from '../../../../src/packages/msv1_0/protocol.js';
import { unpackContextData } from '../../../../src/packages/ntlm/contextData.js';
import { NTOWFv1 } from '../../../../src/packages/ntlm/crypto.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SECPKG_ATTR, SECPKG_INTERFACE_VERSION } from '../../../../src/sspi/flags.js';
import { PASSWORD, handshake, ntlmHost, pair, roundTrip } from './ntlm-harness.js';

describe('NTLM context export after messages', () => {
  it('an imported client context continues both RC4 streams and sequence numbers', async () => {
    const p = await pair();
    await handshake(p);
    for (let i = 0; i < 3; i++) roundTrip(p.client, p.server);
    const packed = await p.client.export();
    const data = unpackContextData(packed);
    assert.equal(data.sendSeqNum, 6); // 3 x (wrap + sign)
    assert.equal(data.recvSeqNum, 3);
    assert.ok(data.streams);
    await p.client.delete();
    const imported = await SecurityContext.import(p.host.sspi(), 'NTLM', packed);
    for (let i = 0; i < 3; i++) roundTrip(imported, p.server);
    await p.host.shutdown();
  });

  it('an imported server context continues too, and the exporter may keep going in its place', async () => {
    const p = await pair();
    await handshake(p);
    roundTrip(p.client, p.server);
    const packed = await p.server.export();
    const copy = await SecurityContext.import(p.host.sspi(), 'NTLM', packed);
    const m = new Uint8Array([1, 2, 3, 4]);
    assert.deepEqual(copy.unwrap(p.client.wrap(m)).message, m);
    assert.deepEqual(p.client.unwrap(copy.wrap(m)).message, m);
    await p.host.shutdown();
  });

  it('an export taken before any message still imports (version 1 data stays readable)', async () => {
    const p = await pair();
    await handshake(p);
    const packed = await p.client.export();
    const imported = await SecurityContext.import(p.host.sspi(), 'NTLM', packed);
    roundTrip(imported, p.server);
    await p.host.shutdown();
  });

  it('rejects tampered stream state with SEC_E_INVALID_TOKEN', async () => {
    const p = await pair();
    await handshake(p);
    roundTrip(p.client, p.server);
    const packed = (await p.client.export()).slice();
    packed[packed.length - 300] = packed[packed.length - 299]!; // the S-box is no longer a permutation
    await assert.rejects(SecurityContext.import(p.host.sspi(), 'NTLM', packed), (e: SspiError) => e.code === 'SEC_E_INVALID_TOKEN');
    const cut = (await p.client.export()).slice(0, -10);
    await assert.rejects(SecurityContext.import(p.host.sspi(), 'NTLM', cut), (e: SspiError) => e.code === 'SEC_E_INVALID_TOKEN');
    await p.host.shutdown();
  });
});

/** A package that only keeps the LSA table, as a logon package would to file credentials. */
function tableCatcher(): { module: SecurityPackageModule; table: () => LSA_SECPKG_FUNCTION_TABLE } {
  let t: LSA_SECPKG_FUNCTION_TABLE | null = null;
  const module: SecurityPackageModule = {
    async SpLsaModeInitialize() {
      return {
        status: 0,
        PackageVersion: SECPKG_INTERFACE_VERSION,
        ppTables: [{
          async Initialize(_id, _p, lsa) {
            t = lsa;
            return 0;
          },
          async GetInfo() {
            return { status: 0, PackageInfo: { Name: 'Catcher', Comment: 'test', fCapabilities: 0, wVersion: 1, wRPCID: 0xffff, cbMaxToken: 0 } };
          },
        }],
      };
    },
  };
  return { module, table: () => t! };
}

describe('NTLM default credentials from the logon session', () => {
  it('AcquireCredentialsHandle without auth data uses the session primary credential', async () => {
    const { host } = await ntlmHost();
    const catcher = tableCatcher();
    await host.loadPackage(catcher.module);
    const ntlmId = host.lsa.findPackage('NTLM')!.id;
    const luid = AllocateLocallyUniqueId();
    host.lsa.createLogonSession(luid);
    const blob = encodePrimaryCredential({ LogonDomainName: 'EXAMPLE', UserName: 'alice', NtOwfPassword: NTOWFv1(PASSWORD) });
    assert.deepEqual(decodePrimaryCredential(blob).UserName, 'alice');
    assert.equal(await catcher.table().AddCredential(luid, ntlmId, MSV1_0_PRIMARY_KEY, blob), 0);

    const sspi = host.sspi({ logonId: luid });
    const cc = await Credentials.acquire(sspi, { package: 'NTLM', use: 'outbound' });
    assert.equal(await cc.userName(), 'EXAMPLE\\alice');
    const sc = await Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'inbound' });
    const client = SecurityContext.client(cc, { target: 'HTTP/web.example.test', flags: ['CONFIDENTIALITY'] });
    const server = SecurityContext.server(sc, { flags: ['CONFIDENTIALITY'] });
    await handshake({ host, store: null as never, client, server });
    assert.equal((await server.query<{ sUserName: string }>(SECPKG_ATTR.NAMES)).sUserName, 'EXAMPLE\\alice');
    roundTrip(client, server);
    await host.shutdown();
  });

  it('SEC_E_NO_CREDENTIALS when the session holds none; SEC_E_NOT_OWNER for another session untrusted', async () => {
    const { host } = await ntlmHost();
    await assert.rejects(Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'outbound' }), (e: SspiError) => e.code === 'SEC_E_NO_CREDENTIALS');
    const other = AllocateLocallyUniqueId();
    host.lsa.createLogonSession(other);
    await assert.rejects(Credentials.acquire(host.sspi(), { package: 'NTLM', use: 'outbound', logonId: other }), (e: SspiError) => e.code === 'SEC_E_NOT_OWNER');
    // A trusted caller may name the session; it has no credential either.
    await assert.rejects(Credentials.acquire(host.sspi({ trusted: true }), { package: 'NTLM', use: 'outbound', logonId: other }), (e: SspiError) => e.code === 'SEC_E_NO_CREDENTIALS');
    await host.shutdown();
  });
});
