// isBase64 (src/http/server.ts), the check an Authorization token passes before it is decoded:
// the same language as the RFC 4648 grammar written as one regular expression per quantum.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isBase64 } from '../../../src/http/server.js';

// The reference: whole quanta, then a last partial quantum of 2 or 3 characters, padded or not.
const REFERENCE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

describe('isBase64', () => {
  it('accepts encodings of any bytes, padded and unpadded', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300, size: 'max' }), (b) => {
        const padded = Buffer.from(b).toString('base64');
        assert.equal(isBase64(padded), true, padded);
        assert.equal(isBase64(padded.replace(/=+$/, '')), true, padded);
      }),
    );
  });

  it('property: agrees with the reference grammar on near-base64 strings', () => {
    const alphabet = fc.constantFrom(...'ABCxyz019+/=-_ .\n\u00e9'.split(''));
    const near = fc.oneof(
      fc.string({ unit: alphabet, maxLength: 40, size: 'max' }),
      // valid encodings with one character changed, added or removed
      fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40, size: 'max' }), fc.nat(), alphabet, fc.integer({ min: -1, max: 1 })).map(([b, i, c, op]) => {
        const t = Buffer.from(b).toString('base64');
        const k = i % t.length;
        return op < 0 ? t.slice(0, k) + t.slice(k + 1) : op === 0 ? t.slice(0, k) + c + t.slice(k + 1) : t.slice(0, k) + c + t.slice(k);
      }),
    );
    fc.assert(fc.property(near, (t) => assert.equal(isBase64(t), REFERENCE.test(t), JSON.stringify(t))), { numRuns: 3000 });
  });

  it('refuses the cases that matter', () => {
    for (const t of ['A', 'AAAAA', 'AA=', 'A===', 'AAA==', '====', 'AA==AA==', 'AA AA', 'AA-_', 'AAAA\n']) assert.equal(isBase64(t), false, t);
    for (const t of ['', 'AA', 'AAA', 'AA==', 'AAA=', 'AAAA', 'TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==']) assert.equal(isBase64(t), true, t);
  });
});
