// The speed paths of the Kerberos package against independent references: Wrap tokens checked
// with node:crypto CBC + HMAC from the RFC 3961 derived keys, the JS HMAC and SHA-256 against
// node:crypto, batched key derivation against one-at-a-time, the replay key against its
// definition, the shared session-key objects, and the FILE ccache stat check.
import * as assert from 'node:assert/strict';
import { createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, utimesSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { AesCts } from '../../../../src/crypto/aes-cts.js';
import { constantTimeEqual } from '../../../../src/crypto/bytes.js';
import { KeyUsage, TicketFlags, encodeEncTicketPart, encodeTicket } from '../../../../src/packages/kerberos/asn1/index.js';
import { writeCcacheFile, type Credential } from '../../../../src/packages/kerberos/ccache.js';
import { FileCredentialCache } from '../../../../src/packages/kerberos/client/cache.js';
import { destroyTicketCredential } from '../../../../src/packages/kerberos/client/types.js';
import { HmacKey, sha256 } from '../../../../src/packages/kerberos/crypto/hmac.js';
import { decrypt, deriveKey, destroyKey, encrypt, isKeyLive, prepareUsages, randomToKey, type KerberosKey } from '../../../../src/packages/kerberos/crypto/index.js';
import { acceptApReq, buildApReq } from '../../../../src/packages/kerberos/gss/apreq.js';
import { GssFlags } from '../../../../src/packages/kerberos/gss/checksum.js';
import { createTokenState, unwrap, wrap } from '../../../../src/packages/kerberos/gss/tokens.js';
import { MemoryReplayCache, replayKey } from '../../../../src/packages/kerberos/replay.js';
import { SessionKeyCache } from '../../../../src/packages/kerberos/sessionKeys.js';
import { AcceptedTicketCache } from '../../../../src/packages/kerberos/acceptedTickets.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';

const keyOf = (et: number): KerberosKey => randomToKey(et, randomBytes(et === 17 || et === 19 ? 16 : 32));

/** CBC-CS3 decryption from its definition, with a fresh node:crypto object. */
function refCtsDecrypt(key: Uint8Array, c: Uint8Array): Buffer {
  const alg = key.length === 16 ? 'aes-128' : 'aes-256';
  const n = Math.ceil(c.length / 16);
  if (n === 1) return createDecipheriv(`${alg}-ecb`, key, null).setAutoPadding(false).update(c);
  const d = c.length - 16 * (n - 1);
  const cut = 16 * (n - 2);
  const en = c.subarray(cut, cut + 16); // E_n, sent in slot n-1
  const dn = createDecipheriv(`${alg}-ecb`, key, null).setAutoPadding(false).update(en);
  const en1 = Buffer.concat([c.subarray(cut + 16), dn.subarray(d)]); // E_{n-1} rebuilt
  const z = Buffer.concat([c.subarray(0, cut), en1, en]);
  return createDecipheriv(`${alg}-cbc`, key, Buffer.alloc(16)).setAutoPadding(false).update(z).subarray(0, c.length);
}

describe('RFC 4121 Wrap (conf) against node:crypto references', () => {
  for (const et of [17, 18, 19, 20]) {
    it(`enctype ${et}: every size across the scratch limit and EC values decode by the reference`, () => {
      const key = keyOf(et);
      const sub = keyOf(et);
      const i = createTokenState({ initiator: true, key, acceptorSubkey: sub, localSeq: 5, remoteSeq: 9, replayDetect: true, sequenceDetect: true });
      const a = createTokenState({ initiator: false, key, acceptorSubkey: sub, localSeq: 9, remoteSeq: 5, replayDetect: true, sequenceDetect: true });
      const sha1 = et === 17 || et === 18;
      const macLen = et === 20 ? 24 : et === 19 ? 16 : 12;
      const hash = et === 20 ? 'sha384' : et === 19 ? 'sha256' : 'sha1';
      const ke = deriveKey(sub, KeyUsage.KG_USAGE_INITIATOR_SEAL, 'Ke');
      const ki = deriveKey(sub, KeyUsage.KG_USAGE_INITIATOR_SEAL, 'Ki');
      for (const [n, ec] of [[0, 0], [1, 0], [16, 0], [16, 5], [100, 3], [4016, 0], [4030, 0], [4031, 17], [5000, 0], [65536, 0], [70000, 1]] as const) {
        const msg = randomBytes(n);
        const tok = wrap(i, msg, { ec });
        const header = tok.subarray(0, 16);
        const body = tok.subarray(16);
        const c = body.subarray(0, body.length - macLen);
        const mac = body.subarray(body.length - macLen);
        const plain = refCtsDecrypt(ke, c);
        // RFC 3961 5.3: MAC over the plaintext; RFC 8009 5: over IV (zero) || ciphertext.
        const expect = sha1 ? createHmac(hash, ki).update(plain).digest() : createHmac(hash, ki).update(Buffer.alloc(16)).update(c).digest();
        assert.deepEqual(Buffer.from(mac), expect.subarray(0, macLen), `MAC, size ${n}`);
        assert.deepEqual(plain.subarray(16, 16 + n), msg, `payload, size ${n}`);
        assert.ok(plain.subarray(16 + n, 16 + n + ec).every((x) => x === 0), `EC filler, size ${n}`);
        const inner = Buffer.from(plain.subarray(16 + n + ec));
        assert.deepEqual(inner, Buffer.from(header), `encrypted header copy, size ${n}`);
        assert.deepEqual(Buffer.from(unwrap(a, tok).data), msg);
      }
    });
  }
});

describe('AesCts part-wise and pre-padded encryption', () => {
  it('encryptParts and encryptPadded equal encrypt for any length and split, interleaved on one object (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(16, 32), fc.integer({ min: 17, max: 3000 }), fc.nat(), fc.uint8Array({ minLength: 16, maxLength: 16 }), (kl, len, split, iv) => {
        const key = randomBytes(kl);
        const ref = new AesCts(key);
        const a = new AesCts(key);
        const m = randomBytes(len);
        const padded = 16 * Math.ceil(len / 16);
        const z = new Uint8Array(padded);
        z.set(m);
        const cut = 16 + (split % (len - 15)); // mid is m[16..cut), tail the rest plus padding
        for (let round = 0; round < 2; round++) {
          const expect = Buffer.from(ref.encrypt(m, iv));
          const out = new Uint8Array(len + 5);
          a.encryptParts(m.subarray(0, 16), m.subarray(16, cut), z.slice(cut), len, iv, out, 5);
          assert.deepEqual(Buffer.from(out.subarray(5)), expect);
          const out2 = new Uint8Array(len);
          a.encryptPadded(Uint8Array.from(z), len, iv, out2, 0);
          assert.deepEqual(Buffer.from(out2), Buffer.from(ref.encrypt(m, iv)));
          assert.deepEqual(Buffer.from(a.decrypt(out2, iv)), m);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('JS HMAC and SHA-256 against node:crypto', () => {
  it('HmacKey mac/macInto/verify for SHA-1 and SHA-256, both sides of the JS limit (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom('sha1' as const, 'sha256' as const), fc.uint8Array({ maxLength: 90, size: 'max' }), fc.uint8Array({ maxLength: 700, size: 'max' }), fc.uint8Array({ maxLength: 40, size: 'max' }), (h, k, a, b) => {
        const key = new HmacKey(h, k);
        const ref = createHmac(h, k).update(a).update(b).digest();
        assert.deepEqual(Buffer.from(key.mac(a, b)), ref);
        const out = new Uint8Array(ref.length + 3);
        key.macInto(a, b, out, 3, 12);
        assert.deepEqual(Buffer.from(out.subarray(3, 15)), ref.subarray(0, 12));
        assert.equal(key.verify(a, b, ref.subarray(0, 12)), true);
        const bad = Uint8Array.from(ref.subarray(0, 12));
        bad[a.length % 12]! ^= 0x80;
        assert.equal(key.verify(a, b, bad), false);
        assert.equal(key.verify(a, b, ref.subarray(0, 0)), false);
        assert.equal(key.verify(a, b, Buffer.concat([ref, Buffer.alloc(1)])), false);
      }),
      { numRuns: 300 },
    );
  });

  it('sha256 for every length 0..400 and a long input', () => {
    for (let n = 0; n <= 400; n++) {
      const d = randomBytes(n);
      assert.deepEqual(Buffer.from(sha256(d)), createHash('sha256').update(d).digest(), `length ${n}`);
    }
    const big = randomBytes(5000);
    assert.deepEqual(Buffer.from(sha256(big)), createHash('sha256').update(big).digest());
  });

  it('constantTimeEqual: equal, one bit off anywhere, length mismatch, short and long inputs', () => {
    for (const n of [0, 1, 12, 64, 65, 300]) {
      const a = randomBytes(n);
      assert.equal(constantTimeEqual(a, Uint8Array.from(a)), true);
      for (let k = 0; k < n; k += Math.max(1, n >> 3)) {
        const b = Uint8Array.from(a);
        b[k]! ^= 1;
        assert.equal(constantTimeEqual(a, b), false);
      }
      assert.equal(constantTimeEqual(a, new Uint8Array(n + 1)), false);
    }
  });
});

describe('batched key derivation', () => {
  it('prepareUsages gives the same Ke/Ki as deriving one usage at a time (17, 18)', () => {
    for (const et of [17, 18]) {
      const bytes = randomBytes(et === 17 ? 16 : 32);
      const batched: KerberosKey = { enctype: et, keyvalue: Uint8Array.from(bytes) };
      const single: KerberosKey = { enctype: et, keyvalue: Uint8Array.from(bytes) };
      prepareUsages(batched, [11, 12, 1024]);
      const conf = randomBytes(16);
      for (const u of [11, 12, 1024]) {
        const p = randomBytes(50);
        assert.deepEqual(Buffer.from(encrypt(batched, u, p, conf)), Buffer.from(encrypt(single, u, p, conf)), `usage ${u}`);
        assert.deepEqual(Buffer.from(decrypt(batched, u, encrypt(single, u, p))), p);
      }
      destroyKey(batched);
      assert.throws(() => prepareUsages(batched, [11]), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_HANDLE));
    }
  });
});

