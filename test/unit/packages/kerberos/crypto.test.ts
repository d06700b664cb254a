import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { aesCtsEncrypt } from '../../../../src/crypto/aes-cts.js';
import { rc4 } from '../../../../src/crypto/rc4.js';
import {
  decrypt, deriveKey, destroyKey, dk, encrypt, getChecksumType, getEnctype, isEnctypeSupported, makeChecksum, nfold, prf,
  randomToKey, rc4MessageType, stringToKey, supportedEnctypes, verifyChecksum, type KerberosKey,
} from '../../../../src/packages/kerberos/crypto/index.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Case = Record<string, any> & { group: string };
const file = JSON.parse(readFileSync(new URL('../../../fixtures/vectors/kerberos-crypto.json', import.meta.url), 'utf8')) as {
  enctypes: Record<string, number>;
  cases: Case[];
};
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const be32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
};
const le32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const WEAK = { allowWeak: true };
const etypeByName = (name: string): number => {
  const n = file.enctypes[name.replace(/-/g, '_')];
  assert.ok(n !== undefined, name);
  return n;
};
const altered = (e: unknown): boolean => SspiError.is(e, SecurityStatus.SEC_E_MESSAGE_ALTERED);
const invalidToken = (e: unknown): boolean => SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN);

// One checker per group in the vector file; every case of every group runs through one of these.
const checkers: Record<string, (c: Case) => void> = {
  rfc3961_nfold(c) {
    assert.equal(toHex(nfold(hex(c.input), c.n_bits / 8)), c.expected, c.input_ascii);
  },
  rfc3962_string_to_key(c) {
    const pw = hex(c.passphrase_hex);
    const salt = hex(c.salt_hex);
    // The PBKDF2 intermediate pins the vector's reading (PBKDF2-HMAC-SHA1, key-length output).
    assert.equal(pbkdf2Sync(pw, salt, c.iteration_count, 16, 'sha1').toString('hex'), c.expected.pbkdf2_128);
    assert.equal(pbkdf2Sync(pw, salt, c.iteration_count, 32, 'sha1').toString('hex'), c.expected.pbkdf2_256);
    const k128 = stringToKey(17, pw, salt, be32(c.iteration_count));
    assert.equal(k128.enctype, 17);
    assert.equal(toHex(k128.keyvalue), c.expected.aes128_key);
    assert.equal(toHex(stringToKey(18, pw, salt, be32(c.iteration_count)).keyvalue), c.expected.aes256_key);
    // DK(random-to-key(PBKDF2 output), "kerberos") by hand.
    const t = randomToKey(17, hex(c.expected.pbkdf2_128));
    assert.equal(toHex(dk(t, Buffer.from('kerberos'))), c.expected.aes128_key);
  },
  rfc3962_aes_cts(c) {
    const r = aesCtsEncrypt(hex(c.key), hex(c.input), hex(c.iv));
    assert.equal(toHex(r.output), c.expected.output);
    assert.equal(toHex(r.nextIv), c.expected.next_iv);
  },
  rfc8009_string_to_key(c) {
    const et = getEnctype(c.etype);
    assert.equal(et.name, c.enctype);
    assert.equal(toHex(Buffer.concat([Buffer.from(c.enctype), Buffer.from([0]), hex(c.salt_hex)])), c.saltp_hex);
    assert.equal(toHex(et.stringToKey(c.passphrase, hex(c.salt_hex), be32(c.iteration_count)).keyvalue), c.expected.key);
    // 32768 is the RFC 8009 default, so omitting the params gives the same key.
    assert.equal(c.iteration_count, 32768);
    assert.equal(toHex(stringToKey(c.etype, c.passphrase, hex(c.salt_hex)).keyvalue), c.expected.key);
  },
  rfc8009_key_derivation(c) {
    const key: KerberosKey = { enctype: etypeByName(c.enctype), keyvalue: hex(c.base_key) };
    for (const which of ['Kc', 'Ke', 'Ki'] as const) {
      assert.equal(toHex(deriveKey(key, c.usage, which)), c.expected[which], which);
    }
  },
  rfc8009_encryption(c) {
    const key: KerberosKey = { enctype: etypeByName(c.enctype), keyvalue: hex(c.base_key) };
    assert.equal(c.iv, '00000000000000000000000000000000'); // the default cipher state
    const ct = encrypt(key, c.usage, hex(c.plaintext), hex(c.confounder));
    assert.equal(toHex(ct), c.expected.ciphertext);
    assert.equal(toHex(ct), c.expected.aes_output_part + c.expected.hmac_part);
    assert.equal(toHex(decrypt(key, c.usage, hex(c.expected.ciphertext))), c.plaintext);
    assert.equal(getEnctype(key.enctype).ciphertextLength(c.plaintext.length / 2), ct.length);
  },
  rfc8009_checksum(c) {
    const key: KerberosKey = { enctype: etypeByName(c.enctype), keyvalue: hex(c.base_key) };
    assert.equal(toHex(makeChecksum(key, c.usage, hex(c.message), c.cksumtype)), c.expected.checksum);
    assert.equal(toHex(makeChecksum(key, c.usage, hex(c.message))), c.expected.checksum); // mandatory cksumtype
    assert.ok(verifyChecksum(key, c.usage, hex(c.message), hex(c.expected.checksum), c.cksumtype));
  },
  rfc8009_prf(c) {
    const key: KerberosKey = { enctype: etypeByName(c.enctype), keyvalue: hex(c.base_key) };
    assert.equal(toHex(prf(key, hex(c.input))), c.expected.prf);
  },
  rc4_hmac_decrypt(c) {
    const key: KerberosKey = { enctype: 23, keyvalue: hex(c.key) };
    const ct = hex(c.expected.ciphertext);
    assert.equal(toHex(decrypt(key, c.usage, ct, WEAK)), c.plaintext);
    // Recover the confounder (RFC 4757 4: K1 = HMAC-MD5(key, T), K3 = HMAC-MD5(K1, checksum)) and re-encrypt byte-exactly.
    const k1 = createHmac('md5', key.keyvalue).update(le32(rc4MessageType(c.usage))).digest();
    const k3 = createHmac('md5', k1).update(ct.subarray(0, 16)).digest();
    const confounder = rc4(k3, ct.subarray(16, 24));
    assert.equal(toHex(encrypt(key, c.usage, hex(c.plaintext), confounder, WEAK)), c.expected.ciphertext);
  },
  rc4_hmac_checksum(c) {
    const key: KerberosKey = { enctype: 23, keyvalue: hex(c.key) };
    assert.equal(toHex(makeChecksum(key, c.usage, hex(c.message), c.cksumtype, WEAK)), c.expected.checksum);
    assert.ok(verifyChecksum(key, c.usage, hex(c.message), hex(c.expected.checksum), c.cksumtype, WEAK));
  },
  rc4_hmac_string_to_key(c) {
    assert.equal(toHex(stringToKey(23, c.passphrase, '', undefined, WEAK).keyvalue), c.expected.key);
  },
};

