// AS and TGS exchanges against an in-process fake KDC (through the `send` hook): pre-authentication
// from ETYPE-INFO2, reply checks, error mapping, rc4 gating, the memory cache, klist formatting.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeApReq,
  decodeAsReq,
  decodeAuthenticator,
  decodeEncryptedData,
  decodePaEncTsEnc,
  decodeTgsReq,
  encodeAsRep,
  encodeEncASRepPart,
  encodeEncTGSRepPart,
  encodeEncTicketPart,
  encodeEtypeInfo2,
  encodeKrbError,
  encodeMethodData,
  encodeTgsRep,
  decodeEncTicketPart,
  type KdcReq,
  type Ticket,
} from '../../../../src/packages/kerberos/asn1/index.js';
import { decrypt, encrypt, stringToKey, randomToKey } from '../../../../src/packages/kerberos/crypto/index.js';
import { getInitialTicket } from '../../../../src/packages/kerberos/client/as.js';
import { getServiceTicket } from '../../../../src/packages/kerberos/client/tgs.js';
import { MemoryCredentialCache } from '../../../../src/packages/kerberos/client/cache.js';
import { krbErrorToStatus, KdcError } from '../../../../src/packages/kerberos/client/errors.js';
import { clientPolicy } from '../../../../src/packages/kerberos/client/policy.js';
import { parseKrb5Conf } from '../../../../src/packages/kerberos/krb5conf.js';
import { klistTime, enctypeDisplayName } from '../../../../src/cli/kerberos.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { randomBytes } from 'node:crypto';

const REALM = 'EXAMPLE.TEST';
const PASSWORD = 'Secret-pw1';
const SALT = 'EXAMPLE.TESTalice-custom-salt';
const config = parseKrb5Conf(`[libdefaults]\n default_realm = ${REALM}\n permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha256-128\n`);
const sec = (d: Date): Date => new Date(Math.floor(d.getTime() / 1000) * 1000);

interface FakeOpts {
  preauth?: boolean;
  userEtype?: number;
  mangle?: (rep: Uint8Array) => Uint8Array;
  nonceDelta?: number;
  errorCode?: number;
}

/** A minimal KDC: one user alice (password-derived key with a non-default salt), krbtgt and HTTP/web. */
function fakeKdc(o: FakeOpts = {}) {
  const etype = o.userEtype ?? 18;
  const userKey = stringToKey(etype, PASSWORD, SALT, undefined, { allowWeak: true });
  const tgtKey = randomToKey(18, randomBytes(32));
  const svcKey = randomToKey(18, randomBytes(32));
  const seen: KdcReq[] = [];
  const err = (code: number, eData?: Uint8Array) =>
    encodeKrbError({ stime: sec(new Date()), susec: 0, errorCode: code, realm: REALM, sname: { nameType: 2, nameString: ['krbtgt', REALM] }, ...(eData ? { eData } : {}) });
  const issue = (req: KdcReq, key: { enctype: number; keyvalue: Uint8Array }, ticketKey: typeof tgtKey, usage: number, tgs: boolean, cname: string[]) => {
    const sessionKey = randomToKey(req.reqBody.etype.find((e) => e === 18 || e === 19 || e === 17) ?? 18, randomBytes(32));
    const now = sec(new Date());
    const sname = req.reqBody.sname!;
    const encTicket = encodeEncTicketPart({
      flags: 0x00400000, key: { keytype: sessionKey.enctype, keyvalue: sessionKey.keyvalue }, crealm: REALM,
      cname: { nameType: 1, nameString: cname }, transited: { trType: 1, contents: new Uint8Array(0) }, authtime: now, endtime: new Date(now.getTime() + 3600_000),
    });
    const ticket: Ticket = { realm: REALM, sname, encPart: { etype: ticketKey.enctype, kvno: 3, cipher: encrypt(ticketKey, 2, encTicket) } };
    const part = {
      key: { keytype: sessionKey.enctype, keyvalue: sessionKey.keyvalue }, lastReq: [], nonce: (req.reqBody.nonce + (o.nonceDelta ?? 0)) >>> 0,
      flags: 0x00400000, authtime: now, endtime: new Date(now.getTime() + 3600_000), srealm: REALM, sname,
    };
    const plain = tgs ? encodeEncTGSRepPart(part) : encodeEncASRepPart(part);
    const rep = { crealm: REALM, cname: { nameType: 1, nameString: cname }, ticket, encPart: { etype: key.enctype, cipher: encrypt(key, usage, plain) } };
    return tgs ? encodeTgsRep(rep) : encodeAsRep(rep);
  };
  const send = async (realm: string, bytes: Uint8Array): Promise<Uint8Array> => {
    assert.equal(realm, REALM);
    if (o.errorCode !== undefined) return err(o.errorCode);
    if (bytes[0] === 0x6a) {
      const req = decodeAsReq(bytes);
      seen.push(req);
      if (req.reqBody.cname!.nameString[0] !== 'alice') return err(6);
      const pa = req.padata?.find((p) => p.padataType === 2);
      if (!pa && o.preauth !== false) {
        return err(25, encodeMethodData([
          { padataType: 19, padataValue: encodeEtypeInfo2([{ etype: 23 }, { etype, salt: SALT }]) },
          { padataType: 2, padataValue: new Uint8Array(0) },
        ]));
      }
      if (pa) {
        const ed = decodeEncryptedData(pa.padataValue);
        try {
          const ts = decodePaEncTsEnc(decrypt(userKey, 1, ed.cipher));
          if (Math.abs(ts.patimestamp.getTime() - Date.now()) > 300_000) return err(37);
        } catch {
          return err(24);
        }
      }
      const rep = issue(req, userKey, tgtKey, 3, false, ['alice']);
      return o.mangle ? o.mangle(rep) : rep;
    }
    const req = decodeTgsReq(bytes);
    seen.push(req);
    const ap = decodeApReq(req.padata!.find((p) => p.padataType === 1)!.padataValue);
    const tkt = decodeEncTicketPart(decrypt(tgtKey, 2, ap.ticket.encPart.cipher));
    const skey = { enctype: tkt.key.keytype, keyvalue: tkt.key.keyvalue };
    const auth = decodeAuthenticator(decrypt(skey, 7, ap.authenticator.cipher));
    assert.deepEqual(auth.cname.nameString, ['alice']);
    assert.ok(auth.cksum, 'the authenticator checksums the req-body');
    if (req.reqBody.sname!.nameString[1] === 'unknown') return err(7);
    return issue(req, skey, svcKey, 8, true, ['alice']);
  };
  return { send, seen, tgtKey, svcKey };
}

