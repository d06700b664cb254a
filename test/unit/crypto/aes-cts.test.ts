import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { AesCts, aesCtsDecrypt, aesCtsEncrypt, aesCtsNextIv } from '../../../src/crypto/aes-cts.js';
import { SspiError } from '../../../src/sspi/error.js';
import { SecurityStatus } from '../../../src/sspi/status.js';

interface CtsCase {
  group: string;
  key: string;
  iv: string;
  input: string;
  expected: { output: string; next_iv: string };
}
const vectors = JSON.parse(readFileSync(new URL('../../fixtures/vectors/kerberos-crypto.json', import.meta.url), 'utf8')) as {
  cases: { group: string }[];
};
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** CBC-CS3 straight from its definition: CBC over the zero-padded input, swap the last two blocks, cut. */
function referenceCts(key: Uint8Array, iv: Uint8Array, input: Uint8Array): Uint8Array {
  const n = Math.ceil(input.length / 16);
  const padded = new Uint8Array(16 * n);
  padded.set(input);
  const c = createCipheriv(key.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc', key, iv).setAutoPadding(false);
  const e = Buffer.concat([c.update(padded), c.final()]);
  if (n === 1) return e;
  return Buffer.concat([e.subarray(0, 16 * (n - 2)), e.subarray(16 * (n - 1)), e.subarray(16 * (n - 2), 16 * (n - 2) + input.length - 16 * (n - 1))]);
}

describe('AES-CTS (RFC 3962)', () => {
  it('matches every RFC 3962 Appendix B CTS vector (encrypt, decrypt, next IV)', () => {
    const cases = vectors.cases.filter((c) => c.group === 'rfc3962_aes_cts') as unknown as CtsCase[];
    let checked = 0;
    for (const c of cases) {
      const enc = aesCtsEncrypt(hex(c.key), hex(c.input), hex(c.iv));
      assert.equal(toHex(enc.output), c.expected.output, c.input);
      assert.equal(toHex(enc.nextIv), c.expected.next_iv, c.input);
      const dec = aesCtsDecrypt(hex(c.key), hex(c.expected.output), hex(c.iv));
      assert.equal(toHex(dec.output), c.input);
      assert.equal(toHex(dec.nextIv), c.expected.next_iv);
      const bound = new AesCts(hex(c.key));
      assert.equal(toHex(bound.encrypt(hex(c.input), hex(c.iv))), c.expected.output);
      checked++;
    }
    assert.equal(checked, cases.length);
    assert.equal(checked, 6);
  });

  it('agrees with the CBC-CS3 definition for every length 16..1100, both key sizes, small and bulk paths', () => {
    for (const kl of [16, 32]) {
      const key = randomBytes(kl);
      const c = new AesCts(key);
      for (let len = 16; len <= 1100; len++) {
        const m = randomBytes(len);
        const iv = randomBytes(16);
        const out = c.encrypt(m, iv);
        assert.equal(toHex(out), toHex(referenceCts(key, iv, m)), `len ${len}`);
        assert.equal(toHex(c.decrypt(out, iv)), toHex(m), `len ${len}`);
      }
    }
  });

  it('round-trips random messages (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(16, 32),
        fc.uint8Array({ minLength: 16, maxLength: 2000, size: 'max' }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (kl, m, iv) => {
          const key = randomBytes(kl);
          const enc = aesCtsEncrypt(key, m, iv);
          assert.equal(enc.output.length, m.length);
          const dec = aesCtsDecrypt(key, enc.output, iv);
          assert.deepEqual(Uint8Array.from(dec.output), m);
          assert.deepEqual(dec.nextIv, enc.nextIv);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('next IV is the last full CBC block', () => {
    const ct = randomBytes(40);
    assert.deepEqual(Buffer.from(aesCtsNextIv(ct)), ct.subarray(16, 32));
    assert.deepEqual(Buffer.from(aesCtsNextIv(ct.subarray(0, 16))), ct.subarray(0, 16));
  });

  it('rejects short input, bad IV and bad key lengths with SspiError', () => {
    const key = randomBytes(16);
    for (let len = 0; len < 16; len++) {
      assert.throws(() => aesCtsEncrypt(key, new Uint8Array(len)), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
      assert.throws(() => aesCtsDecrypt(key, new Uint8Array(len)), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_TOKEN));
    }
    assert.throws(() => aesCtsEncrypt(key, new Uint8Array(32), new Uint8Array(8)), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
    assert.throws(() => new AesCts(new Uint8Array(24)), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
    const c = new AesCts(key);
    assert.throws(() => c.encryptBlocks(new Uint8Array(15)), SspiError);
    c.destroy();
    assert.throws(() => c.encrypt(new Uint8Array(16)), (e) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_HANDLE));
  });
});
