// The LSA heap calls (table slots 5-10, 44-45, 48-49). Memory is garbage collected here, so "free"
// means: zero it, because what crosses these calls is often key material.

import { createCipheriv, randomBytes } from 'node:crypto';

export { zero } from '../crypto/bytes.js';

// LsaProtectMemory: an in-place transform with a key that exists only in this process, so a
// protected buffer in a heap dump or core file does not show the secret.
const protectKey = randomBytes(32);
const protectIv = randomBytes(16);

function ctrInPlace(buf: Uint8Array): void {
  const c = createCipheriv('aes-256-ctr', protectKey, protectIv);
  const out = c.update(buf);
  buf.set(out);
  out.fill(0);
}

export const LsaProtectMemory = ctrInPlace;
export const LsaUnprotectMemory = ctrInPlace;
