import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLsa } from '../../../src/lsa/host.js';
import { LsaCallAuthenticationPackage, LsaLookupAuthenticationPackage } from '../../../src/lsa/client.js';
import { SubmitBufferReader, SubmitBufferWriter } from '../../../src/lsa/marshal.js';
import { MAX_CALL_DEPTH } from '../../../src/lsa/lsa.js';
import { NtStatus } from '../../../src/sspi/status.js';
import { SECPKG_CALL } from '../../../src/sspi/flags.js';
import { recorderPackage } from './fixtures/recorder.js';

const MSV = 'MICROSOFT_AUTHENTICATION_PACKAGE_V1_0';

describe('CallPackagePassthrough', () => {
  it('returns STATUS_NO_SUCH_PACKAGE for an unknown name and leaves both statuses set', async () => {
    const a = recorderPackage({ name: 'A' });
    const host = await createLsa({ packages: [a.module] });
    const r = await a.lsa!.CallPackagePassthrough('NoSuchPackage', 0n, new Uint8Array([1]), 1);
    assert.equal(r.status, NtStatus.STATUS_NO_SUCH_PACKAGE);
    assert.equal(r.status, 0xc00000fe);
    assert.equal(r.ProtocolReturnBuffer, null);
    // A prefix or a name with extra characters is not a match either.
    assert.equal((await a.lsa!.CallPackagePassthrough('', 0n, new Uint8Array(0), 0)).status, NtStatus.STATUS_NO_SUCH_PACKAGE);
    assert.equal((await a.lsa!.CallPackagePassthrough('A ', 0n, new Uint8Array(0), 0)).status, NtStatus.STATUS_NO_SUCH_PACKAGE);
    await host.shutdown();
  });

  it('matches package names case-insensitively, as the Windows LSA does', async () => {
    const a = recorderPackage({ name: 'A' });
    const msv = recorderPackage({ name: MSV });
    const host = await createLsa({ packages: [a.module, msv.module] });
    for (const name of [MSV, MSV.toLowerCase(), 'Microsoft_Authentication_Package_V1_0']) {
      const r = await a.lsa!.CallPackagePassthrough(name, 0n, new Uint8Array([7]), 1);
      assert.equal(r.status, NtStatus.STATUS_SUCCESS, name);
    }
    assert.equal(msv.received.length, 3);
    assert.ok(msv.received.every((x) => x.entry === 'CallPackagePassthrough'));
    await host.shutdown();
  });

  it('delivers the submit buffer, ClientBufferBase and length byte-identical and untouched', async () => {
    const a = recorderPackage({ name: 'A' });
    const b = recorderPackage({ name: 'B' });
    const host = await createLsa({ packages: [a.module, b.module] });
    const submit = new Uint8Array(300);
    for (let i = 0; i < submit.length; i++) submit[i] = (i * 37 + 11) & 0xff;
    const before = submit.slice();
    b.lastSubmitted = submit;
    const base = 0x7ff6_1234_0000n;
    const r = await a.lsa!.CallPackagePassthrough('B', base, submit, 123);
    assert.equal(r.status, NtStatus.STATUS_SUCCESS);
    const got = b.received[0]!;
    assert.deepEqual(got.buffer, before);
    assert.equal(got.sameObject, true, 'the LSA passes the caller\'s buffer itself, without copying or examining it');
    assert.equal(got.clientBufferBase, base);
    assert.equal(got.length, 123, 'SubmitBufferLength is passed as given, not recomputed');
    assert.deepEqual(submit, before);
    assert.deepEqual(r.ProtocolReturnBuffer, before);
    await host.shutdown();
  });

  it('keeps the call status and the package ProtocolStatus apart', async () => {
    const a = recorderPackage({ name: 'A' });
    const ret = new Uint8Array([9, 9, 9]);
    const b = recorderPackage({
      name: 'B',
      answer: (_e, buf) =>
        buf[0] === 1
          ? { status: NtStatus.STATUS_SUCCESS, ProtocolReturnBuffer: ret, ReturnBufferLength: 2, ProtocolStatus: NtStatus.STATUS_LOGON_FAILURE }
          : { status: NtStatus.STATUS_INVALID_PARAMETER, ProtocolReturnBuffer: null, ReturnBufferLength: 0, ProtocolStatus: NtStatus.STATUS_SUCCESS },
    });
    const host = await createLsa({ packages: [a.module, b.module] });
    const r1 = await a.lsa!.CallPackagePassthrough('B', 0n, new Uint8Array([1]), 1);
    assert.equal(r1.status, NtStatus.STATUS_SUCCESS);
    assert.equal(r1.ProtocolStatus, NtStatus.STATUS_LOGON_FAILURE);
    assert.equal(r1.ReturnBufferLength, 2, 'the return length is the package\'s, not the buffer\'s');
    assert.equal(r1.ProtocolReturnBuffer, ret);
    const r2 = await a.lsa!.CallPackagePassthrough('B', 0n, new Uint8Array([2]), 1);
    assert.equal(r2.status, NtStatus.STATUS_INVALID_PARAMETER);
    assert.equal(r2.ProtocolStatus, NtStatus.STATUS_SUCCESS);
    await host.shutdown();
  });

  it('turns a throwing package into an NTSTATUS and stays up', async () => {
    const a = recorderPackage({ name: 'A' });
    let calls = 0;
    const faults: string[] = [];
    const b = recorderPackage({
      name: 'B',
      answer: () => {
        calls++;
        if (calls === 1) throw new TypeError('boom');
        if (calls === 2) return Promise.reject(new Error('async boom'));
        return { status: NtStatus.STATUS_SUCCESS, ProtocolReturnBuffer: null, ReturnBufferLength: 0, ProtocolStatus: NtStatus.STATUS_SUCCESS };
      },
    });
    const host = await createLsa({ packages: [a.module, b.module], onPackageFault: (p, e) => faults.push(`${p}.${e}`) });
    const r1 = await a.lsa!.CallPackagePassthrough('B', 0n, new Uint8Array(1), 1);
    assert.equal(r1.status, NtStatus.STATUS_INTERNAL_ERROR);
    const r2 = await a.lsa!.CallPackagePassthrough('B', 0n, new Uint8Array(1), 1);
    assert.equal(r2.status, NtStatus.STATUS_INTERNAL_ERROR);
    const r3 = await a.lsa!.CallPackagePassthrough('B', 0n, new Uint8Array(1), 1);
    assert.equal(r3.status, NtStatus.STATUS_SUCCESS);
    assert.deepEqual(faults, ['B.CallPackagePassthrough', 'B.CallPackagePassthrough']);
    await host.shutdown();
  });

  it('completes re-entrant calls: A passes through to B, which calls back into A', async () => {
    const trail: string[] = [];
    const a = recorderPackage({
      name: 'A',
      answer: async (entry, buf, lsa) => {
        trail.push(`A.${entry}(${buf[0]})`);
        if (buf[0] === 0) {
          const inner = await lsa.CallPackagePassthrough('B', 0n, new Uint8Array([1]), 1);
          return { status: inner.status, ProtocolReturnBuffer: inner.ProtocolReturnBuffer, ReturnBufferLength: inner.ReturnBufferLength, ProtocolStatus: inner.ProtocolStatus };
        }
        return { status: NtStatus.STATUS_SUCCESS, ProtocolReturnBuffer: new Uint8Array([0xaa]), ReturnBufferLength: 1, ProtocolStatus: NtStatus.STATUS_SUCCESS };
      },
    });
    const b = recorderPackage({
      name: 'B',
      answer: async (entry, _buf, lsa) => {
        trail.push(`B.${entry}`);
        const back = await lsa.CallPackage('a', new Uint8Array([2]), 1);
        return { ...back, ProtocolStatus: NtStatus.STATUS_MORE_ENTRIES };
      },
    });
    const host = await createLsa({ packages: [a.module, b.module] });
    const conn = host.connect({ trusted: true });
    const id = (await LsaLookupAuthenticationPackage(conn, 'A')).AuthenticationPackage;
    const r = await LsaCallAuthenticationPackage(conn, id, new Uint8Array([0]));
    assert.equal(r.status, NtStatus.STATUS_SUCCESS);
    assert.equal(r.ProtocolStatus, NtStatus.STATUS_MORE_ENTRIES);
    assert.deepEqual(r.ProtocolReturnBuffer, new Uint8Array([0xaa]));
    assert.deepEqual(trail, ['A.CallPackage(0)', 'B.CallPackagePassthrough', 'A.CallPackage(2)']);
    // The nested calls are marked recursive in GetCallInfo and counted.
    const inner = a.received[1]!;
    assert.ok((inner.callInfo!.Attributes & SECPKG_CALL.RECURSIVE) !== 0);
    assert.equal(inner.callInfo!.CallCount, 3);
    assert.equal((a.received[0]!.callInfo!.Attributes & SECPKG_CALL.RECURSIVE), 0);
    await host.shutdown();
  });

  it('stops an endless package-to-package loop instead of hanging', async () => {
    let depth = 0;
    const a = recorderPackage({
      name: 'A',
      answer: async (_e, _b, lsa) => {
        depth++;
        return lsa.CallPackagePassthrough('A', 0n, new Uint8Array(1), 1);
      },
    });
    const host = await createLsa({ packages: [a.module] });
    const r = await a.lsa!.CallPackagePassthrough('A', 0n, new Uint8Array(1), 1);
    assert.equal(r.status, NtStatus.STATUS_INSUFFICIENT_RESOURCES);
    assert.equal(depth, MAX_CALL_DEPTH);
    await host.shutdown();
  });

  it('routes CallPackage and CallPackageEx to CallPackage, Passthrough to CallPackagePassthrough', async () => {
    const a = recorderPackage({ name: 'A' });
    const b = recorderPackage({ name: 'B' });
    const host = await createLsa({ packages: [a.module, b.module] });
    await a.lsa!.CallPackage('B', new Uint8Array([1]), 1);
    await a.lsa!.CallPackageEx('B', 0x1000n, new Uint8Array([2]), 1);
    await a.lsa!.CallPackagePassthrough('B', 0x2000n, new Uint8Array([3]), 1);
    assert.deepEqual(b.received.map((r) => [r.entry, r.clientBufferBase]), [['CallPackage', 0n], ['CallPackage', 0x1000n], ['CallPackagePassthrough', 0x2000n]]);
    await host.shutdown();
  });
});

