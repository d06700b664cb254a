import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { toHex } from '../../../src/crypto/bytes.js';
import { md4 } from '../../../src/crypto/md4.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('md4', () => {
  it('matches every RFC 1320 A.5 test-suite vector', () => {
    const suite: [string, string][] = [
      ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
      ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
      ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
      ['message digest', 'd9130a8164549fe818874806e1c7014b'],
      ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
      ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
      ['1234567890'.repeat(8), 'e33b4ddc9c38f2199c3e7b164fcc0536'],
    ];
    for (const [msg, digest] of suite) assert.equal(toHex(md4(ascii(msg))), digest, JSON.stringify(msg));
  });

  it('handles padding boundaries and multi-block input', () => {
    // Bytes (i*7+3) & 0xff; digests from OpenSSL's legacy-provider MD4, an independent implementation.
    const expected: [number, string][] = [
      [55, '04d44dc3dbdcf7604f259009de6e352f'],
      [56, 'cdbc435e37e7a468d04702cf9eba65bb'],
      [63, '45a8744e99878276c47927b0164921f4'],
      [64, '87733dbe6c3fc125ee30897c751bd9d6'],
      [65, '82dd3042d4378ef1b420f15c61975b8b'],
      [119, '2c38b59be6919f10ba8ba7353ef288f7'],
      [120, '4414f924c8b7da56ae0dbe0896989660'],
      [128, '15cb31f3af813097fd7a706b860c5e2e'],
      [1000, '9a27d966bf4984d8597862b1c33bfbba'],
      [65537, '3b7603dbf53a44867ebc451f7ef604f6'],
    ];
    for (const [n, digest] of expected) {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = (i * 7 + 3) & 0xff;
      assert.equal(toHex(md4(data)), digest, `length ${n}`);
    }
  });

  it('hashes one million "a"', () => {
    assert.equal(toHex(md4(new Uint8Array(1_000_000).fill(0x61))), 'bbce80cc6bb65e5c6745e30d4eeca9a4');
  });

  it('reads only the view it is given and leaves the input untouched', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200, size: 'max' }), fc.nat(16), fc.nat(16), (data, pre, post) => {
        const big = new Uint8Array(pre + data.length + post).fill(0xee);
        big.set(data, pre);
        const view = big.subarray(pre, pre + data.length);
        const snapshot = big.slice();
        assert.deepEqual(md4(view), md4(data.slice()));
        assert.deepEqual(big, snapshot);
        assert.equal(md4(view).length, 16);
      }),
      { numRuns: 100 },
    );
  });
});