// Counts stated in the vector README; guards against a truncated fixture as well as skipped cases.
const EXPECTED_COUNTS: Record<string, number> = {
  rfc3961_nfold: 11,
  rfc3962_string_to_key: 7,
  rfc3962_aes_cts: 6,
  rfc8009_string_to_key: 2,
  rfc8009_key_derivation: 2,
  rfc8009_encryption: 8,
  rfc8009_checksum: 2,
  rfc8009_prf: 2,
  rc4_hmac_decrypt: 5,
  rc4_hmac_checksum: 2,
  rc4_hmac_string_to_key: 1,
};

describe('Kerberos crypto vectors (RFC 3961/3962/8009, RC4-HMAC)', () => {
  const groups = [...new Set(file.cases.map((c) => c.group))];

  it('has a checker for every group in the vector file', () => {
    for (const g of groups) assert.ok(checkers[g] !== undefined, `no checker for group ${g}`);
    assert.deepEqual([...groups].sort(), Object.keys(EXPECTED_COUNTS).sort());
  });

  for (const group of groups) {
    it(`every ${group} case`, () => {
      const cases = file.cases.filter((c) => c.group === group);
      const check = checkers[group];
      assert.ok(check !== undefined);
      let checked = 0;
      for (const c of cases) {
        check(c);
        checked++;
      }
      assert.equal(checked, cases.length);
      assert.equal(checked, EXPECTED_COUNTS[group]);
    });
  }
});

const ENCTYPES = [17, 18, 19, 20, 23];
const randomKey = (enctype: number, seed: Uint8Array): KerberosKey => {
  const et = getEnctype(enctype, WEAK);
  return et.randomToKey(seed.subarray(0, et.seedBytes));
};

