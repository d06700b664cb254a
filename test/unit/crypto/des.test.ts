import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { fromHex, toHex } from '../../../src/crypto/bytes.js';
import { des7, desEncryptBlock, expandDesKey } from '../../../src/crypto/des.js';
import { SspiError } from '../../../src/sspi/error.js';

function popcount(b: number): number {
  let n = 0;
  for (; b; b >>= 1) n += b & 1;
  return n;
}

describe('DES', () => {
  it('encrypts the classic single-DES examples', () => {
    // The worked example of FIPS 46 tutorials and NIST SP 800-17 style known answers.
    assert.equal(toHex(desEncryptBlock(fromHex('133457799bbcdff1'), fromHex('0123456789abcdef'))), '85e813540f0ab405');
    // SP 800-17 Table A.1 first entry (variable plaintext, key 01..01).
    assert.equal(toHex(desEncryptBlock(fromHex('0101010101010101'), fromHex('8000000000000000'))), '95f8a5e5dd31d900');
  });

  it('ignores parity bits', () => {
    const block = fromHex('0123456789abcdef');
    assert.deepEqual(desEncryptBlock(fromHex('133457799bbcdff1'), block), desEncryptBlock(fromHex('123456789abcdef0'), block));
  });

  it('expandDesKey spreads 56 bits over 8 odd-parity bytes', () => {
    assert.equal(toHex(expandDesKey(fromHex('00000000000000'))), '0101010101010101');
    assert.equal(toHex(expandDesKey(fromHex('ffffffffffffff'))), 'fefefefefefefefe');
    // "KGS!@#$" style check: the LM key for "PASSWOR" (MS-NLMP LMOWFv1 first half).
    assert.equal(toHex(des7(new TextEncoder().encode('PASSWOR'), new TextEncoder().encode('KGS!@#$%'))), 'e52cac67419a9a22');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 7, maxLength: 7 }), (k7) => {
        const k8 = expandDesKey(k7);
        for (const b of k8) assert.equal(popcount(b) % 2, 1);
        // Collecting the seven high bits of each byte gives back the 56-bit key.
        let bits = 0n;
        for (const b of k8) bits = (bits << 7n) | BigInt(b >> 1);
        assert.equal(bits.toString(16).padStart(14, '0'), toHex(k7));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects wrong sizes', () => {
    assert.throws(() => expandDesKey(new Uint8Array(8)), SspiError);
    assert.throws(() => desEncryptBlock(new Uint8Array(7), new Uint8Array(8)), SspiError);
    assert.throws(() => desEncryptBlock(new Uint8Array(8), new Uint8Array(9)), SspiError);
  });
});
