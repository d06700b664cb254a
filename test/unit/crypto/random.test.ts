import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBytes } from '../../../src/crypto/random.js';

describe('randomBytes (pooled)', () => {
  it('returns fresh arrays of the asked length, never the same value twice, across pool refills', () => {
    const seen = new Set<string>();
    // 8-byte draws over several 4 KiB pool refills, plus odd sizes that straddle a refill.
    for (let k = 0; k < 3000; k++) {
      const n = k % 7 === 0 ? 13 : 8;
      const r = randomBytes(n);
      assert.ok(r instanceof Uint8Array);
      assert.equal(r.length, n);
      assert.equal(r.byteOffset, 0);
      assert.equal(r.buffer.byteLength, n, 'a copy, not a view into the pool');
      const hex = Buffer.from(r).toString('hex');
      assert.ok(!seen.has(hex), 'repeated random value');
      seen.add(hex);
    }
  });

  it('serves large requests directly, and zero-length ones', () => {
    const big = randomBytes(5000);
    assert.equal(big.length, 5000);
    assert.ok(big.some((b) => b !== 0));
    assert.equal(randomBytes(0).length, 0);
  });

  it('looks uniform: every byte value appears in 64 KiB of small draws', () => {
    const counts = new Uint32Array(256);
    for (let k = 0; k < 4096; k++) for (const b of randomBytes(16)) counts[b]!++;
    // Expected 256 per value; a stuck or zeroed pool would leave most counts at 0.
    assert.ok(counts.every((c) => c > 150 && c < 380), 'byte distribution far from uniform');
  });
});
