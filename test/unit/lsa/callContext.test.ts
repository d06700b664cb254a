// How the call frame reaches package code (src/lsa/callContext.ts): AsyncLocalStorage only for
// undeclared packages and declared after-await readers, a plain variable for the synchronous part
// of the other calls, and AsyncLocalStorage off again between calls. The cases run in order: the
// last one loads an undeclared package, which switches this process to AsyncLocalStorage for good.
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { asyncFramesLive, declareFrameUse } from '../../../src/lsa/callContext.js';
import { createLsa } from '../../../src/lsa/host.js';
import { Lsa, type LoadedPackage } from '../../../src/lsa/lsa.js';
import { builtinPackages } from '../../../src/packages/index.js';
import { msv1_0Package } from '../../../src/packages/msv1_0/package.js';
import { MemoryAccountStore } from '../../../src/store/accounts.js';
import type { LSA_SECPKG_FUNCTION_TABLE, SECPKG_FUNCTION_TABLE, SecurityPackageModule } from '../../../src/lsa/types.js';
import { SECPKG_CALL, SECPKG_INTERFACE_VERSION } from '../../../src/sspi/flags.js';

interface Seen {
  before: number | null;
  after: number | null;
  recursiveAfter: boolean;
}

/** A package whose CallPackage and AcceptLsaModeContext note the caller before and after an await. */
function probe(name: string, seen: Seen[], nested?: string): { module: SecurityPackageModule; lsa: () => LSA_SECPKG_FUNCTION_TABLE } {
  let lsa: LSA_SECPKG_FUNCTION_TABLE | undefined;
  const note = async (): Promise<void> => {
    const before = lsa!.GetCallInfo();
    await tick();
    if (nested) await lsa!.CallPackage(nested, new Uint8Array(1), 1);
    const after = lsa!.GetCallInfo();
    seen.push({ before: before?.ProcessId ?? null, after: after?.ProcessId ?? null, recursiveAfter: ((after?.Attributes ?? 0) & SECPKG_CALL.RECURSIVE) !== 0 });
  };
  const table: SECPKG_FUNCTION_TABLE = {
    InitializePackage: async (_id, t) => {
      lsa = t;
      return { status: 0 };
    },
    GetInfo: async () => ({ status: 0, PackageInfo: { fCapabilities: 0, wVersion: 1, wRPCID: 0xffff, cbMaxToken: 0, Name: name, Comment: '' } }),
    CallPackage: async () => {
      await note();
      return { status: 0, ProtocolReturnBuffer: null, ReturnBufferLength: 0, ProtocolStatus: 0 };
    },
    AcceptLsaModeContext: async () => {
      await note();
      return { status: 0 };
    },
  };
  return { module: { SpLsaModeInitialize: async () => ({ status: 0, PackageVersion: SECPKG_INTERFACE_VERSION, ppTables: [table] }) }, lsa: () => lsa! };
}

const client = { trusted: false, logonId: 0x1234n, processId: 4242, name: 'client' };

function call(lsa: Lsa, pkg: LoadedPackage, entry: 'CallPackage' | 'AcceptLsaModeContext'): Promise<unknown> {
  return lsa.invoke(pkg, entry, lsa.clientFrame(client, pkg.id), () => (entry === 'CallPackage' ? pkg.table.CallPackage!({ id: 1 }, new Uint8Array(1), 0n, 1) : pkg.table.AcceptLsaModeContext!(0n, 0n, null, 0, 0, null)), () => undefined);
}

