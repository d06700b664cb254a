// The fused RC4 + HMAC_MD5 seal kernel (src/packages/ntlm/sealKernel.ts) against the reference
// path (the JS RC4 and node:crypto's HMAC-MD5), at every boundary of its chunked stream, and the
// SEAL/UNSEAL it serves: the same bytes as the general (multi-buffer) path, tampering refused.
import * as assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { RC4 } from '../../../../src/crypto/rc4.js';
import { NTLMSSP_NEGOTIATE_128, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, NTLMSSP_NEGOTIATE_KEY_EXCH, NTLMSSP_NEGOTIATE_SEAL, NTLMSSP_NEGOTIATE_SIGN } from '../../../../src/packages/ntlm/flags.js';
import { hmacMd5States, sealKernelAvailable, sealUnsealEss } from '../../../../src/packages/ntlm/sealKernel.js';
import { NtlmSealingState } from '../../../../src/packages/ntlm/signing.js';
import { SspiError } from '../../../../src/sspi/error.js';
import { SecurityStatus } from '../../../../src/sspi/status.js';
import { handshake, pair } from './ntlm-harness.js';

const CHUNK = 16384; // the kernel's window; the stream is SeqNum (4 bytes) || message
// Lengths around every place the kernel changes mode: the MD5 tail needing a second padding
// block (55/56 of stream), the SEAL/UNSEAL run boundaries (60, 64, 68, 128, 132), the chunk edges.
const EDGE_SIZES = [
  0, 1, 3, 4, 51, 52, 55, 56, 59, 60, 63, 64, 67, 68, 124, 127, 128, 131, 132, 133, 191, 196, 1000,
  CHUNK - 5, CHUNK - 4, CHUNK - 3, CHUNK, CHUNK + 60, CHUNK + 64, 2 * CHUNK - 4, 2 * CHUNK + 123, 65536, 100003,
];

const bytes = (n: number, salt = 0): Uint8Array => new Uint8Array(n).map((_, i) => (i * 131 + (i >>> 8) + salt) & 0xff);

function reference(signKey: Uint8Array, sealKey: Uint8Array, seq: number, msg: Uint8Array): { ct: Uint8Array; mac: Uint8Array; rc4: RC4 } {
  const s = Buffer.alloc(4);
  s.writeUInt32LE(seq >>> 0);
  const mac = new Uint8Array(createHmac('md5', signKey).update(s).update(msg).digest());
  const rc4 = new RC4(sealKey);
  return { ct: rc4.process(msg), mac, rc4 };
}

describe('seal kernel', () => {
  it('is available on this platform (the tests below would otherwise prove nothing)', () => {
    assert.equal(sealKernelAvailable(), true);
  });

  it('HMAC_MD5 and RC4 match node:crypto and the JS RC4 at every chunk and block edge, both directions', () => {
    const signKey = bytes(16, 1);
    const sealKey = bytes(16, 2);
    const states = hmacMd5States(signKey);
    for (const n of EDGE_SIZES) {
      const seq = (0xfffffff0 + n) >>> 0;
      const msg = bytes(n, 3);
      const ref = reference(signKey, sealKey, seq, msg);
      const data = msg.slice();
      const rc4 = new RC4(sealKey);
      const mac = new Uint8Array(16);
      sealUnsealEss(true, data, seq, states, rc4, mac);
      assert.deepEqual(data, ref.ct, `ciphertext, ${n} bytes`);
      assert.deepEqual(mac, ref.mac, `HMAC, ${n} bytes`);
      // The RC4 handle continues where the message ended (the checksum is encrypted next).
      assert.deepEqual(rc4.process(bytes(8)), ref.rc4.process(bytes(8)), `keystream after ${n} bytes`);

      const back = new RC4(sealKey);
      const mac2 = new Uint8Array(16);
      sealUnsealEss(false, data, seq, states, back, mac2);
      assert.deepEqual(data, msg, `plaintext, ${n} bytes`);
      assert.deepEqual(mac2, ref.mac, `HMAC on unseal, ${n} bytes`);
    }
  });

  it('property: seal then unseal restores the message; both MACs equal HMAC_MD5(SeqNum || message)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40000, size: 'max' }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat({ max: 0xffffffff }), (msg, key, seq) => {
        const states = hmacMd5States(key);
        const ref = reference(key, key, seq, msg);
        const data = msg.slice();
        const m1 = new Uint8Array(16);
        sealUnsealEss(true, data, seq, states, new RC4(key), m1);
        assert.deepEqual(data, ref.ct);
        const m2 = new Uint8Array(16);
        sealUnsealEss(false, data, seq, states, new RC4(key), m2);
        assert.deepEqual(data, msg);
        assert.deepEqual(m1, ref.mac);
        assert.deepEqual(m2, ref.mac);
      }),
      { numRuns: 40 },
    );
  });

  it('HMAC states for keys of 0..64 bytes match node:crypto', () => {
    for (const len of [0, 1, 16, 63, 64]) {
      const key = bytes(len, 9);
      const mac = new Uint8Array(16);
      const msg = bytes(300);
      sealUnsealEss(true, msg.slice(), 7, hmacMd5States(key), new RC4(bytes(16)), mac);
      assert.deepEqual(mac, reference(key, bytes(16), 7, msg).mac, `key of ${len} bytes`);
    }
    assert.throws(() => hmacMd5States(new Uint8Array(65)), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_INVALID_PARAMETER));
  });
});

