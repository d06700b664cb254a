// Cross-realm in the client: the realm path (hierarchical and [capaths]) and the TGS walk over it
// against in-process fake KDCs of several realms (through the `send` hook): transit realms,
// KDC shortcuts, off-path TGTs, RFC 6806 referrals, loops, the hop limit, no trust, and what
// goes into the cache.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fc from 'fast-check';
import {
  decodeApReq,
  decodeAuthenticator,
  decodeEncTicketPart,
  decodeTgsReq,
  encodeEncTGSRepPart,
  encodeEncTicketPart,
  encodeKrbError,
  encodeTgsRep,
  encodeTicket,
  KdcOptions,
  type Ticket,
} from '../../../../src/packages/kerberos/asn1/index.js';
import { decrypt, encrypt, randomToKey } from '../../../../src/packages/kerberos/crypto/index.js';
import type { KerberosKey } from '../../../../src/packages/kerberos/crypto/types.js';
import { getServiceTicket, KRB5_REFERRAL_MAXHOPS } from '../../../../src/packages/kerberos/client/tgs.js';
import { clientRealmPath, hierarchicalRealmPath } from '../../../../src/packages/kerberos/client/realmPath.js';
import { MemoryCredentialCache } from '../../../../src/packages/kerberos/client/cache.js';
import { KdcError } from '../../../../src/packages/kerberos/client/errors.js';
import type { KerberosTicketCredential } from '../../../../src/packages/kerberos/client/types.js';
import { formatPrincipal } from '../../../../src/packages/kerberos/keytab.js';
import { parseKrb5Conf } from '../../../../src/packages/kerberos/krb5conf.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';

const sec = (d: Date): Date => new Date(Math.floor(d.getTime() / 1000) * 1000);
const newKey = (): KerberosKey => randomToKey(18, randomBytes(32));

describe('realm paths', () => {
  test('hierarchical: up to the common ancestor, then down (RFC 4120 1.2)', () => {
    const cases: Array<[string, string, string[]]> = [
      ['CHILD.CORP.EXAMPLE', 'CORP.EXAMPLE', ['CHILD.CORP.EXAMPLE', 'CORP.EXAMPLE']],
      ['CORP.EXAMPLE', 'CHILD.CORP.EXAMPLE', ['CORP.EXAMPLE', 'CHILD.CORP.EXAMPLE']],
      ['A.EXAMPLE.COM', 'B.EXAMPLE.COM', ['A.EXAMPLE.COM', 'EXAMPLE.COM', 'B.EXAMPLE.COM']],
      ['X.A.EXAMPLE.COM', 'Y.B.EXAMPLE.COM', ['X.A.EXAMPLE.COM', 'A.EXAMPLE.COM', 'EXAMPLE.COM', 'B.EXAMPLE.COM', 'Y.B.EXAMPLE.COM']],
      // Whole components only: BC.EXAMPLE.COM is no parent of ABC.EXAMPLE.COM.
      ['ABC.EXAMPLE.COM', 'BC.EXAMPLE.COM', ['ABC.EXAMPLE.COM', 'EXAMPLE.COM', 'BC.EXAMPLE.COM']],
      // No common ancestor: through both top-level names, as MIT's walk does.
      ['A.TEST', 'B.ORG', ['A.TEST', 'TEST', 'ORG', 'B.ORG']],
      ['ALPHA', 'BETA', ['ALPHA', 'BETA']],
      ['SAME.REALM', 'SAME.REALM', ['SAME.REALM']],
    ];
    for (const [c, s, want] of cases) assert.deepEqual(hierarchicalRealmPath(c, s), want, `${c} -> ${s}`);
  });

  test('hierarchical: always from client to server, each step one component up or down', () => {
    const label = fc.constantFrom('A', 'B', 'C', 'CORP', 'EXAMPLE', 'COM');
    const realm = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
    fc.assert(
      fc.property(realm, realm, (c, s) => {
        const p = hierarchicalRealmPath(c, s);
        assert.equal(p[0], c);
        assert.equal(p[p.length - 1], s);
        assert.equal(new Set(p).size, p.length, 'no realm twice');
        for (let i = 1; i < p.length; i++) {
          const [a, b] = [p[i - 1]!, p[i]!];
          const parent = (x: string, y: string): boolean => x.endsWith(`.${y}`) && x.split('.').length === y.split('.').length + 1;
          const topCross = !a.includes('.') && !b.includes('.');
          assert.ok(parent(a, b) || parent(b, a) || topCross, `${a} -> ${b} in ${p.join(' ')}`);
        }
      }),
    );
  });

  test('[capaths] as MIT reads it: intermediates in order, "." for direct, values cut at a blank', () => {
    const config = parseKrb5Conf(`[capaths]
    ANL.GOV = {
        NERSC.GOV = ES.NET
        HAL.COM = K5.MOON
        HAL.COM = K5.JUPITER  extra words
        ES.NET = .
    }
`);
    assert.deepEqual(config.capaths('ANL.GOV', 'HAL.COM'), ['K5.MOON', 'K5.JUPITER']);
    assert.deepEqual(config.capaths('ANL.GOV', 'ES.NET'), []);
    assert.equal(config.capaths('ANL.GOV', 'OTHER.ORG'), undefined);
    assert.deepEqual(clientRealmPath(config, 'ANL.GOV', 'HAL.COM'), ['ANL.GOV', 'K5.MOON', 'K5.JUPITER', 'HAL.COM']);
    assert.deepEqual(clientRealmPath(config, 'ANL.GOV', 'NERSC.GOV'), ['ANL.GOV', 'ES.NET', 'NERSC.GOV']);
    assert.deepEqual(clientRealmPath(config, 'ANL.GOV', 'ES.NET'), ['ANL.GOV', 'ES.NET'], '"." means directly connected');
    assert.deepEqual(clientRealmPath(config, 'ANL.GOV', 'X.GOV'), ['ANL.GOV', 'GOV', 'X.GOV'], 'no entry: hierarchical');
    assert.deepEqual(clientRealmPath(undefined, 'A.TEST', 'A.TEST'), ['A.TEST']);
  });
});