describe('LsaCallAuthenticationPackage', () => {
  it('sends trusted connections to CallPackage and untrusted ones to CallPackageUntrusted', async () => {
    const b = recorderPackage({ name: 'B' });
    const host = await createLsa({ packages: [b.module] });
    const trusted = host.connect({ trusted: true });
    const untrusted = host.connect({ trusted: false });
    const id = (await LsaLookupAuthenticationPackage(trusted, 'b')).AuthenticationPackage;
    await LsaCallAuthenticationPackage(trusted, id, new Uint8Array([1]));
    await LsaCallAuthenticationPackage(untrusted, id, new Uint8Array([2]));
    assert.deepEqual(b.received.map((r) => r.entry), ['CallPackage', 'CallPackageUntrusted']);
    assert.equal(b.received[0]!.clientInfo!.HasTcbPrivilege, true);
    assert.equal(b.received[1]!.clientInfo!.HasTcbPrivilege, false);
    assert.equal(b.received[0]!.clientInfo!.LogonId, trusted.logonId);
    await host.shutdown();
  });

  it('reports unknown names and ids, and a missing dispatcher', async () => {
    const b = recorderPackage({ name: 'B', withUntrusted: false });
    const host = await createLsa({ packages: [b.module] });
    const conn = host.connect();
    assert.equal((await LsaLookupAuthenticationPackage(conn, 'Nope')).status, NtStatus.STATUS_NO_SUCH_PACKAGE);
    assert.equal((await LsaCallAuthenticationPackage(conn, 99, new Uint8Array(1))).status, NtStatus.STATUS_NO_SUCH_PACKAGE);
    assert.equal((await LsaCallAuthenticationPackage(conn, 0, new Uint8Array(1))).status, NtStatus.STATUS_NOT_IMPLEMENTED);
    assert.equal((await LsaCallAuthenticationPackage(conn, 0, new Uint8Array(1), 5)).status, NtStatus.STATUS_INVALID_PARAMETER);
    await host.shutdown();
  });
});

