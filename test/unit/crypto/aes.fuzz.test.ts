// AES-CTS fuzzing with the SIMD engine in its path: the properties of test/fuzz/aes-properties.ts
// (shared with the long campaign, test/fuzz/aes-campaign.ts), each for a bounded time.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { AesCts } from '../../../src/crypto/aes-cts.js';
import { aesProperties, referenceDecrypt, referenceEncrypt } from '../../fuzz/aes-properties.js';

const budget = { numRuns: 1_000_000, interruptAfterTimeLimit: 600, markInterruptAsFailure: false, timeout: 5_000 };

describe('AES-CTS fuzzing (SIMD engine and node:crypto)', () => {
  for (const [name, prop] of aesProperties()) {
    it(name, () => {
      fc.assert(prop, budget);
    });
  }
});

describe('the references are right', () => {
  it('reproduce RFC 3962 Appendix B (the 17- and 31-byte vectors) and invert each other', () => {
    const key = Buffer.from('636869636b656e207465726979616b69', 'hex');
    const iv = new Uint8Array(16);
    const v17 = Buffer.from('4920776f756c64206c696b652074686520', 'hex');
    assert.equal(referenceEncrypt(key, iv, v17).toString('hex'), 'c6353568f2bf8cb4d8a580362da7ff7f97');
    const v31 = Buffer.from('4920776f756c64206c696b65207468652047656e6572616c20476175277320', 'hex');
    assert.equal(referenceEncrypt(key, iv, v31).toString('hex'), 'fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5');
    for (const m of [v17, v31]) assert.deepEqual(referenceDecrypt(key, iv, referenceEncrypt(key, iv, m)), m);
  });

  it('a changed ciphertext byte changes what AesCts and the reference decrypt, the same way', () => {
    const key = Buffer.alloc(32, 1);
    const c = new AesCts(key);
    const ct = Buffer.from(c.encrypt(Buffer.alloc(45, 2)));
    ct[40]! ^= 1;
    assert.deepEqual(Buffer.from(c.decrypt(ct)), referenceDecrypt(key, new Uint8Array(16), ct));
    assert.notDeepEqual(Buffer.from(c.decrypt(ct)), Buffer.alloc(45, 2));
    c.destroy();
  });
});