// ---- fake KDCs ---------------------------------------------------------------------------------

type Answer = { issue: string } | { error: number };

interface FakeRealms {
  /** Every TGS request: "REALM: sname" with the options it carried. */
  log: Array<{ realm: string; sname: string; kdcOptions: number }>;
  send: (realm: string, bytes: Uint8Array) => Promise<Uint8Array>;
  tgt: KerberosTicketCredential;
}

/**
 * KDCs for any realm: a TGS request at realm R with a TGT krbtgt/R@Y is answered by `route` (default:
 * a krbtgt/T@R that exists in `trusts`, else KDC_ERR_S_PRINCIPAL_UNKNOWN; HTTP/web only in
 * `serviceRealm`). Keys are made up per principal as tickets are issued.
 */
function fakeRealms(o: { local: string; trusts: readonly string[]; serviceRealm?: string; route?: (realm: string, sname: string, kdcOptions: number) => Answer | undefined; mangle?: (realm: string, sname: string) => { srealm?: string } }): FakeRealms {
  const keys = new Map<string, KerberosKey>();
  const keyOf = (p: string): KerberosKey => {
    let k = keys.get(p);
    if (!k) keys.set(p, (k = newKey()));
    return k;
  };
  const log: FakeRealms['log'] = [];
  const now = sec(new Date());
  const endtime = new Date(now.getTime() + 3600_000);
  const client = { realm: o.local, components: ['alice'], nameType: 1 };
  const mint = (issuer: string, sname: string[], sessionKey: KerberosKey, srealm = issuer): { ticket: Ticket; bytes: Uint8Array } => {
    const encTicket = encodeEncTicketPart({
      flags: 0, key: { keytype: sessionKey.enctype, keyvalue: sessionKey.keyvalue }, crealm: o.local, cname: { nameType: 1, nameString: ['alice'] },
      transited: { trType: 1, contents: new Uint8Array(0) }, authtime: now, endtime,
    });
    const ticket: Ticket = { realm: srealm, sname: { nameType: 2, nameString: sname }, encPart: { etype: 18, kvno: 1, cipher: encrypt(keyOf(`${sname.join('/')}@${issuer}`), 2, encTicket) } };
    return { ticket, bytes: encodeTicket(ticket) };
  };
  const localSession = newKey();
  const local = mint(o.local, ['krbtgt', o.local], localSession);
  const tgt: KerberosTicketCredential = {
    client, server: { realm: o.local, components: ['krbtgt', o.local], nameType: 2 }, ticket: local.ticket, ticketBytes: local.bytes,
    sessionKey: localSession, flags: 0, authtime: now, endtime,
  };
  const err = (realm: string, code: number): Uint8Array =>
    encodeKrbError({ stime: now, susec: 0, errorCode: code, realm, sname: { nameType: 2, nameString: ['krbtgt', realm] } });
  const send = async (realm: string, bytes: Uint8Array): Promise<Uint8Array> => {
    const req = decodeTgsReq(bytes);
    const sname = req.reqBody.sname!.nameString.join('/');
    assert.equal(req.reqBody.realm, realm, 'the req-body realm is the realm of the KDC asked');
    log.push({ realm, sname, kdcOptions: req.reqBody.kdcOptions });
    const ap = decodeApReq(req.padata!.find((p) => p.padataType === 1)!.padataValue);
    const tname = `${ap.ticket.sname.nameString.join('/')}@${ap.ticket.realm}`;
    assert.equal(ap.ticket.sname.nameString[1], realm, `the TGT presented to ${realm} is for ${realm} (${tname})`);
    const part = decodeEncTicketPart(decrypt(keyOf(tname), 2, ap.ticket.encPart.cipher));
    const skey = { enctype: part.key.keytype, keyvalue: part.key.keyvalue };
    const auth = decodeAuthenticator(decrypt(skey, 7, ap.authenticator.cipher));
    assert.equal(auth.crealm, o.local);
    const dflt = (): Answer => {
      if (sname.startsWith('krbtgt/')) return o.trusts.includes(`${sname}@${realm}`) ? { issue: sname } : { error: 7 };
      return realm === (o.serviceRealm ?? o.local) ? { issue: sname } : { error: 7 };
    };
    const a = o.route?.(realm, sname, req.reqBody.kdcOptions) ?? dflt();
    if ('error' in a) return err(realm, a.error);
    const issued = a.issue.split('/');
    const sessionKey = newKey();
    const srealm = o.mangle?.(realm, a.issue).srealm ?? realm;
    const t = mint(realm, issued, sessionKey, srealm);
    const enc = encodeEncTGSRepPart({
      key: { keytype: 18, keyvalue: sessionKey.keyvalue }, lastReq: [], nonce: req.reqBody.nonce, flags: 0, authtime: now, endtime,
      srealm, sname: { nameType: 2, nameString: issued },
    });
    return encodeTgsRep({ crealm: o.local, cname: { nameType: 1, nameString: ['alice'] }, ticket: t.ticket, encPart: { etype: 18, cipher: encrypt(skey, 8, enc) } });
  };
  return { log, send, tgt };
}

