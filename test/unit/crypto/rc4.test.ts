import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { fromHex, toHex } from '../../../src/crypto/bytes.js';
import { RC4, rc4 } from '../../../src/crypto/rc4.js';
import { SspiError } from '../../../src/sspi/error.js';

// RFC 6229 section 2: keystream at selected offsets for several key lengths.
const RFC6229: { key: string; stream: Record<number, string> }[] = [
  {
    key: '0102030405',
    stream: {
      0: 'b2396305f03dc027ccc3524a0a1118a8',
      16: '6982944f18fc82d589c403a47a0d0919',
      240: '28cb1132c96ce286421dcaadb8b69eae',
      256: '1cfcf62b03eddb641d77dfcf7f8d8c93',
      1008: '45129048e6a0ed0b56b490338f078da5',
      1024: '30abbcc7c20b01609f23ee2d5f6bb7df',
      4080: '068326a2118416d21f9d04b2cd1ca050',
      4096: 'ff25b58995996707e51fbdf08b34d875',
    },
  },
  {
    key: '01020304050607',
    stream: {
      0: '293f02d47f37c9b633f2af5285feb46b',
      16: 'e620f1390d19bd84e2e0fd752031afc1',
      1024: '8ecb67a9ba1f55a5a067e2b026a3676f',
      4096: 'e74b0b9731227fd37c0ec08a47ddd8b8',
    },
  },
  {
    key: '0102030405060708',
    stream: {
      0: '97ab8a1bf0afb96132f2f67258da15a8',
      240: '9636ebc9841926f4f7d1f362bddf6e18',
      4080: 'd5fa5a3469d29aaaf83d23589db8c85b',
    },
  },
  {
    key: '0102030405060708090a0b0c0d0e0f10',
    stream: {
      0: '9ac7cc9a609d1ef7b2932899cde41b97',
      16: '5248c4959014126a6e8a84f11d1a9e1c',
      256: 'd39d566bc6bce3010768151549f3873f',
      1008: 'e7a72574f8782ae26aabcf9ebcd66065',
      4096: 'a36a4c301ae8ac13610ccbc12256cacc',
    },
  },
  {
    key: '0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20',
    stream: {
      0: 'eaa6bd25880bf93d3f5d1e4ca2611d91',
      16: 'cfa45c9f7e714b54bdfa80027cb14380',
      4096: 'f3e4c0a2e02d1d01f7f0a74618af2b48',
    },
  },
  {
    key: '833222772a',
    stream: {
      0: '80ad97bdc973df8a2e879e92a497efda',
      1024: '7828d074119cab5c22b294d7a9bfa0bb',
      4096: 'bf42c3018c2f7c66bfde524975768115',
    },
  },
  {
    key: '1910833222772a',
    stream: {
      0: 'bc9222dbd3274d8fc66d14ccbda6690b',
      240: '3f0931aa03defb300f060103826f2a64',
      4096: '027881fab4993a1c262024a94fff3f61',
    },
  },
];

describe('RC4', () => {
  it('produces the RFC 6229 keystreams (one shot)', () => {
    for (const { key, stream } of RFC6229) {
      const ks = rc4(fromHex(key), new Uint8Array(4112));
      for (const [off, hex] of Object.entries(stream)) {
        assert.equal(toHex(ks.subarray(Number(off), Number(off) + 16)), hex, `key ${key} offset ${off}`);
      }
    }
  });

  it('continues the keystream across process() calls of awkward sizes', () => {
    for (const { key, stream } of RFC6229) {
      const c = new RC4(fromHex(key));
      const out = new Uint8Array(4112);
      let off = 0;
      for (const n of [1, 2, 3, 61, 64, 65, 7, 1000, 2000]) {
        c.process(out.subarray(off, off + n), out.subarray(off, off + n));
        off += n;
      }
      c.process(out.subarray(off), out.subarray(off));
      for (const [o, hex] of Object.entries(stream)) {
        assert.equal(toHex(out.subarray(Number(o), Number(o) + 16)), hex, `key ${key} offset ${o}`);
      }
    }
  });

  it('in place equals out of place, at any alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64, size: 'max' }), fc.uint8Array({ maxLength: 300, size: 'max' }), fc.nat(7), (key, data, shift) => {
        const expected = new RC4(key).process(data);
        const buf = new Uint8Array(data.length + shift);
        const view = buf.subarray(shift);
        view.set(data);
        const r = new RC4(key).process(view, view);
        assert.equal(r, view);
        assert.deepEqual(view, expected);
        // A second pass with a fresh stream decrypts.
        assert.deepEqual(rc4(key, expected), data);
      }),
      { numRuns: 200 },
    );
  });

  it('processRange equals process on the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 32, size: 'max' }), fc.uint8Array({ maxLength: 200, size: 'max' }), fc.nat(5), fc.nat(5), (key, data, a, b) => {
        const src = new Uint8Array(a + data.length);
        src.set(data, a);
        const dst = new Uint8Array(b + data.length);
        new RC4(key).processRange(src, a, data.length, dst, b);
        assert.deepEqual(dst.subarray(b), rc4(key, data));
      }),
      { numRuns: 100 },
    );
  });

  // Long runs use a shared scratch state (SCRATCH_MIN = 256 bytes and up); check them against a
  // plain byte-at-a-time RC4, at every alignment, with two streams interleaved so one leaking
  // into the other through the scratch would show.
  it('long runs match a plain RC4 and do not leak between interleaved streams', () => {
    const plain = (key: Uint8Array) => {
      const S = new Uint8Array(256).map((_, k) => k);
      let i = 0;
      let j = 0;
      for (let k = 0; k < 256; k++) {
        j = (j + S[k]! + key[k % key.length]!) & 0xff;
        [S[k], S[j]] = [S[j]!, S[k]!];
      }
      j = 0;
      return (d: Uint8Array) =>
        d.map((b) => {
          i = (i + 1) & 0xff;
          j = (j + S[i]!) & 0xff;
          [S[i], S[j]] = [S[j]!, S[i]!];
          return b ^ S[(S[i]! + S[j]!) & 0xff]!;
        });
    };
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 32, size: 'max' }),
        fc.uint8Array({ minLength: 1, maxLength: 32, size: 'max' }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.nat(3), fc.nat(3), fc.boolean()), { minLength: 1, maxLength: 6 }),
        (k1, k2, steps) => {
          const a = new RC4(k1);
          const b = new RC4(k2);
          const ra = plain(k1);
          const rb = plain(k2);
          for (const [n, inShift, outShift, first] of steps) {
            const data = new Uint8Array(n).map((_, x) => (x * 31 + n) & 0xff);
            const src = new Uint8Array(n + inShift);
            src.set(data, inShift);
            const dst = new Uint8Array(n + outShift);
            const [c, r] = first ? [a, ra] : [b, rb];
            c.processRange(src, inShift, n, dst, outShift);
            assert.deepEqual(dst.subarray(outShift), r(data));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('rejects bad keys and short outputs, and destroy() zeroes the state', () => {
    assert.throws(() => new RC4(new Uint8Array(0)), SspiError);
    assert.throws(() => new RC4(new Uint8Array(257)), SspiError);
    const c = new RC4(new Uint8Array([1, 2, 3]));
    assert.throws(() => c.process(new Uint8Array(4), new Uint8Array(3)), SspiError);
    assert.throws(() => c.processRange(new Uint8Array(4), 2, 4, new Uint8Array(8), 0), SspiError);
    c.destroy();
    const s = (c as unknown as { s: Uint8Array }).s;
    assert.ok(s.every((x) => x === 0));
  });
});
