// AP-REQ / AP-REP / delegation / DCE third leg of the krb5 GSS mechanism, against a keytab built here.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { buildChannelBindings, parseChannelBindings } from '../../../../src/sspi/buffers.js';
import { KeyUsage, TicketFlags, encodeEncTicketPart, type EncTicketPart, type Ticket } from '../../../../src/packages/kerberos/asn1/index.js';
import { encrypt, randomToKey } from '../../../../src/packages/kerberos/crypto/index.js';
import type { KerberosKey } from '../../../../src/packages/kerberos/crypto/types.js';
import type { KeytabEntry } from '../../../../src/packages/kerberos/keytab.js';
import { MemoryReplayCache } from '../../../../src/packages/kerberos/replay.js';
import {
  acceptApReq, buildApRep, buildApReq, buildDceThirdLeg, encodeDelegation, krbErrorCodeOf, verifyApRep, verifyDceThirdLeg,
} from '../../../../src/packages/kerberos/gss/apreq.js';
import { GssFlags } from '../../../../src/packages/kerberos/gss/checksum.js';
import { createTokenState, unwrap, wrap } from '../../../../src/packages/kerberos/gss/tokens.js';

const REALM = 'EXAMPLE.TEST';
const svc = { realm: REALM, components: ['HTTP', 'web.example.test'], nameType: 2 };
const k = (et: number, b: number): KerberosKey => randomToKey(et, new Uint8Array(et === 17 || et === 19 ? 16 : 32).fill(b));
const entry = (kvno: number, key: KerberosKey): KeytabEntry => ({ principal: svc, timestamp: 0, kvno, kvno8: kvno & 0xff, key });
const KEY3 = k(18, 3);
const keytab = [entry(2, k(18, 2)), entry(3, KEY3), entry(3, k(17, 4))];
const code = (status: number) => (e: unknown) => SspiError.is(e, status);
const cname = { nameType: 1, nameString: ['alice'] };

function makeTicket(o: { kvno?: number; key?: KerberosKey; sessionKey?: KerberosKey; endtime?: Date; starttime?: Date; flags?: number; sname?: string[] } = {}): { ticket: Ticket; sessionKey: KerberosKey } {
  const sessionKey = o.sessionKey ?? k(18, 0x55);
  const now = Date.now();
  const part: EncTicketPart = {
    flags: o.flags ?? TicketFlags.FORWARDABLE,
    key: { keytype: sessionKey.enctype, keyvalue: sessionKey.keyvalue },
    crealm: REALM, cname,
    transited: { trType: 1, contents: new Uint8Array(0) },
    authtime: new Date(Math.floor(now / 1000 - 60) * 1000),
    ...(o.starttime ? { starttime: o.starttime } : {}),
    endtime: o.endtime ?? new Date(Math.floor(now / 1000 + 3600) * 1000),
  };
  const key = o.key ?? KEY3;
  const ticket: Ticket = {
    realm: REALM, sname: { nameType: 2, nameString: o.sname ?? svc.components },
    encPart: { etype: key.enctype, kvno: o.kvno ?? 3, cipher: encrypt(key, KeyUsage.KDC_REP_TICKET, encodeEncTicketPart(part)) },
  };
  return { ticket, sessionKey };
}

const FLAGS = GssFlags.GSS_C_MUTUAL_FLAG | GssFlags.GSS_C_REPLAY_FLAG | GssFlags.GSS_C_SEQUENCE_FLAG | GssFlags.GSS_C_CONF_FLAG | GssFlags.GSS_C_INTEG_FLAG;