describe('Kerberos crypto properties', () => {
  it('encrypt -> decrypt round-trips for every enctype and lengths 0..100', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ENCTYPES),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.uint8Array({ minLength: 0, maxLength: 100, size: 'max' }),
        (enctype, seed, usage, pt) => {
          const key = randomKey(enctype, seed);
          const ct = encrypt(key, usage, pt, undefined, WEAK);
          assert.equal(ct.length, getEnctype(enctype, WEAK).ciphertextLength(pt.length));
          assert.deepEqual(Uint8Array.from(decrypt(key, usage, ct, WEAK)), pt);
          // Same key object again: the cached derived keys give the same result.
          assert.deepEqual(Uint8Array.from(decrypt(key, usage, ct, WEAK)), pt);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('tampering with any byte makes decrypt fail with SEC_E_MESSAGE_ALTERED', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ENCTYPES),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 0, maxLength: 100, size: 'max' }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (enctype, seed, pt, pos, flip) => {
          const key = randomKey(enctype, seed);
          const ct = Uint8Array.from(encrypt(key, 7, pt, undefined, WEAK));
          ct[pos % ct.length]! ^= flip;
          assert.throws(() => decrypt(key, 7, ct, WEAK), altered);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a wrong usage or wrong key fails integrity', () => {
    for (const enctype of ENCTYPES) {
      const key = randomKey(enctype, new Uint8Array(32).fill(1));
      const ct = encrypt(key, 1, Buffer.from('hello'), undefined, WEAK);
      assert.throws(() => decrypt(key, 2, ct, WEAK), altered);
      assert.throws(() => decrypt(randomKey(enctype, new Uint8Array(32).fill(2)), 1, ct, WEAK), altered);
    }
  });

  it('decrypt of arbitrary input of any length throws only SspiError (INVALID_TOKEN when short)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ENCTYPES),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 0, maxLength: 120, size: 'max' }),
        (enctype, seed, junk) => {
          const key = randomKey(enctype, seed);
          const et = getEnctype(enctype, WEAK);
          const min = et.ciphertextLength(0);
          try {
            decrypt(key, 3, junk, WEAK);
            assert.fail('random bytes decrypted');
          } catch (e) {
            assert.ok(e instanceof SspiError, String(e));
            assert.ok(junk.length < min ? invalidToken(e) : altered(e), `${e.code} for length ${junk.length}`);
          }
        },
      ),
      { numRuns: 300 },
    );
    for (const enctype of ENCTYPES) {
      const key = randomKey(enctype, new Uint8Array(32).fill(3));
      for (let len = 0; len < 80; len++) {
        assert.throws(() => decrypt(key, 3, new Uint8Array(len), WEAK), (e) => e instanceof SspiError);
      }
    }
  });

  it('checksums verify, and reject altered data or checksums (constant-time compare, any length)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ENCTYPES),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 0, maxLength: 100, size: 'max' }),
        fc.nat(),
        (enctype, seed, msg, pos) => {
          const key = randomKey(enctype, seed);
          const ck = makeChecksum(key, 17, msg, undefined, WEAK);
          assert.equal(ck.length, getChecksumType(getEnctype(enctype, WEAK).checksumType, WEAK).size);
          assert.ok(verifyChecksum(key, 17, msg, ck, undefined, WEAK));
          const bad = Uint8Array.from(ck);
          bad[pos % bad.length]! ^= 1;
          assert.ok(!verifyChecksum(key, 17, msg, bad, undefined, WEAK));
          assert.ok(!verifyChecksum(key, 17, msg, ck.subarray(1), undefined, WEAK));
          if (msg.length > 0) {
            const m2 = Uint8Array.from(msg);
            m2[pos % m2.length]! ^= 0x80;
            assert.ok(!verifyChecksum(key, 17, m2, ck, undefined, WEAK));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('Kerberos crypto framework', () => {
  it('refuses rc4-hmac and the MD5 checksums unless the caller opts in', () => {
    const mismatch = (e: unknown): boolean => SspiError.is(e, SecurityStatus.SEC_E_ALGORITHM_MISMATCH);
    assert.throws(() => getEnctype(23), mismatch);
    assert.throws(() => getEnctype(23, { allowWeak: false }), mismatch);
    assert.equal(getEnctype(23, WEAK).weak, true);
    assert.throws(() => getChecksumType(-138), mismatch);
    assert.throws(() => getChecksumType(-137), mismatch);
    const key: KerberosKey = { enctype: 23, keyvalue: new Uint8Array(16) };
    assert.throws(() => encrypt(key, 1, new Uint8Array(4)), mismatch);
    assert.throws(() => decrypt(key, 1, new Uint8Array(40)), mismatch);
    assert.throws(() => makeChecksum(key, 1, new Uint8Array(4)), mismatch);
    assert.throws(() => stringToKey(23, 'x', ''), mismatch);
    assert.equal(isEnctypeSupported(23), false);
    assert.equal(isEnctypeSupported(23, WEAK), true);
    assert.deepEqual(supportedEnctypes(), [18, 17, 20, 19]);
    assert.deepEqual(supportedEnctypes(WEAK), [18, 17, 20, 19, 23]);
  });

  it('rejects unknown enctypes and checksum types, and mismatched keys', () => {
    assert.throws(() => getEnctype(1), (e) => SspiError.is(e, SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE));
    assert.throws(() => getChecksumType(7), (e) => SspiError.is(e, SecurityStatus.SEC_E_KDC_UNKNOWN_ETYPE));
    const k17: KerberosKey = { enctype: 17, keyvalue: new Uint8Array(16) };
    assert.throws(() => makeChecksum(k17, 1, new Uint8Array(1), 16), (e) => SspiError.is(e, SecurityStatus.SEC_E_ALGORITHM_MISMATCH));
    assert.throws(() => encrypt({ enctype: 18, keyvalue: new Uint8Array(16) }, 1, new Uint8Array(1)), (e) =>
      SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER),
    );
    assert.throws(() => encrypt(k17, -1, new Uint8Array(1)), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
    assert.throws(() => encrypt(k17, 1, new Uint8Array(1), new Uint8Array(8)), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
    assert.throws(() => stringToKey(18, 'pw', 'salt', new Uint8Array(3)), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
    assert.throws(() => stringToKey(18, 'pw', 'salt', new Uint8Array(4)), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
    assert.throws(() => randomToKey(18, new Uint8Array(16)), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
  });

  it('maps rc4-hmac usages like MIT (3 -> 8, 23 -> 13, others unchanged)', () => {
    assert.equal(rc4MessageType(3), 8);
    assert.equal(rc4MessageType(23), 13);
    assert.equal(rc4MessageType(9), 9);
    assert.equal(rc4MessageType(1), 1);
    const key: KerberosKey = { enctype: 23, keyvalue: new Uint8Array(16).fill(7) };
    // Usage 3 and usage 8 share a message type, so each decrypts the other's ciphertext.
    const ct = encrypt(key, 3, Buffer.from('x'), undefined, WEAK);
    assert.equal(Buffer.from(decrypt(key, 8, ct, WEAK)).toString(), 'x');
  });

  it('uses the default s2kparams when none are given (RFC 3962: 4096 iterations)', () => {
    const a = stringToKey(17, 'password', 'ATHENA.MIT.EDUraeburn');
    const b = stringToKey(17, 'password', 'ATHENA.MIT.EDUraeburn', be32(4096));
    assert.deepEqual(a.keyvalue, b.keyvalue);
    assert.deepEqual(getEnctype(17).defaultS2kParams, be32(4096));
    assert.deepEqual(getEnctype(20).defaultS2kParams, be32(32768));
  });

  it('PRF output sizes and determinism for every enctype', () => {
    for (const [enctype, size] of [[17, 16], [18, 16], [19, 32], [20, 48], [23, 20]] as const) {
      const key = randomKey(enctype, new Uint8Array(32).fill(5));
      const a = prf(key, Buffer.from('test'), WEAK);
      assert.equal(a.length, size);
      assert.deepEqual(prf(key, Buffer.from('test'), WEAK), a);
      assert.notDeepEqual(prf(key, Buffer.from('tesu'), WEAK), a);
    }
  });

  it('Kc/Ke/Ki of the simplified profile are DK(key, usage || 99/AA/55)', () => {
    const key = randomKey(18, new Uint8Array(32).fill(9));
    const c = new Uint8Array([0, 0, 0, 5, 0xaa]);
    assert.deepEqual(deriveKey(key, 5, 'Ke'), dk(key, c));
    assert.notDeepEqual(deriveKey(key, 5, 'Ki'), deriveKey(key, 5, 'Ke'));
    assert.throws(() => dk({ enctype: 19, keyvalue: new Uint8Array(16) }, c), SspiError);
  });

  it('destroyKey zeroes the key and makes it unusable', () => {
    for (const enctype of ENCTYPES) {
      const key = randomKey(enctype, new Uint8Array(32).fill(0x42));
      const ct = encrypt(key, 1, Buffer.from('secret'), undefined, WEAK);
      makeChecksum(key, 1, Buffer.from('m'), undefined, WEAK);
      destroyKey(key);
      assert.ok(key.keyvalue.every((b) => b === 0));
      assert.throws(() => decrypt(key, 1, ct, WEAK), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_HANDLE));
      assert.throws(() => encrypt(key, 1, Buffer.from('x'), undefined, WEAK), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_HANDLE));
      assert.throws(() => makeChecksum(key, 1, Buffer.from('m'), undefined, WEAK), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_HANDLE));
    }
  });

  it('error messages never contain key bytes', () => {
    const keyvalue = Uint8Array.from(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
    const key: KerberosKey = { enctype: 17, keyvalue };
    try {
      decrypt(key, 1, new Uint8Array(40));
      assert.fail('decrypted');
    } catch (e) {
      assert.ok(e instanceof SspiError);
      assert.ok(!e.message.includes('00112233'));
    }
  });
});