describe('replay key', () => {
  // The definition: SHA-256 over the server name and the ciphertext, each with a 4-byte big-endian length prefix.
  function reference(v: { server: string; authenticatorCipher: Uint8Array }): string {
    const h = createHash('sha256');
    for (const f of [Buffer.from(v.server), Buffer.from(v.authenticatorCipher)]) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(f.length);
      h.update(len).update(f);
    }
    return h.digest('hex');
  }
  it('is the definition for any names (non-ASCII too) and ciphertexts', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.uint8Array({ maxLength: 600, size: 'max' }), (server, authenticatorCipher) => {
        const v = { server, authenticatorCipher };
        assert.equal(replayKey(v), reference(v));
      }),
      { numRuns: 300 },
    );
  });
});

describe('shared session-key objects', () => {
  it('SessionKeyCache: same bytes share one object; other bytes, eviction and clear zero the old one', () => {
    const c = new SessionKeyCache<string>(2);
    const k = keyOf(18);
    const s1 = c.get('t1', k);
    assert.notEqual(s1, k);
    assert.equal(c.get('t1', { enctype: 18, keyvalue: Uint8Array.from(k.keyvalue) }), s1);
    const other = keyOf(18);
    const s2 = c.get('t1', other); // same id, different key: the old object is zeroed
    assert.notEqual(s2, s1);
    assert.equal(isKeyLive(s1), false);
    assert.ok(s1.keyvalue.every((x) => x === 0));
    c.get('t2', keyOf(18));
    c.get('t3', keyOf(18)); // evicts t1
    assert.equal(isKeyLive(s2), false);
    assert.equal(c.size, 2);
    const s3 = c.get('t3', keyOf(17));
    c.clear();
    assert.equal(isKeyLive(s3), false);
    assert.equal(c.size, 0);
    assert.ok(k.keyvalue.some((x) => x !== 0), 'the caller\'s key is left alone');
  });

  it('acceptApReq shares the session key of one ticket across AP-REQs and still refuses a replay', async () => {
    const et = 18;
    const svcKey = keyOf(et);
    const session = keyOf(et);
    const now = Date.now();
    const part = encodeEncTicketPart({
      flags: TicketFlags.FORWARDABLE, key: { keytype: et, keyvalue: session.keyvalue }, crealm: 'R', cname: { nameType: 1, nameString: ['u'] },
      transited: { trType: 1, contents: new Uint8Array(0) }, authtime: new Date(Math.floor(now / 1000) * 1000), endtime: new Date(Math.floor(now / 1000 + 3600) * 1000),
    });
    const ticket = { realm: 'R', sname: { nameType: 2, nameString: ['HTTP', 'h'] }, encPart: { etype: et, kvno: 2, cipher: encrypt(svcKey, KeyUsage.KDC_REP_TICKET, part) } };
    const keytab = [{ principal: { realm: 'R', components: ['HTTP', 'h'], nameType: 2 }, timestamp: 0, kvno: 2, kvno8: 2, key: svcKey }];
    const sessionKeys = new SessionKeyCache<string>(8);
    const replayCache = new MemoryReplayCache();
    const flags = GssFlags.GSS_C_MUTUAL_FLAG | GssFlags.GSS_C_REPLAY_FLAG;
    const mk = () => buildApReq({ ticket, sessionKey: { enctype: et, keyvalue: Uint8Array.from(session.keyvalue) }, crealm: 'R', cname: { nameType: 1, nameString: ['u'] }, gssFlags: flags });
    const r1 = mk();
    const a1 = await acceptApReq(r1.token, { keytab, replayCache, sessionKeys });
    const a2 = await acceptApReq(mk().token, { keytab, replayCache, sessionKeys });
    assert.ok(a1.sharedSessionKey);
    assert.equal(a2.sharedSessionKey, a1.sharedSessionKey);
    assert.notEqual(a1.sessionKey, a1.sharedSessionKey, 'the caller gets its own copy to zero');
    assert.deepEqual(a1.sessionKey.keyvalue, session.keyvalue);
    await assert.rejects(acceptApReq(r1.token, { keytab, replayCache, sessionKeys }), (e) => SspiError.is(e, SecurityStatus.SEC_E_LOGON_DENIED));
  });
});

