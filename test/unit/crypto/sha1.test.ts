// The unrolled SHA-1 (src/crypto/sha1.ts) and the range HMAC-SHA1 built on it (HmacKey.macRange /
// verifyRange) against FIPS 180-4 / RFC 2202 vectors and node:crypto.
import * as assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { SHA1_IV, sha1Block, sha1Outer, sha1Range } from '../../../src/crypto/sha1.js';
import { HmacKey } from '../../../src/packages/kerberos/crypto/hmac.js';

/** SHA-1 of src[off..off+len) through sha1Range from the IV. */
function sha1(src: Uint8Array, off = 0, len = src.length - off): Buffer {
  const h = Int32Array.from(SHA1_IV);
  sha1Range(h, new Int32Array(16), src, off, len, 0);
  const out = Buffer.alloc(20);
  for (let i = 0; i < 5; i++) out.writeInt32BE(h[i]!, 4 * i);
  return out;
}

/** HMAC-SHA1 from the ipad/opad midstates, as HmacKey keeps them. */
function hmacSha1(key: Uint8Array, msg: Uint8Array): Buffer {
  const w = new Int32Array(16);
  const mid = (x: number): Int32Array => {
    const h = Int32Array.from(SHA1_IV);
    const pad = new Uint8Array(64).fill(x);
    for (let i = 0; i < key.length; i++) pad[i] = key[i]! ^ x;
    for (let i = 0; i < 16; i++) w[i] = new DataView(pad.buffer).getInt32(4 * i);
    sha1Block(h, w);
    return h;
  };
  const inner = mid(0x36);
  const outer = mid(0x5c);
  sha1Range(inner, w, msg, 0, msg.length, 64);
  sha1Outer(inner, w, outer);
  const out = Buffer.alloc(20);
  for (let i = 0; i < 5; i++) out.writeInt32BE(inner[i]!, 4 * i);
  return out;
}

describe('SHA-1 compression (unrolled)', () => {
  it('matches the FIPS 180-4 examples', () => {
    assert.equal(sha1(Buffer.from('abc')).toString('hex'), 'a9993e364706816aba3e25717850c26c9cd0d89d');
    assert.equal(sha1(new Uint8Array(0)).toString('hex'), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
    assert.equal(
      sha1(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toString('hex'),
      '84983e441c3bd26ebaae4aa1f95129e5e54670f1',
    );
    assert.equal(sha1(Buffer.alloc(1000000, 'a')).toString('hex'), '34aa973cd4c4daa4f61eeb2bdbad27316534016f');
  });

  it('equals node:crypto for every length 0..300 (all padding cases: 55, 56, 63, 64 ...)', () => {
    const d = randomBytes(300);
    for (let n = 0; n <= 300; n++) assert.deepEqual(sha1(d, 0, n), createHash('sha1').update(d.subarray(0, n)).digest(), `length ${n}`);
  });

  it('reads a range in place at any offset and leaves the bytes around it alone (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400, size: 'max' }), fc.nat(), fc.nat(), (buf, a, b) => {
        const off = buf.length === 0 ? 0 : a % (buf.length + 1);
        const len = (b % (buf.length - off + 1)) | 0;
        const copy = Uint8Array.from(buf);
        assert.deepEqual(sha1(buf, off, len), createHash('sha1').update(buf.subarray(off, off + len)).digest());
        assert.deepEqual(buf, copy);
      }),
      { numRuns: 400 },
    );
  });
});

describe('HMAC-SHA1 over a range', () => {
  it('matches RFC 2202 test cases 1, 2 and 6', () => {
    assert.equal(hmacSha1(Buffer.alloc(20, 0x0b), Buffer.from('Hi There')).toString('hex'), 'b617318655057264e28bc0b6fb378c8ef146be00');
    assert.equal(hmacSha1(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
    const k = new HmacKey('sha1', Buffer.alloc(80, 0xaa)); // longer than a block: hashed first
    const out = new Uint8Array(20);
    const m = Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First');
    k.macRange(m, 0, m.length, out, 0, 20);
    assert.equal(Buffer.from(out).toString('hex'), 'aa4ae5e15272d00e95705637ce8a3b55ed402112');
  });

  it('HmacKey.macRange/verifyRange equal node:crypto at any offset, both sides of the JS limit; any flipped bit is refused (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('sha1' as const, 'sha256' as const),
        fc.uint8Array({ maxLength: 70, size: 'max' }),
        fc.integer({ min: 0, max: 1300 }),
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 1, max: 20 }),
        fc.nat(),
        (h, key, len, off, n, flip) => {
          const k = new HmacKey(h, key);
          const src = randomBytes(off + len + 3);
          const ref = createHmac(h, key).update(src.subarray(off, off + len)).digest();
          const out = new Uint8Array(n + 5);
          k.macRange(src, off, len, out, 5, n);
          assert.deepEqual(Buffer.from(out.subarray(5)), ref.subarray(0, n));
          const rec = Buffer.concat([randomBytes(2), ref.subarray(0, n)]);
          assert.equal(k.verifyRange(src, off, len, rec, 2, n), true);
          const bad = Buffer.from(rec);
          bad[2 + (flip % n)]! ^= 1 << (flip % 8);
          assert.equal(k.verifyRange(src, off, len, bad, 2, n), false);
          if (len > 0) {
            // Another message against the full-length MAC (a 1-byte prefix would collide 1 time in 256).
            const other = Buffer.from(src);
            other[off + (flip % len)]! ^= 0x40;
            assert.equal(k.verifyRange(other, off, len, ref, 0, 20), false);
            assert.equal(k.verifyRange(src, off, len, ref, 0, 20), true);
          }
          assert.equal(k.verifyRange(src, off, len, rec, 2, 0), false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