describe('AS exchange (fake KDC)', () => {
  test('PREAUTH_REQUIRED → PA-ENC-TIMESTAMP with the ETYPE-INFO2 salt → TGT', async () => {
    const kdc = fakeKdc();
    const r = await getInitialTicket({ principal: 'alice', password: PASSWORD, config, send: kdc.send });
    assert.equal(r.preauthenticated, true);
    assert.equal(r.replyEnctype, 18);
    assert.equal(kdc.seen.length, 2);
    assert.deepEqual(kdc.seen[0]!.reqBody.etype, [18, 19], 'permitted_enctypes order, rc4 not asked');
    assert.equal(kdc.seen[0]!.padata, undefined);
    assert.deepEqual(r.credential.server.components, ['krbtgt', REALM]);
    assert.equal(r.credential.sessionKey.keyvalue.length, 32);
    assert.ok(r.credential.sessionKey.keyvalue.some((b) => b !== 0), 'session key survives the plaintext wipe');
  });

  test('no pre-authentication needed: one round trip', async () => {
    const kdc = fakeKdc({ preauth: false });
    const r = await getInitialTicket({ principal: 'alice', keys: [stringToKey(18, PASSWORD, SALT)], config, send: kdc.send });
    assert.equal(r.preauthenticated, false);
    assert.equal(kdc.seen.length, 1);
  });

  test('error mapping: wrong password, unknown client, skew, garbage, nonce mismatch, tampering', async () => {
    const kdc = fakeKdc();
    const expectCode = async (p: Promise<unknown>, code: string, krb?: number) =>
      assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof SspiError, String(e));
        assert.equal(e.code, code, e.message);
        if (krb !== undefined) assert.equal((e as KdcError).krbErrorCode, krb);
        return true;
      });
    await expectCode(getInitialTicket({ principal: 'alice', password: 'wrong', config, send: kdc.send }), 'SEC_E_LOGON_DENIED', 24);
    await expectCode(getInitialTicket({ principal: 'bob', password: 'x', config, send: kdc.send }), 'SEC_E_LOGON_DENIED', 6);
    const skewed = () => new Date(Date.now() + 3600_000);
    await expectCode(getInitialTicket({ principal: 'alice', password: PASSWORD, config, send: kdc.send, now: skewed }), 'SEC_E_TIME_SKEW', 37);
    await expectCode(getInitialTicket({ principal: 'alice', password: PASSWORD, config, send: async () => Uint8Array.from([0x6b, 1, 0]) }), 'SEC_E_INVALID_TOKEN');
    await expectCode(getInitialTicket({ principal: 'alice', password: PASSWORD, config, send: fakeKdc({ nonceDelta: 1 }).send }), 'SEC_E_INVALID_TOKEN');
    const flip = (b: Uint8Array) => {
      const c = Uint8Array.from(b);
      c[c.length - 3]! ^= 1; // inside the enc-part cipher (the last field)
      return c;
    };
    await expectCode(getInitialTicket({ principal: 'alice', password: PASSWORD, config, send: fakeKdc({ mangle: flip }).send }), 'SEC_E_LOGON_DENIED', 31);
    await expectCode(getInitialTicket({ principal: 'alice', password: PASSWORD, config, send: fakeKdc({ errorCode: 29 }).send }), 'SEC_E_NO_AUTHENTICATING_AUTHORITY', 29);
  });

  test('rc4-only offers are refused unless rc4 is configured', async () => {
    const kdc = fakeKdc({ userEtype: 23 });
    await assert.rejects(getInitialTicket({ principal: 'alice', password: PASSWORD, config, send: kdc.send }), (e: unknown) => e instanceof SspiError && e.code === 'SEC_E_KDC_UNKNOWN_ETYPE');
    assert.equal(clientPolicy(config).crypto.allowWeak, false);
    assert.equal(clientPolicy(parseKrb5Conf('[libdefaults]\n permitted_enctypes = aes rc4\n')).crypto.allowWeak, true);
    assert.equal(clientPolicy(parseKrb5Conf('[libdefaults]\n permitted_enctypes = DEFAULT\n')).crypto.allowWeak, false);
    assert.ok(clientPolicy(parseKrb5Conf('[libdefaults]\n allow_weak_crypto = true\n')).tktEnctypes.includes(23));
  });

  test('bad arguments are typed errors', async () => {
    await assert.rejects(getInitialTicket({ principal: 'alice', config }), (e: unknown) => e instanceof SspiError && e.code === 'SEC_E_INVALID_PARAMETER');
    await assert.rejects(getInitialTicket({ principal: 'alice', password: 'x' }), (e: unknown) => e instanceof SspiError && e.code === 'SEC_E_INVALID_PARAMETER');
  });
});