describe('AcceptedTicketCache: a ticket opened once', () => {
  const et = 18;
  const nowS = Math.floor(Date.now() / 1000);
  function fixture(lifetimeS = 3600) {
    const svcKey = keyOf(et);
    const session = keyOf(et);
    const part = encodeEncTicketPart({
      flags: TicketFlags.FORWARDABLE, key: { keytype: et, keyvalue: session.keyvalue }, crealm: 'R', cname: { nameType: 1, nameString: ['u'] },
      transited: { trType: 1, contents: new Uint8Array(0) }, authtime: new Date((nowS - 60) * 1000), endtime: new Date((nowS + lifetimeS) * 1000),
    });
    const cipher = encrypt(svcKey, KeyUsage.KDC_REP_TICKET, part);
    const ticket = { realm: 'R', sname: { nameType: 2, nameString: ['HTTP', 'h'] }, encPart: { etype: et, kvno: 2, cipher } };
    const keytab = [{ principal: { realm: 'R', components: ['HTTP', 'h'], nameType: 2 }, timestamp: 0, kvno: 2, kvno8: 2, key: svcKey }];
    const mk = (t = ticket) => buildApReq({ ticket: t, sessionKey: { enctype: et, keyvalue: Uint8Array.from(session.keyvalue) }, crealm: 'R', cname: { nameType: 1, nameString: ['u'] }, gssFlags: GssFlags.GSS_C_MUTUAL_FLAG }).token;
    return { svcKey, session, ticket, keytab, mk, cipher };
  }

  it('later AP-REQs with the ticket use the cached part and shared key; the caller owns its key copy', async () => {
    const f = fixture();
    const tickets = new AcceptedTicketCache(8);
    const replayCache = new MemoryReplayCache();
    const a1 = await acceptApReq(f.mk(), { keytab: f.keytab, replayCache, tickets });
    assert.equal(tickets.size, 1);
    const a2 = await acceptApReq(f.mk(), { keytab: f.keytab, replayCache, tickets });
    assert.equal(a2.sharedSessionKey, a1.sharedSessionKey);
    assert.deepEqual(a2.encTicketPart.cname, a1.encTicketPart.cname);
    assert.deepEqual(a2.sessionKey.keyvalue, f.session.keyvalue);
    // A caller zeroes its copies when its context goes: the cache's stay whole.
    a1.encTicketPart.key.keyvalue.fill(0);
    a1.sessionKey.keyvalue.fill(0);
    const a3 = await acceptApReq(f.mk(), { keytab: f.keytab, replayCache, tickets });
    assert.deepEqual(a3.encTicketPart.key.keyvalue, f.session.keyvalue);
    assert.notEqual(a3.encTicketPart.key.keyvalue, a2.encTicketPart.key.keyvalue);
  });

  it('a ticket changed anywhere but its last 16 bytes misses the cache and fails its integrity check', async () => {
    const f = fixture();
    const tickets = new AcceptedTicketCache(8);
    await acceptApReq(f.mk(), { keytab: f.keytab, tickets });
    for (const at of [0, 20, f.cipher.length - 17]) {
      const bad = Uint8Array.from(f.cipher);
      bad[at]! ^= 1;
      const forged = { ...f.ticket, encPart: { ...f.ticket.encPart, cipher: bad } };
      await assert.rejects(acceptApReq(f.mk(forged), { keytab: f.keytab, tickets }), (e) => SspiError.is(e, SecurityStatus.SEC_E_WRONG_PRINCIPAL) && /KRB_AP_ERR_MODIFIED/.test((e as Error).message), `byte ${at}`);
    }
  });

  it('another service key object (a reloaded keytab) does not use what the old one opened', async () => {
    const f = fixture();
    const tickets = new AcceptedTicketCache(8);
    await acceptApReq(f.mk(), { keytab: f.keytab, tickets });
    const otherKey = keyOf(et); // the keytab now holds another key under the same kvno
    const keytab = [{ ...f.keytab[0]!, key: otherKey }];
    await assert.rejects(acceptApReq(f.mk(), { keytab, tickets }), (e) => e instanceof SspiError);
    assert.equal(tickets.lookup(otherKey, f.cipher, Date.now()), undefined);
  });

  it('expired entries are dropped and zeroed; eviction and clear() zero theirs', () => {
    const tickets = new AcceptedTicketCache(2);
    const parts: Array<ReturnType<typeof fixture> & { plain: Uint8Array }> = [];
    const open = (f: ReturnType<typeof fixture>) => {
      const plain = decrypt(f.svcKey, KeyUsage.KDC_REP_TICKET, f.cipher);
      const part = { flags: 0, key: { keytype: et, keyvalue: Uint8Array.from(f.session.keyvalue) }, crealm: 'R', cname: { nameType: 1, nameString: ['u'] }, transited: { trType: 1, contents: new Uint8Array(0) }, authtime: new Date(), endtime: new Date((nowS + 60) * 1000) };
      const o = tickets.store(f.svcKey, f.cipher, plain, part);
      parts.push({ ...f, plain });
      return { o, part, plain };
    };
    const first = open(fixture());
    assert.equal(tickets.lookup(parts[0]!.svcKey, parts[0]!.cipher, Date.now())?.sharedSessionKey, first.o.sharedSessionKey);
    // Past its endtime: gone, and zeroed.
    assert.equal(tickets.lookup(parts[0]!.svcKey, parts[0]!.cipher, Date.now() + 120_000), undefined);
    assert.equal(tickets.size, 0);
    assert.ok(first.plain.every((x) => x === 0) && first.part.key.keyvalue.every((x) => x === 0));
    assert.equal(isKeyLive(first.o.sharedSessionKey), false);
    const a = open(fixture());
    const b = open(fixture());
    const c = open(fixture()); // evicts a
    assert.equal(tickets.size, 2);
    assert.ok(a.plain.every((x) => x === 0) && !isKeyLive(a.o.sharedSessionKey));
    assert.ok(b.plain.some((x) => x !== 0));
    tickets.clear();
    assert.equal(tickets.size, 0);
    for (const x of [b, c]) assert.ok(x.plain.every((y) => y === 0) && x.part.key.keyvalue.every((y) => y === 0) && !isKeyLive(x.o.sharedSessionKey));
  });
});

