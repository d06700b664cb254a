import * as assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { fromHex, toHex } from '../../../src/crypto/bytes.js';
import { HmacMd5, hmacMd5, md5 } from '../../../src/crypto/hmac.js';

const te = new TextEncoder();

// RFC 2202 section 2: HMAC-MD5 test cases 1-7.
const RFC2202: [Uint8Array, Uint8Array, string][] = [
  [new Uint8Array(16).fill(0x0b), te.encode('Hi There'), '9294727a3638bb1c13f48ef8158bfc9d'],
  [te.encode('Jefe'), te.encode('what do ya want for nothing?'), '750c783e6ab0b503eaa86e310a5db738'],
  [new Uint8Array(16).fill(0xaa), new Uint8Array(50).fill(0xdd), '56be34521d144c88dbb8c733f0e8b3f6'],
  [fromHex('0102030405060708090a0b0c0d0e0f10111213141516171819'), new Uint8Array(50).fill(0xcd), '697eaf0aca3a3aea3a75164746ffaa79'],
  [new Uint8Array(16).fill(0x0c), te.encode('Test With Truncation'), '56461ef2342edc00f9bab995690efd4c'],
  [new Uint8Array(80).fill(0xaa), te.encode('Test Using Larger Than Block-Size Key - Hash Key First'), '6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd'],
  [new Uint8Array(80).fill(0xaa), te.encode('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'), '6f630fad67cda0ee1fb1f562db3aa53e'],
];

describe('hmacMd5 / md5', () => {
  it('match RFC 2202 and RFC 1321', () => {
    for (const [key, data, mac] of RFC2202) assert.equal(toHex(hmacMd5(key, data)), mac);
    assert.equal(toHex(hmacMd5(te.encode('Jefe'), te.encode('what do ya want '), te.encode('for nothing?'))), '750c783e6ab0b503eaa86e310a5db738');
    assert.equal(toHex(md5()), 'd41d8cd98f00b204e9800998ecf8427e');
    assert.equal(toHex(md5(te.encode('a'), te.encode('bc'))), '900150983cd24fb0d6963f7d28e17f72');
  });

  // The one-shots hash in JS up to 2 KiB and through node:crypto above, and HMAC keys longer
  // than a block always go to node:crypto: every branch must agree with OpenSSL.
  it('equal node:crypto for any key and split, on both sides of the JS/native cut-over', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100, size: 'max' }),
        fc.array(fc.uint8Array({ maxLength: 900, size: 'max' }), { maxLength: 4 }),
        (key, parts) => {
          const mac = createHmac('md5', key);
          const hash = createHash('md5');
          for (const p of parts) {
            mac.update(p);
            hash.update(p);
          }
          assert.equal(toHex(hmacMd5(key, ...parts)), mac.digest('hex'));
          assert.equal(toHex(md5(...parts)), hash.digest('hex'));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('handle every length around the block, padding and cut-over boundaries', () => {
    const key = fromHex('00112233445566778899aabbccddeeff');
    for (let n = 0; n <= 4200; n += n < 140 || (n > 2000 && n < 2100) ? 1 : 37) {
      const data = new Uint8Array(n).map((_, i) => i * 13);
      assert.equal(toHex(hmacMd5(key, data)), createHmac('md5', key).update(data).digest('hex'), `hmac length ${n}`);
      assert.equal(toHex(md5(data)), createHash('md5').update(data).digest('hex'), `md5 length ${n}`);
    }
  });
});

describe('HmacMd5 (precomputed pads)', () => {
  it('matches RFC 2202', () => {
    for (const [key, data, mac] of RFC2202) assert.equal(toHex(new HmacMd5(key).digest(data)), mac);
  });

  it('equals node:crypto HMAC-MD5 for any key, split and prefix, on both sides of the JS/native cut-over', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100, size: 'max' }),
        fc.array(fc.uint8Array({ maxLength: 400, size: 'max' }), { maxLength: 4 }),
        fc.option(fc.uint8Array({ maxLength: 8 }), { nil: undefined }),
        fc.nat(3),
        (key, parts, prefix, outOff) => {
          const h = new HmacMd5(key);
          const ref = createHmac('md5', key);
          if (prefix) ref.update(prefix);
          for (const p of parts) ref.update(p);
          const expected = toHex(ref.digest());
          const out = new Uint8Array(20);
          h.digestInto(parts, out, outOff, prefix);
          assert.equal(toHex(out.subarray(outOff, outOff + 16)), expected);
          // Reusable: the same object gives the same answer again.
          h.digestInto(parts, out, outOff, prefix);
          assert.equal(toHex(out.subarray(outOff, outOff + 16)), expected);
          h.destroy();
        },
      ),
      { numRuns: 150 },
    );
  });

  it('handles every message length around the 64-byte block and 56-byte padding boundaries', () => {
    const key = fromHex('00112233445566778899aabbccddeeff');
    const h = new HmacMd5(key);
    for (let n = 0; n <= 1100; n += n < 140 ? 1 : 37) {
      const data = new Uint8Array(n).map((_, i) => i * 13);
      assert.equal(toHex(h.digest(data)), createHmac('md5', key).update(data).digest('hex'), `length ${n}`);
    }
  });
});
