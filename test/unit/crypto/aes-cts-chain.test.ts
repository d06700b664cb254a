// The long-lived CBC objects in AesCts carry their chaining value from one message to the next;
// every message must still come out as if encrypted alone. Checked against a reference CBC-CS3
// built from a fresh node:crypto CBC object per message, over interleaved sizes, IVs and keys.
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AesCts } from '../../../src/crypto/aes-cts.js';

function referenceEncrypt(key: Uint8Array, iv: Uint8Array, p: Uint8Array): Buffer {
  const n = Math.ceil(p.length / 16);
  const z = Buffer.alloc(16 * n);
  z.set(p);
  const c = createCipheriv(key.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc', key, iv).setAutoPadding(false);
  const e = Buffer.concat([c.update(z), c.final()]);
  if (n === 1) return e;
  const d = p.length - 16 * (n - 1);
  return Buffer.concat([e.subarray(0, 16 * (n - 2)), e.subarray(16 * (n - 1)), e.subarray(16 * (n - 2), 16 * (n - 2) + d)]);
}

test('interleaved CTS messages match a per-message reference (both directions)', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.array(fc.record({ len: fc.oneof(fc.integer({ min: 16, max: 80 }), fc.integer({ min: 1000, max: 1200 }), fc.constantFrom(16, 32, 1024, 1040)), iv: fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 })), seed: fc.integer() }), { minLength: 1, maxLength: 12, size: 'max' }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      (short, msgs, k) => {
        const key = short ? k.subarray(0, 16) : k;
        const a = new AesCts(key);
        for (const m of msgs) {
          const p = Uint8Array.from({ length: m.len }, (_, i) => (i * 31 + m.seed) & 0xff);
          const iv = m.iv ?? new Uint8Array(16);
          const expect = referenceEncrypt(key, iv, p);
          const c = a.encrypt(p, m.iv ?? undefined);
          assert.deepEqual(Buffer.from(c), expect);
          assert.deepEqual(Buffer.from(a.decrypt(c, m.iv ?? undefined)), Buffer.from(p));
          // Into a caller's buffer at an offset, too.
          const out = new Uint8Array(m.len + 7);
          a.encrypt(p, m.iv ?? undefined, out, 7);
          assert.deepEqual(Buffer.from(out.subarray(7)), expect);
        }
        a.destroy();
      },
    ),
    { numRuns: 200 },
  );
});

test('a decrypt that fails on a short input leaves the chain intact', () => {
  const a = new AesCts(new Uint8Array(16).fill(7));
  const p = new Uint8Array(40).fill(9);
  const c = a.encrypt(p);
  assert.throws(() => a.decrypt(new Uint8Array(5)));
  assert.deepEqual(a.decrypt(c), Buffer.from(p));
  // The caller may reuse its ciphertext buffer: the chain must not alias it.
  const c1 = Uint8Array.from(a.encrypt(new Uint8Array(16).fill(1)));
  a.decrypt(c1);
  c1.fill(0);
  assert.deepEqual(Buffer.from(a.decrypt(a.encrypt(p))), Buffer.from(p));
});