const steps = (f: FakeRealms): string[] => f.log.map((l) => `${l.realm}: ${l.sname}`);
const names = async (c: MemoryCredentialCache): Promise<string[]> => (await c.list()).map((t) => formatPrincipal(t.server)).sort();
async function cacheWith(tgt: KerberosTicketCredential): Promise<MemoryCredentialCache> {
  const c = new MemoryCredentialCache(`x-${Math.random()}`);
  await c.initialize(tgt.client);
  await c.store(tgt);
  return c;
}
const rejectsWith = (status: number, re?: RegExp) => (e: unknown): boolean => {
  assert.ok(SspiError.is(e, status), `expected 0x${status.toString(16)}, got ${String(e)}`);
  if (re) assert.match((e as Error).message, re);
  return true;
};

describe('cross-realm TGS walk (fake KDCs)', () => {
  test('[capaths] transit realm: the direct TGT is refused, the path through TRANSIT works; path TGTs cached', async () => {
    const config = parseKrb5Conf('[capaths]\n ALPHA.TEST = {\n  BETA.TEST = TRANSIT.TEST\n }\n');
    const f = fakeRealms({ local: 'ALPHA.TEST', trusts: ['krbtgt/TRANSIT.TEST@ALPHA.TEST', 'krbtgt/BETA.TEST@TRANSIT.TEST'], serviceRealm: 'BETA.TEST' });
    const cache = await cacheWith(f.tgt);
    const st = await getServiceTicket(f.tgt, 'HTTP/web@BETA.TEST', { config, send: f.send, cache });
    assert.deepEqual(steps(f), [
      'ALPHA.TEST: krbtgt/BETA.TEST',
      'ALPHA.TEST: krbtgt/TRANSIT.TEST',
      'TRANSIT.TEST: krbtgt/BETA.TEST',
      'BETA.TEST: HTTP/web',
    ]);
    assert.equal(formatPrincipal(st.server), 'HTTP/web@BETA.TEST');
    assert.equal(st.ticket.realm, 'BETA.TEST');
    assert.ok(f.log[3]!.kdcOptions & KdcOptions.CANONICALIZE, 'service requests ask for canonicalization');
    assert.equal(f.log[1]!.kdcOptions & KdcOptions.CANONICALIZE, 0, 'TGT requests do not');
    assert.deepEqual(await names(cache), ['krbtgt/ALPHA.TEST@ALPHA.TEST', 'krbtgt/BETA.TEST@TRANSIT.TEST', 'krbtgt/TRANSIT.TEST@ALPHA.TEST']);
    // Again: krbtgt/BETA.TEST@* comes from the cache, one request.
    f.log.length = 0;
    await getServiceTicket(f.tgt, 'HTTP/web@BETA.TEST', { config, send: f.send, cache });
    assert.deepEqual(steps(f), ['BETA.TEST: HTTP/web']);
  });

  test('no [capaths]: the hierarchical path (A.EXAMPLE.COM -> EXAMPLE.COM -> B.EXAMPLE.COM)', async () => {
    const f = fakeRealms({ local: 'A.EXAMPLE.COM', trusts: ['krbtgt/EXAMPLE.COM@A.EXAMPLE.COM', 'krbtgt/B.EXAMPLE.COM@EXAMPLE.COM'], serviceRealm: 'B.EXAMPLE.COM' });
    await getServiceTicket(f.tgt, 'HTTP/web@B.EXAMPLE.COM', { send: f.send });
    assert.deepEqual(steps(f), [
      'A.EXAMPLE.COM: krbtgt/B.EXAMPLE.COM',
      'A.EXAMPLE.COM: krbtgt/EXAMPLE.COM',
      'EXAMPLE.COM: krbtgt/B.EXAMPLE.COM',
      'B.EXAMPLE.COM: HTTP/web',
    ]);
  });

  test('a child domain reaching its parent: one krbtgt/PARENT@CHILD, then the service', async () => {
    const f = fakeRealms({ local: 'CHILD.CORP.EXAMPLE', trusts: ['krbtgt/CORP.EXAMPLE@CHILD.CORP.EXAMPLE'], serviceRealm: 'CORP.EXAMPLE' });
    const cache = await cacheWith(f.tgt);
    await getServiceTicket(f.tgt, 'HTTP/web@CORP.EXAMPLE', { send: f.send, cache });
    assert.deepEqual(steps(f), ['CHILD.CORP.EXAMPLE: krbtgt/CORP.EXAMPLE', 'CORP.EXAMPLE: HTTP/web']);
    assert.ok((await names(cache)).includes('krbtgt/CORP.EXAMPLE@CHILD.CORP.EXAMPLE'));
  });

  test('a KDC shortcut: asked for the far realm, the local KDC gives a TGT further along the path', async () => {
    const config = parseKrb5Conf('[capaths]\n A = {\n  D = B\n  D = C\n }\n');
    const f = fakeRealms({
      local: 'A', trusts: ['krbtgt/D@C'], serviceRealm: 'D',
      route: (realm, sname) => (realm === 'A' && sname === 'krbtgt/D' ? { issue: 'krbtgt/C' } : undefined),
    });
    await getServiceTicket(f.tgt, 'HTTP/web@D', { config, send: f.send });
    assert.deepEqual(steps(f), ['A: krbtgt/D', 'C: krbtgt/D', 'D: HTTP/web']);
  });

  test('an off-path TGT is chased to the target realm and not cached', async () => {
    const config = parseKrb5Conf('[capaths]\n A = {\n  B = T\n }\n');
    const f = fakeRealms({
      local: 'A', trusts: ['krbtgt/B@X'], serviceRealm: 'B',
      route: (realm, sname) => (realm === 'A' && sname === 'krbtgt/B' ? { issue: 'krbtgt/X' } : undefined),
    });
    const cache = await cacheWith(f.tgt);
    await getServiceTicket(f.tgt, 'HTTP/web@B', { config, send: f.send, cache });
    assert.deepEqual(steps(f), ['A: krbtgt/B', 'X: krbtgt/B', 'B: HTTP/web']);
    assert.deepEqual(await names(cache), ['krbtgt/A@A']);
  });

  test('RFC 6806 referral: the local KDC refers the service to BETA; followed with CANONICALIZE, first referral cached', async () => {
    const f = fakeRealms({
      local: 'ALPHA', trusts: [], serviceRealm: 'BETA',
      route: (realm, sname, opts) => (realm === 'ALPHA' && sname === 'HTTP/web' && opts & KdcOptions.CANONICALIZE ? { issue: 'krbtgt/BETA' } : undefined),
    });
    const cache = await cacheWith(f.tgt);
    const st = await getServiceTicket(f.tgt, 'HTTP/web', { send: f.send, cache });
    assert.deepEqual(steps(f), ['ALPHA: HTTP/web', 'BETA: HTTP/web']);
    assert.ok(f.log.every((l) => l.kdcOptions & KdcOptions.CANONICALIZE));
    assert.equal(st.ticket.realm, 'BETA', 'the ticket is from BETA');
    assert.equal(formatPrincipal(st.server), 'HTTP/web@ALPHA', 'stored under the name asked for, as MIT does');
    assert.deepEqual(await names(cache), ['krbtgt/ALPHA@ALPHA', 'krbtgt/BETA@ALPHA']);
  });

  test('a referral loop (ALPHA -> BETA -> ALPHA) is refused with SEC_E_KDC_UNABLE_TO_REFER', async () => {
    const f = fakeRealms({
      local: 'ALPHA', trusts: [],
      route: (realm, sname) => (sname === 'HTTP/web' ? { issue: `krbtgt/${realm === 'ALPHA' ? 'BETA' : 'ALPHA'}` } : undefined),
    });
    await assert.rejects(getServiceTicket(f.tgt, 'HTTP/web', { send: f.send }), rejectsWith(SecurityStatus.SEC_E_KDC_UNABLE_TO_REFER, /loop/));
    assert.deepEqual(steps(f), ['ALPHA: HTTP/web', 'BETA: HTTP/web']);
  });

  test(`more than ${KRB5_REFERRAL_MAXHOPS} referrals: SEC_E_MAX_REFERRALS_EXCEEDED, never a hang`, async () => {
    const f = fakeRealms({
      local: 'R0', trusts: [],
      route: (realm, sname) => (sname === 'HTTP/web' ? { issue: `krbtgt/R${Number(realm.slice(1)) + 1}` } : undefined),
    });
    await assert.rejects(getServiceTicket(f.tgt, 'HTTP/web', { send: f.send }), rejectsWith(SecurityStatus.SEC_E_MAX_REFERRALS_EXCEEDED));
    assert.equal(f.log.length, KRB5_REFERRAL_MAXHOPS, 'as MIT: the tenth referral is not followed');
  });

  test('off-path TGTs without end: SEC_E_MAX_REFERRALS_EXCEEDED', async () => {
    const f = fakeRealms({
      local: 'A', trusts: [], serviceRealm: 'B',
      route: (realm, sname) => (sname === 'krbtgt/B' ? { issue: `krbtgt/${realm}x` } : undefined),
    });
    await assert.rejects(getServiceTicket(f.tgt, 'HTTP/web@B', { send: f.send }), rejectsWith(SecurityStatus.SEC_E_MAX_REFERRALS_EXCEEDED));
    assert.ok(f.log.length <= KRB5_REFERRAL_MAXHOPS + 2, `bounded (${f.log.length} requests)`);
  });

  test('referred back to the local realm while walking the path: a loop', async () => {
    const f = fakeRealms({ local: 'A', trusts: [], route: (realm, sname) => (sname === 'krbtgt/B' ? { issue: 'krbtgt/A' } : undefined) });
    await assert.rejects(getServiceTicket(f.tgt, 'HTTP/web@B', { send: f.send }), rejectsWith(SecurityStatus.SEC_E_KDC_UNABLE_TO_REFER, /loop/));
  });

  test('no trust: every step refused gives SEC_E_KDC_UNABLE_TO_REFER with the KDC error as cause', async () => {
    const f = fakeRealms({ local: 'ALPHA.TEST', trusts: [], serviceRealm: 'BETA.TEST' });
    await assert.rejects(getServiceTicket(f.tgt, 'HTTP/web@BETA.TEST', { send: f.send }), (e: unknown) => {
      rejectsWith(SecurityStatus.SEC_E_KDC_UNABLE_TO_REFER, /ALPHA\.TEST -> TEST -> BETA\.TEST.*KDC_ERR_S_PRINCIPAL_UNKNOWN/)(e);
      assert.ok((e as Error).cause instanceof KdcError);
      return true;
    });
    assert.deepEqual(steps(f), ['ALPHA.TEST: krbtgt/BETA.TEST', 'ALPHA.TEST: krbtgt/TEST']);
  });

  test('bad answers: a service ticket where a TGT was asked, a ticket of another realm, a name rewritten twice', async () => {
    const notTgt = fakeRealms({ local: 'A', trusts: [], route: (_r, sname) => (sname === 'krbtgt/B' ? { issue: 'HTTP/web' } : undefined) });
    await assert.rejects(getServiceTicket(notTgt.tgt, 'HTTP/web@B', { send: notTgt.send }), rejectsWith(SecurityStatus.SEC_E_INVALID_TOKEN));
    const wrongRealm = fakeRealms({ local: 'A', trusts: ['krbtgt/B@A'], serviceRealm: 'B', mangle: (realm) => (realm === 'A' ? { srealm: 'EVIL' } : {}) });
    await assert.rejects(getServiceTicket(wrongRealm.tgt, 'HTTP/web@B', { send: wrongRealm.send }), rejectsWith(SecurityStatus.SEC_E_INVALID_TOKEN, /EVIL/));
    const renamed = fakeRealms({ local: 'A', trusts: [], route: (_r, sname) => (sname === 'HTTP/web' ? { issue: 'HTTP/other' } : undefined) });
    await assert.rejects(getServiceTicket(renamed.tgt, 'HTTP/web', { send: renamed.send }), rejectsWith(SecurityStatus.SEC_E_WRONG_PRINCIPAL));
    assert.deepEqual(renamed.log.map((l) => l.kdcOptions & KdcOptions.CANONICALIZE), [KdcOptions.CANONICALIZE, 0], 'asked once more without canonicalize, as MIT');
  });

  test('a KDC that rejects CANONICALIZE (KDC_ERR_BADOPTION) gets the plain request', async () => {
    const f = fakeRealms({ local: 'A', trusts: [], route: (_r, _s, opts) => (opts & KdcOptions.CANONICALIZE ? { error: 13 } : undefined) });
    const st = await getServiceTicket(f.tgt, 'HTTP/web', { send: f.send });
    assert.equal(formatPrincipal(st.server), 'HTTP/web@A');
    assert.equal(f.log.length, 2);
  });

  test('the local service path is unchanged: one request, the ticket under its own name', async () => {
    const f = fakeRealms({ local: 'A', trusts: [] });
    const st = await getServiceTicket(f.tgt, 'HTTP/web', { send: f.send });
    assert.deepEqual(steps(f), ['A: HTTP/web']);
    assert.equal(formatPrincipal(st.server), 'HTTP/web@A');
    assert.ok(f.tgt.sessionKey.keyvalue.some((b) => b !== 0), "the caller's TGT keeps its key");
  });
});
