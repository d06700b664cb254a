import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { AesCts } from '../../../src/crypto/aes-cts.js';
import { SIMD_MAX_BLOCKS, SimdAes, simdAesAvailable } from '../../../src/crypto/aes-simd.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const IO = SimdAes.ioOffset;

function simdKey(key: Uint8Array): SimdAes {
  const k = SimdAes.create(key);
  assert.ok(k, 'the engine must run on Node >= 20 (WebAssembly SIMD)');
  return k;
}

/** CBC through the engine: IV and blocks into the I/O area, the kernel, the blocks back. */
function engineCbc(k: SimdAes, dir: 'enc' | 'dec', iv: Uint8Array, blocks: Uint8Array, swap = false): Buffer {
  const m = k.memory;
  m.set(iv, IO);
  m.set(blocks, IO + 16);
  if (dir === 'enc') k.encrypt(blocks.length / 16, swap);
  else k.decrypt(blocks.length / 16, swap);
  const out = Buffer.from(k.view(blocks.length));
  k.wipeIo(16 + blocks.length);
  return out;
}

const nodeCbc = (dir: 'enc' | 'dec', key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer => {
  const name = key.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc';
  const c = dir === 'enc' ? createCipheriv(name, key, iv) : createDecipheriv(name, key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
};

const swapLast = (b: Buffer): Buffer => {
  const n = b.length / 16;
  return Buffer.concat([b.subarray(0, 16 * (n - 2)), b.subarray(16 * (n - 1)), b.subarray(16 * (n - 2), 16 * (n - 1))]);
};

describe('WebAssembly SIMD AES engine', () => {
  it('runs here: Node >= 20 has WebAssembly SIMD, and the tables and self-test passed', () => {
    // If this fails, every short message silently takes the slower node:crypto path.
    assert.equal(simdAesAvailable(), true);
  });

  it('gives the FIPS-197 Appendix C ciphertexts for AES-128 and AES-256, and back', () => {
    const pt = hex('00112233445566778899aabbccddeeff');
    const zero = new Uint8Array(16);
    const cases = [
      { key: hex('000102030405060708090a0b0c0d0e0f'), ct: '69c4e0d86a7b0430d8cdb78070b4c55a' },
      { key: hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'), ct: '8ea2b7ca516745bfeafc49904b496089' },
    ];
    for (const c of cases) {
      const k = simdKey(c.key);
      assert.equal(engineCbc(k, 'enc', zero, pt).toString('hex'), c.ct);
      assert.deepEqual(new Uint8Array(engineCbc(k, 'dec', zero, hex(c.ct))), pt);
      k.destroy();
    }
  });

  it('agrees with node:crypto CBC both ways for any key, IV and 1..SIMD_MAX_BLOCKS blocks', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(16, 32),
        fc.integer({ min: 1, max: SIMD_MAX_BLOCKS }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (kl, n, seed) => {
          const bytes = (len: number, salt: number): Uint8Array =>
            Uint8Array.from({ length: len }, (_, i) => (Math.imul(seed ^ salt, 2654435761) >>> ((i * 7) % 24)) ^ (i * 131 + salt));
          const key = bytes(kl, 1), iv = bytes(16, 2), data = bytes(16 * n, 3);
          const k = simdKey(key);
          try {
            const want = nodeCbc('enc', key, iv, data);
            assert.deepEqual(engineCbc(k, 'enc', iv, data), want);
            assert.deepEqual(engineCbc(k, 'dec', iv, want), Buffer.from(data));
            if (n >= 2) {
              // swap: ciphertext stealing's order out of encryption, and back into decryption.
              assert.deepEqual(engineCbc(k, 'enc', iv, data, true), swapLast(want));
              assert.deepEqual(engineCbc(k, 'dec', iv, swapLast(want), true), Buffer.from(data));
            }
          } finally {
            k.destroy();
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps every key right across memory growth (views of the old memory are dropped)', () => {
    // Well past one 64 KiB page of 512-byte slots, keys made before and after the growth.
    const keys = Array.from({ length: 400 }, (_, i) => randomBytes(i % 2 === 0 ? 16 : 32));
    const ks = keys.map(simdKey);
    const iv = randomBytes(16);
    const data = randomBytes(48);
    for (let i = 0; i < keys.length; i += 37) {
      assert.deepEqual(engineCbc(ks[i]!, 'enc', iv, data), nodeCbc('enc', keys[i]!, iv, data), `key ${i}`);
    }
    for (const k of ks) k.destroy();
  });

  it('falls back to node:crypto for new keys when the engine memory cannot grow', () => {
    const proto = (globalThis as unknown as { WebAssembly: { Memory: { prototype: { grow: (n: number) => number } } } }).WebAssembly.Memory.prototype;
    const grow = proto.grow;
    proto.grow = () => {
      throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
    };
    const made: SimdAes[] = [];
    try {
      let refused = 0;
      for (let i = 0; i < 20_000 && refused === 0; i++) {
        const k = SimdAes.create(randomBytes(16));
        if (k === undefined) refused++;
        else made.push(k);
      }
      assert.equal(refused, 1, "a key past the last slot is refused, not thrown");
      assert.ok(made.length >= 100, `${made.length} keys before the refusal`);
      // AesCts with such a key still answers right, through node:crypto.
      const key = randomBytes(32), iv = randomBytes(16), pt = randomBytes(45);
      const c = new AesCts(key);
      const ct = c.encrypt(pt, iv);
      assert.deepEqual(Buffer.from(c.decrypt(ct, iv)), pt);
      assert.deepEqual(Buffer.from(ct).subarray(0, 32), swapLast(nodeCbc('enc', key, iv, Buffer.concat([pt, Buffer.alloc(3)]))).subarray(0, 32));
      c.destroy();
    } finally {
      proto.grow = grow;
      for (const k of made) k.destroy();
    }
  });

  it('zeroes a key schedule on destroy and reuses the slot', () => {
    const k = simdKey(randomBytes(32));
    const slot = k.slot;
    const schedule = (): Uint8Array => k.memory.subarray(slot, slot + 512);
    assert.ok(schedule().some((b) => b !== 0));
    k.destroy();
    assert.equal(k.slot, -1);
    assert.ok(schedule().every((b) => b === 0));
    assert.throws(() => k.encrypt(1), /destroy/);
    const again = simdKey(randomBytes(16));
    assert.equal(again.slot, slot, 'a freed slot is handed out again');
    again.destroy();
  });

  it('leaves the raw key nowhere but in its own slot once set up (the expansion area is zeroed)', () => {
    for (const kl of [16, 32]) {
      const key = randomBytes(kl);
      const k = simdKey(key);
      const mem = Buffer.from(k.memory.buffer, k.memory.byteOffset, k.memory.byteLength);
      for (let part = 0; part < kl; part += 16) {
        const needle = key.subarray(part, part + 16);
        for (let at = mem.indexOf(needle); at >= 0; at = mem.indexOf(needle, at + 1)) {
          assert.ok(at >= k.slot && at < k.slot + 512, `key bytes ${part}.. found at ${at}, outside slot ${k.slot}`);
        }
      }
      k.destroy();
      for (let part = 0; part < kl; part += 16) assert.equal(mem.indexOf(key.subarray(part, part + 16)), -1);
    }
  });

  it('refuses block counts the I/O area cannot hold', () => {
    const k = simdKey(randomBytes(16));
    for (const n of [0, -1, 1.5, SIMD_MAX_BLOCKS + 1]) assert.throws(() => k.encrypt(n), RangeError);
    assert.throws(() => k.decrypt(1, true), RangeError, 'a swap needs two blocks');
    k.destroy();
  });

  it('leaves no plaintext in the shared I/O area after an AES-CTS decryption', () => {
    const key = randomBytes(32);
    const c = new AesCts(key);
    const probe = simdKey(randomBytes(16)); // any key gives a view of the shared memory
    for (const len of [16, 17, 31, 32, 45, 48, 100, 16 * SIMD_MAX_BLOCKS]) {
      const pt = Buffer.alloc(len, 0xa5);
      const ct = c.encrypt(pt);
      assert.deepEqual(Buffer.from(c.decrypt(ct)), pt);
      const area = probe.memory.subarray(IO, IO + 16 + 16 * SIMD_MAX_BLOCKS + 48);
      assert.ok(!Buffer.from(area).includes(Buffer.alloc(8, 0xa5)), `plaintext left behind for ${len} bytes`);
    }
    c.destroy();
    probe.destroy();
  });

  it('is off when TSLSA_SIMD_AES=0, and AES-CTS is then still right', () => {
    const here = fileURLToPath(new URL('../../../src/crypto/', import.meta.url));
    const script = `
      const { simdAesAvailable } = await import(${JSON.stringify(here + 'aes-simd.ts')});
      const { AesCts } = await import(${JSON.stringify(here + 'aes-cts.ts')});
      const key = Buffer.alloc(32, 7), pt = Buffer.alloc(45, 9);
      const c = new AesCts(key);
      const back = Buffer.from(c.decrypt(c.encrypt(pt)));
      console.log(JSON.stringify({ on: simdAesAvailable(), ok: back.equals(pt), ct: Buffer.from(c.encrypt(pt)).toString('hex') }));
    `;
    const run = (v: string | undefined) => {
      const env = { ...process.env };
      if (v === undefined) delete env.TSLSA_SIMD_AES;
      else env.TSLSA_SIMD_AES = v;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as { on: boolean; ok: boolean; ct: string };
    };
    const off = run('0');
    const on = run(undefined);
    assert.deepEqual([off.on, off.ok, on.on, on.ok], [false, true, true, true]);
    assert.equal(off.ct, on.ct, 'both paths give the same ciphertext');
  });
});
