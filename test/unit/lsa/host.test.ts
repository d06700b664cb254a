import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLsa } from '../../../src/lsa/host.js';
import { Lsa } from '../../../src/lsa/lsa.js';
import { LsaProtectMemory, LsaUnprotectMemory } from '../../../src/lsa/heap.js';
import { AllocateLocallyUniqueId } from '../../../src/lsa/logonSessions.js';
import type { LSA_SECPKG_FUNCTION_TABLE, SECPKG_FUNCTION_TABLE, SECPKG_PARAMETERS, SecurityPackageModule } from '../../../src/lsa/types.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SECPKG_INTERFACE_VERSION, SECPKG_INTERFACE_VERSION_2 } from '../../../src/sspi/flags.js';
import { NtStatus, SecurityStatus } from '../../../src/sspi/status.js';

function moduleOf(tables: SECPKG_FUNCTION_TABLE[], version = SECPKG_INTERFACE_VERSION): SecurityPackageModule {
  return { SpLsaModeInitialize: async () => ({ status: 0, PackageVersion: version, ppTables: tables }) };
}

function infoTable(name: string, extra: Partial<SECPKG_FUNCTION_TABLE> = {}): SECPKG_FUNCTION_TABLE {
  return { GetInfo: async () => ({ status: 0, PackageInfo: { fCapabilities: 0, wVersion: 1, wRPCID: 0xffff, cbMaxToken: 0, Name: name, Comment: '' } }), ...extra };
}

describe('package loading (SpLsaModeInitialize)', () => {
  it('loads every table of a module, assigns ids in order and calls Initialize then GetInfo', async () => {
    const seen: Array<[number, SECPKG_PARAMETERS, string]> = [];
    const order: string[] = [];
    const mk = (name: string) =>
      infoTable(name, {
        Initialize: async (id, params) => {
          order.push(`init ${name}`);
          seen.push([id, params, name]);
          return 0;
        },
        GetInfo: async () => {
          order.push(`info ${name}`);
          return { status: 0, PackageInfo: { fCapabilities: 0, wVersion: 1, wRPCID: 0xffff, cbMaxToken: 0, Name: name, Comment: '' } };
        },
      });
    const lsa = new Lsa({ domainName: 'EXAMPLE' });
    const loaded = await lsa.loadPackage(moduleOf([mk('One'), mk('Two')]), { config: { k: 1 } });
    assert.deepEqual(loaded.map((p) => [p.id, p.name, p.tableIndex]), [[0, 'One', 0], [1, 'Two', 1]]);
    assert.deepEqual(order, ['init One', 'info One', 'init Two', 'info Two']);
    assert.equal(seen[0]![1].DomainName, 'EXAMPLE');
    assert.deepEqual(seen[1]![1].PackageConfig, { k: 1 });
  });

  it('refuses modules that do not initialise, and duplicate names', async () => {
    const lsa = new Lsa();
    await assert.rejects(lsa.loadPackage({} as SecurityPackageModule), (e: SspiError) => e.status === SecurityStatus.SEC_E_CANNOT_INSTALL);
    await assert.rejects(lsa.loadPackage({ SpLsaModeInitialize: async () => ({ status: NtStatus.STATUS_ACCESS_DENIED, PackageVersion: 0, ppTables: [] }) }), (e: SspiError) => e.status === NtStatus.STATUS_ACCESS_DENIED);
    await assert.rejects(lsa.loadPackage({ SpLsaModeInitialize: async () => { throw new Error('x'); } }), (e: SspiError) => e.code === 'SEC_E_CANNOT_INSTALL');
    await assert.rejects(lsa.loadPackage(moduleOf([{ GetInfo: async () => ({ status: SecurityStatus.SEC_E_INTERNAL_ERROR }) }])), SspiError);
    await lsa.loadPackage(moduleOf([infoTable('Same')]));
    await assert.rejects(lsa.loadPackage(moduleOf([infoTable('SAME')])), /already loaded/);
    assert.equal(lsa.list().length, 1);
  });

  it('never calls members beyond the package\'s interface version', async () => {
    let called = 0;
    const t = infoTable('V1', { SetContextAttributes: async () => { called++; return 0; } });
    const lsa = new Lsa();
    const [p] = await lsa.loadPackage(moduleOf([t], SECPKG_INTERFACE_VERSION));
    assert.equal(p!.table.SetContextAttributes, undefined);
    const [p2] = await lsa.loadPackage(moduleOf([infoTable('V2', { SetContextAttributes: async () => { called++; return 0; } })], SECPKG_INTERFACE_VERSION_2));
    assert.equal(typeof p2!.table.SetContextAttributes, 'function');
  });
});

