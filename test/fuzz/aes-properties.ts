// Properties of AES-CTS with the WebAssembly SIMD engine in its path (src/crypto/aes-simd.ts):
// every answer must equal one built on node:crypto alone, for any key, IV, length (both sides of
// the engine's block limit) and hostile ciphertext; no plaintext may stay in the engine's shared
// memory; key slots may come and go in any order. Shared by the long campaign (aes-campaign.ts)
// and the unit runner (test/unit/crypto/aes.fuzz.test.ts).
import { createCipheriv, createDecipheriv } from 'node:crypto';
import * as fc from 'fast-check';
import { AesCts } from '../../src/crypto/aes-cts.js';
import { SIMD_MAX_BLOCKS, SimdAes } from '../../src/crypto/aes-simd.js';
import { SspiError } from '../../src/sspi/error.js';
import { SecurityStatus } from '../../src/sspi/status.js';
import type { CampaignProperty } from './runner.js';

const B = 16;
const cbc = (key: Uint8Array): string => (key.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc');

/** CBC-CS3 encryption from its definition, on node:crypto CBC. */
export function referenceEncrypt(key: Uint8Array, iv: Uint8Array, input: Uint8Array): Buffer {
  const n = Math.ceil(input.length / B);
  const z = Buffer.alloc(B * n);
  z.set(input);
  const c = createCipheriv(cbc(key), key, iv).setAutoPadding(false).update(z);
  if (n === 1) return c;
  const d = input.length - B * (n - 1);
  return Buffer.concat([c.subarray(0, B * (n - 2)), c.subarray(B * (n - 1)), c.subarray(B * (n - 2), B * (n - 2) + d)]);
}

/** CBC-CS3 decryption from its definition (RFC 3962 / SP 800-38A addendum), on node:crypto. */
export function referenceDecrypt(key: Uint8Array, iv: Uint8Array, ct: Uint8Array): Buffer {
  const n = Math.ceil(ct.length / B);
  const dec = (blocks: Uint8Array, ivv: Uint8Array): Buffer => createDecipheriv(cbc(key), key, ivv).setAutoPadding(false).update(blocks);
  if (n === 1) return dec(ct, iv);
  const d = ct.length - B * (n - 1);
  const en = ct.subarray(B * (n - 2), B * (n - 1)); // E_n sits in slot n-1
  const tail = ct.subarray(B * (n - 1)); // the first d bytes of E_{n-1}
  const x = dec(en, new Uint8Array(B)); // AES^-1(E_n)
  const en1 = Buffer.concat([tail, x.subarray(d)]);
  const ordered = Buffer.concat([ct.subarray(0, B * (n - 2)), en1, en]);
  return dec(ordered, iv).subarray(0, ct.length);
}

const key = fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 32, maxLength: 32 }));
const iv = fc.uint8Array({ minLength: B, maxLength: B });
// Up to two blocks past the engine's limit, so both paths and the switch between them are covered.
const length = fc.integer({ min: B, max: B * (SIMD_MAX_BLOCKS + 2) });
const bytesOf = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

/**
 * Whether the engine's I/O area and spare block hold no 16-byte window of `plain` (its blocks and
 * its last 16 bytes): what a decryption may not leave behind. Ciphertext may stay there.
 */
function noPlaintextLeft(plain: Uint8Array): boolean {
  const probe = SimdAes.create(new Uint8Array(16));
  if (probe === undefined) return true; // engine off: nothing to leave behind
  try {
    const area = Buffer.from(probe.memory.subarray(SimdAes.ioOffset, SimdAes.spareOffset + B));
    const windows = [];
    for (let o = 0; o + B <= plain.length; o += B) windows.push(plain.subarray(o, o + B));
    if (plain.length >= B) windows.push(plain.subarray(plain.length - B));
    return windows.every((w) => !area.includes(Buffer.from(w)));
  } finally {
    probe.destroy();
  }
}

export function aesProperties(): CampaignProperty[] {
  return [
    [
      'AES-CTS: encryption equals CBC-CS3 built on node:crypto, and decryption gives the input back (any key, IV, 16..SIMD_MAX_BLOCKS+2 blocks)',
      fc.property(key, iv, length.chain((n) => bytesOf(n)), (k, v, input) => {
        const c = new AesCts(k);
        try {
          const out = c.encrypt(input, v);
          if (!referenceEncrypt(k, v, input).equals(out)) return false;
          return Buffer.from(c.decrypt(out, v)).equals(input);
        } finally {
          c.destroy();
        }
      }),
    ],
    [
      'AES-CTS: decryption of any bytes equals CBC-CS3 decryption on node:crypto, leaves no plaintext in the engine, and a short input is SEC_E_INVALID_TOKEN',
      // The length is drawn first: fast-check's default size would keep a plain uint8Array under ~10 bytes.
      fc.property(key, iv, fc.integer({ min: 0, max: B * (SIMD_MAX_BLOCKS + 2) }).chain((n) => bytesOf(n)), (k, v, ct) => {
        const c = new AesCts(k);
        try {
          if (ct.length < B) {
            try {
              c.decrypt(ct, v);
              return false;
            } catch (e) {
              return e instanceof SspiError && e.status === SecurityStatus.SEC_E_INVALID_TOKEN;
            }
          }
          const p = c.decrypt(ct, v);
          return referenceDecrypt(k, v, ct).equals(p) && noPlaintextLeft(p);
        } finally {
          c.destroy();
        }
      }),
    ],
    [
      'AES-CTS: keys made and destroyed in any order keep their own results (engine key slots reused, grown, wiped)',
      fc.property(
        fc.array(fc.record({ key, make: fc.boolean(), use: fc.nat(), len: length }), { minLength: 1, maxLength: 60, size: 'max' }),
        (steps) => {
          const live: { key: Uint8Array; c: AesCts }[] = [];
          try {
            for (const s of steps) {
              if (s.make || live.length === 0) live.push({ key: s.key, c: new AesCts(s.key) });
              else live.splice(s.use % live.length, 1)[0]!.c.destroy();
              if (live.length === 0) continue;
              const k = live[s.use % live.length]!;
              const msg = new Uint8Array(s.len).fill(s.len & 0xff);
              const zero = new Uint8Array(B);
              if (!referenceEncrypt(k.key, zero, msg).equals(k.c.encrypt(msg))) return false;
            }
            return true;
          } finally {
            for (const k of live) k.c.destroy();
          }
        },
      ),
    ],
  ];
}