describe('AP-REQ (RFC 4121 4.1, RFC 4120 3.2)', () => {
  it('round trip: build, accept, AP-REP with acceptor subkey, then tokens both ways', async () => {
    const { ticket, sessionKey } = makeTicket();
    const req = buildApReq({ ticket, sessionKey, crealm: REALM, cname, gssFlags: FLAGS });
    assert.equal(req.token[0], 0x60);
    assert.ok(req.seqNumber < 0x40000000);
    const acc = await acceptApReq(req.token, { keytab, servicePrincipal: svc, replayCache: new MemoryReplayCache() });
    assert.equal(acc.gssFlags, FLAGS);
    assert.equal(acc.kvno, 3);
    assert.deepEqual(acc.client.components, ['alice']);
    assert.ok(acc.mutualRequired);
    assert.equal(acc.remoteSeq, req.seqNumber);
    assert.deepEqual(acc.initiatorSubkey?.keyvalue, req.subkey?.keyvalue);
    const asub = k(18, 0x77);
    const rep = buildApRep({ sessionKey: acc.sessionKey, ctime: acc.authenticator.ctime, cusec: acc.authenticator.cusec, subkey: asub, seqNumber: 42 });
    const v = verifyApRep(rep, sessionKey, req.authenticator);
    assert.equal(v.seqNumber, 42);
    const ist = createTokenState({ initiator: true, key: req.subkey!, acceptorSubkey: v.subkey!, localSeq: req.seqNumber, remoteSeq: 42, replayDetect: true, sequenceDetect: true });
    const ast = createTokenState({ initiator: false, key: acc.initiatorSubkey!, acceptorSubkey: asub, localSeq: 42, remoteSeq: acc.remoteSeq, replayDetect: true, sequenceDetect: true });
    assert.equal(new TextDecoder().decode(unwrap(ast, wrap(ist, new TextEncoder().encode('ping'))).data), 'ping');
    assert.equal(new TextDecoder().decode(unwrap(ist, wrap(ast, new TextEncoder().encode('pong'))).data), 'pong');
  });

  it('replay of the same AP-REQ is refused (KRB_AP_ERR_REPEAT)', async () => {
    const { ticket, sessionKey } = makeTicket();
    const req = buildApReq({ ticket, sessionKey, crealm: REALM, cname, gssFlags: FLAGS });
    const rc = new MemoryReplayCache();
    await acceptApReq(req.token, { keytab, replayCache: rc });
    await assert.rejects(acceptApReq(req.token, { keytab, replayCache: rc }), (e: unknown) => krbErrorCodeOf(e) === 34 && SspiError.is(e, SecurityStatus.SEC_E_LOGON_DENIED));
  });

  it('two genuine authenticators with the same client, time and checksum are both accepted; each replay is refused', async () => {
    // Two processes of one client principal, one microsecond, no channel bindings: everything the
    // RFC 4120 tuple holds is equal; only the ciphertexts (fresh confounders) tell them apart.
    const { ticket, sessionKey } = makeTicket();
    const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 123);
    const a = buildApReq({ ticket, sessionKey, crealm: REALM, cname, gssFlags: FLAGS, now });
    const b = buildApReq({ ticket, sessionKey, crealm: REALM, cname, gssFlags: FLAGS, now });
    const rc = new MemoryReplayCache();
    const accA = await acceptApReq(a.token, { keytab, replayCache: rc });
    const accB = await acceptApReq(b.token, { keytab, replayCache: rc });
    assert.equal(accA.authenticator.ctime.getTime(), accB.authenticator.ctime.getTime());
    assert.equal(accA.authenticator.cusec, accB.authenticator.cusec);
    for (const t of [a.token, b.token]) {
      await assert.rejects(acceptApReq(t, { keytab, replayCache: rc }), (e: unknown) => krbErrorCodeOf(e) === 34);
    }
  });

  it('keytab selection: wrong kvno → BADKEYVER, other SPN → NOT_US, wrong key → MODIFIED, missing enctype → NOKEY', async () => {
    const t1 = makeTicket({ kvno: 9 });
    await assert.rejects(acceptApReq(buildApReq({ ...t1, crealm: REALM, cname, gssFlags: 0 }).token, { keytab }), (e: unknown) => krbErrorCodeOf(e) === 44 && SspiError.is(e, SecurityStatus.SEC_E_WRONG_PRINCIPAL));
    const t2 = makeTicket({ sname: ['HTTP', 'other'] });
    await assert.rejects(acceptApReq(buildApReq({ ...t2, crealm: REALM, cname, gssFlags: 0 }).token, { keytab }), (e: unknown) => krbErrorCodeOf(e) === 35);
    const t2b = makeTicket();
    await assert.rejects(acceptApReq(buildApReq({ ...t2b, crealm: REALM, cname, gssFlags: 0 }).token, { keytab, servicePrincipal: { ...svc, components: ['HTTP', 'x'] } }), (e: unknown) => krbErrorCodeOf(e) === 35);
    const t3 = makeTicket({ key: k(18, 9) });
    await assert.rejects(acceptApReq(buildApReq({ ...t3, crealm: REALM, cname, gssFlags: 0 }).token, { keytab }), (e: unknown) => krbErrorCodeOf(e) === 41 && SspiError.is(e, SecurityStatus.SEC_E_WRONG_PRINCIPAL));
    const t4 = makeTicket({ key: k(20, 1) });
    await assert.rejects(acceptApReq(buildApReq({ ...t4, crealm: REALM, cname, gssFlags: 0 }).token, { keytab }), (e: unknown) => krbErrorCodeOf(e) === 45 && SspiError.is(e, SecurityStatus.SEC_E_NO_KERB_KEY));
    // The older kvno still opens tickets issued under it.
    const t5 = makeTicket({ kvno: 2, key: keytab[0]!.key });
    assert.equal((await acceptApReq(buildApReq({ ...t5, crealm: REALM, cname, gssFlags: 0 }).token, { keytab })).kvno, 2);
  });

  it('clock skew, expired and not-yet-valid tickets', async () => {
    const t = makeTicket();
    const req = buildApReq({ ...t, crealm: REALM, cname, gssFlags: 0, now: new Date(Date.now() - 301_000) });
    await assert.rejects(acceptApReq(req.token, { keytab }), code(SecurityStatus.SEC_E_TIME_SKEW));
    await acceptApReq(req.token, { keytab, clockSkew: 400 });
    const exp = makeTicket({ endtime: new Date(Date.now() - 3600_000) });
    await assert.rejects(acceptApReq(buildApReq({ ...exp, crealm: REALM, cname, gssFlags: 0 }).token, { keytab }), (e: unknown) => krbErrorCodeOf(e) === 32 && SspiError.is(e, SecurityStatus.SEC_E_CONTEXT_EXPIRED));
    const nyv = makeTicket({ starttime: new Date(Date.now() + 3600_000) });
    await assert.rejects(acceptApReq(buildApReq({ ...nyv, crealm: REALM, cname, gssFlags: 0 }).token, { keytab }), (e: unknown) => krbErrorCodeOf(e) === 33);
    const inv = makeTicket({ flags: TicketFlags.INVALID });
    await assert.rejects(acceptApReq(buildApReq({ ...inv, crealm: REALM, cname, gssFlags: 0 }).token, { keytab }), (e: unknown) => krbErrorCodeOf(e) === 33);
  });

  it('authenticator under a wrong session key, and cname mismatch', async () => {
    const t = makeTicket();
    const bad = buildApReq({ ticket: t.ticket, sessionKey: k(18, 0x66), crealm: REALM, cname, gssFlags: 0 });
    await assert.rejects(acceptApReq(bad.token, { keytab }), (e: unknown) => krbErrorCodeOf(e) === 31);
    const other = buildApReq({ ...t, crealm: REALM, cname: { nameType: 1, nameString: ['mallory'] }, gssFlags: 0 });
    await assert.rejects(acceptApReq(other.token, { keytab }), (e: unknown) => krbErrorCodeOf(e) === 36);
  });

  it('channel bindings: match, mismatch → SEC_E_BAD_BINDINGS, none sent vs required', async () => {
    const cb = parseChannelBindings(buildChannelBindings(new TextEncoder().encode('tls-server-end-point:1')))!;
    const cb2 = parseChannelBindings(buildChannelBindings(new TextEncoder().encode('tls-server-end-point:2')))!;
    const t = makeTicket();
    assert.equal((await acceptApReq(buildApReq({ ...t, crealm: REALM, cname, gssFlags: 0, channelBindings: cb }).token, { keytab, channelBindings: cb, requireChannelBindings: true })).channelBound, true);
    await assert.rejects(acceptApReq(buildApReq({ ...t, crealm: REALM, cname, gssFlags: 0, channelBindings: cb }).token, { keytab, channelBindings: cb2 }), code(SecurityStatus.SEC_E_BAD_BINDINGS));
    assert.equal((await acceptApReq(buildApReq({ ...t, crealm: REALM, cname, gssFlags: 0 }).token, { keytab, channelBindings: cb })).channelBound, false, 'none sent: let through, not bound');
    assert.equal((await acceptApReq(buildApReq({ ...t, crealm: REALM, cname, gssFlags: 0, channelBindings: cb }).token, { keytab })).channelBound, false, 'the acceptor has no bindings to check');
    await assert.rejects(acceptApReq(buildApReq({ ...t, crealm: REALM, cname, gssFlags: 0 }).token, { keytab, channelBindings: cb, requireChannelBindings: true }), code(SecurityStatus.SEC_E_BAD_BINDINGS));
  });

  it('delegation: encrypted with the subkey, or MIT etype 0, becomes a ccache', async () => {
    const t = makeTicket();
    const tgtKey = k(18, 0x42);
    const fwd = makeTicket({ sname: ['krbtgt', REALM] });
    const info = { key: { keytype: 18, keyvalue: tgtKey.keyvalue }, prealm: REALM, pname: cname, srealm: REALM, sname: { nameType: 2, nameString: ['krbtgt', REALM] }, flags: TicketFlags.FORWARDED, endtime: new Date(Math.floor(Date.now() / 1000 + 3600) * 1000) };
    const subkey = k(18, 0x31);
    for (const key of [subkey, null]) {
      const deleg = encodeDelegation([{ ticket: fwd.ticket, info }], key);
      const req = buildApReq({ ...t, crealm: REALM, cname, gssFlags: FLAGS, delegation: deleg, subkey });
      const acc = await acceptApReq(req.token, { keytab });
      assert.ok(acc.gssFlags & GssFlags.GSS_C_DELEG_FLAG);
      const cc = acc.delegated!;
      assert.equal(cc.credentials.length, 1);
      assert.deepEqual(cc.credentials[0]!.server.components, ['krbtgt', REALM]);
      assert.deepEqual(cc.credentials[0]!.key.keyvalue, tgtKey.keyvalue);
      assert.equal(cc.credentials[0]!.ticketFlags, TicketFlags.FORWARDED);
    }
    const wrongKey = encodeDelegation([{ ticket: fwd.ticket, info }], k(18, 0x01));
    await assert.rejects(acceptApReq(buildApReq({ ...t, crealm: REALM, cname, gssFlags: 0, delegation: wrongKey, subkey }).token, { keytab }), code(SecurityStatus.SEC_E_MESSAGE_ALTERED));
  });

  it('a subkey the peer chose must be of an allowed enctype and its key size (authenticator and AP-REP)', async () => {
    const t = makeTicket();
    const bad: Array<[KerberosKey, number]> = [
      [{ enctype: 18, keyvalue: new Uint8Array(1) }, SecurityStatus.SEC_E_INVALID_TOKEN],
      [{ enctype: 17, keyvalue: new Uint8Array(32) }, SecurityStatus.SEC_E_INVALID_TOKEN],
      [{ enctype: 23, keyvalue: new Uint8Array(16) }, SecurityStatus.SEC_E_ALGORITHM_MISMATCH], // rc4-hmac, weak crypto off
      [{ enctype: 999, keyvalue: new Uint8Array(16) }, SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE],
    ];
    for (const [subkey, status] of bad) {
      const req = buildApReq({ ...t, crealm: REALM, cname, gssFlags: 0, subkey });
      await assert.rejects(acceptApReq(req.token, { keytab }), code(status), `authenticator subkey ${subkey.enctype}/${subkey.keyvalue.length}`);
      const good = buildApReq({ ...t, crealm: REALM, cname, gssFlags: FLAGS });
      const acc = await acceptApReq(good.token, { keytab });
      const rep = buildApRep({ sessionKey: acc.sessionKey, ctime: acc.authenticator.ctime, cusec: acc.authenticator.cusec, subkey });
      assert.throws(() => verifyApRep(rep, t.sessionKey, good.authenticator), code(status), `AP-REP subkey ${subkey.enctype}/${subkey.keyvalue.length}`);
    }
    // The policy that allows rc4 allows an rc4 subkey too.
    const rc4 = buildApReq({ ...t, crealm: REALM, cname, gssFlags: 0, subkey: { enctype: 23, keyvalue: new Uint8Array(16).fill(9) } });
    assert.equal((await acceptApReq(rc4.token, { keytab, policy: { allowWeak: true } })).initiatorSubkey?.enctype, 23);
  });

  it('delegated credentials a credential cache cannot hold are refused as a token error (16-bit key and address types, 1970-2106 times)', async () => {
    const t = makeTicket();
    const fwd = makeTicket({ sname: ['krbtgt', REALM] });
    const base = { key: { keytype: 18, keyvalue: k(18, 0x42).keyvalue }, prealm: REALM, pname: cname, srealm: REALM, sname: { nameType: 2, nameString: ['krbtgt', REALM] }, flags: TicketFlags.FORWARDED, endtime: new Date(Math.floor(Date.now() / 1000 + 3600) * 1000) };
    const subkey = k(18, 0x31);
    const cases = [
      { ...base, key: { keytype: 65536, keyvalue: new Uint8Array(0) } },
      { ...base, key: { keytype: -1, keyvalue: new Uint8Array(0) } },
      { ...base, endtime: new Date(Date.UTC(2107, 0, 1)) },
      { ...base, authtime: new Date(Date.UTC(1969, 11, 31)) },
      { ...base, caddr: [{ addrType: 0x10000, address: new Uint8Array(4) }] },
    ];
    for (const info of cases) {
      const req = buildApReq({ ...t, crealm: REALM, cname, gssFlags: FLAGS, delegation: encodeDelegation([{ ticket: fwd.ticket, info }], subkey), subkey });
      await assert.rejects(acceptApReq(req.token, { keytab }), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN) && /credential cache/.test((e as Error).message));
    }
  });

  it('AP-REP: wrong ctime → SEC_E_MUTUAL_AUTH_FAILED; DCE third leg round trip', async () => {
    const t = makeTicket();
    const req = buildApReq({ ...t, crealm: REALM, cname, gssFlags: FLAGS | GssFlags.GSS_C_DCE_STYLE });
    const acc = await acceptApReq(req.token, { keytab });
    assert.ok(acc.mutualRequired);
    const rep = buildApRep({ sessionKey: acc.sessionKey, ctime: new Date(acc.authenticator.ctime.getTime() + 1000), cusec: acc.authenticator.cusec });
    assert.throws(() => verifyApRep(rep, t.sessionKey, req.authenticator), code(SecurityStatus.SEC_E_MUTUAL_AUTH_FAILED));
    const raw = buildApRep({ sessionKey: acc.sessionKey, ctime: acc.authenticator.ctime, cusec: acc.authenticator.cusec, seqNumber: 7, raw: true });
    assert.equal(raw[0], 0x6f);
    const v = verifyApRep(raw, t.sessionKey, req.authenticator);
    const third = buildDceThirdLeg(t.sessionKey, v, req.seqNumber);
    assert.equal(verifyDceThirdLeg(third, acc.sessionKey, { ctime: acc.authenticator.ctime, cusec: acc.authenticator.cusec }), req.seqNumber);
    assert.throws(() => verifyDceThirdLeg(third, acc.sessionKey, { ctime: new Date(0), cusec: 0 }), code(SecurityStatus.SEC_E_MUTUAL_AUTH_FAILED));
  });

  it('fuzz: mangled AP-REQ tokens only ever throw SspiError', async () => {
    const t = makeTicket();
    const good = buildApReq({ ...t, crealm: REALM, cname, gssFlags: FLAGS }).token;
    await fc.assert(fc.asyncProperty(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(good.length), async (pos, x, cut) => {
      const b = Uint8Array.from(good);
      b[pos]! ^= x;
      for (const tok of [b, good.subarray(0, cut)]) {
        try { await acceptApReq(tok, { keytab }); } catch (e) { assert.ok(e instanceof SspiError, String(e)); }
      }
    }), { numRuns: 200 });
  });
});