describe('LSA_SECPKG_FUNCTION_TABLE', () => {
  async function withTable(): Promise<{ lsa: LSA_SECPKG_FUNCTION_TABLE; id: number; host: Awaited<ReturnType<typeof createLsa>>; terminated: bigint[] }> {
    let table!: LSA_SECPKG_FUNCTION_TABLE;
    let pid = -1;
    const terminated: bigint[] = [];
    const host = await createLsa({ packages: [moduleOf([infoTable('P', { Initialize: async (id, _p, t) => { table = t; pid = id; return 0; }, LogonTerminated: (l) => { terminated.push(l); } })])] });
    return { lsa: table, id: pid, host, terminated };
  }

  it('keeps logon sessions and their credentials per package', async () => {
    const { lsa, id, terminated } = await withTable();
    const luid = AllocateLocallyUniqueId();
    assert.equal(await lsa.AddCredential(luid, id, new Uint8Array([1]), new Uint8Array([2])), NtStatus.STATUS_NO_SUCH_LOGON_SESSION);
    assert.equal(await lsa.CreateLogonSession(luid), NtStatus.STATUS_SUCCESS);
    assert.equal(await lsa.CreateLogonSession(luid), NtStatus.STATUS_INVALID_PARAMETER);
    assert.equal(await lsa.AddCredential(luid, id, new Uint8Array([1]), new Uint8Array([10])), 0);
    assert.equal(await lsa.AddCredential(luid, id, new Uint8Array([2]), new Uint8Array([20])), 0);
    const one = await lsa.GetCredentials(luid, id, 0, false, new Uint8Array([2]));
    assert.deepEqual(one.Credentials, new Uint8Array([20]));
    // Enumerate with QueryContext.
    const all: number[] = [];
    let q = 0;
    for (;;) {
      const r = await lsa.GetCredentials(luid, id, q, true, null);
      if (r.status !== 0) {
        assert.equal(r.status, NtStatus.STATUS_NO_MORE_ENTRIES);
        break;
      }
      all.push(r.Credentials![0]!);
      q = r.QueryContext;
    }
    assert.deepEqual(all, [10, 20]);
    assert.equal((await lsa.GetCredentials(luid, id + 1, 0, false, new Uint8Array([1]))).status, NtStatus.STATUS_NOT_FOUND);
    assert.equal(await lsa.DeleteCredential(luid, id, new Uint8Array([1])), 0);
    assert.equal(await lsa.DeleteCredential(luid, id, new Uint8Array([1])), NtStatus.STATUS_NOT_FOUND);
    assert.equal(await lsa.DeleteLogonSession(luid), 0);
    assert.deepEqual(terminated, [luid]);
    assert.equal(await lsa.DeleteLogonSession(luid), NtStatus.STATUS_NO_SUCH_LOGON_SESSION);
  });

  it('answers GetClientInfo / GetCallInfo only inside a call, and zeroes freed heap', async () => {
    const { lsa } = await withTable();
    assert.equal(lsa.GetCallInfo(), null);
    assert.equal(lsa.GetClientInfo().status, NtStatus.STATUS_INVALID_PARAMETER);
    const heap = lsa.AllocateLsaHeap(8);
    heap.fill(7);
    lsa.FreeLsaHeap(heap);
    assert.deepEqual(heap, new Uint8Array(8));
    const { ClientBaseAddress } = lsa.AllocateClientBuffer(null, 4);
    assert.equal(lsa.CopyToClientBuffer(null, 4, ClientBaseAddress, new Uint8Array([1, 2, 3, 4])), 0);
    const back = new Uint8Array(4);
    assert.equal(lsa.CopyFromClientBuffer(null, 4, back, ClientBaseAddress), 0);
    assert.deepEqual(back, new Uint8Array([1, 2, 3, 4]));
    assert.equal(lsa.CopyToClientBuffer(null, 5, ClientBaseAddress, new Uint8Array(5)), NtStatus.STATUS_ACCESS_DENIED);
  });

  it('LsaProtectMemory hides a buffer in place and LsaUnprotectMemory restores it', () => {
    const secret = new Uint8Array(40).fill(0x41);
    const copy = secret.slice();
    LsaProtectMemory(secret);
    assert.notDeepEqual(secret, copy);
    LsaUnprotectMemory(secret);
    assert.deepEqual(secret, copy);
  });
});
