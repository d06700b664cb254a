// MS-PAC parsing and the server signature, on PACs built field by field from MS-PAC 2.3-2.10.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { makeChecksum, randomToKey } from '../../../../src/packages/kerberos/crypto/index.js';
import { PacBufferType, parseKerbValidationInfo, parsePac, verifyPacServerSignature } from '../../../../src/packages/kerberos/pac.js';

class W {
  parts: number[] = [];
  u8(v: number) { this.parts.push(v & 0xff); return this; }
  u16(v: number) { return this.u8(v).u8(v >>> 8); }
  u32(v: number) { return this.u16(v & 0xffff).u16(v >>> 16); }
  u64(v: bigint) { return this.u32(Number(v & 0xffffffffn)).u32(Number(v >> 32n)); }
  bytes(b: Uint8Array) { this.parts.push(...b); return this; }
  align(n: number) { while (this.parts.length % n) this.u8(0); return this; }
  get out() { return Uint8Array.from(this.parts); }
}
const u16s = (s: string) => new Uint8Array(Buffer.from(s, 'utf16le'));
const sid = (w: W, subs: number[]) => { w.u32(subs.length).u8(1).u8(subs.length).bytes(new Uint8Array([0, 0, 0, 0, 0, 5])); for (const x of subs) w.u32(x); };

/** A KERB_VALIDATION_INFO with a user name, two groups, a domain SID, one extra SID and resource groups. */
function logonInfo(): Uint8Array {
  const w = new W();
  w.u8(1).u8(0x10).u16(8).u32(0xcccccccc).u32(0).u32(0); // common + private header (length patched below)
  w.u32(0x20000);
  for (let i = 0; i < 6; i++) w.u64(BigInt(i + 1) * 1000n);
  const names = ['alice', 'Alice Liddell', '', '', '', ''];
  let ref = 0x20004;
  for (const n of names) w.u16(n.length * 2).u16(n.length * 2).u32(n ? ref++ : 0);
  w.u16(7).u16(1).u32(1105).u32(513).u32(2).u32(ref++).u32(0x20).bytes(new Uint8Array(16));
  w.u16(8).u16(8).u32(ref++); // LogonServer "DC01"
  w.u16(14).u16(14).u32(ref++); // LogonDomainName "EXAMPLE"
  w.u32(ref++); // LogonDomainId
  w.u32(0).u32(0).u32(0x210).u32(0).u64(0n).u64(0n).u32(0).u32(0);
  w.u32(1).u32(ref++).u32(ref++).u32(1).u32(ref++);
  const str = (s: string) => { if (!s) return; w.align(4).u32(s.length).u32(0).u32(s.length).bytes(u16s(s)); };
  for (const n of names) str(n);
  w.align(4).u32(2).u32(513).u32(7).u32(1105).u32(7);
  str('DC01'); str('EXAMPLE');
  w.align(4); sid(w, [21, 1, 2, 3]);
  w.align(4).u32(1).u32(ref++).u32(7);
  w.align(4); sid(w, [21, 9, 9, 9, 1000]);
  w.align(4); sid(w, [21, 4, 5, 6]);
  w.align(4).u32(1).u32(2000).u32(7);
  const out = w.out;
  new DataView(out.buffer).setUint32(8, out.length - 16, true);
  return out;
}

function buildPac(key = randomToKey(18, new Uint8Array(32).fill(7)), withLogon = true) {
  const client = new W().u64(132000000000000000n).u16(10).bytes(u16s('alice')).out;
  const upn = (() => {
    const u = u16s('alice@example.test'), d = u16s('EXAMPLE.TEST');
    return new W().u16(u.length).u16(12).u16(d.length).u16(12 + u.length).u32(0).bytes(u).bytes(d).out;
  })();
  const sigSrv = new W().u32(16).bytes(new Uint8Array(12)).out;
  const sigKdc = new W().u32(16).bytes(new Uint8Array(12)).out;
  const bufs: [number, Uint8Array][] = [[PacBufferType.CLIENT_INFO, client], [PacBufferType.UPN_DNS_INFO, upn], [PacBufferType.SERVER_CHECKSUM, sigSrv], [PacBufferType.PRIVSVR_CHECKSUM, sigKdc]];
  if (withLogon) bufs.unshift([PacBufferType.LOGON_INFO, logonInfo()]);
  let off = 8 + 16 * bufs.length;
  const w = new W().u32(bufs.length).u32(0);
  const offs: number[] = [];
  for (const [t, d] of bufs) { w.u32(t).u32(d.length).u64(BigInt(off)); offs.push(off); off = (off + d.length + 7) & ~7; }
  for (const [, d] of bufs) w.align(8).bytes(d);
  w.align(8);
  const pac = w.out;
  const srvOff = offs[bufs.findIndex(([t]) => t === PacBufferType.SERVER_CHECKSUM)]! + 4;
  const kdcOff = offs[bufs.findIndex(([t]) => t === PacBufferType.PRIVSVR_CHECKSUM)]! + 4;
  pac.set(makeChecksum(key, 17, pac), srvOff);
  pac.set(new Uint8Array(12).fill(0xee), kdcOff); // the KDC signature is over the server one; any bytes here
  return { pac, key, srvOff };
}

