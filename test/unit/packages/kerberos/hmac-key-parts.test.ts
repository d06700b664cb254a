// HmacKey over two parts (a || b, the MIC layout: data then token header), on every path (the
// small JS one, the joined SHA-1 one up to 1 KiB, native beyond), against node:crypto.
import * as assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { HmacKey } from '../../../../src/packages/kerberos/crypto/hmac.js';

for (const hash of ['sha1', 'sha256'] as const) {
  test(`HmacKey ${hash}: macInto and verify over a || b agree with node:crypto (0..1100 bytes)`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 80, size: 'max' }), fc.uint8Array({ maxLength: 1100, size: 'max' }), fc.integer({ min: 0, max: 16 }), fc.nat(), (key, a, bl, flip) => {
        const b = a.subarray(Math.max(0, a.length - bl));
        const head = a.subarray(0, a.length - b.length);
        const k = new HmacKey(hash, key);
        const want = createHmac(hash, key).update(head).update(b).digest();
        const n = hash === 'sha1' ? 12 : 16;
        const out = new Uint8Array(n + 3);
        k.macInto(head, b, out, 3, n);
        assert.deepEqual(out.subarray(3), new Uint8Array(want.subarray(0, n)));
        assert.equal(k.verify(head, b, want.subarray(0, n)), true);
        const bad = Uint8Array.from(want.subarray(0, n));
        bad[flip % n]! ^= 1 << (flip % 8);
        assert.equal(k.verify(head, b, bad), false);
      }),
      { numRuns: 300 },
    );
  });
}

for (const hash of ['sha1', 'sha256'] as const) {
  test(`HmacKey ${hash}: macParts and verifyParts over a || src[off..off+len) agree with node:crypto, around the 1 KiB JS limit`, () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 80, size: 'max' }),
        fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 990, max: 1040 })),
        fc.uint8Array({ minLength: 40, maxLength: 40 }),
        fc.integer({ min: 0, max: 8 }),
        fc.nat(),
        (key, alen, src, off, flip) => {
          const a = Uint8Array.from({ length: alen }, (_, i) => (i * 7 + alen) & 0xff);
          const len = 16;
          const k = new HmacKey(hash, key);
          const want = createHmac(hash, key).update(a).update(src.subarray(off, off + len)).digest();
          const n = hash === 'sha1' ? 12 : 16;
          const out = new Uint8Array(n + 5);
          k.macParts(a, src, off, len, out, 5, n);
          assert.deepEqual(out.subarray(5), new Uint8Array(want.subarray(0, n)));
          const received = new Uint8Array(n + 2);
          received.set(want.subarray(0, n), 2);
          assert.equal(k.verifyParts(a, src, off, len, received, 2, n), true);
          received[2 + (flip % n)]! ^= 1 << (flip % 8);
          assert.equal(k.verifyParts(a, src, off, len, received, 2, n), false);
          assert.equal(k.verifyParts(a, src, off, len, received, 2, 0), false, 'an empty MAC never verifies');
        },
      ),
      { numRuns: 300 },
    );
  });
}