describe('call frames (GetCallInfo / GetClientInfo) across awaits', () => {
  it('a declared package sees its frame in the synchronous part only, with AsyncLocalStorage off', async () => {
    const seen: Seen[] = [];
    const lsa = new Lsa({});
    const [pkg] = await lsa.loadPackage(declareFrameUse(probe('Plain', seen).module, []));
    assert.equal(asyncFramesLive(), false, 'loading left AsyncLocalStorage on');
    const pending = call(lsa, pkg!, 'AcceptLsaModeContext');
    assert.equal(asyncFramesLive(), false, 'a per-message call turned AsyncLocalStorage on');
    await pending;
    assert.deepEqual(seen, [{ before: 4242, after: null, recursiveAfter: false }]);
  });

  it('a declared after-await reader keeps its frame, and AsyncLocalStorage goes off when it returns', async () => {
    const seen: Seen[] = [];
    const lsa = new Lsa({});
    const [pkg] = await lsa.loadPackage(declareFrameUse(probe('Reader', seen).module, ['CallPackage']));
    const pending = call(lsa, pkg!, 'CallPackage');
    assert.equal(asyncFramesLive(), true);
    await pending;
    assert.equal(asyncFramesLive(), false);
    assert.deepEqual(seen, [{ before: 4242, after: 4242, recursiveAfter: false }]);
  });

  it('a call nested in an AsyncLocalStorage call keeps the caller and the recursion mark after its awaits', async () => {
    const seen: Seen[] = [];
    const lsa = new Lsa({});
    const [outer] = await lsa.loadPackage(declareFrameUse(probe('Outer', seen, 'Inner').module, ['CallPackage']));
    // Inner declares no after-await reader, yet its frame must not fall back to none inside Outer's call.
    await lsa.loadPackage(declareFrameUse(probe('Inner', seen).module, []));
    await call(lsa, outer!, 'CallPackage');
    assert.deepEqual(seen, [
      { before: 4242, after: 4242, recursiveAfter: true },
      { before: 4242, after: 4242, recursiveAfter: false },
    ]);
    assert.equal(asyncFramesLive(), false);
  });

  it('concurrent calls of both kinds each see their own frame', async () => {
    const seen: Seen[] = [];
    const lsa = new Lsa({});
    const [reader] = await lsa.loadPackage(declareFrameUse(probe('Reader2', seen).module, ['CallPackage']));
    const [plain] = await lsa.loadPackage(declareFrameUse(probe('Plain2', seen).module, []));
    const other = { ...client, processId: 7 };
    await Promise.all([
      call(lsa, reader!, 'CallPackage'),
      lsa.invoke(plain!, 'AcceptLsaModeContext', lsa.clientFrame(other, plain!.id), () => plain!.table.AcceptLsaModeContext!(0n, 0n, null, 0, 0, null), () => undefined),
    ]);
    assert.deepEqual(
      seen.sort((a, b) => (a.before ?? 0) - (b.before ?? 0)),
      [
        { before: 7, after: null, recursiveAfter: false },
        { before: 4242, after: 4242, recursiveAfter: false },
      ],
    );
    assert.equal(asyncFramesLive(), false);
  });

  it('the built-in packages are all declared: loading them (and tslsa serve\'s account authority) leaves AsyncLocalStorage off', async () => {
    const host = await createLsa({ packages: await builtinPackages() });
    const serve = await createLsa({ packages: [{ module: msv1_0Package({ store: new MemoryAccountStore() }) }] });
    try {
      assert.equal(asyncFramesLive(), false);
    } finally {
      await host.shutdown();
      await serve.shutdown();
    }
  });

  it('an undeclared (third-party) package keeps every frame across awaits, from then on for every package', async () => {
    const seen: Seen[] = [];
    const lsa = new Lsa({});
    const [plain] = await lsa.loadPackage(declareFrameUse(probe('Plain3', seen).module, []));
    const [third] = await lsa.loadPackage(probe('ThirdParty', seen).module);
    assert.equal(asyncFramesLive(), true);
    await call(lsa, third!, 'AcceptLsaModeContext');
    await call(lsa, plain!, 'AcceptLsaModeContext');
    assert.deepEqual(seen, [
      { before: 4242, after: 4242, recursiveAfter: false },
      { before: 4242, after: 4242, recursiveAfter: false },
    ]);
    assert.equal(asyncFramesLive(), true);
  });
});