describe('FILE ccache: stat check instead of a parse per call', () => {
  const user = { realm: 'R', components: ['u'], nameType: 1 };
  const svc = { realm: 'R', components: ['HTTP', 'h'], nameType: 2 };
  const cred = (keyByte: number): Credential => {
    const t = encodeTicket({ realm: 'R', sname: { nameType: 2, nameString: ['HTTP', 'h'] }, encPart: { etype: 18, kvno: 1, cipher: new Uint8Array(60).fill(keyByte) } });
    return {
      client: user, server: svc, key: { enctype: 18, keyvalue: new Uint8Array(32).fill(keyByte) }, authtime: 1, starttime: 1, endtime: 0xfffffff0, renewTill: 0,
      isSkey: false, ticketFlags: 0, addresses: [], authdata: [], ticket: t, secondTicket: new Uint8Array(0),
    };
  };
  const past = (path: string) => utimesSync(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  const settle = () => new Promise((r) => setTimeout(r, 150)); // past the racy window of the ctime just set

  it('sees a rewrite, an in-place change of the same size with the old mtime, and keeps zeroing local', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslsa-fast-cc-'));
    try {
      const path = join(dir, 'cc');
      writeCcacheFile(path, { version: 0x0504, defaultPrincipal: user, credentials: [cred(1)] });
      past(path);
      await settle();
      const cache = new FileCredentialCache(path);
      const t1 = await cache.find(svc);
      assert.equal(t1?.sessionKey.keyvalue[0], 1);
      destroyTicketCredential(t1!); // the caller zeroes its copy
      const t2 = await cache.find(svc); // served from the kept parse
      assert.equal(t2?.sessionKey.keyvalue[0], 1);
      // Same size, same inode, old mtime restored: only ctime tells.
      const bytes = readFileSync(path);
      const at = bytes.indexOf(Buffer.alloc(32, 1));
      assert.ok(at > 0);
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.alloc(32, 2), 0, 32, at);
      closeSync(fd);
      past(path);
      assert.equal((await cache.find(svc))?.sessionKey.keyvalue[0], 2);
      // An atomic rewrite (new inode).
      writeCcacheFile(path, { version: 0x0504, defaultPrincipal: user, credentials: [cred(3)] });
      assert.equal((await cache.find(svc))?.sessionKey.keyvalue[0], 3);
      rmSync(path);
      assert.equal(await cache.find(svc), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