describe('ClientBufferBase rebasing', () => {
  // MSV1_0_PASSTHROUGH_REQUEST, x64 layout (reference section 7).
  function passthroughRequest(base: bigint, domain: string, pkg: string, data: Uint8Array): Uint8Array {
    const w = new SubmitBufferWriter(64, base);
    w.u32(0, 7);
    w.unicodeString(8, domain);
    w.unicodeString(24, pkg);
    w.bytes(40, 48, data);
    return w.finish();
  }

  function parse(buf: Uint8Array, base: bigint) {
    const r = new SubmitBufferReader(buf, base);
    return { type: r.u32(0), domain: r.unicodeString(8), pkg: r.unicodeString(24), data: r.bytesAt(r.u64(48), r.u32(40)) };
  }

  it('lets the target rebase self-relative pointers of a client buffer', async () => {
    const base = 0x0000_0200_0000_0000n;
    const target = recorderPackage({
      name: MSV,
      answer: (_e, buf, _lsa, cbb) => {
        const m = parse(buf, cbb);
        const reply = new TextEncoder().encode(`${m.type}|${m.domain}|${m.pkg}|${Buffer.from(m.data).toString('hex')}`);
        return { status: NtStatus.STATUS_SUCCESS, ProtocolReturnBuffer: reply, ReturnBufferLength: reply.length, ProtocolStatus: NtStatus.STATUS_SUCCESS };
      },
    });
    const host = await createLsa({ packages: [target.module] });
    const conn = host.connect({ trusted: true });
    const submit = passthroughRequest(base, 'EXAMPLE', 'Kerberos', new Uint8Array([1, 2, 3]));
    const r = await LsaCallAuthenticationPackage(conn, 0, submit, submit.length, { ClientBufferBase: base });
    assert.equal(new TextDecoder().decode(r.ProtocolReturnBuffer!), '7|EXAMPLE|Kerberos|010203');
    await host.shutdown();
  });

  it('bounds-checks every rebased pointer', () => {
    const base = 0x1000n;
    const good = passthroughRequest(base, 'D', 'P', new Uint8Array(8));
    assert.equal(parse(good, base).domain, 'D');
    // With the wrong base every pointer lands outside the buffer.
    assert.throws(() => parse(good, 0x9000n), (e: any) => e.status === NtStatus.STATUS_INVALID_PARAMETER);
    // A length that runs past the end.
    const long = good.slice();
    new DataView(long.buffer).setUint32(40, 10_000, true);
    assert.throws(() => parse(long, base), (e: any) => e.status === NtStatus.STATUS_INVALID_PARAMETER);
    // A pointer below the base.
    const below = good.slice();
    new DataView(below.buffer).setBigUint64(16, base - 2n, true);
    assert.throws(() => parse(below, base), (e: any) => e.status === NtStatus.STATUS_INVALID_PARAMETER);
    // A truncated fixed part.
    assert.throws(() => parse(good.subarray(0, 20), base), (e: any) => e.status === NtStatus.STATUS_INVALID_PARAMETER);
    // An odd UNICODE_STRING length.
    const odd = good.slice();
    new DataView(odd.buffer).setUint16(8, 3, true);
    assert.throws(() => parse(odd, base), (e: any) => e.status === NtStatus.STATUS_INVALID_PARAMETER);
  });
});