describe('TGS exchange and caches (fake KDC)', () => {
  test('service ticket with a checksummed authenticator; stored in and found from a memory cache', async () => {
    const kdc = fakeKdc();
    const { credential: tgt } = await getInitialTicket({ principal: 'alice', password: PASSWORD, config, send: kdc.send });
    const st = await getServiceTicket(tgt, 'HTTP/web', { config, send: kdc.send });
    assert.deepEqual(st.server.components, ['HTTP', 'web']);
    assert.equal(st.server.realm, REALM);
    assert.equal(st.ticket.encPart.kvno, 3);
    const part = decodeEncTicketPart(decrypt(kdc.svcKey, 2, st.ticket.encPart.cipher));
    assert.deepEqual(Uint8Array.from(part.key.keyvalue), Uint8Array.from(st.sessionKey.keyvalue));
    const cache = new MemoryCredentialCache('t');
    assert.equal(await cache.principal(), undefined);
    await cache.initialize(tgt.client);
    await cache.store(tgt);
    await cache.store(st);
    await cache.store(st); // replaces, does not duplicate
    assert.equal((await cache.list()).length, 2);
    assert.ok(await cache.tgt());
    assert.ok(await cache.find('HTTP/web'));
    assert.equal(await cache.find('HTTP/web', { now: new Date(Date.now() + 7200_000) }), undefined, 'expired tickets are not found');
    await cache.destroy();
    assert.equal(await cache.principal(), undefined);
  });

  test('unknown service → SEC_E_TARGET_UNKNOWN; expired TGT → SEC_E_CONTEXT_EXPIRED before any request', async () => {
    const kdc = fakeKdc();
    const { credential: tgt } = await getInitialTicket({ principal: 'alice', password: PASSWORD, config, send: kdc.send });
    await assert.rejects(getServiceTicket(tgt, 'HTTP/unknown', { config, send: kdc.send }), (e: unknown) => e instanceof KdcError && e.code === 'SEC_E_TARGET_UNKNOWN');
    const n = kdc.seen.length;
    await assert.rejects(
      getServiceTicket(tgt, 'HTTP/web', { config, send: kdc.send, now: () => new Date(Date.now() + 7200_000) }),
      (e: unknown) => e instanceof SspiError && e.code === 'SEC_E_CONTEXT_EXPIRED',
    );
    assert.equal(kdc.seen.length, n);
  });
});

describe('error table and CLI formatting', () => {
  test('Windows mapping of KDC errors', () => {
    assert.equal(krbErrorToStatus(24), 0x8009030c); // PREAUTH_FAILED → SEC_E_LOGON_DENIED
    assert.equal(krbErrorToStatus(6), 0x8009030c); // C_PRINCIPAL_UNKNOWN → STATUS_NO_SUCH_USER → LOGON_DENIED
    assert.equal(krbErrorToStatus(37), 0x80090324); // SKEW → SEC_E_TIME_SKEW
    assert.equal(krbErrorToStatus(7), 0x80090303); // S_PRINCIPAL_UNKNOWN → SEC_E_TARGET_UNKNOWN
    assert.equal(krbErrorToStatus(14), 0x80090342); // ETYPE_NOSUPP → SEC_E_KDC_UNKNOWN_ETYPE
    assert.equal(krbErrorToStatus(29), 0x80090311); // SVC_UNAVAILABLE → NO_AUTHENTICATING_AUTHORITY
    const e = new KdcError(24, 'x');
    assert.ok(e instanceof SspiError);
    assert.equal(e.krbErrorName, 'KDC_ERR_PREAUTH_FAILED');
  });

  test('klist time and enctype names as MIT prints them', () => {
    assert.equal(klistTime(new Date(2026, 10, 2, 7, 5, 9)), '11/02/26 07:05:09');
    assert.equal(enctypeDisplayName(18), 'aes256-cts-hmac-sha1-96');
    assert.equal(enctypeDisplayName(23), 'DEPRECATED:arcfour-hmac');
    assert.equal(enctypeDisplayName(20), 'aes256-cts-hmac-sha384-192');
  });
});