// ESS with and without KEY_EXCH: NtlmSealingState takes the kernel for one encrypted buffer and
// the general path for several; both must produce the same wire bytes.
const ESS = NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_SEAL | NTLMSSP_NEGOTIATE_128;
const FLAGS = [ESS, ESS | NTLMSSP_NEGOTIATE_KEY_EXCH];

describe('NtlmSealingState over the kernel', () => {
  it('one buffer (kernel) and the same message split in two buffers (general path) give the same bytes', () => {
    for (const flags of FLAGS) {
      const key = bytes(16, 5);
      const one = new NtlmSealingState(key, flags, 'Client');
      const two = new NtlmSealingState(key, flags, 'Client');
      for (const n of [0, 16, 1024, 65536, CHUNK + 60]) {
        const msg = bytes(n, n);
        const a = msg.slice();
        const sigA = one.seal(a);
        const cut = n >>> 1;
        const b = msg.slice();
        const sigB = two.sealParts([b.subarray(0, cut), b.subarray(cut)], null);
        assert.deepEqual(a, b, `sealed data, ${n} bytes`);
        assert.deepEqual(sigA, sigB, `signature, ${n} bytes`);
      }
      const server = new NtlmSealingState(key, flags, 'Server');
      const split = new NtlmSealingState(key, flags, 'Server');
      // Both receivers decrypt the same stream: one buffer each time vs two buffers.
      const sender = new NtlmSealingState(key, flags, 'Client');
      for (const n of [0, 16, 1024, 65536, CHUNK + 60]) {
        const msg = bytes(n, n + 1);
        const wire = msg.slice();
        const sig = sender.seal(wire);
        const x = wire.slice();
        server.unseal(x, sig);
        const y = wire.slice();
        const cut = n >>> 2;
        split.unsealParts([y.subarray(0, cut), y.subarray(cut)], null, sig);
        assert.deepEqual(x, msg);
        assert.deepEqual(y, msg);
      }
      for (const s of [one, two, server, split, sender]) s.destroy();
    }
  });

  it('a flipped bit anywhere in a 64 KiB message or its checksum is SEC_E_MESSAGE_ALTERED, and the output is zeroed', () => {
    for (const flags of FLAGS) {
      const key = bytes(16, 6);
      for (const flip of [0, 4095, 16379, 16380, 65535, -1]) {
        const client = new NtlmSealingState(key, flags, 'Client');
        const server = new NtlmSealingState(key, flags, 'Server');
        const data = bytes(65536);
        const sig = client.seal(data);
        if (flip >= 0) data[flip]! ^= 0x10;
        else sig[6]! ^= 1; // checksum
        assert.throws(() => server.unseal(data, sig), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_MESSAGE_ALTERED));
        assert.ok(data.every((b) => b === 0), 'unauthenticated plaintext handed out');
        client.destroy();
        server.destroy();
      }
    }
  });

  it('a replayed 64 KiB message is SEC_E_OUT_OF_SEQUENCE', () => {
    const key = bytes(16, 7);
    const client = new NtlmSealingState(key, FLAGS[1]!, 'Client');
    const server = new NtlmSealingState(key, FLAGS[1]!, 'Server');
    const data = bytes(65536);
    const sig = client.seal(data);
    const copy = data.slice();
    server.unseal(data, sig);
    assert.throws(() => server.unseal(copy, sig), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_OUT_OF_SEQUENCE));
    client.destroy();
    server.destroy();
  });
});

describe('EncryptMessage / DecryptMessage through the LSA at 64 KiB and 1 MiB', () => {
  it('wrap/unwrap round-trip, a tampered token is refused, and the streams stay in step', async () => {
    const p = await pair();
    try {
      await handshake(p);
      for (const n of [16, 65536, 1 << 20]) {
        const msg = bytes(n, 11);
        const tok = p.client.wrap(msg);
        assert.equal(tok.length, 16 + n);
        assert.deepEqual(p.server.unwrap(tok).message, msg);
        const back = p.server.wrap(msg);
        assert.deepEqual(p.client.unwrap(back).message, msg);
      }
      const bad = p.client.wrap(bytes(65536));
      bad[16 + 30000]! ^= 1;
      assert.throws(() => p.server.unwrap(bad), (e: unknown) => SspiError.is(e, SecurityStatus.SEC_E_MESSAGE_ALTERED));
    } finally {
      await p.client.delete();
      await p.server.delete();
      await p.host.shutdown();
    }
  });
});
