import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { concat, constantTimeEqual, fromHex, readU32LE, toHex, u32le, utf16le, writeU32LE, zero } from '../../../src/crypto/bytes.js';
import { SspiError } from '../../../src/sspi/error.js';

describe('bytes', () => {
  it('hex round-trips and rejects malformed hex', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64, size: 'max' }), (b) => {
        assert.deepEqual(fromHex(toHex(b)), b);
        assert.deepEqual(fromHex(toHex(b).toUpperCase()), b);
      }),
      { numRuns: 100 },
    );
    assert.throws(() => fromHex('abc'), SspiError);
    assert.throws(() => fromHex('zz'), SspiError);
    assert.equal(toHex(new Uint8Array([1, 2, 3]).subarray(1)), '0203');
  });

  it('concat joins in order', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 20, size: 'max' }), { maxLength: 6 }), (parts) => {
        const all = concat(...parts);
        assert.equal(toHex(all), parts.map(toHex).join(''));
      }),
      { numRuns: 100 },
    );
  });

  it('constantTimeEqual compares contents and treats length mismatch as false', () => {
    assert.equal(constantTimeEqual(fromHex('0102'), fromHex('0102')), true);
    assert.equal(constantTimeEqual(fromHex('0102'), fromHex('0103')), false);
    assert.equal(constantTimeEqual(fromHex('0102'), fromHex('010203')), false);
    assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
  });

  it('utf16le, zero and u32 helpers', () => {
    assert.equal(toHex(utf16le('User')), '5500730065007200');
    const b = fromHex('ffff');
    zero(b);
    zero(null);
    assert.equal(toHex(b), '0000');
    assert.equal(toHex(u32le(0xe2028233)), '338202e2');
    assert.equal(readU32LE(fromHex('338202e2'), 0), 0xe2028233);
    const w = new Uint8Array(6);
    writeU32LE(w, 2, 0x01020304);
    assert.equal(toHex(w), '000004030201');
    assert.throws(() => readU32LE(new Uint8Array(3), 0), SspiError);
    assert.throws(() => writeU32LE(new Uint8Array(3), 0, 1), SspiError);
  });
});