describe('MS-PAC', () => {
  it('parses PACTYPE, CLIENT_INFO, UPN_DNS_INFO, signatures and KERB_VALIDATION_INFO', () => {
    const { pac } = buildPac();
    const p = parsePac(pac);
    assert.equal(p.buffers.length, 5);
    assert.equal(p.clientInfo?.name, 'alice');
    assert.equal(p.clientInfo?.clientId, 132000000000000000n);
    assert.equal(p.upnDnsInfo?.upn, 'alice@example.test');
    assert.equal(p.upnDnsInfo?.dnsDomainName, 'EXAMPLE.TEST');
    assert.equal(p.serverSignature?.signatureType, 16);
    const li = p.logonInfo!;
    assert.equal(li.effectiveName, 'alice');
    assert.equal(li.fullName, 'Alice Liddell');
    assert.equal(li.userId, 1105);
    assert.equal(li.primaryGroupId, 513);
    assert.deepEqual(li.groupIds, [{ relativeId: 513, attributes: 7 }, { relativeId: 1105, attributes: 7 }]);
    assert.equal(li.logonServer, 'DC01');
    assert.equal(li.logonDomainName, 'EXAMPLE');
    assert.equal(li.logonDomainId, 'S-1-5-21-1-2-3');
    assert.deepEqual(li.extraSids, [{ sid: 'S-1-5-21-9-9-9-1000', attributes: 7 }]);
    assert.equal(li.resourceGroupDomainSid, 'S-1-5-21-4-5-6');
    assert.deepEqual(li.resourceGroupIds, [{ relativeId: 2000, attributes: 7 }]);
    assert.equal(li.logonTime, 1000n);
    assert.equal(li.userAccountControl, 0x210);
  });
  it('server signature: verifies, and fails on any PAC change or another key', () => {
    const { pac, key, srvOff } = buildPac();
    assert.equal(verifyPacServerSignature(parsePac(pac), key), true);
    assert.equal(verifyPacServerSignature(parsePac(pac), randomToKey(18, new Uint8Array(32).fill(8))), false);
    const t = Uint8Array.from(pac);
    t[srvOff - 100]! ^= 1;
    let r: boolean;
    try { r = verifyPacServerSignature(parsePac(t), key); } catch (e) { r = !(e instanceof SspiError); }
    assert.equal(r, false);
  });
  it('bounds: buffer outside the PAC, unaligned offset, bad version, duplicates', () => {
    const { pac } = buildPac(undefined, false);
    const bad = (f: (b: Uint8Array, dv: DataView) => void) => {
      const b = Uint8Array.from(pac); f(b, new DataView(b.buffer));
      assert.throws(() => parsePac(b), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN));
    };
    bad((_, dv) => dv.setUint32(4, 1, true));
    bad((_, dv) => dv.setUint32(12, 0xffff, true));
    bad((_, dv) => dv.setUint32(16, 41, true));
    bad((_, dv) => dv.setUint32(0, 1000, true));
    bad((_, dv) => dv.setUint32(8 + 16, PacBufferType.CLIENT_INFO, true));
  });
  it('fuzz: random and mutated PACs and NDR only throw SEC_E_INVALID_TOKEN', () => {
    const { pac } = buildPac();
    const li = logonInfo();
    fc.assert(fc.property(fc.nat(pac.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(pac.length), (pos, x, cut) => {
      const b = Uint8Array.from(pac); b[pos]! ^= x;
      for (const t of [b, pac.subarray(0, cut)]) {
        try { parsePac(t); } catch (e) { assert.ok(SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN), String(e)); }
      }
      const l = Uint8Array.from(li); l[pos % l.length]! ^= x;
      try { parseKerbValidationInfo(l); } catch (e) { assert.ok(SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN), String(e)); }
    }), { numRuns: 500 });
  });
});
