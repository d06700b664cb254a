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
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.uint8Array({ maxLength: 1100 }), fc.integer({ min: 0, max: 16 }), fc.nat(), (key, a, bl, flip) => {
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
